"""The outputs of the nodes that mask objects one by one (PromptMask, SAM 3 Objects): the mask of all
objects per image, one mask per object, the objects as JSON and as ``BOUNDING_BOX`` lists, a preview
and the cut-out."""

from __future__ import annotations

import json

import torch

from .. import ops
from ..ops.annotate import annotate, palette
from ..ops.boxes import to_bounding_boxes
from .inputs import image_output, mask_output

RETURN_TYPES = ("MASK", "MASK", "STRING", "IMAGE", "IMAGE", "BOUNDING_BOX")
RETURN_NAMES = ("mask", "per_object", "objects_json", "preview", "cutout", "bboxes")


def output_tooltips(fields: str) -> tuple[str, ...]:
    """The outputs' tooltips, for objects described by ``fields`` (e.g. "phrase, label")."""
    return (
        "All objects of each image together (after grow and invert); 1 = inpaint here.",
        "One mask per object, grown but not inverted, image by image in the order of objects_json.",
        f"The objects: image index, {fields}, score, box [x0, y0, x1, y1] in pixels. Feeds the boxes input of a "
        "PromptMask.",
        f"The image with each object tinted and its box, {fields.split(', ')[0]} and score drawn.",
        "The image where the mask is 1, background_colour where it is 0.",
        "The objects' boxes as ComfyUI's BOUNDING_BOX, one list per image, each with its score and label: for "
        "DrawBBoxes, CropByBBoxes, SAM3_Detect or a PromptMask.",
    )


def outputs(images: torch.Tensor, objects: list[list[dict]], masks: list[torch.Tensor], grow: int, invert: bool,
            colour: tuple[float, float, float]) -> tuple:
    """The six outputs of ``RETURN_NAMES`` from each image's objects (dicts with ``image``, ``phrase``,
    ``label``, ``score`` and ``box`` [x0, y0, x1, y1]) and their ``[N,H,W]`` masks."""
    count, h, w = images.shape[:3]
    union = torch.stack([m.amax(0) if len(m) else torch.zeros((h, w)) for m in masks])
    union = ops.grow(union, grow)
    if invert:
        union = ops.invert(union)
    per_object = ops.grow(torch.cat(masks), grow) if sum(len(m) for m in masks) else torch.zeros((0, h, w))
    previews, bboxes, start = [], [], 0
    for i in range(count):
        n = len(objects[i])
        captions = [f"{o['phrase']} {o['score']:.2f}" for o in objects[i]]
        boxes = torch.tensor([o["box"] for o in objects[i]], dtype=torch.float32).reshape(-1, 4)
        previews.append(annotate(images[i], per_object[start : start + n], boxes, captions, palette(n)))
        bboxes.append(to_bounding_boxes(boxes, [o["score"] for o in objects[i]], [o["label"] for o in objects[i]]))
        start += n
    listing = [o for image_objects in objects for o in image_objects]
    report = json.dumps({"image_size": [w, h], "images": count, "objects": listing})
    return (mask_output(union, h, w), mask_output(per_object, h, w), report,
            image_output(torch.stack(previews)), image_output(ops.cutout(images, union, colour)), bboxes)
