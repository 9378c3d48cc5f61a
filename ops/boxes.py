"""Boxes as ``[N,4]`` float tensors of pixel corners ``x0, y0, x1, y1``: overlap, suppression, clipping, filling,
and ComfyUI's ``BOUNDING_BOX`` dicts (``{x, y, width, height}`` in pixels, optional ``score`` and ``label``)."""

from __future__ import annotations

import numpy as np
import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[N,M]`` intersection over union of every box in ``a`` with every box in ``b`` (0 where both are empty)."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first: a box is dropped
    when its IoU with a better kept box is above ``iou_threshold`` (1.0 keeps every box)."""
    order = torch.argsort(scores, descending=True, stable=True)
    if iou_threshold >= 1.0 or order.numel() <= 1:
        return order
    iou = box_iou(boxes[order], boxes[order])
    suppressed = torch.zeros(order.numel(), dtype=torch.bool)
    keep = []
    for i in range(order.numel()):  # N is at most the detector's query count (900): a Python loop is fine
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i].cpu() > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    limits = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    return torch.minimum(boxes.clamp(min=0), limits)


def fill_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N,H,W]`` masks, 1 on the pixels each box covers (a pixel counts when its centre is inside)."""
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    b = boxes.float().cpu()
    inside_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] <= b[:, 3:4])
    inside_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] <= b[:, 2:3])
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()


def mask_extents(masks: torch.Tensor) -> torch.Tensor:
    """``[N,4]`` corners of the smallest box holding each ``[N,H,W]`` mask's pixels above 0.5, in pixel edges
    (a one-pixel mask at column 3 spans x 3..4); all zeros for an empty mask."""
    on = masks > 0.5

    def span(lines: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # [N,L] → first and one-past-last True
        index = torch.arange(lines.shape[1], device=lines.device)
        return torch.where(lines, index, lines.shape[1]).amin(1), torch.where(lines, index, -1).amax(1) + 1

    (y0, y1), (x0, x1) = span(on.any(2)), span(on.any(1))
    boxes = torch.stack([x0, y0, x1, y1], 1).float()
    return torch.where(on.flatten(1).any(1)[:, None], boxes, torch.zeros_like(boxes))


def inside_image(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N]`` bool: which boxes overlap the image by some area (a box touching it only at an edge does not)."""
    return (boxes[:, 0] < width) & (boxes[:, 1] < height) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def from_bounding_boxes(dicts: list[dict]) -> torch.Tensor:
    """``[N,4]`` corners of ``BOUNDING_BOX`` dicts whose ``x``, ``y``, ``width`` and ``height`` are numbers."""
    xywh = torch.tensor([[d["x"], d["y"], d["width"], d["height"]] for d in dicts], dtype=torch.float32).reshape(-1, 4)
    return torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)


def to_bounding_boxes(boxes: torch.Tensor, scores: list[float], labels: list[str]) -> list[dict]:
    """``BOUNDING_BOX`` dicts of ``[N,4]`` corners, each with its score and label, as core's detectors give them."""
    return [{"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0, "score": float(score), "label": label}
            for (x0, y0, x1, y1), score, label in zip(boxes.tolist(), scores, labels)]


def box_json(box) -> list[float]:
    """A box's corners for objects_json at float32 precision, written shortest: fed back as boxes, they give
    the same masks."""
    return [float(str(v)) for v in np.float32(box)]
