"""Pure mask and image operations: plain torch (SciPy/NumPy where faster on the CPU), no ComfyUI, no models."""

from .blue import BLUE, WHITE, colour_to_mask, mask_to_colour
from .cleanup import Cleanup, clean_mask
from .convert import CHANNELS, cutout, hex_to_rgb, image_to_mask, mask_to_image, resize_mask, to_uint8
from .feather import feather
from .morphology import combine, fill_holes, grow, invert, remove_small_regions, threshold
from .shapes import as_bhw, as_bhwc, is_binary, nonempty
