"""Shape conventions shared by every op: masks are ``[B,H,W]``, images ``[B,H,W,C]``, float32."""

from __future__ import annotations

import torch


def as_bhw(mask: torch.Tensor) -> torch.Tensor:
    """``[H,W]``, ``[B,H,W]`` or ``[B,1,H,W]`` → ``[B,H,W]`` float32 on the same device."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    elif mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ValueError(f"a mask must be [H,W], [B,H,W] or [B,1,H,W], got shape {list(mask.shape)}")
    return mask.float()


def as_bhwc(image: torch.Tensor) -> torch.Tensor:
    """``[H,W,C]`` or ``[B,H,W,C]`` → ``[B,H,W,C]`` float32."""
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4:
        raise ValueError(f"an image must be [H,W,C] or [B,H,W,C], got shape {list(image.shape)}")
    return image.float()


def nonempty(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A MASK batch with at least one item: an empty result becomes ``[1,H,W]`` zeros, never ``[0,H,W]``."""
    if mask.shape[0] == 0:
        return torch.zeros((1, height, width), dtype=torch.float32, device=mask.device)
    return mask


def is_binary(mask: torch.Tensor) -> bool:
    return bool(((mask == 0) | (mask == 1)).all())
