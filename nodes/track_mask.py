"""TrackMask: masks that follow objects through a video (a frame batch) with SAM 2.1's memory."""

from __future__ import annotations

import json

import torch

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..models import management, sam_video, weights
from ..ops.annotate import annotate, palette
from ..ops.boxes import mask_extents
from .inputs import check_image, check_mask, image_output, mask_output
from .prompt_mask import SAM_DEFAULT, _tooltip
from .prompts import join_points, parse_bboxes, parse_boxes, parse_coords, parse_points

NODE = "TrackMask"
DIRECTIONS = tuple(sam_video.DIRECTIONS)


class TrackMask:
    DESCRIPTION = (
        "Follows objects through a video (a batch of frames) with SAM 2.1's memory, so each object keeps one mask "
        "from frame to frame, also while it moves, turns or leaves the picture and comes back. Say what to follow on "
        "one key frame: masks (one per object, e.g. PromptMask's per_object), boxes or points. Outputs the mask of "
        "all objects per frame, one mask per object and frame, the objects as JSON and a preview."
    )
    CATEGORY = "MaskForge/video"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK", "STRING", "IMAGE")
    RETURN_NAMES = ("mask", "per_object", "objects_json", "preview")
    OUTPUT_TOOLTIPS = (
        "All objects of each frame together (after grow and invert), one mask per frame; 1 = inpaint here.",
        "One mask per object and frame, grown but not inverted, frame by frame: frame 0's objects, then frame 1's, "
        "…; objects in the order of objects_json's 'objects'. An object SAM does not see in a frame has an empty "
        "mask there.",
        "The objects and, per frame and object, the box [x0, y0, x1, y1] in pixels (null where the object is not "
        "in the frame), the area in pixels and SAM's presence score (0..1), before grow.",
        "Each frame with every object tinted in its colour, boxed and labelled with its number.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        sams = weights.choices("sam2")
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video's frames, in order (e.g. Get Video Components' images)."}),
                "sam_model": (sams, {"default": SAM_DEFAULT, "tooltip": _tooltip(
                    "SAM 2.1 with its video memory, in models/sam2 (the same files PromptMask uses; downloaded on "
                    "first use).", "sam2")}),
                "key_frame": ("INT", {"default": 0, "min": 0, "max": 1_000_000, "step": 1, "tooltip":
                                      "The frame (counted from 0) that the masks, boxes or points mark."}),
                "direction": (DIRECTIONS, {"default": "both", "tooltip":
                                           "Follow the objects forward from the key frame to the last frame, "
                                           "backward to the first, or both (forward first). Frames not reached get "
                                           "empty masks."}),
                "max_objects": ("INT", {"default": 0, "min": 0, "max": 256, "step": 1, "tooltip":
                                        "Follow at most this many objects (the first ones given); 0 follows all. "
                                        "Each object adds the mask decoder and memory attention to every frame."}),
                "grow": ("INT", {"default": 0, "min": -512, "max": 512, "step": 1, "tooltip":
                                 "Grow each mask by this many pixels (round corners); negative shrinks."}),
                "invert": ("BOOLEAN", {"default": False, "tooltip":
                                       "Invert the mask output: inpaint everything except the objects."}),
                "force_cpu": ("BOOLEAN", {"default": False, "tooltip":
                                          "Run on the CPU even when a GPU is available."}),
            },
            "optional": {
                "initial_mask": ("MASK", {"tooltip":
                                          "One mask per object on the key frame, at the frames' size: PromptMask's "
                                          "per_object, LabelMask's per_label, a painted mask, SAM 3's masks. Empty "
                                          "masks are skipped."}),
                "bboxes": ("BOUNDING_BOX", {"tooltip":
                                            "Boxes on the key frame, one object each ({x, y, width, height} in "
                                            "pixels, as ComfyUI's detectors give them). With one list per frame, "
                                            "the key frame's list is used."}),
                "boxes": ("STRING", {"forceInput": True, "tooltip":
                                     "Boxes as JSON, one object each, as PromptMask reads them: [[x0, y0, x1, y1], …] "
                                     "or PromptMask's objects_json; boxes with an 'image' index count on that frame."}),
                "points": ("STRING", {"forceInput": True, "tooltip":
                                      "Points as JSON on the key frame, as PromptMask reads them: [[x, y], …], "
                                      "[[x, y, label], …] (label 1 = the object, 0 = not). With boxes they refine "
                                      "every box; alone they mark one object."}),
                "positive_coords": ("STRING", {"forceInput": True, "tooltip":
                                               "Points on the object as ComfyUI's point editors give them: "
                                               "[{\"x\": …, \"y\": …}, …] in pixels on the key frame. Joined with "
                                               "points."}),
                "negative_coords": ("STRING", {"forceInput": True, "tooltip":
                                               "Points that are not the object, in the same format. Joined with "
                                               "points."}),
            },
        }

    def run(self, images, sam_model, key_frame, direction, max_objects, grow, invert, force_cpu,
            initial_mask=None, bboxes=None, boxes=None, points=None, positive_coords=None, negative_coords=None):
        frames = check_image(NODE, "images", images)
        count, h, w = frames.shape[:3]
        if key_frame >= count:
            raise MaskForgeError(NODE, f"key_frame {key_frame} is past the last frame ({count - 1}); frames count "
                                       "from 0", "key_frame")
        if direction not in DIRECTIONS:
            raise MaskForgeError(NODE, f"'{direction}' is not one of {', '.join(DIRECTIONS)}", "direction")
        point_set = join_points(
            parse_points(NODE, points) if _given(points) else None,
            parse_coords(NODE, positive_coords, 1, "positive_coords") if _given(positive_coords) else None,
            parse_coords(NODE, negative_coords, 0, "negative_coords") if _given(negative_coords) else None)
        prompts, starts = _prompts(frames, key_frame, initial_mask, bboxes, boxes, point_set)
        if max_objects:
            prompts, starts = prompts[:max_objects], starts[:max_objects]

        per_object = torch.zeros((count * len(prompts), h, w))
        union = torch.zeros((count, h, w))
        preview = frames.clone()
        tracks = [None] * (count * len(prompts))
        if prompts:
            path = weights.resolve(NODE, sam_model, folders=("sam2",), input_name="sam_model")
            device = management.compute_device(force_cpu)
            tracker = management.get_model(f"{path}#video", lambda: _load(path), device=device,
                                            dtype=management.compute_dtype(device))
            todo = {"forward": count - key_frame, "backward": key_frame + 1, "both": count}[direction]
            bar = comfy_adapter.progress_bar(todo)
            with tracker.use() as model:
                for done, frame in enumerate(sam_video.track(model, frames, key_frame, prompts, direction), 1):
                    _store(frame, frames, grow, per_object, union, preview, tracks)
                    bar.update_absolute(done, todo)
                    comfy_adapter.throw_if_interrupted()
        report = {"image_size": [w, h], "frames": count, "key_frame": key_frame, "direction": direction,
                  "objects": [{"id": k, **start} for k, start in enumerate(starts)],
                  "tracks": [t or {"frame": i // len(prompts), "object": i % len(prompts), "box": None, "area": 0,
                                   "score": None} for i, t in enumerate(tracks)]}
        return (mask_output(union.mul_(-1).add_(1) if invert else union, h, w), mask_output(per_object, h, w),
                json.dumps(report), image_output(preview))


def _load(path):
    try:
        return sam_video.load(path)
    except sam_video.SamVideoLoadError as exc:
        raise MaskForgeError(NODE, str(exc), "sam_model") from None


def _store(frame, frames, grow, per_object, union, preview, tracks) -> None:
    """Writes one frame's result into the outputs (grown frame by frame: no whole-clip copies)."""
    objects = frame.masks.shape[0]
    masks = frame.masks.float()
    union[frame.index] = ops.grow(masks.amax(0, keepdim=True), grow)[0]
    grown = ops.grow(masks, grow)
    per_object[frame.index * objects : (frame.index + 1) * objects] = grown
    extents, areas = mask_extents(masks), masks.sum((1, 2)).long().tolist()
    for k in range(objects):
        box = [int(v) for v in extents[k].tolist()] if areas[k] else None
        tracks[frame.index * objects + k] = {"frame": frame.index, "object": k, "box": box, "area": areas[k],
                                             "score": round(float(frame.scores[k]), 4)}
    present = [k for k in range(objects) if areas[k]]
    if present:  # a frame without objects stays as it came
        colours = palette(objects)
        preview[frame.index] = annotate(frames[frame.index], grown[present], extents[present],
                                        [str(k) for k in present], [colours[k] for k in present])


def _given(text: str | None) -> bool:
    return bool(text and text.strip())


def _prompts(frames, key_frame, initial_mask, bboxes, boxes, point_set):
    """The objects to follow, in order (masks, then core's boxes, then JSON boxes, then points alone), and where
    each came from."""
    count, h, w = frames.shape[:3]
    prompts, starts = [], []
    if initial_mask is not None:
        masks = check_mask(NODE, "initial_mask", initial_mask)
        if masks.shape[1:] != (h, w):
            raise MaskForgeError(NODE, f"the masks are {masks.shape[2]}x{masks.shape[1]} but the frames are {w}x{h}; "
                                       "make the masks from these frames (or resize them first)", "initial_mask")
        for i, mask in enumerate(masks):
            if mask.amax() > 0:
                prompts.append(sam_video.Prompt(mask=mask))
                starts.append({"from": f"initial_mask {i}"})
    given = []
    if bboxes is not None:
        given.append(("bboxes", parse_bboxes(NODE, bboxes, count, h, w)[key_frame]))
    if _given(boxes):
        per_frame = parse_boxes(NODE, boxes, count, h, w)
        if not len(per_frame[key_frame]) and any(len(d) for d in per_frame):
            raise MaskForgeError(NODE, f"none of the boxes is on the key frame ({key_frame}): their 'image' index "
                                       "names other frames; set key_frame to theirs or drop the index", "boxes")
        given.append(("boxes", per_frame[key_frame]))
    point_xy, point_labels = point_set or (None, None)
    for name, found in given:
        for i, box in enumerate(found.boxes):
            prompts.append(sam_video.Prompt(box=box, points=point_xy, labels=point_labels))
            starts.append({"from": f"{name} {i}", "label": found.labels[i], "points": point_xy is not None})
    if not any(len(found) for _, found in given) and point_xy is not None:
        prompts.append(sam_video.Prompt(points=point_xy, labels=point_labels))
        starts.append({"from": "points"})
    if initial_mask is None and not given and point_xy is None:
        raise MaskForgeError(NODE, "say what to follow: connect initial_mask (one mask per object), bboxes, boxes or "
                                   "points", "initial_mask")
    return prompts, starts


NODE_CLASS_MAPPINGS = {"MaskForgeTrackMask": TrackMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeTrackMask": "Track Mask (video)"}
