"""LabelMask: masks of ADE20K classes (wall, floor, sofa, …) from a semantic-segmentation model."""

from __future__ import annotations

import numpy as np
import torch

from .. import comfy_adapter, ops
from ..ops.annotate import default_font, palette
from ..ops.boxes import mask_extents, to_bounding_boxes
from ..errors import MaskForgeError
from ..labels import check_found, index_of, parse_labels
from ..models import management, segmentation, weights
from ..models.registry import REGISTRY
from .inputs import check_image, image_output, mask_output

NODE = "LabelMask"
FAMILIES = ("mask2former", "segformer")
FOLDER = "maskforge"
ON_MISSING = ("empty mask", "raise")


def _model_tooltip() -> str:
    rows = "\n".join(f"• {s.name}: {s.description} Licence: {s.licence}."
                     for s in REGISTRY.values() if s.family in FAMILIES)
    return (f"The ADE20K segmentation model. Known models are downloaded to models/{FOLDER}/<name>/ on first use; "
            f"any other transformers ADE20K model folder placed there is listed too.\n{rows}")


class LabelMask:
    DESCRIPTION = (
        "Masks the parts of each image that belong to the named ADE20K classes (150 labels: wall, floor, ceiling, "
        "sofa, bed, window, …), found by a semantic-segmentation model (Mask2Former or SegFormer). Outputs the "
        "union of the labels, one mask per label, and a colour preview with a legend."
    )
    CATEGORY = "MaskForge/segmentation"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK", "IMAGE", "BOUNDING_BOX")
    RETURN_NAMES = ("mask", "per_label", "preview", "bboxes")
    OUTPUT_TOOLTIPS = (
        "Every pixel of any of the labels (1 = inpaint here), one mask per image.",
        "One mask per label in the order written, image by image (image 1's labels, then image 2's, …).",
        "Each image with the labels in colour and a legend giving each label's share of the image.",
        "Per image, the box around each label found (after grow, before invert) as ComfyUI's BOUNDING_BOX: "
        "label in label, its share of the image in score. For CropByBBoxes and DrawBBoxes.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        models = weights.choices(*FAMILIES, extensions=())
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images; a whole batch is processed."}),
                "model": (models, {"default": models[0], "tooltip": _model_tooltip()}),
                "labels": ("STRING", {"default": "wall|floor", "multiline": False,
                                      "tooltip": "ADE20K labels separated by '|', e.g. 'floor|rug|sofa'. Case and "
                                                 "spacing do not matter; plurals and common words work (couch → "
                                                 "sofa, fridge → refrigerator)."}),
                "on_missing": (ON_MISSING, {"default": "empty mask",
                                            "tooltip": "When a label is not in an image: give an empty mask for it, "
                                                       "or stop with an error."}),
                "grow": ("INT", {"default": 0, "min": -1024, "max": 1024, "step": 1,
                                 "tooltip": "Grow each mask by this many pixels (round corners); negative shrinks."}),
                "invert": ("BOOLEAN", {"default": False,
                                       "tooltip": "Invert the masks: everything except the labels."}),
                "resolution": ("INT", {"default": 384, "min": 64, "max": 2048, "step": 32,
                                       "tooltip": "The short side the model sees, in pixels. The ADE20K models were "
                                                  "trained at 512, which finds smaller things; 384 takes half the "
                                                  "time (1.5 s vs 3 s for Mask2Former Swin-T on a 2-core CPU). The "
                                                  "masks are always at the image's full size. With tiled, the "
                                                  "window size."}),
                "tiled": ("BOOLEAN", {"default": False,
                                      "tooltip": "For very large images: segment the full-size image in overlapping "
                                                 "resolution × resolution windows instead of shrinking it, keeping "
                                                 "small things. Time grows with the image's area."}),
                "force_cpu": ("BOOLEAN", {"default": False,
                                          "tooltip": "Run on the CPU even when a GPU is available."}),
            }
        }

    def run(self, image, model, labels, on_missing, grow, invert, resolution, tiled, force_cpu):
        images = check_image(NODE, "image", image)
        wanted = parse_labels(NODE, labels)
        if on_missing not in ON_MISSING:
            raise MaskForgeError(NODE, f"'{on_missing}' is not one of {', '.join(ON_MISSING)}", "on_missing")
        device = management.compute_device(force_cpu)
        path = weights.resolve(NODE, model, (), folders=(FOLDER,))
        managed = management.get_model(str(path), lambda: segmentation.load(NODE, path), device=device,
                                       dtype=management.compute_dtype(device))
        count, height, width = images.shape[:3]
        classes = torch.empty((count, height, width), dtype=torch.uint8)
        bar = comfy_adapter.progress_bar(count)
        with managed.use() as (module, preprocess):
            for i in range(count):
                comfy_adapter.throw_if_interrupted()
                classes[i] = segmentation.segment(module, preprocess, images[i], resolution, tiled).cpu()
                bar.update(1)
        ids = torch.tensor([index_of(label) for label in wanted], dtype=torch.uint8)
        found = classes.unsqueeze(1) == ids.view(1, -1, 1, 1)  # [B, labels, H, W]
        if on_missing == "raise":
            _raise_if_missing(found, wanted)
        per_label = ops.grow(found.flatten(0, 1).float(), grow)
        union = per_label.view(count, len(wanted), height, width).amax(1)
        boxes = _label_boxes(per_label.view(count, len(wanted), height, width), found, wanted)
        if invert:
            per_label, union = ops.invert(per_label), ops.invert(union)
        preview = torch.stack([_preview(images[i], found[i], wanted) for i in range(count)])
        return (mask_output(union, height, width), mask_output(per_label, height, width), image_output(preview),
                boxes)


def _label_boxes(grown: torch.Tensor, found: torch.Tensor, wanted: list[str]) -> list[list[dict]]:
    """Per image, a BOUNDING_BOX for each label found: around its grown mask, scored by its share of the image."""
    result = []
    for masks, present in zip(grown, found):
        share = present.flatten(1).float().mean(1)
        keep = present.flatten(1).any(1)
        result.append(to_bounding_boxes(mask_extents(masks)[keep], share[keep].tolist(),
                                        [label for label, k in zip(wanted, keep.tolist()) if k]))
    return result


def _raise_if_missing(found: torch.Tensor, wanted: list[str]) -> None:
    count = found.shape[0]
    for i in range(count):
        check_found(NODE, wanted, found[i].flatten(1).any(1).tolist(), f"image {i + 1} of {count}" if count > 1 else
                    "the image")


def _preview(image: torch.Tensor, found: torch.Tensor, wanted: list[str]) -> torch.Tensor:
    """The image with each label tinted in its colour and a legend (colour, label, share of the image)."""
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    colours = palette(len(wanted))
    out = image.cpu().clone()
    for mask, colour in zip(found, colours):
        tint = torch.tensor(colour, dtype=out.dtype) / 255.0
        out[mask] = out[mask] * 0.4 + tint * 0.6
    picture = Image.fromarray(ops.to_uint8(out))
    draw = ImageDraw.Draw(picture, "RGBA")
    size = max(10, min(32, min(height, width) // 24))
    font = default_font(size)
    shares = found.flatten(1).float().mean(1).tolist()
    lines = [f"{label}  {share * 100:.1f}%" if share else f"{label}  (not found)" for label, share in zip(wanted, shares)]
    pad, line = max(2, size // 3), size + max(2, size // 3)
    text_width = max(draw.textlength(text, font=font) for text in lines)
    draw.rectangle((0, 0, pad * 3 + size + text_width, pad * 2 + line * len(lines)), fill=(0, 0, 0, 160))
    for n, (text, colour) in enumerate(zip(lines, colours)):
        top = pad + n * line
        draw.rectangle((pad, top, pad + size, top + size), fill=colour)
        draw.text((pad * 2 + size, top), text, fill=(255, 255, 255), font=font)
    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)


NODE_CLASS_MAPPINGS = {"MaskForgeLabelMask": LabelMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeLabelMask": "Label Mask (ADE20K)"}
