"""RemoveBGMask: background removal (rembg's ONNX models) as a subject mask and a background mask."""

from __future__ import annotations

import numpy as np
import torch

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..models import rembg_backend, weights
from ..models.registry import REGISTRY
from .inputs import check_colour, check_image, image_output, mask_output

NODE = "RemoveBGMask"
FOLDER = "rembg"


def _model_tooltip() -> str:
    rows = "\n".join(f"• {s.name}: {s.description} Licence: {s.licence}." for s in REGISTRY.values()
                     if s.family == "rembg")
    return (f"The background-removal model. Known models are downloaded to models/{FOLDER} on first use; any other "
            f".onnx file there is listed too (set custom_model_family for it).\n{rows}")


class RemoveBGMask:
    DESCRIPTION = (
        "Finds the subject of each image with a background-removal model (rembg: U²-Net, ISNet, BiRefNet, …, or "
        "ComfyUI's own model connected to bg_removal_model) and outputs its mask, the background mask (what to "
        "inpaint to replace the background) and the cut-out on a plain colour. Alpha matting refines soft edges "
        "such as hair; post-processing smooths the mask."
    )
    CATEGORY = "MaskForge/segmentation"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK", "IMAGE")
    RETURN_NAMES = ("subject_mask", "background_mask", "cutout")
    OUTPUT_TOOLTIPS = (
        "1 on the subject, 0 on the background, soft at the edges.",
        "The inverse (1 - subject_mask): inpaint here to replace the background.",
        "The subject on cutout_background (with alpha matting, its edge colours freed of the old background).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        models = weights.choices("rembg", extensions=(".onnx",))
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images; a whole batch is processed."}),
                "model": (models, {"default": models[0], "tooltip": _model_tooltip()}),
                "alpha_matting": ("BOOLEAN", {"default": False,
                                              "tooltip": "Refine the edge with closed-form alpha matting (slower): "
                                                         "soft, accurate alpha for hair and fur."}),
                "alpha_matting_foreground_threshold": ("INT", {
                    "default": 240, "min": 0, "max": 255, "step": 1,
                    "tooltip": "Alpha matting: mask values (0-255) above this are surely subject."}),
                "alpha_matting_background_threshold": ("INT", {
                    "default": 20, "min": 0, "max": 255, "step": 1,
                    "tooltip": "Alpha matting: mask values (0-255) below this are surely background."}),
                "alpha_matting_erode_size": ("INT", {
                    "default": 5, "min": 0, "max": 255, "step": 1,
                    "tooltip": "Alpha matting: erode both sure areas with a square of this size (px), widening the band "
                               "where the edge is solved."}),
                "post_process_mask": ("BOOLEAN", {"default": False,
                                                  "tooltip": "Smooth the model's mask (opening, blur, threshold at "
                                                             "half): a clean hard edge, specks removed."}),
                "cutout_background": ("STRING", {"default": "#000000",
                                                 "tooltip": "The colour behind the subject in the cutout, #RRGGBB."}),
                "custom_model_family": (list(rembg_backend.CUSTOM_FAMILIES), {
                    "default": "u2net",
                    "tooltip": "Only for your own .onnx files (not the known models): the architecture, which sets "
                               "the input size and normalisation. u2net: U²-Net-style, 320 px; isnet: ISNet/DIS, "
                               "1024 px; ben: BEN, 1024 px; birefnet: BiRefNet, 1024 px."}),
                "force_cpu": ("BOOLEAN", {"default": False,
                                          "tooltip": "Run on the CPU even when ONNX Runtime has a GPU provider."}),
            },
            "optional": {
                "bg_removal_model": ("BACKGROUND_REMOVAL", {
                    "tooltip": "ComfyUI's own background-removal model (Load Background Removal Model: BiRefNet "
                               "files in models/background_removal). When connected it makes the mask instead of "
                               "model, custom_model_family and force_cpu (ComfyUI picks its device); "
                               "post-processing, alpha matting, both masks and the cut-out stay this node's."}),
                "resolution": ("INT", {
                    "default": 0, "min": 0, "max": 4096, "step": 32,
                    "tooltip": "Only with bg_removal_model: the square size each image is resized to for the model; "
                               "0 = the model's own (1024 for BiRefNet; use 2048 for BiRefNet_HR)."}),
            },
        }

    def run(self, image, model, alpha_matting, alpha_matting_foreground_threshold, alpha_matting_background_threshold,
            alpha_matting_erode_size, post_process_mask, cutout_background, custom_model_family, force_cpu,
            bg_removal_model=None, resolution=0):
        images = check_image(NODE, "image", image)
        colour = check_colour(NODE, "cutout_background", cutout_background)
        if bg_removal_model is not None:
            # ComfyUI's model makes the mask: no ONNX file is looked for, and rembg is needed only for its
            # post-processing and alpha matting.
            _check_core_model(bg_removal_model)
            libs = rembg_backend.libraries(NODE) if post_process_mask or alpha_matting else None
        else:
            path = weights.resolve(NODE, model, (".onnx",), folders=(FOLDER,))  # before rembg's slow first import
            libs = rembg_backend.libraries(NODE)
            device = comfy_adapter.torch_device()
            session_name = rembg_backend.session_name(model, custom_model_family)
            session = rembg_backend.session(NODE, libs, path, session_name, force_cpu=force_cpu or device.type == "cpu",
                                            device_index=device.index or 0)
        refine = dict(post_process=post_process_mask, alpha_matting=alpha_matting,
                      foreground_threshold=alpha_matting_foreground_threshold,
                      background_threshold=alpha_matting_background_threshold, erode_size=alpha_matting_erode_size)

        # Per-pixel work is NumPy (one thread), as in rembg: a multi-threaded torch op on a busy CPU
        # waits for a free core at every call, which cost more than the conversions themselves.
        pixels = images.cpu().numpy()
        alphas, colours = [], []
        bar = comfy_adapter.progress_bar(len(pixels))
        for i, item in enumerate(pixels):
            comfy_adapter.throw_if_interrupted()
            rgb = ops.to_uint8(item)
            if bg_removal_model is not None:
                alpha, foreground = _core_alpha(bg_removal_model, images[i : i + 1], resolution, libs, rgb, refine)
            else:
                try:
                    alpha, foreground = rembg_backend.predict_alpha(libs, session, rgb, **refine)
                except rembg_backend.WrongInput as exc:
                    advice = rembg_backend.wrong_input(model, path, session_name, custom_model_family, exc)
                    raise MaskForgeError(NODE, advice, "model" if model in REGISTRY else "custom_model_family") from None
                alpha = alpha.astype(np.float32) / 255.0
            alphas.append(alpha)
            colours.append(rgb if foreground is None else foreground)
            bar.update(1)

        subject = np.stack(alphas)
        # The cutout uses the matted foreground where there is one, else the image's own pixels.
        source = images if not alpha_matting else torch.from_numpy(np.stack(colours).astype(np.float32) / 255.0)
        subject_mask = torch.from_numpy(subject)
        h, w = subject.shape[1:]
        return (mask_output(subject_mask, h, w), mask_output(torch.from_numpy(1.0 - subject), h, w),
                image_output(ops.cutout(source, subject_mask, colour)))


def _check_core_model(model) -> None:
    if not callable(getattr(model, "encode_image", None)):
        raise MaskForgeError(NODE, f"got a {type(model).__name__}, which is not a background-removal model; connect "
                                   "the bg_model output of ComfyUI's Load Background Removal Model", "bg_removal_model")


def _core_alpha(model, image: torch.Tensor, resolution: int, libs, rgb: np.ndarray,
                refine: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """One image's subject alpha (float ``H×W`` in 0..1) from ComfyUI's model, post-processed and matted as
    rembg does when asked (then on 8-bit values, as rembg works), and the matted colours or None."""
    h, w = image.shape[1:3]
    mask = model.encode_image(image, image_size=resolution or None)
    if not isinstance(mask, torch.Tensor):
        raise MaskForgeError(NODE, f"the model gave a {type(mask).__name__}, not a mask", "bg_removal_model")
    mask = mask.detach().float().cpu().reshape(-1, *mask.shape[-2:])
    if mask.shape != (1, h, w):
        raise MaskForgeError(NODE, f"the model gave a mask of shape {list(mask.shape)} for one {w}x{h} image; it "
                                   "should be [1, H, W]", "bg_removal_model")
    if torch.isnan(mask).any():
        raise MaskForgeError(NODE, "the model's mask contains NaN values", "bg_removal_model")
    alpha = mask[0].clamp(0.0, 1.0).numpy()
    if libs is None:
        return alpha, None
    refined, foreground = rembg_backend.predict_alpha(libs, _GivenMask(ops.to_uint8(alpha)), rgb, **refine)
    return refined.astype(np.float32) / 255.0, foreground


class _GivenMask:
    """Stands in for a rembg session whose prediction is a mask already made (by ComfyUI's model)."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask

    def predict(self, image) -> list:
        from PIL import Image

        return [Image.fromarray(self.mask)]


NODE_CLASS_MAPPINGS = {"MaskForgeRemoveBGMask": RemoveBGMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeRemoveBGMask": "Remove Background Mask"}
