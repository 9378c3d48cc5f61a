"""GrowInvertMask: the model-free mask clean-up node."""

from __future__ import annotations

import torch

from .. import comfy_adapter, ops
from .inputs import check_mask, mask_output

NODE = "GrowInvertMask"


class GrowInvertMask:
    DESCRIPTION = (
        "Cleans up a mask in this order: threshold → fill holes → remove regions smaller than N px → "
        "grow/shrink (round or square corners) → feather → invert. Outputs the mask and its inverse."
    )
    CATEGORY = "MaskForge/mask"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK")
    RETURN_NAMES = ("mask", "inverted")
    OUTPUT_TOOLTIPS = ("The processed mask (1 = inpaint here).", "Its inverse (1 - mask).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "mask": ("MASK", {"tooltip": "The mask to clean up; a whole batch is processed."}),
                "threshold": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                        "tooltip": "Step 1. 0 keeps soft values; above 0, pixels above it become 1 and the rest 0."}),
                "fill_holes": ("BOOLEAN", {"default": False,
                                           "tooltip": "Step 2. Fill background areas fully enclosed by the mask."}),
                "min_region_px": ("INT", {"default": 0, "min": 0, "max": 1 << 24, "step": 1,
                                          "tooltip": "Step 3. Remove mask regions (8-connected) smaller than this many pixels; 0 keeps all."}),
                "grow": ("INT", {"default": 0, "min": -4096, "max": 4096, "step": 1,
                                 "tooltip": "Step 4. Grow the mask by this many pixels; negative shrinks it."}),
                "corners": (["round", "square"], {"default": "round",
                                                  "tooltip": "Corner style when growing: round (Euclidean distance) or square."}),
                "feather": ("INT", {"default": 0, "min": 0, "max": 1024, "step": 1,
                                    "tooltip": "Step 5. Gaussian blur of the edge reaching this many pixels; 0 keeps hard edges."}),
                "feather_inside": ("BOOLEAN", {"default": False,
                                               "tooltip": "Keep the feathered mask inside the hard mask, so the blur never grows it."}),
                "invert": ("BOOLEAN", {"default": False, "tooltip": "Step 6. Invert the result."}),
            }
        }

    def run(self, mask, threshold, fill_holes, min_region_px, grow, corners, feather, feather_inside, invert):
        m = check_mask(NODE, "mask", mask)
        steps = ops.Cleanup(threshold=threshold, fill_holes=fill_holes, min_region_px=min_region_px, grow=grow,
                            round_corners=corners == "round", feather=feather, feather_inside=feather_inside,
                            invert=invert)
        # Image by image into the outputs: the work needs about two images of memory, not the batch's.
        out, inverted = torch.empty_like(m), torch.empty_like(m)
        progress = comfy_adapter.progress_bar(len(m))
        for i in range(len(m)):
            comfy_adapter.throw_if_interrupted()
            ops.clean_mask(m[i], steps, out=out[i], check=comfy_adapter.throw_if_interrupted)
            torch.sub(1.0, out[i], out=inverted[i])
            progress.update(1)
        h, w = m.shape[1:]
        return (mask_output(out, h, w), mask_output(inverted, h, w))


NODE_CLASS_MAPPINGS = {"MaskForgeGrowInvertMask": GrowInvertMask}
NODE_DISPLAY_NAME_MAPPINGS = {"MaskForgeGrowInvertMask": "Grow / Invert Mask"}
