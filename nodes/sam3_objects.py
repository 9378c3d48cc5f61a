"""SAM 3 Objects: ComfyUI's own SAM 3 detections (SAM3_Detect with individual_masks) as MaskForge objects.

SAM3_Detect concatenates the objects of the whole image batch into one MASK batch; its BOUNDING_BOX
output, one list per image, says how many belong to each image. This node regroups them by those
lists and gives what PromptMask gives. Masks and boxes must match one for one: a count that differs
is an error, never a silent regroup.
"""

from __future__ import annotations

import torch

from .. import comfy_adapter
from ..errors import MaskForgeError
from ..ops.boxes import box_json, clip_boxes
from . import objects as object_outputs
from .inputs import check_colour, check_image, check_mask
from .prompts import bounding_box_lists, read_bounding_boxes

NODE = "SAM3Objects"


class SAM3Objects:
    DESCRIPTION = (
        "Turns ComfyUI's own SAM 3 detections into MaskForge objects: connect SAM3_Detect's masks (with "
        "individual_masks on) and bboxes, and the images SAM3_Detect saw. Outputs what Prompt Mask outputs: the mask "
        "of all objects per image (grown, inverted if asked), one mask per object image by image, the objects as "
        "JSON and as bboxes, a preview and the cut-out."
    )
    CATEGORY = "MaskForge/segmentation"
    FUNCTION = "run"
    RETURN_TYPES = object_outputs.RETURN_TYPES
    RETURN_NAMES = object_outputs.RETURN_NAMES
    OUTPUT_TOOLTIPS = object_outputs.output_tooltips("label")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images SAM3_Detect saw (its image input)."}),
                "masks": ("MASK", {"tooltip": "SAM3_Detect's masks with individual_masks on: one mask per object, "
                                              "the objects of all images one after the other."}),
                "bboxes": ("BOUNDING_BOX", {"forceInput": True, "tooltip":
                                            "SAM3_Detect's bboxes: one list per image, in the order of the masks. "
                                            "They say which masks belong to which image."}),
                "grow": ("INT", {"default": 0, "min": -512, "max": 512, "step": 1, "tooltip":
                                 "Grow each mask by this many pixels (round corners); negative shrinks."}),
                "invert": ("BOOLEAN", {"default": False, "tooltip":
                                       "Invert the mask output: inpaint everything except the objects."}),
                "background_colour": ("STRING", {"default": "#FFFFFF", "tooltip":
                                                 "The colour where the cutout's mask is 0, #RRGGBB."}),
            }
        }

    def run(self, image, masks, bboxes, grow, invert, background_colour):
        images = check_image(NODE, "image", image)
        count, h, w = images.shape[:3]
        colour = check_colour(NODE, "background_colour", background_colour)
        lists = bounding_box_lists(NODE, bboxes)
        if len(lists) != count:
            raise MaskForgeError(NODE, f"bboxes holds {len(lists)} lists of boxes for {count} images; connect the "
                                       "bboxes and the image of the same SAM3_Detect", "bboxes")
        masks = _object_masks(masks, [len(frame) for frame in lists], count, h, w)
        objects, per_image, start = [], [], 0
        for i, frame in enumerate(lists):
            comfy_adapter.throw_if_interrupted()
            boxes, scores, labels = read_bounding_boxes(NODE, frame)
            boxes = clip_boxes(boxes, h, w)
            objects.append([{"image": i, "phrase": label or "object", "label": label or "object",
                             "score": round(score, 4), "box": box_json(box)}
                            for box, score, label in zip(boxes.tolist(), scores, labels)])
            per_image.append(masks[start : start + len(frame)])
            start += len(frame)
        return object_outputs.outputs(images, objects, per_image, grow, invert, colour)


def _object_masks(masks, counts: list[int], images: int, height: int, width: int) -> torch.Tensor:
    """SAM3_Detect's masks as ``[N,H,W]``, N the number of boxes listed (no objects: ``[0,H,W]``)."""
    total = sum(counts)
    if isinstance(masks, torch.Tensor) and masks.ndim == 3 and masks.shape[0] == 0:
        masks = torch.zeros((0, height, width))  # SAM3_Detect found nothing in any image
    else:
        masks = check_mask(NODE, "masks", masks)
    found = masks.shape[0]
    if found != total:
        per_image = ", ".join(str(c) for c in counts)
        if total == 0:
            hint = ("SAM3_Detect lists boxes only for objects it finds from a text prompt (conditioning); for box or "
                    "point prompts it gives masks without boxes: use Prompt Mask for those")
        elif found == images:
            hint = "turn individual_masks on in SAM3_Detect: without it, it gives one mask per image"
        else:
            hint = "connect the masks and bboxes of the same SAM3_Detect, with individual_masks on"
        raise MaskForgeError(NODE, f"masks holds {found} masks but bboxes lists {total} objects ({per_image} per "
                                   f"image); {hint}", "masks")
    if masks.shape[1:] != (height, width):
        raise MaskForgeError(NODE, f"the masks are {masks.shape[2]}x{masks.shape[1]} but the image is {width}x{height}; "
                                   "connect the image SAM3_Detect saw", "masks")
    return masks


NODE_CLASS_MAPPINGS = {"MaskForgeSAM3Objects": SAM3Objects}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeSAM3Objects": "SAM 3 Objects"}
