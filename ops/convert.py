"""IMAGE ↔ MASK conversion, mask resizing and cut-outs."""

from __future__ import annotations

import numpy as np
import torch

from .shapes import as_bhw, as_bhwc

CHANNELS = ("luminance", "red", "green", "blue", "alpha")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's "L" conversion


def image_to_mask(image: torch.Tensor, channel: str = "luminance") -> torch.Tensor:
    image = as_bhwc(image)
    if channel == "luminance":
        weights = torch.tensor(_LUMA, device=image.device)
        return (image[..., :3] * weights).sum(-1).clamp(0.0, 1.0)
    index = CHANNELS.index(channel) - 1
    if index >= image.shape[-1]:
        raise ValueError(f"the image has no {channel} channel")
    return image[..., index].clamp(0.0, 1.0)


def mask_to_image(mask: torch.Tensor) -> torch.Tensor:
    """A grey ``[B,H,W,3]`` image of the mask (white = 1)."""
    return as_bhw(mask).unsqueeze(-1).expand(-1, -1, -1, 3).contiguous()


def to_uint8(pixels: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float pixels in 0..1 (a tensor or an array, any shape) as 8-bit values, rounded; out-of-range values clip."""
    array = pixels.detach().cpu().float().numpy() if isinstance(pixels, torch.Tensor) else pixels
    scaled = np.multiply(array, 255.0, dtype=np.float32)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def resize_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    mask = as_bhw(mask)
    if mask.shape[1:] == (height, width):
        return mask
    resized = torch.nn.functional.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)
    return resized[:, 0].clamp(0.0, 1.0)


def hex_to_rgb(colour: str) -> tuple[float, float, float]:
    """``#RRGGBB`` (the ``#`` optional) → floats in 0..1."""
    text = colour.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {colour!r} is not #RRGGBB")
    try:
        return tuple(int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    except ValueError:
        raise ValueError(f"colour {colour!r} is not #RRGGBB") from None


def cutout(image: torch.Tensor, mask: torch.Tensor, background: tuple[float, float, float]) -> torch.Tensor:
    """The image where the mask is 1, ``background`` where it is 0, blended between.
    A batch of one image or one mask is paired with every item of the other."""
    image, mask = as_bhwc(image)[..., :3], as_bhw(mask)
    bg = torch.tensor(background, dtype=image.dtype, device=image.device)
    alpha = mask.to(image.device, image.dtype).unsqueeze(-1)
    return torch.lerp(bg, image, alpha)  # bg + alpha * (image - bg) in one pass over the image
