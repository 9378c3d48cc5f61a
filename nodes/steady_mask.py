"""SteadyMask: a frame batch's masks steadied over time (model-free), after any per-frame mask node."""

from __future__ import annotations

import torch

from .. import comfy_adapter
from ..errors import MaskForgeError
from ..ops.temporal import steady_frame
from .inputs import check_mask, mask_output

NODE = "SteadyMask"


class SteadyMask:
    DESCRIPTION = (
        "Stops masks made frame by frame (LabelMask, RemoveBGMask, PromptMask on a video) from flickering: each "
        "pixel takes the median of its value over a few neighbouring frames. Flicker that lasts less than half the "
        "window goes; edges that really move stay exactly where they are in each frame."
    )
    CATEGORY = "MaskForge/video"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    OUTPUT_TOOLTIPS = ("The steadied masks, one per frame, in frame order.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "mask": ("MASK", {"tooltip": "One mask per frame, in frame order (soft masks are fine)."}),
                "window": ("INT", {"default": 3, "min": 1, "max": 15, "step": 2, "tooltip":
                                   "Frames each pixel's median is taken over, centred on the frame (odd). 3 removes "
                                   "flicker of 1 frame, 5 of up to 2; anything covering a pixel for fewer than half "
                                   "the window's frames (a thin object crossing fast) goes too. 1 leaves the masks "
                                   "as they are."}),
            }
        }

    def run(self, mask, window):
        masks = check_mask(NODE, "mask", mask)
        if window < 1 or window % 2 == 0:
            raise MaskForgeError(NODE, f"the window must be an odd number of frames (1, 3, 5, …), got {window}",
                                 "window")
        count, h, w = masks.shape
        out = torch.empty_like(masks)
        bar = comfy_adapter.progress_bar(count)
        for i in range(count):
            comfy_adapter.throw_if_interrupted()
            out[i] = steady_frame(masks, i, window)
            bar.update_absolute(i + 1, count)
        return (mask_output(out, h, w),)


NODE_CLASS_MAPPINGS = {"MaskForgeSteadyMask": SteadyMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeSteadyMask": "Steady Mask (video)"}
