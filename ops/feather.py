"""Gaussian feathering of mask edges.

The blur is separable and each 1-D pass is a convolution done with an FFT, in float64, a strip of rows
at a time: the cost hardly grows with the radius (a direct convolution's grows with it), and the
temporaries stay a few MB besides one image-sized buffer.
"""

from __future__ import annotations

from typing import Callable

import torch

from .shapes import as_bhw
from .strips import by_rows

# FFT rounding leaves values around 1e-16 where the exact blur is 0 (beyond the kernel's reach);
# they are set to 0 so that untouched pixels stay exactly 0. Real blurred values are far above this.
_ROUNDING = 1e-10


def _gaussian_kernel(radius: int, dtype, device) -> torch.Tensor:
    sigma = radius / 3.0  # the kernel reaches 3 sigma: past that the weights are < 1%
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _blur_rows(src: torch.Tensor, dst: torch.Tensor, radius: int, check) -> None:
    """``dst`` = ``src`` ``[N,L]`` blurred along its rows."""
    length = src.shape[1]
    dtype = torch.float32 if src.device.type == "mps" else torch.float64  # MPS has no float64
    # Reflect padding keeps a mask that touches the border from fading there;
    # it needs the pad smaller than the side, so large radii on short rows replicate.
    mode = "reflect" if radius < length else "replicate"
    size = 1 << (length + 4 * radius - 1).bit_length()  # ≥ padded row + kernel - 1: no wrap-around
    kernel = torch.fft.rfft(_gaussian_kernel(radius, dtype, src.device), size)

    def blur(start: int, stop: int) -> torch.Tensor:
        padded = torch.nn.functional.pad(src[start:stop].to(dtype).unsqueeze(0), (radius, radius), mode=mode)[0]
        out = torch.fft.irfft(torch.fft.rfft(padded, size).mul_(kernel), size)[:, 2 * radius : 2 * radius + length]
        return out.masked_fill_(out.abs() < _ROUNDING, 0.0)

    by_rows(dst, blur, row_bytes=size * 40, check=check)  # padded row, its spectrum, the result


def feather_(mask: torch.Tensor, radius: int, inside_only: bool = False,
             check: Callable[[], None] | None = None) -> torch.Tensor:
    """Blurs one ``[H,W]`` mask in place (see ``feather``); ``check`` runs between strips."""
    if radius <= 0:
        return mask
    hard = mask > 0.5 if inside_only else None
    across = torch.empty_like(mask)
    _blur_rows(mask, across, radius, check)
    _blur_rows(across.T, mask.T, radius, check)  # columns, as the rows of the transposed views
    del across
    mask.clamp_(0.0, 1.0)
    if hard is not None:
        mask.masked_fill_(~hard, 0.0)  # min(blurred, hard mask): the blur is never above 1 inside
    return mask


def feather(mask: torch.Tensor, radius: int, inside_only: bool = False) -> torch.Tensor:
    """Gaussian blur reaching ``radius`` pixels. With ``inside_only`` the blurred mask never
    exceeds the hard mask (``mask > 0.5``), so the edge fades inward and nothing outside
    the original shape is touched."""
    mask = as_bhw(mask)
    if radius <= 0 or mask.shape[0] == 0:
        return mask
    out = mask.clone()
    for m in out:
        feather_(m, radius, inside_only)
    return out
