"""PromptMask: text → boxes (Grounding DINO) → masks (SAM / SAM 2.1), with boxes and points as optional prompts."""

from __future__ import annotations

from contextlib import ExitStack, nullcontext

import torch

from .. import comfy_adapter
from ..errors import MaskForgeError
from ..models import files, grounding_dino, management, sam, weights
from ..models.outline import nothing_found, outline_objects
from ..models.registry import REGISTRY
from . import objects as object_outputs
from .inputs import check_colour, check_image
from .prompts import join_boxes, join_points, keep_best, parse_bboxes, parse_boxes, parse_coords, parse_points

NODE = "PromptMask"
DETECTOR_DEFAULT = "grounding-dino-tiny"
SAM_DEFAULT = "sam2.1-hiera-tiny"  # picked by bench/prompt_mask_bench.py: see the README


def _tooltip(intro: str, *families: str) -> str:
    rows = "\n".join(f"• {s.name}: {s.description} Licence: {s.licence}." for s in REGISTRY.values() if s.family in families)
    return f"{intro}\n{rows}"


class PromptMask:
    DESCRIPTION = (
        "Masks what you name: Grounding DINO finds boxes for the phrases of the prompt ('white sofa. lamp'), "
        "then SAM or SAM 2.1 outlines the object in each box. Connect boxes (JSON or a detector's bboxes) to skip "
        "detection, or points to refine the outlines. Outputs the mask of all objects, one mask per object, the "
        "objects as JSON and as bboxes, a preview with boxes and scores (for tuning the thresholds) and the cut-out."
    )
    CATEGORY = "MaskForge/segmentation"
    FUNCTION = "run"
    RETURN_TYPES = object_outputs.RETURN_TYPES
    RETURN_NAMES = object_outputs.RETURN_NAMES
    OUTPUT_TOOLTIPS = object_outputs.output_tooltips("phrase, label")

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
                                            "Keep boxes whose best token of the prompt scores above this, as in "
                                            "Grounding DINO's own demo. Lower finds more (and more false hits). "
                                            "Segmind's threshold / confidence_thresh."}),
                "text_threshold": ("FLOAT", {"default": 0.25, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                                             "A box's label is the words of its phrase scoring above this (the whole "
                                             "phrase when none does). It drops no box."}),
                "nms_iou": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip":
                                      "Of two boxes overlapping more than this (intersection over union), only the "
                                      "better is kept. Lower removes more overlaps; 1 keeps all. Segmind's iou_thresh."}),
                "max_objects": ("INT", {"default": 0, "min": 0, "max": 900, "step": 1, "tooltip":
                                        "Keep at most this many best-scoring objects per image, found or given "
                                        "as boxes; 0 keeps all."}),
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
                                     "Boxes as JSON, skipping detection (the prompt is then not used): objects_json "
                                     "of another PromptMask, or a list of [x0, y0, x1, y1] in pixels (for every "
                                     "image) or of {\"box\": [...], \"image\": i} objects. A box wholly outside "
                                     "the image is dropped."}),
                "points": ("STRING", {"forceInput": True, "tooltip":
                                      "Points as JSON that refine every object: [[x, y], …], [[x, y, label], …] or "
                                      "[{\"x\": …, \"y\": …, \"label\": 1}, …] in pixels; label 1 = part of the "
                                      "object, 0 = not. With no prompt and no boxes they make one object."}),
                "bboxes": ("BOUNDING_BOX", {"forceInput": True, "tooltip":
                                            "Boxes from a ComfyUI detector (RTDETR_detect, SAM3_Detect, another "
                                            "PromptMask): one list per image, or one box or list for every image; a "
                                            "short list of lists repeats its last. Like boxes, they skip detection "
                                            "and the prompt is not used; their score and label go into objects_json. "
                                            "With boxes connected too, both are used."}),
                "positive_coords": ("STRING", {"forceInput": True, "tooltip":
                                               "Points on the object as core's JSON, [{\"x\": …, \"y\": …}, …] in "
                                               "pixels (the Points Editor format, as SAM3_Detect takes them); "
                                               "added to points."}),
                "negative_coords": ("STRING", {"forceInput": True, "tooltip":
                                               "Points not on the object, in the same format; added to points."}),
            },
        }

    def run(self, image, detector, sam_model, prompt, box_threshold, text_threshold, nms_iou, max_objects,
            mask_type, grow, invert, stop_on_empty_mask, background_colour, force_cpu, detector_resolution,
            boxes=None, points=None, bboxes=None, positive_coords=None, negative_coords=None):
        images = check_image(NODE, "image", image)
        count, h, w = images.shape[:3]
        colour = check_colour(NODE, "background_colour", background_colour)
        given = join_boxes(parse_boxes(NODE, boxes, count, h, w) if _given(boxes) else None,
                           parse_bboxes(NODE, bboxes, count, h, w) if bboxes is not None else None)
        if given is not None:
            given = [keep_best(found, max_objects) for found in given]
        point_xy, point_labels = join_points(
            parse_points(NODE, points) if _given(points) else None,
            parse_coords(NODE, positive_coords, 1, "positive_coords") if _given(positive_coords) else None,
            parse_coords(NODE, negative_coords, 0, "negative_coords") if _given(negative_coords) else None,
        ) or (None, None)
        phrases = grounding_dino.split_phrases(prompt)
        if given is None and not phrases and point_xy is None:
            raise MaskForgeError(NODE, "say what to mask, e.g. 'white sofa. lamp', or connect boxes, bboxes or points",
                                 "prompt")
        if mask_type == "box" and given is None and not phrases:
            raise MaskForgeError(NODE, "box mode needs boxes: write a prompt or connect boxes or bboxes", "mask_type")

        device = management.compute_device(force_cpu)
        found_by = None
        if given is None and phrases:
            path = weights.resolve(NODE, detector, folders=("grounding-dino",), input_name="detector")
            found_by = management.get_model(str(path), lambda: files.load_as(NODE, "detector", grounding_dino.load, path),
                                            device=device, dtype=torch.float32)
        outliner, sam_key = None, None
        if mask_type == "segment":
            path = weights.resolve(NODE, sam_model, folders=("sam2", "sams"), input_name="sam_model")
            sam_key = str(path)
            outliner = management.get_model(sam_key, lambda: files.load_as(NODE, "sam_model", sam.load, path),
                                            device=device, dtype=management.compute_dtype(device))

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
                image_objects, image_masks = outline_objects(sam_model_on_device, sam_key, images[i], found,
                                                             point_xy, point_labels, mask_type == "box")
                if stop_on_empty_mask and not image_objects:
                    raise nothing_found(NODE, f"image {i + 1} of {count}" if count > 1 else "the image")
                objects.append([{"image": i, **o} for o in image_objects])
                masks.append(image_masks)
                bar.update_absolute(i + 1, count)
        return object_outputs.outputs(images, objects, masks, grow, invert, colour)


def _given(text: str | None) -> bool:
    return bool(text and text.strip())


NODE_CLASS_MAPPINGS = {"MaskForgePromptMask": PromptMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgePromptMask": "Prompt Mask"}
