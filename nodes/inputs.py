"""Input checks every node runs first: a clear error naming the node and the input."""

from __future__ import annotations

import math

import torch

from .. import comfy_adapter
from ..errors import MaskForgeError
from ..ops import hex_to_rgb, nonempty, resize_mask


# A float input whose values reach past this is on the 0..255 scale, not 0..1 with a resampling overshoot.
FLOAT_SCALE_LIMIT = 2.0


def _check_tensor(node: str, name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise MaskForgeError(node, f"expected a tensor, got {type(value).__name__}", name)
    return value


def _unit_range(node: str, name: str, value: torch.Tensor, binary_ints: bool) -> torch.Tensor:
    """``value`` as float32 in 0..1, copied only when it is not that already.

    Integer (and bool) tensors are 8-bit pixels and are divided by 255; with ``binary_ints`` (masks) an
    integer tensor of only 0 and 1 is taken as it is. Integers outside 0..255 and floats past
    ``FLOAT_SCALE_LIMIT`` are refused with the cause: clamping them would turn almost every pixel into 1.
    Floats slightly outside 0..1 (resampling overshoot) are clamped."""
    if value.numel() == 0 or value.dtype == torch.bool:
        return value.float()
    lo, hi = (v.item() for v in torch.aminmax(value))  # one pass; NaN shows up in both
    if not value.is_floating_point():
        if lo < 0 or hi > 255:
            raise MaskForgeError(node, f"integer values from {lo} to {hi}: integer pixels are read as 8-bit "
                                       "(0..255); convert them to floats in 0..1 first", name)
        return value.float() if binary_ints and hi <= 1 else value.to(torch.float32).div_(255.0)
    if math.isnan(lo) or math.isnan(hi):
        raise MaskForgeError(node, "contains NaN values; check the node that made it", name)
    if math.isinf(lo) or math.isinf(hi):
        raise MaskForgeError(node, "contains infinite values; check the node that made it", name)
    if hi > FLOAT_SCALE_LIMIT or lo < -FLOAT_SCALE_LIMIT:
        raise MaskForgeError(node, f"values go from {lo:g} to {hi:g}, but this input holds 0..1; 0..255 pixels "
                                   "must be divided by 255 first (check the node that made it)", name)
    value = value.float()
    return value if lo >= 0 and hi <= 1 else value.clamp(0.0, 1.0)


def check_image(node: str, name: str, image) -> torch.Tensor:
    """An IMAGE as ``[B,H,W,3]`` float32 in 0..1 (alpha dropped, grey expanded); see ``_unit_range``
    for integer and out-of-range values. Not copied when it already is one."""
    image = _check_tensor(node, name, image)
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4:
        raise MaskForgeError(node, f"an IMAGE is [B,H,W,C]; got shape {list(image.shape)}", name)
    b, h, w, c = image.shape
    if b == 0:
        raise MaskForgeError(node, "the image batch is empty", name)
    if h == 0 or w == 0:
        raise MaskForgeError(node, f"the image has no pixels (shape {list(image.shape)})", name)
    if c not in (1, 3, 4):
        raise MaskForgeError(node, f"an IMAGE has 1, 3 or 4 channels last; got {c} (shape {list(image.shape)})", name)
    image = _unit_range(node, name, image[..., :3], binary_ints=False)
    return image.expand(-1, -1, -1, 3).contiguous() if c == 1 else image.contiguous()


def check_mask(node: str, name: str, mask) -> torch.Tensor:
    """A MASK as ``[B,H,W]`` float32 in 0..1; ``[H,W]`` and ``[B,1,H,W]`` are accepted; see ``_unit_range``
    for integer and out-of-range values. Not copied when it already is one."""
    mask = _check_tensor(node, name, mask)
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    elif mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise MaskForgeError(node, f"a MASK is [B,H,W]; got shape {list(mask.shape)}", name)
    if mask.shape[0] == 0:
        raise MaskForgeError(node, "the mask batch is empty", name)
    if mask.shape[1] == 0 or mask.shape[2] == 0:
        raise MaskForgeError(node, f"the mask has no pixels (shape {list(mask.shape)})", name)
    return _unit_range(node, name, mask, binary_ints=True).contiguous()


def check_colour(node: str, name: str, text: str) -> tuple[float, float, float]:
    """A ``#RRGGBB`` widget as floats in 0..1."""
    try:
        return hex_to_rgb(text)
    except ValueError as exc:
        raise MaskForgeError(node, str(exc), name) from None


def batch_size(node: str, **sizes: int) -> int:
    """The batch size several inputs share; a batch of 1 pairs with any size."""
    named = {k: v for k, v in sizes.items() if v != 1}
    if len(set(named.values())) > 1:
        listed = ", ".join(f"{k} has {v}" for k, v in sizes.items())
        raise MaskForgeError(node, f"batch sizes differ ({listed}); use equal batches or a batch of 1")
    return max(sizes.values())


def fit_mask(node: str, mask: torch.Tensor, image: torch.Tensor, resize: bool, name: str = "mask") -> torch.Tensor:
    """The mask at the image's size and batch: resized when ``resize`` is on, else an error."""
    h, w = image.shape[1:3]
    if mask.shape[1:] != (h, w):
        if not resize:
            raise MaskForgeError(
                node,
                f"mask is {mask.shape[2]}x{mask.shape[1]} but the image is {w}x{h}; "
                "turn on resize_mask or use a mask of the image's size",
                name,
            )
        mask = resize_mask(mask, h, w)
    b = batch_size(node, image=image.shape[0], **{name: mask.shape[0]})
    return mask.expand(b, -1, -1) if mask.shape[0] != b else mask


def _clamped(value: torch.Tensor) -> torch.Tensor:
    """float32 in 0..1, copied only when some value is outside (a big batch is not copied for nothing)."""
    value = value.float()
    if value.numel() == 0:
        return value
    lo, hi = torch.aminmax(value)
    return value if lo >= 0 and hi <= 1 else value.clamp(0.0, 1.0)


def mask_output(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A MASK ready to leave a node: ``[B,H,W]`` float32 in 0..1, at least one item, on ComfyUI's intermediate device."""
    mask = nonempty(_clamped(mask), height, width)
    return mask.to(comfy_adapter.intermediate_device()).contiguous()


def image_output(image: torch.Tensor) -> torch.Tensor:
    return _clamped(image).to(comfy_adapter.intermediate_device()).contiguous()
