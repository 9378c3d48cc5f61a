"""The prompt inputs of the object nodes, parsed and checked: boxes and points as JSON, ComfyUI's
``BOUNDING_BOX`` values, and core's point strings (``positive_coords`` / ``negative_coords``).

Each parser takes the name of the node that reads the input, for its errors, so every node with such
inputs shares them. Boxes come back per image as ``Detections`` in pixel corners, clipped to the
image; a box wholly outside the image is dropped (with a warning), never segmented as an empty box.
Points come back as ``[P,2]`` pixel coordinates and ``[P]`` labels (1 = object, 0 = not).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re

import torch

from ..errors import MaskForgeError
from ..models.grounding_dino import Detections
from ..ops.boxes import clip_boxes, from_bounding_boxes, inside_image

log = logging.getLogger(__name__)

# The accepted shapes nest at most three levels ({"objects": [{"box": [...]}]}); deeper JSON is a mistake,
# and very deep JSON would crash the parser with a RecursionError.
MAX_DEPTH = 8
_STRUCTURE = re.compile(r'\\.|["\[\]{}]')  # escapes first, so an escaped quote never ends a string


class _NotANumber(ValueError):
    pass


def load_json(node: str, text: str, input_name: str):
    """``text`` as JSON, refusing NaN and Infinity and nesting deeper than ``MAX_DEPTH``."""
    depth, deepest, in_string = 0, 0, False
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif not in_string and token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise MaskForgeError(node, f"the JSON is nested more than {MAX_DEPTH} levels deep; boxes and points "
                                           "need at most 3 (a list of objects holding a box list)", input_name)
        elif not in_string and token in "]}":
            depth -= 1
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MaskForgeError(node, f"not valid JSON ({exc.msg} at character {exc.pos})", input_name) from None
    except _NotANumber as exc:
        raise MaskForgeError(node, f"{exc} is not a number; coordinates and scores must be finite numbers",
                             input_name) from None


def _refuse_constant(name: str):
    raise _NotANumber(name)


def _show(value) -> str:
    return json.dumps(value, default=repr)[:80]


def _numbers(node: str, value, size: int, input_name: str, what: str) -> list[float]:
    if not (isinstance(value, (list, tuple)) and len(value) == size
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise MaskForgeError(node, f"{what} must be {size} numbers, got {_show(value)}", input_name)
    result = [float(v) for v in value]
    if not all(math.isfinite(v) for v in result):
        raise MaskForgeError(node, f"{what} must be finite numbers, got {_show(value)}", input_name)
    return result


def _text(node: str, value, input_name: str, what: str) -> str:
    if not isinstance(value, str):
        raise MaskForgeError(node, f"{what} must be text, got {_show(value)}", input_name)
    return value


# --- boxes ---


def parse_boxes(node: str, text: str, count: int, height: int, width: int,
                input_name: str = "boxes") -> list[Detections]:
    """Per image, the boxes of a JSON input: another node's ``objects_json``, ``{"boxes": [...]}``, or a
    list of ``[x0, y0, x1, y1]`` in pixels or ``{"box": [...], "image": i, "phrase": …, "score": …}``
    objects. A box without an image index belongs to every image."""
    data = load_json(node, text, input_name)
    if isinstance(data, dict):
        key = next((k for k in ("objects", "boxes") if k in data), None)
        if key is None:
            raise MaskForgeError(node, "a JSON object of boxes needs an 'objects' list (another node's objects_json) "
                                       f"or a 'boxes' list; it has {sorted(data)[:6]}", input_name)
        data = data[key]
    if not isinstance(data, list):
        raise MaskForgeError(node, f"expected a list of boxes, got {_show(data)}", input_name)
    per_image = [[] for _ in range(count)]
    for item in data:
        if isinstance(item, list):
            item = {"box": item}
        elif not isinstance(item, dict):
            raise MaskForgeError(node, f"a box is [x0, y0, x1, y1] or {{\"box\": [x0, y0, x1, y1], …}}, got {_show(item)}",
                                 input_name)
        box = _numbers(node, item.get("box", item.get("bbox")), 4, input_name, "a box [x0, y0, x1, y1]")
        if box[2] < box[0] or box[3] < box[1]:
            raise MaskForgeError(node, f"box {box} has x1 < x0 or y1 < y0; boxes are [x0, y0, x1, y1] in pixels",
                                 input_name)
        index = item.get("image")
        if index is not None and not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count):
            raise MaskForgeError(node, f"image index {_show(index)} is outside the batch of {count}", input_name)
        phrase = _text(node, item.get("phrase", item.get("label", "box")), input_name, "a box's phrase")
        label = _text(node, item.get("label", phrase), input_name, "a box's label")
        score = _numbers(node, [item.get("score", 1.0)], 1, input_name, "a box's score")[0]
        for i in range(count) if index is None else (index,):
            per_image[i].append((box, score, phrase, label))
    return [_detections(node, torch.tensor([e[0] for e in entries], dtype=torch.float32).reshape(-1, 4),
                        [e[1:] for e in entries], i, height, width, input_name) for i, entries in enumerate(per_image)]


def parse_bboxes(node: str, value, count: int, height: int, width: int,
                 input_name: str = "bboxes") -> list[Detections]:
    """Per image, the boxes of a ``BOUNDING_BOX`` input as core's nodes pass it: one dict (for every
    image), a list of dicts (the same for every image) or one list per image; a per-image list shorter
    than the batch is padded with its last entry, as core pads it. ``score`` and ``label`` are kept."""
    per_image = bounding_box_lists(node, value, input_name)
    if len(per_image) > count:
        raise MaskForgeError(node, f"{len(per_image)} lists of boxes for a batch of {count} images; give one list "
                                   "per image (or fewer: the last list repeats)", input_name)
    per_image = per_image + per_image[-1:] * (count - len(per_image))
    result = []
    for i, frame in enumerate(per_image):
        boxes, scores, labels = read_bounding_boxes(node, frame, input_name)
        labels = ["box" if label is None else label for label in labels]
        result.append(_detections(node, boxes, list(zip(scores, labels, labels)), i, height, width, input_name))
    return result


def read_bounding_boxes(node: str, frame: list[dict],
                        input_name: str = "bboxes") -> tuple[torch.Tensor, list[float], list[str | None]]:
    """One image's ``BOUNDING_BOX`` dicts, checked: ``[N,4]`` pixel corners, their scores (1 when not
    given) and labels (None when not given)."""
    scores, labels = [], []
    for d in frame:
        keys = ("x", "y", "width", "height")
        if not all(k in d for k in keys):
            raise MaskForgeError(node, f"a box has x, y, width and height in pixels, got {_show(d)}", input_name)
        _, _, w, h = _numbers(node, [d[k] for k in keys], 4, input_name, "a box's x, y, width and height")
        if w < 0 or h < 0:
            raise MaskForgeError(node, f"a box's width and height cannot be negative, got {_show(d)}", input_name)
        scores.append(_numbers(node, [d.get("score", 1.0)], 1, input_name, "a box's score")[0])
        label = d.get("label")
        labels.append(None if label is None else _text(node, label, input_name, "a box's label"))
    return from_bounding_boxes(frame), scores, labels


def bounding_box_lists(node: str, value, input_name: str = "bboxes") -> list[list[dict]]:
    """A ``BOUNDING_BOX`` value as a list of per-image lists of dicts (a dict or a flat list is one list)."""
    shape = ("a BOUNDING_BOX is a box {x, y, width, height}, a list of boxes or one list of boxes per image "
             "(connect a detector's bboxes output)")
    if isinstance(value, dict):
        return [[value]]
    if not isinstance(value, list):
        raise MaskForgeError(node, f"{shape}; got {type(value).__name__}", input_name)
    if all(isinstance(item, dict) for item in value):
        return [value]
    if all(isinstance(item, list) and all(isinstance(d, dict) for d in item) for item in value):
        return value
    raise MaskForgeError(node, f"{shape}; got a list mixing {sorted({type(i).__name__ for i in value})}", input_name)


def _detections(node: str, boxes: torch.Tensor, entries: list, image: int, height: int, width: int,
                input_name: str) -> Detections:
    """``Detections`` of ``[N,4]`` corners and their (score, phrase, label): boxes wholly outside the image
    dropped, the rest clipped to it."""
    keep = inside_image(boxes, height, width)
    if not keep.all():
        log.warning("%s: %s: %d box(es) of image %d lie wholly outside the %dx%d image and were dropped",
                    node, input_name, int((~keep).sum()), image + 1, width, height)
    kept = [e for e, k in zip(entries, keep.tolist()) if k]
    return Detections(clip_boxes(boxes[keep], height, width), torch.tensor([e[0] for e in kept], dtype=torch.float32),
                      [e[1] for e in kept], [e[2] for e in kept])


def join_boxes(*sources: list[Detections] | None) -> list[Detections] | None:
    """Per image, the boxes of several inputs one after the other; None when no input is given."""
    given = [s for s in sources if s is not None]
    if not given:
        return None
    return [Detections(torch.cat([d.boxes for d in per_image]), torch.cat([d.scores for d in per_image]),
                       [p for d in per_image for p in d.phrases], [lab for d in per_image for lab in d.labels])
            for per_image in zip(*given)]


def keep_best(found: Detections, max_objects: int) -> Detections:
    """The ``max_objects`` best-scoring boxes (0 keeps all), in their given order."""
    if max_objects <= 0 or len(found) <= max_objects:
        return found
    best = torch.argsort(found.scores, descending=True, stable=True)[:max_objects].sort().values
    return Detections(found.boxes[best], found.scores[best], [found.phrases[i] for i in best.tolist()],
                      [found.labels[i] for i in best.tolist()])


# --- points ---

Points = tuple[torch.Tensor, torch.Tensor]  # [P,2] pixel x, y; [P] labels, 1 = object, 0 = not


def parse_points(node: str, text: str, input_name: str = "points") -> Points | None:
    """The points of a JSON input: ``[[x, y], …]``, ``[[x, y, label], …]``, ``[{"x": …, "y": …,
    "label": 1}, …]`` or ``{"positive": [...], "negative": [...]}``; None when there are none."""
    data = load_json(node, text, input_name)
    if isinstance(data, dict):
        if not data or set(data) - {"positive", "negative"}:
            raise MaskForgeError(node, "a JSON object of points has a 'positive' and/or a 'negative' list; it has "
                                       f"{sorted(data)[:6]}", input_name)
        items = []
        for key, label in (("positive", 1), ("negative", 0)):
            group = data.get(key, [])
            if not isinstance(group, list):
                raise MaskForgeError(node, f"'{key}' must be a list of points, got {_show(group)}", input_name)
            items += [(_point(node, p, input_name)[:2], label) for p in group]
    elif isinstance(data, list):
        items = []
        for p in data:
            x, y, label = _point(node, p, input_name)
            items.append(((x, y), 1 if label is None else label))
    else:
        raise MaskForgeError(node, f"expected a list of points, got {_show(data)}", input_name)
    return _points(items)


def parse_coords(node: str, text: str, label: int, input_name: str) -> Points | None:
    """Core's point strings (KJNodes' Points Editor format): ``[{"x": …, "y": …}, …]`` in pixels, all
    with ``label``; None when empty."""
    data = load_json(node, text, input_name)
    if not isinstance(data, list):
        raise MaskForgeError(node, f"expected a list of points [{{\"x\": …, \"y\": …}}, …], got {_show(data)}",
                             input_name)
    return _points([(_point(node, p, input_name)[:2], label) for p in data])


def join_points(*parts: Points | None) -> Points | None:
    """All points of several inputs as one set; None when none has any."""
    given = [p for p in parts if p is not None]
    if not given:
        return None
    return torch.cat([p[0] for p in given]), torch.cat([p[1] for p in given])


def _point(node: str, item, input_name: str) -> tuple[float, float, int | None]:
    if isinstance(item, dict):
        x, y = _numbers(node, [item.get("x"), item.get("y")], 2, input_name, "a point's x and y")
        label = item.get("label")
    elif isinstance(item, list) and len(item) in (2, 3):
        x, y = _numbers(node, item[:2], 2, input_name, "a point's x and y")
        label = item[2] if len(item) == 3 else None
    else:
        raise MaskForgeError(node, f"a point is [x, y], [x, y, label] or {{\"x\": …, \"y\": …}}, got {_show(item)}",
                             input_name)
    if label is not None and not (isinstance(label, numbers.Real) and label in (0, 1)):
        raise MaskForgeError(node, f"a point's label is 1 (object) or 0 (not the object), got {_show(label)}",
                             input_name)
    return x, y, None if label is None else int(label)


def _points(items: list) -> Points | None:
    if not items:
        return None
    return (torch.tensor([xy for xy, _ in items], dtype=torch.float32),
            torch.tensor([label for _, label in items], dtype=torch.long))
