"""Gaussian feathering of mask edges."""

from __future__ import annotations

import torch

from .shapes import as_bhw


def _gaussian_kernel(radius: int, device) -> torch.Tensor:
    sigma = radius / 3.0  # the kernel reaches 3 sigma: past that the weights are < 1%
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _blur(mask: torch.Tensor, radius: int) -> torch.Tensor:
    h, w = mask.shape[-2:]
    k = _gaussian_kernel(radius, mask.device)
    x = mask.unsqueeze(1)
    # Reflect padding keeps a mask that touches the border from fading there;
    # it needs the pad smaller than the side, so large radii on tiny masks replicate.
    mode = "reflect" if radius < min(h, w) else "replicate"
    x = torch.nn.functional.pad(x, (radius, radius, 0, 0), mode=mode)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    x = torch.nn.functional.pad(x, (0, 0, radius, radius), mode=mode)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1))
    return x[:, 0]


def feather(mask: torch.Tensor, radius: int, inside_only: bool = False) -> torch.Tensor:
    """Gaussian blur reaching ``radius`` pixels. With ``inside_only`` the blurred mask never
    exceeds the hard mask (``mask > 0.5``), so the edge fades inward and nothing outside
    the original shape is touched."""
    mask = as_bhw(mask)
    if radius <= 0 or mask.shape[0] == 0:
        return mask
    blurred = _blur(mask, radius).clamp(0.0, 1.0)
    if inside_only:
        blurred = torch.minimum(blurred, (mask > 0.5).float())
    return blurred
