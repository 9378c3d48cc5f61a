"""What each node does to one image, for the batch command: the node's own models/ and ops/ calls.

A task is made from the node's widget values (``PARAMS``, by the node's own input names), which checks
them and finds the weights (``weights.resolve``: a download happens here, once, in the driver). ``load()``
builds the model where the images are masked (once per Ray actor, kept on its device), and calling the
task masks one image. ``render`` turns the result into the files the command writes, as the nodes'
outputs would be: the mask, a cut-out, a blue-mask image.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..labels import check_found, index_of, parse_labels
from ..models import files, grounding_dino, management, rembg_backend, sam, segmentation, weights
from ..models.outline import nothing_found, outline_objects
from ..models.registry import REGISTRY


@dataclass
class Result:
    mask: torch.Tensor  # [H,W] float32 in 0..1: the node's mask output for this image
    source: torch.Tensor | None  # [H,W,3] in 0..1: what a cut-out shows (the image, or alpha-matted colours)
    found: dict = field(default_factory=dict)  # what the node found, for the manifest


class Task:
    NODE = ""
    NODE_KEY = ""  # the node's key in NODE_CLASS_MAPPINGS, whose inputs the command offers
    PARAMS: tuple[str, ...] = ()  # the node's widget inputs this task takes
    NOT_IN_BATCH: tuple[str, ...] = ()  # widget inputs with no meaning here (the cut-out colour is an option)
    MODELS: tuple[str, ...] = ()  # the PARAMS that name models
    OPTIONS: dict[str, tuple] = {}  # settings of the batch command's own: name → (default, choices, help)
    IMAGE_MODE = "RGB"  # how files are decoded for it
    CUTOUTS = True  # whether it has an image to cut out

    def __init__(self, params: dict):
        self.params = {name: params[name] for name in self.PARAMS}
        self.params.update({name: params.get(name, default) for name, (default, _, _) in self.OPTIONS.items()})
        self._stack = ExitStack()

    def load(self) -> None:
        """Builds the models (a no-op for model-free nodes)."""

    def close(self) -> None:
        self._stack.close()

    def _on_device(self, managed):
        """The model's payload, its module kept on the compute device until ``close`` (management.use)."""
        return self._stack.enter_context(managed.use())

    def __call__(self, image: torch.Tensor) -> Result:
        raise NotImplementedError


class LabelMaskTask(Task):
    NODE, NODE_KEY = "LabelMask", "MaskForgeLabelMask"
    PARAMS = ("model", "labels", "on_missing", "grow", "invert", "resolution", "tiled", "force_cpu")
    MODELS = ("model",)

    def __init__(self, params: dict):
        super().__init__(params)
        self.wanted = parse_labels(self.NODE, self.params["labels"])
        self.ids = torch.tensor([index_of(label) for label in self.wanted], dtype=torch.uint8)
        self.path = weights.resolve(self.NODE, self.params["model"], (), folders=(weights.FAMILY_FOLDERS["segformer"],))

    def load(self) -> None:
        device = management.compute_device(self.params["force_cpu"])
        managed = management.get_model(str(self.path), lambda: segmentation.load(self.NODE, self.path), device=device,
                                       dtype=management.compute_dtype(device))
        self.module, self.preprocess = self._on_device(managed)

    def __call__(self, image: torch.Tensor) -> Result:
        p = self.params
        classes = segmentation.segment(self.module, self.preprocess, image, p["resolution"], p["tiled"]).cpu()
        found = classes.unsqueeze(0) == self.ids.view(-1, 1, 1)  # [labels, H, W]
        shares = found.flatten(1).float().mean(1).tolist()
        if p["on_missing"] == "raise":
            check_found(self.NODE, self.wanted, [share > 0 for share in shares])
        mask = ops.grow(found.float(), p["grow"]).amax(0, keepdim=True)  # each label grown, then their union
        if p["invert"]:
            mask = ops.invert(mask)
        return Result(mask[0], image, {"labels": {label: round(share, 6) for label, share in zip(self.wanted, shares)}})


class PromptMaskTask(Task):
    NODE, NODE_KEY = "PromptMask", "MaskForgePromptMask"
    PARAMS = ("detector", "sam_model", "prompt", "box_threshold", "text_threshold", "nms_iou", "max_objects",
              "mask_type", "grow", "invert", "stop_on_empty_mask", "force_cpu", "detector_resolution")
    NOT_IN_BATCH = ("background_colour",)
    MODELS = ("detector", "sam_model")

    def __init__(self, params: dict):
        super().__init__(params)
        self.phrases = grounding_dino.split_phrases(self.params["prompt"])
        if not self.phrases:
            raise MaskForgeError(self.NODE, "say what to mask, e.g. --prompt 'white sofa. lamp'", "prompt")
        self.box_mode = self.params["mask_type"] == "box"
        self.detector_path = weights.resolve(self.NODE, self.params["detector"], folders=("grounding-dino",),
                                             input_name="detector")
        self.sam_path = None if self.box_mode else weights.resolve(self.NODE, self.params["sam_model"],
                                                                   folders=("sam2", "sams"), input_name="sam_model")
        self.sam_key = None if self.sam_path is None else str(self.sam_path)

    def load(self) -> None:
        device = management.compute_device(self.params["force_cpu"])
        path = self.detector_path
        detector = management.get_model(
            str(path), lambda: files.load_as(self.NODE, "detector", grounding_dino.load, path),
            device=device, dtype=torch.float32)
        self.detector = self._on_device(detector)
        self.sam = None
        if self.sam_path is not None:
            outliner = management.get_model(
                self.sam_key, lambda: files.load_as(self.NODE, "sam_model", sam.load, self.sam_path),
                device=device, dtype=management.compute_dtype(device))
            self.sam = self._on_device(outliner)

    def __call__(self, image: torch.Tensor) -> Result:
        p = self.params
        try:
            found = grounding_dino.detect(*self.detector, image, self.phrases, p["box_threshold"], p["text_threshold"],
                                          p["nms_iou"], p["max_objects"], p["detector_resolution"])
        except grounding_dino.PromptTooLong as exc:
            raise MaskForgeError(self.NODE, str(exc), "prompt") from None
        objects, masks = outline_objects(self.sam, self.sam_key, image, found, None, None, self.box_mode)
        if p["stop_on_empty_mask"] and not objects:
            raise nothing_found(self.NODE, "the image")
        union = masks.amax(0, keepdim=True) if len(masks) else torch.zeros((1, *image.shape[:2]))
        mask = ops.grow(union, p["grow"])  # the union grown, as the node's mask output
        if p["invert"]:
            mask = ops.invert(mask)
        return Result(mask[0], image, {"objects": objects})


class RemoveBGMaskTask(Task):
    NODE, NODE_KEY = "RemoveBGMask", "MaskForgeRemoveBGMask"
    PARAMS = ("model", "alpha_matting", "alpha_matting_foreground_threshold", "alpha_matting_background_threshold",
              "alpha_matting_erode_size", "post_process_mask", "custom_model_family", "force_cpu")
    NOT_IN_BATCH = ("cutout_background", "resolution")  # resolution is for ComfyUI's own models, not in batch
    MODELS = ("model",)

    def __init__(self, params: dict):
        super().__init__(params)
        self.path = weights.resolve(self.NODE, self.params["model"], (".onnx",), folders=("rembg",))
        self.libs = rembg_backend.libraries(self.NODE)  # after the file is found: rembg's first import is slow
        self.session_name = rembg_backend.session_name(self.params["model"], self.params["custom_model_family"])

    def load(self) -> None:
        p = self.params
        device = comfy_adapter.torch_device()
        self.session = rembg_backend.session(self.NODE, self.libs, self.path, self.session_name,
                                             force_cpu=p["force_cpu"] or device.type == "cpu",
                                             device_index=device.index or 0)

    def __call__(self, image: torch.Tensor) -> Result:
        p = self.params
        try:
            alpha, foreground = rembg_backend.predict_alpha(
                self.libs, self.session, ops.to_uint8(image), post_process=p["post_process_mask"],
                alpha_matting=p["alpha_matting"], foreground_threshold=p["alpha_matting_foreground_threshold"],
                background_threshold=p["alpha_matting_background_threshold"], erode_size=p["alpha_matting_erode_size"])
        except rembg_backend.WrongInput as exc:
            advice = rembg_backend.wrong_input(p["model"], self.path, self.session_name, p["custom_model_family"], exc)
            raise MaskForgeError(self.NODE, advice,
                                 "model" if p["model"] in REGISTRY else "custom_model_family") from None
        mask = torch.from_numpy(alpha.astype(np.float32) / 255.0)
        # The cut-out shows the matted foreground where alpha matting made one, as the node's does.
        source = image if foreground is None else torch.from_numpy(foreground.astype(np.float32) / 255.0)
        return Result(mask, source)


class GrowInvertMaskTask(Task):
    """Cleans up mask images: each file is read as a mask (``mask_channel``), as Load Image Mask would give it."""

    NODE, NODE_KEY = "GrowInvertMask", "MaskForgeGrowInvertMask"
    PARAMS = ("threshold", "fill_holes", "min_region_px", "grow", "corners", "feather", "feather_inside", "invert")
    OPTIONS = {"mask_channel": ("luminance", ops.CHANNELS,
                                "How a file becomes a mask: its luminance (white = 1), one colour channel, or its "
                                "alpha (opaque = 1; ComfyUI's Load Image Mask gives 1 - alpha).")}
    IMAGE_MODE = "RGBA"
    CUTOUTS = False

    def __init__(self, params: dict):
        super().__init__(params)
        p = self.params
        if p["mask_channel"] not in ops.CHANNELS:
            raise MaskForgeError(self.NODE, f"'{p['mask_channel']}' is not one of {', '.join(ops.CHANNELS)}",
                                 "mask_channel")
        self.steps = ops.Cleanup(threshold=p["threshold"], fill_holes=p["fill_holes"], min_region_px=p["min_region_px"],
                                 grow=p["grow"], round_corners=p["corners"] == "round", feather=p["feather"],
                                 feather_inside=p["feather_inside"], invert=p["invert"])

    def __call__(self, image: torch.Tensor) -> Result:
        return Result(ops.clean_mask(ops.image_to_mask(image, self.params["mask_channel"])[0], self.steps), None)


TASKS = {task.NODE: task for task in (LabelMaskTask, PromptMaskTask, RemoveBGMaskTask, GrowInvertMaskTask)}


def render(result: Result, cutout: str | None = None, blue_threshold: float | None = None) -> dict[str, np.ndarray]:
    """The files' pixels (uint8): ``mask`` (H×W), with ``cutout`` the cut-out (``"transparent"``: the
    source with the mask as alpha, H×W×4; a ``#RRGGBB`` colour: the source on that colour, H×W×3, as the
    nodes' cutout outputs), with ``blue_threshold`` the blue-mask image (Mask to Blue Mask Image's)."""
    mask = result.mask.float().clamp(0.0, 1.0)
    out = {"mask": ops.to_uint8(mask)}
    if cutout == "transparent":
        out["cutout"] = np.dstack([ops.to_uint8(result.source), out["mask"]])
    elif cutout is not None:
        out["cutout"] = ops.to_uint8(ops.cutout(result.source, mask, ops.hex_to_rgb(cutout))[0])
    if blue_threshold is not None:
        out["blue_mask"] = ops.to_uint8(ops.mask_to_colour(mask, ops.BLUE, blue_threshold)[0])
    return out
