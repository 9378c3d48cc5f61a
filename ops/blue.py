"""The blue mask one service expects: #7878CD where to remove, black where to keep."""

from __future__ import annotations

from typing import Callable

import torch

from .shapes import as_bhw, as_bhwc
from .strips import by_rows

BLUE = (120 / 255, 120 / 255, 205 / 255)  # #7878CD
WHITE = (1.0, 1.0, 1.0)
_BYTES_PER_PIXEL = 128  # colour_to_mask's float64 temporaries, with room to spare


def mask_to_colour(mask: torch.Tensor, colour=BLUE, threshold: float = 0.5,
                   check: Callable[[], None] | None = None) -> torch.Tensor:
    """``colour`` where the mask is above ``threshold``, black elsewhere, as ``[B,H,W,3]``; image by
    image, ``check`` (ComfyUI's Cancel) before each."""
    mask = as_bhw(mask)
    c = torch.tensor(colour, dtype=torch.float32, device=mask.device)
    out = torch.empty((*mask.shape, 3), dtype=torch.float32, device=mask.device)
    for m, image in zip(mask, out):
        if check is not None:
            check()
        torch.mul((m > threshold).unsqueeze(-1), c, out=image)
    return out


def colour_to_mask(image: torch.Tensor, colour=BLUE, tolerance: float = 0.25,
                   check: Callable[[], None] | None = None) -> torch.Tensor:
    """Projects each pixel onto the black→``colour`` line: the position along it is the
    mask value (a JPEG-blended edge gives a soft value), and a pixel farther than
    ``tolerance`` (RGB distance, 0..1 scale) from the line is not part of the mask.

    Image by image and a strip of rows at a time, so the float64 temporaries stay a few MB whatever the
    batch; ``check`` (ComfyUI's Cancel) runs before each strip."""
    image = as_bhwc(image)
    c = torch.tensor(colour, dtype=torch.float64, device=image.device)
    out = torch.empty(image.shape[:3], dtype=torch.float32, device=image.device)
    row_bytes = image.shape[2] * _BYTES_PER_PIXEL
    for rgb, mask in zip(image, out):
        by_rows(mask, lambda a, b: _project(rgb[a:b], c, tolerance), row_bytes, check)
    return out


def _project(rgb: torch.Tensor, c: torch.Tensor, tolerance: float) -> torch.Tensor:
    rgb = rgb[..., :3].double()  # double keeps exact colours at exactly 0 and 1
    t = (rgb @ c) / (c @ c)
    off_line = (rgb - t.clamp(0.0, 1.0).unsqueeze(-1) * c).norm(dim=-1)
    return torch.where(off_line <= tolerance, t.clamp(0.0, 1.0), torch.zeros_like(t))
