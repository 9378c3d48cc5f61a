"""Nodes for the hosted mask services: thin wrappers over ``remote/``, one request per image of a batch.

API keys never appear here: the client reads them from the environment or the key file (README,
"Remote services"), so they are not saved into workflows.
"""

from __future__ import annotations

from typing import Callable

import torch

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..remote import homedesigns, keys, modelslab, segmind
from ..remote.client import Client
from ..remote.images import UPLOAD_FORMATS
from .inputs import check_colour, check_image, image_output, mask_output

CATEGORY = "MaskForge/remote"
SEED_MAX = 999_999_999_999_999  # Segmind's documented range

UPLOAD_FORMAT = (list(UPLOAD_FORMATS), {
    "default": "png",
    "tooltip": "How the image is sent: png is lossless; jpeg (quality 95) is several times smaller, "
               "so large photos upload faster.",
})
IMAGE = ("IMAGE", {"tooltip": "The image(s) to mask; each image of a batch is one request (and one charge)."})


def per_image(client: Client, images: torch.Tensor,
              call: Callable[[Client, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``call`` on each ``[H,W,3]`` image of the batch, with progress and Cancel, stacked as ``[B,H,W]``."""
    progress = comfy_adapter.progress_bar(images.shape[0])
    masks = []
    for image in images:
        comfy_adapter.throw_if_interrupted()
        masks.append(call(client, image))
        progress.update(1)
    return torch.stack(masks)


def check_prompt(node: str, prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise MaskForgeError(node, "the prompt is empty; write what to mask, e.g. 'sofa'", "prompt")
    return text


class HomeDesignsCreateMask:
    NODE = "HomeDesignsCreateMask"
    DESCRIPTION = (
        "Masks the named objects (from the 150 ADE20K labels, e.g. 'floor|wall') with HomeDesigns' hosted "
        "create_maskimage service. Needs a HomeDesigns API key (README: Remote services). The local twin is LabelMask."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    OUTPUT_TOOLTIPS = ("1 where any of the labels was found, at the input image's size.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": IMAGE,
                "labels": ("STRING", {"default": "floor|wall", "tooltip": (
                    "Objects to mask, separated by '|', from the 150 ADE20K labels (e.g. 'sofa|coffee table'). "
                    "Checked before anything is sent; common synonyms such as 'couch' are accepted.")}),
                "upload_format": UPLOAD_FORMAT,
            }
        }

    def run(self, image, labels, upload_format):
        images = check_image(self.NODE, "image", image)
        height, width = images.shape[1:3]
        homedesigns.check_size(self.NODE, height, width)
        homedesigns.check_format(self.NODE, upload_format)
        field = homedesigns.labels_field(self.NODE, labels)
        unverified = (f"the way HomeDesigns expects the key is not documented; set {homedesigns.AUTH_HEADER_ENV} "
                      "to another header (README: Remote services)")
        with Client(self.NODE, keys.HOMEDESIGNS, hints=homedesigns.HINTS, unauthorized_hint=unverified) as client:
            masks = per_image(client, images, lambda c, im: homedesigns.create_mask(c, im, field, upload_format))
        return (mask_output(masks, height, width),)


class SegmindAutomaticMask:
    NODE = "SegmindAutomaticMask"
    DESCRIPTION = (
        "Masks what a text prompt names with Segmind's hosted automatic-mask-generator. Needs a Segmind API key "
        "(README: Remote services). The local twin is PromptMask."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    OUTPUT_TOOLTIPS = ("The service's mask, at the input image's size.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": IMAGE,
                "prompt": ("STRING", {"default": "", "tooltip": "What to mask, in words (e.g. 'sofa')."}),
                "threshold": ("FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0, "step": 0.01,
                                        "tooltip": "Detection threshold: lower finds more, higher only sure matches."}),
                "grow_mask": ("INT", {"default": 10, "min": 0, "max": 100, "step": 1,
                                      "tooltip": "Grow the mask by this many pixels (done by the service)."}),
                "invert_mask": ("BOOLEAN", {"default": False, "tooltip": "Ask the service for the inverted mask."}),
                "service_seed": ("INT", {"default": -1, "min": -1, "max": SEED_MAX, "tooltip": (
                    "Segmind's 'seed'. -1 lets the service pick one. The node only calls the service (and is "
                    "charged) again when an input changes, whatever this value.")}),
                "upload_format": UPLOAD_FORMAT,
            }
        }

    def run(self, image, prompt, threshold, grow_mask, invert_mask, service_seed, upload_format):
        images = check_image(self.NODE, "image", image)
        fields = {"prompt": check_prompt(self.NODE, prompt), "threshold": threshold, "grow_mask": grow_mask,
                  "invert_mask": invert_mask, "seed": service_seed}
        with Client(self.NODE, keys.SEGMIND) as client:
            masks = per_image(client, images, lambda c, im: segmind.request_mask(
                c, segmind.AUTOMATIC, im, fields, upload_format))
        return (mask_output(masks, *images.shape[1:3]),)


class SegmindInpaintMaskMaker:
    NODE = "SegmindInpaintMaskMaker"
    DESCRIPTION = (
        "Masks the objects a text prompt names with Segmind's hosted inpaint-mask-maker (open-vocabulary "
        "detection boxes). Needs a Segmind API key (README: Remote services). The local twin is PromptMask in "
        "box mode."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    OUTPUT_TOOLTIPS = ("The service's mask, at the input image's size.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": IMAGE,
                "prompt": ("STRING", {"default": "", "tooltip": "What to mask, in words (e.g. 'white horse')."}),
                "confidence_thresh": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "Detection confidence: higher keeps only sure detections, lower finds more (and more false ones).")}),
                "iou_thresh": ("FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "Box overlap allowed between detections: lower is stricter, higher keeps overlapping boxes.")}),
                "grow_mask": ("INT", {"default": 10, "min": 0, "max": 100, "step": 1,
                                      "tooltip": "Grow the mask by this many pixels (done by the service)."}),
                "invert_mask": ("BOOLEAN", {"default": False, "tooltip": "Ask the service for the inverted mask."}),
                "upload_format": UPLOAD_FORMAT,
            }
        }

    def run(self, image, prompt, confidence_thresh, iou_thresh, grow_mask, invert_mask, upload_format):
        images = check_image(self.NODE, "image", image)
        fields = {"prompt": check_prompt(self.NODE, prompt), "confidence_thresh": confidence_thresh,
                  "iou_thresh": iou_thresh, "grow_mask": grow_mask, "invert_mask": invert_mask}
        with Client(self.NODE, keys.SEGMIND) as client:
            masks = per_image(client, images, lambda c, im: segmind.request_mask(
                c, segmind.MASK_MAKER, im, fields, upload_format))
        return (mask_output(masks, *images.shape[1:3]),)


class ModelsLabRemoveBGMask:
    NODE = "ModelsLabRemoveBGMask"
    DESCRIPTION = (
        "Separates the subject from the background with ModelsLab's hosted removebg_mask service. Outputs the subject "
        "mask, the background mask (inpaint it to replace a background) and the cut-out. Needs a ModelsLab API key "
        "(README: Remote services). The local twin is RemoveBGMask."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK", "IMAGE")
    RETURN_NAMES = ("subject_mask", "background_mask", "cutout")
    OUTPUT_TOOLTIPS = (
        "1 on the subject (the mask the service returns).",
        "Its inverse: 1 on the background.",
        "The image where subject_mask is set, cutout_background elsewhere.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": IMAGE,
                "alpha_matting": ("BOOLEAN", {"default": False,
                                              "tooltip": "Refine soft edges (hair, fur) with alpha matting."}),
                "alpha_matting_foreground_threshold": ("INT", {"default": 240, "min": 0, "max": 240, "step": 1, "tooltip": (
                    "Alpha matting: how sure (0-255) a pixel must be to count as subject.")}),
                "alpha_matting_background_threshold": ("INT", {"default": 20, "min": 0, "max": 20, "step": 1, "tooltip": (
                    "Alpha matting: below this (0-255) a pixel counts as background.")}),
                "alpha_matting_erode_size": ("INT", {"default": 5, "min": 0, "max": 5, "step": 1, "tooltip": (
                    "Alpha matting: erode the sure regions by this many pixels before refining the edge.")}),
                "post_process_mask": ("BOOLEAN", {"default": False,
                                                  "tooltip": "Let the service smooth the mask and remove specks."}),
                "inverse_mask": ("BOOLEAN", {"default": False, "tooltip": (
                    "Ask the service for the inverted mask: subject_mask then holds the background, background_mask "
                    "the subject, and the cut-out shows the background.")}),
                "service_seed": ("INT", {"default": -1, "min": -1, "max": SEED_MAX,
                                         "tooltip": "ModelsLab's 'seed'; -1 does not send one."}),
                "max_wait_s": ("INT", {"default": 120, "min": 5, "max": 3600, "step": 5, "tooltip": (
                    "How long to keep asking for a result the service is still processing, per image.")}),
                "cutout_background": ("STRING", {"default": "#000000",
                                                 "tooltip": "Colour behind the cut-out subject, as #RRGGBB."}),
                "upload_format": UPLOAD_FORMAT,
            }
        }

    def run(self, image, alpha_matting, alpha_matting_foreground_threshold, alpha_matting_background_threshold,
            alpha_matting_erode_size, post_process_mask, inverse_mask, service_seed, max_wait_s,
            cutout_background, upload_format):
        images = check_image(self.NODE, "image", image)
        background = check_colour(self.NODE, "cutout_background", cutout_background)
        options = {
            "alpha_matting": alpha_matting,
            "alpha_matting_foreground_threshold": alpha_matting_foreground_threshold,
            "alpha_matting_background_threshold": alpha_matting_background_threshold,
            "alpha_matting_erode_size": alpha_matting_erode_size,
            "post_process_mask": post_process_mask,
            "inverse_mask": inverse_mask,
        }
        if service_seed >= 0:
            options["seed"] = service_seed
        with Client(self.NODE, keys.MODELSLAB) as client:
            subject = per_image(client, images, lambda c, im: modelslab.remove_bg_mask(
                c, im, options, upload_format, max_wait_s))
        height, width = images.shape[1:3]
        return (mask_output(subject, height, width), mask_output(ops.invert(subject), height, width),
                image_output(ops.cutout(images, subject, background)))


NODE_CLASS_MAPPINGS = {
    "MaskForgeHomeDesignsCreateMask": HomeDesignsCreateMask,
    "MaskForgeSegmindAutomaticMask": SegmindAutomaticMask,
    "MaskForgeSegmindInpaintMaskMaker": SegmindInpaintMaskMaker,
    "MaskForgeModelsLabRemoveBGMask": ModelsLabRemoveBGMask,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "MaskForgeHomeDesignsCreateMask": "HomeDesigns Create Mask",
    "MaskForgeSegmindAutomaticMask": "Segmind Automatic Mask Generator",
    "MaskForgeSegmindInpaintMaskMaker": "Segmind Inpaint Mask Maker",
    "MaskForgeModelsLabRemoveBGMask": "ModelsLab Remove BG Mask",
}
