"""PromptMask's objects in one image: SAM's outline of each detection (or its box, filled), with the
entries objects_json lists. The node and the batch command both call it."""

from __future__ import annotations

import torch

from ..errors import MaskForgeError
from ..ops.boxes import box_json, fill_boxes, mask_extents
from . import sam


def outline_objects(model, key, image, found, point_xy, point_labels, box_mode):
    """The objects of one image (dicts without the image index) and their masks ``[N,H,W]``.

    ``found`` are the image's Detections; with none, ``point_xy`` and ``point_labels`` make one object.
    ``box_mode`` fills each box instead of running SAM. ``key`` names the SAM weights (its embedding cache).
    """
    h, w = image.shape[:2]
    if box_mode:
        masks = fill_boxes(found.boxes, h, w)
        scores = [None] * len(found)
    elif len(found) == 0 and point_xy is None:
        return [], torch.zeros((0, h, w))
    else:
        embedding = sam.embed(model, image, key)
        boxes = found.boxes if len(found) else None
        hard, iou = sam.segment(model, embedding, boxes, point_xy, point_labels)
        masks, scores = hard.float(), iou.tolist()
    objects = []
    for k in range(masks.shape[0]):
        if len(found):
            box, phrase, label, score = found.boxes[k].tolist(), found.phrases[k], found.labels[k], float(found.scores[k])
        else:  # one object from the points alone: its box is the mask's extent
            box, phrase, label, score = mask_extents(masks[k : k + 1])[0].tolist(), "points", "points", scores[k]
        entry = {"phrase": phrase, "label": label, "score": round(score, 4), "box": box_json(box)}
        if scores[k] is not None:
            entry["mask_score"] = round(scores[k], 4)  # SAM's own estimate of the mask's IoU
        objects.append(entry)
    return objects, masks


def nothing_found(node: str, where: str) -> MaskForgeError:
    """The error for an image with no object when stop_on_empty_mask is on."""
    return MaskForgeError(node, f"nothing found in {where} (stop_on_empty_mask is on); lower box_threshold, change "
                                "the prompt, or turn stop_on_empty_mask off")
