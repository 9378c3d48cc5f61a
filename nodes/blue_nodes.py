"""Mask to Blue Mask Image / Blue Mask Image to Mask: MASK ↔ the "blue #7878CD = remove, black = keep" image
a service expects."""

from __future__ import annotations

from .. import comfy_adapter, ops
from .inputs import check_image, check_mask, image_output, mask_output

COLOURS = {"blue #7878CD": ops.BLUE, "white": ops.WHITE}


class MaskToBlueMask:
    NODE = "Mask to Blue Mask Image"  # errors name the node as users see it
    DESCRIPTION = (
        "Turns a MASK into the image AI HomeDesign's item removal expects: #7878CD where the mask is set "
        "(remove), black elsewhere (keep). 'white' makes a plain white-on-black mask image instead."
    )
    CATEGORY = "MaskForge/convert"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("blue_mask",)
    OUTPUT_TOOLTIPS = ("#7878CD (or white) where the mask is set, black elsewhere.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "mask": ("MASK", {"tooltip": "1 = remove / inpaint here."}),
                "threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                                        "tooltip": "Pixels above this become the colour; the image is hard-edged, as the service expects."}),
                "colour": (list(COLOURS), {"default": "blue #7878CD", "tooltip": "The colour of the masked area."}),
            }
        }

    def run(self, mask, threshold, colour):
        m = check_mask(self.NODE, "mask", mask)
        blue = ops.mask_to_colour(m, COLOURS[colour], threshold, check=comfy_adapter.throw_if_interrupted)
        return (image_output(blue),)


class BlueMaskToMask:
    NODE = "Blue Mask Image to Mask"
    DESCRIPTION = (
        "Reads a blue (#7878CD) or white-on-black mask image back into a MASK. Each pixel is projected onto "
        "the black→colour line, so JPEG-blended edges give soft values; pixels far off that line are not mask."
    )
    CATEGORY = "MaskForge/convert"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "MASK")
    RETURN_NAMES = ("mask", "inverted")
    OUTPUT_TOOLTIPS = ("1 where the image shows the colour.", "Its inverse.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A blue-on-black (or white-on-black) mask image."}),
                "colour": (list(COLOURS), {"default": "blue #7878CD", "tooltip": "The colour that marks the mask."}),
                "tolerance": ("FLOAT", {"default": 0.25, "min": 0.0, "max": 1.0, "step": 0.01,
                                        "tooltip": "How far (RGB distance, 0..1) a pixel may be off the black→colour line and still count."}),
            }
        }

    def run(self, image, colour, tolerance):
        img = check_image(self.NODE, "image", image)
        m = ops.colour_to_mask(img, COLOURS[colour], tolerance, check=comfy_adapter.throw_if_interrupted)
        h, w = m.shape[1:]
        return (mask_output(m, h, w), mask_output(ops.invert(m), h, w))


NODE_CLASS_MAPPINGS = {"MaskForgeMaskToBlueMask": MaskToBlueMask, "MaskForgeBlueMaskToMask": BlueMaskToMask}
NODE_DISPLAY_NAME_MAPPINGS = {
    "MaskForgeMaskToBlueMask": "Mask to Blue Mask Image",
    "MaskForgeBlueMaskToMask": "Blue Mask Image to Mask",
}
