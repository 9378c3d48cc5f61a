"""The blue mask one service expects: #7878CD where to remove, black where to keep."""

from __future__ import annotations

import torch

from .shapes import as_bhw, as_bhwc

BLUE = (120 / 255, 120 / 255, 205 / 255)  # #7878CD
WHITE = (1.0, 1.0, 1.0)


def mask_to_colour(mask: torch.Tensor, colour=BLUE, threshold: float = 0.5) -> torch.Tensor:
    """``colour`` where the mask is above ``threshold``, black elsewhere, as ``[B,H,W,3]``."""
    on = (as_bhw(mask) > threshold).unsqueeze(-1)
    c = torch.tensor(colour, dtype=torch.float32, device=on.device)
    return on * c


def colour_to_mask(image: torch.Tensor, colour=BLUE, tolerance: float = 0.25) -> torch.Tensor:
    """Projects each pixel onto the black→``colour`` line: the position along it is the
    mask value (a JPEG-blended edge gives a soft value), and a pixel farther than
    ``tolerance`` (RGB distance, 0..1 scale) from the line is not part of the mask."""
    rgb = as_bhwc(image)[..., :3].double()  # double keeps exact colours at exactly 0 and 1
    c = torch.tensor(colour, dtype=torch.float64, device=rgb.device)
    t = (rgb @ c) / (c @ c)
    off_line = (rgb - t.clamp(0.0, 1.0).unsqueeze(-1) * c).norm(dim=-1)
    return torch.where(off_line <= tolerance, t.clamp(0.0, 1.0), torch.zeros_like(t)).float()
