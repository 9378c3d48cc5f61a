"""PromptMask: text → boxes (Grounding DINO) → masks (SAM / SAM 2.1), with boxes and points as optional prompts."""

from __future__ import annotations

import json
from contextlib import ExitStack, nullcontext

import torch

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..models import files, grounding_dino, management, sam, weights
from ..models.registry import REGISTRY
from ..ops.annotate import annotate, palette
from ..ops.boxes import clip_boxes, fill_boxes
from .inputs import check_colour, check_image, image_output, mask_output

NODE = "PromptMask"
DETECTOR_DEFAULT = "grounding-dino-tiny"
SAM_DEFAULT = "sam2.1-hiera-tiny"  # picked by bench/prompt_mask_bench.py: see the README


def _tooltip(intro: str, *families: str) -> str:
    rows = "\n".join(f"• {s.name}: {s.description} Licence: {s.licence}." for s in REGISTRY.values() if s.family in families)
    return f"{intro}\n{rows}"


class PromptMask:
    DESCRIPTION = (
        "Masks what you name: Grounding DINO finds boxes for the phrases of the prompt ('white sofa. lamp'), "
        "then SAM or SAM 2.1 outlines the object in each box. Connect boxes (JSON) to skip detection, or points "
        "(JSON) to refine the outlines. Outputs the mask of all objects, one mask per object, the objects as JSON, "
        "a preview with boxes and scores (for tuning the thresholds) and the cut-out."
    )
    CATEGORY = "MaskForge/segmentation"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK", "STRING", "IMAGE", "IMAGE")
    RETURN_NAMES = ("mask", "per_object", "objects_json", "preview", "cutout")
    OUTPUT_TOOLTIPS = (
        "All objects of each image together (after grow and invert); 1 = inpaint here.",
        "One mask per object, grown but not inverted, image by image in the order of objects_json.",
        "The objects: image index, phrase, label, score, box [x0, y0, x1, y1] in pixels. Feeds the boxes input of "
        "another PromptMask.",
        "The image with each object tinted and its box, phrase and score drawn.",
        "The image where the mask is 1, background_colour where it is 0.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        detectors = weights.choices("grounding-dino")
        sams = weights.choices("sam2", "sam")
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The images; a whole batch is processed."}),
                "detector": (detectors, {"default": DETECTOR_DEFAULT, "tooltip": _tooltip(
                    "Finds the boxes for the prompt. Downloaded to models/grounding-dino on first use.", "grounding-dino")}),
                "sam_model": (sams, {"default": SAM_DEFAULT, "tooltip": _tooltip(
                    "Outlines each object. SAM 2.1 goes in models/sam2, SAM in models/sams (hub folders or Meta's "
                    "sam_vit_*.pth files).", "sam2", "sam")}),
                "prompt": ("STRING", {"default": "", "multiline": True, "tooltip":
                                      "What to mask: phrases separated by dots, e.g. 'white sofa. lamp'. Leave empty "
                                      "when boxes or points are connected."}),
                "box_threshold": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                                            "Keep boxes whose best word scores above this. Lower finds more (and more "
                                            "false hits). Segmind's threshold / confidence_thresh."}),
                "text_threshold": ("FLOAT", {"default": 0.25, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                                             "A box's label is the words of its phrase scoring above this; a box "
                                             "with no such word is dropped."}),
                "nms_iou": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                                      "Of two boxes overlapping more than this (intersection over union), only the "
                                      "better is kept. Lower removes more overlaps; 1 keeps all. Segmind's iou_thresh."}),
                "max_objects": ("INT", {"default": 0, "min": 0, "max": 900, "step": 1, "tooltip":
                                        "Keep at most this many best-scoring objects per image; 0 keeps all."}),
                "mask_type": (["segment", "box"], {"default": "segment", "tooltip":
                                                   "segment: the object's outline (SAM). box: its whole box (no SAM)."}),
                "grow": ("INT", {"default": 0, "min": -512, "max": 512, "step": 1, "tooltip":
                                 "Grow each mask by this many pixels (round corners); negative shrinks. "
                                 "Segmind's grow_mask (default 10 there)."}),
                "invert": ("BOOLEAN", {"default": False, "tooltip":
                                       "Invert the mask output: inpaint everything except the objects."}),
                "stop_on_empty_mask": ("BOOLEAN", {"default": False, "tooltip":
                                                   "Stop the workflow with an error when an image has no object; "
                                                   "off gives an empty mask instead."}),
                "background_colour": ("STRING", {"default": "#FFFFFF", "tooltip":
                                                 "The colour where the cutout's mask is 0, #RRGGBB."}),
                "force_cpu": ("BOOLEAN", {"default": False, "tooltip": "Run the models on the CPU even when a GPU is available."}),
                "detector_resolution": ("INT", {"default": 512, "min": 256, "max": 1344, "step": 32, "tooltip":
                                                "The short side Grounding DINO sees. It was trained at 480-800; 800 "
                                                "finds smaller objects but takes about 3x as long as 512 (12 s vs "
                                                "4 s on a 2-core CPU). Masks are always made at full size."}),
            },
            "optional": {
                "boxes": ("STRING", {"forceInput": True, "tooltip":
                                     "Boxes as JSON, skipping detection: objects_json of another PromptMask, or a "
                                     "list of [x0, y0, x1, y1] in pixels (for every image) or of {\"box\": [...], "
                                     "\"image\": i} objects."}),
                "points": ("STRING", {"forceInput": True, "tooltip":
                                      "Points as JSON that refine every object: [[x, y], …], [[x, y, label], …] or "
                                      "[{\"x\": …, \"y\": …, \"label\": 1}, …] in pixels; label 1 = part of the "
                                      "object, 0 = not. With no prompt and no boxes they make one object."}),
            },
        }

    def run(self, image, detector, sam_model, prompt, box_threshold, text_threshold, nms_iou, max_objects,
            mask_type, grow, invert, stop_on_empty_mask, background_colour, force_cpu, detector_resolution,
            boxes=None, points=None):
        images = check_image(NODE, "image", image)
        count, h, w = images.shape[:3]
        colour = check_colour(NODE, "background_colour", background_colour)
        given = parse_boxes(boxes, count, h, w) if boxes and boxes.strip() else None
        point_xy, point_labels = parse_points(points) if points and points.strip() else (None, None)
        phrases = grounding_dino.split_phrases(prompt)
        if given is None and not phrases and point_xy is None:
            raise MaskForgeError(NODE, "say what to mask, e.g. 'white sofa. lamp', or connect boxes or points", "prompt")
        if mask_type == "box" and given is None and not phrases:
            raise MaskForgeError(NODE, "box mode needs boxes: write a prompt or connect boxes", "mask_type")

        device = management.compute_device(force_cpu)
        found_by = None
        if given is None and phrases:
            path = weights.resolve(NODE, detector, folders=("grounding-dino",), input_name="detector")
            found_by = management.get_model(str(path), lambda: _load(grounding_dino.load, path, "detector"), device=device,
                                            dtype=torch.float32)
        outliner, sam_key = None, None
        if mask_type == "segment":
            path = weights.resolve(NODE, sam_model, folders=("sam2", "sams"), input_name="sam_model")
            sam_key = str(path)
            outliner = management.get_model(sam_key, lambda: _load(sam.load, path, "sam_model"), device=device,
                                            dtype=management.compute_dtype(device))

        objects, masks = [], []  # per image: list of object dicts, [N,H,W] masks
        bar = comfy_adapter.progress_bar(count)
        with ExitStack() as stack:
            detector_payload = stack.enter_context(found_by.use() if found_by else nullcontext())
            sam_model_on_device = stack.enter_context(outliner.use() if outliner else nullcontext())
            for i in range(count):
                comfy_adapter.throw_if_interrupted()
                if given is not None:
                    found = given[i]
                elif phrases:
                    try:
                        found = grounding_dino.detect(*detector_payload, images[i], phrases, box_threshold,
                                                      text_threshold, nms_iou, max_objects, detector_resolution)
                    except grounding_dino.PromptTooLong as exc:
                        raise MaskForgeError(NODE, str(exc), "prompt") from None
                else:
                    found = grounding_dino.Detections()
                image_objects, image_masks = _outline(sam_model_on_device, sam_key, images[i], found,
                                                      point_xy, point_labels, mask_type == "box")
                if stop_on_empty_mask and not image_objects:
                    where = f"image {i + 1} of {count}" if count > 1 else "the image"
                    raise MaskForgeError(NODE, f"nothing found in {where} (stop_on_empty_mask is on); lower "
                                               "box_threshold, change the prompt, or turn stop_on_empty_mask off")
                objects.append([{"image": i, **o} for o in image_objects])
                masks.append(image_masks)
                bar.update_absolute(i + 1, count)
        return self._outputs(images, objects, masks, grow, invert, colour)

    @staticmethod
    def _outputs(images, objects, masks, grow, invert, colour):
        count, h, w = images.shape[:3]
        union = torch.stack([m.amax(0) if len(m) else torch.zeros((h, w)) for m in masks])
        union = ops.grow(union, grow)
        if invert:
            union = ops.invert(union)
        per_object = ops.grow(torch.cat(masks), grow) if sum(len(m) for m in masks) else torch.zeros((0, h, w))
        previews, start = [], 0
        for i in range(count):
            n = len(objects[i])
            captions = [f"{o['phrase']} {o['score']:.2f}" for o in objects[i]]
            boxes = torch.tensor([o["box"] for o in objects[i]], dtype=torch.float32).reshape(-1, 4)
            previews.append(annotate(images[i], per_object[start : start + n], boxes, captions, palette(n)))
            start += n
        listing = [o for image_objects in objects for o in image_objects]
        report = json.dumps({"image_size": [w, h], "images": count, "objects": listing})
        return (mask_output(union, h, w), mask_output(per_object, h, w), report,
                image_output(torch.stack(previews)), image_output(ops.cutout(images, union, colour)))


def _load(load, path, input_name):
    """``load(path)``, a bad model file reported on ``input_name``."""
    try:
        return load(path)
    except files.BadModelFile as exc:
        raise MaskForgeError(NODE, str(exc), input_name) from None


def _outline(model, key, image, found, point_xy, point_labels, box_mode):
    """The objects of one image (dicts without the image index) and their masks ``[N,H,W]``."""
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
            box, phrase, label, score = _extent(masks[k]), "points", "points", scores[k]
        entry = {"phrase": phrase, "label": label, "score": round(score, 4), "box": [round(v, 1) for v in box]}
        if scores[k] is not None:
            entry["mask_score"] = round(scores[k], 4)  # SAM's own estimate of the mask's IoU
        objects.append(entry)
    return objects, masks


def _extent(mask: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# --- the optional JSON inputs ---


def _json(text: str, name: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MaskForgeError(NODE, f"not valid JSON ({exc.msg} at character {exc.pos})", name) from None


def _numbers(value, size: int, name: str, what: str) -> list[float]:
    if not (isinstance(value, (list, tuple)) and len(value) == size
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise MaskForgeError(NODE, f"{what} must be {size} numbers, got {json.dumps(value)[:80]}", name)
    return [float(v) for v in value]


def parse_boxes(text: str, count: int, height: int, width: int) -> list[grounding_dino.Detections]:
    """Per image, the boxes of the ``boxes`` input (clipped to the image); a box without an image index
    belongs to every image."""
    data = _json(text, "boxes")
    if isinstance(data, dict):
        data = data.get("objects", data.get("boxes"))
    if not isinstance(data, list):
        raise MaskForgeError(NODE, "expected a list of boxes, or an object with 'objects' or 'boxes'", "boxes")
    per_image = [[] for _ in range(count)]
    for item in data:
        entry = item if isinstance(item, dict) else {"box": item}
        box = _numbers(entry.get("box", entry.get("bbox")), 4, "boxes", "a box [x0, y0, x1, y1]")
        if box[2] < box[0] or box[3] < box[1]:
            raise MaskForgeError(NODE, f"box {box} has x1 < x0 or y1 < y0; boxes are [x0, y0, x1, y1] in pixels", "boxes")
        index = entry.get("image")
        if index is not None and not (isinstance(index, int) and 0 <= index < count):
            raise MaskForgeError(NODE, f"image index {index} is outside the batch of {count}", "boxes")
        phrase = str(entry.get("phrase", entry.get("label", "box")))
        label = str(entry.get("label", phrase))
        score = _numbers([entry.get("score", 1.0)], 1, "boxes", "a box's score")[0]
        for i in range(count) if index is None else (index,):
            per_image[i].append((box, score, phrase, label))
    result = []
    for entries in per_image:
        boxes = torch.tensor([e[0] for e in entries], dtype=torch.float32).reshape(-1, 4)
        scores = torch.tensor([e[1] for e in entries], dtype=torch.float32)
        result.append(grounding_dino.Detections(clip_boxes(boxes, height, width), scores,
                                                [e[2] for e in entries], [e[3] for e in entries]))
    return result


def parse_points(text: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``[P,2]`` pixel coordinates and ``[P]`` labels (1 = object, 0 = not) from the ``points`` input."""
    data = _json(text, "points")
    if isinstance(data, dict):  # {"positive": [...], "negative": [...]}
        data = ([dict(_point_dict(p), label=1) for p in data.get("positive", [])]
                + [dict(_point_dict(p), label=0) for p in data.get("negative", [])])
    if not isinstance(data, list):
        raise MaskForgeError(NODE, "expected a list of points", "points")
    if not data:
        return None, None
    coords, labels = [], []
    for item in data:
        point = _point_dict(item)
        coords.append(_numbers([point.get("x"), point.get("y")], 2, "points", "a point's x and y"))
        label = point.get("label", 1)
        if label not in (0, 1, True, False):
            raise MaskForgeError(NODE, f"a point's label is 1 (object) or 0 (not the object), got {label!r}", "points")
        labels.append(int(label))
    return torch.tensor(coords, dtype=torch.float32), torch.tensor(labels, dtype=torch.long)


def _point_dict(item) -> dict:
    if isinstance(item, dict):
        return item
    if isinstance(item, (list, tuple)) and len(item) in (2, 3):
        return {"x": item[0], "y": item[1], **({"label": item[2]} if len(item) == 3 else {})}
    raise MaskForgeError(NODE, f"a point is [x, y], [x, y, label] or {{\"x\": …, \"y\": …}}, got {json.dumps(item)[:80]}",
                         "points")


NODE_CLASS_MAPPINGS = {"MaskForgePromptMask": PromptMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgePromptMask": "Prompt Mask"}
