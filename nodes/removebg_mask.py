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
        "Finds the subject of each image with a background-removal model (rembg: U²-Net, ISNet, BiRefNet, …) and "
        "outputs its mask, the background mask (what to inpaint to replace the background) and the cut-out "
        "on a plain colour. Alpha matting refines soft edges such as hair; post-processing smooths the mask."
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
            }
        }

    def run(self, image, model, alpha_matting, alpha_matting_foreground_threshold, alpha_matting_background_threshold,
            alpha_matting_erode_size, post_process_mask, cutout_background, custom_model_family, force_cpu):
        images = check_image(NODE, "image", image)
        colour = check_colour(NODE, "cutout_background", cutout_background)
        path = weights.resolve(NODE, model, (".onnx",), folders=(FOLDER,))  # before rembg's slow first import
        libs = rembg_backend.libraries(NODE)
        device = comfy_adapter.torch_device()
        session_name = rembg_backend.session_name(model, custom_model_family)
        session = rembg_backend.session(NODE, libs, path, session_name, force_cpu=force_cpu or device.type == "cpu",
                                        device_index=device.index or 0)

        # Per-pixel work is NumPy (one thread), as in rembg: a multi-threaded torch op on a busy CPU
        # waits for a free core at every call, which cost more than the conversions themselves.
        pixels = images.cpu().numpy()
        alphas, colours = [], []
        bar = comfy_adapter.progress_bar(len(pixels))
        for item in pixels:
            comfy_adapter.throw_if_interrupted()
            rgb = ops.to_uint8(item)
            try:
                alpha, foreground = rembg_backend.predict_alpha(
                    libs, session, rgb, post_process=post_process_mask, alpha_matting=alpha_matting,
                    foreground_threshold=alpha_matting_foreground_threshold,
                    background_threshold=alpha_matting_background_threshold, erode_size=alpha_matting_erode_size)
            except rembg_backend.WrongInput as exc:
                raise MaskForgeError(NODE, _wrong_input(model, path, session_name, custom_model_family, exc),
                                     "model" if model in REGISTRY else "custom_model_family") from None
            alphas.append(alpha)
            colours.append(rgb if foreground is None else foreground)
            bar.update(1)

        subject = np.stack(alphas).astype(np.float32) / 255.0
        # The cutout uses the matted foreground where there is one, else the image's own pixels.
        source = images if not alpha_matting else torch.from_numpy(np.stack(colours).astype(np.float32) / 255.0)
        subject_mask = torch.from_numpy(subject)
        h, w = subject.shape[1:]
        return (mask_output(subject_mask, h, w), mask_output(torch.from_numpy(1.0 - subject), h, w),
                image_output(ops.cutout(source, subject_mask, colour)))


def _wrong_input(model, path, session_name, family, exc) -> str:
    if model in REGISTRY:
        return (f"{path} does not take the input of rembg's '{session_name}' model ({exc}): it is another model's "
                "file; delete it (it is then downloaded again) or replace it with the right one")
    return (f"{path} does not take the input custom_model_family '{family}' gives it ({exc}): set "
            "custom_model_family to the architecture the model was made for")


NODE_CLASS_MAPPINGS = {"MaskForgeRemoveBGMask": RemoveBGMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeRemoveBGMask": "Remove Background Mask"}
