"""GrowInvertMask's clean-up, one mask at a time: threshold → fill holes → remove small regions →
grow/shrink → feather → invert.

``clean_mask`` is what the node runs on each image of a batch (and what a batch script can run on
its own masks): every step works in place on the one output buffer, so the temporaries stay under
about two copies of the mask whatever the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .feather import feather_
from .morphology import fill_holes_, grow_, remove_small_regions_


@dataclass(frozen=True)
class Cleanup:
    """The steps, with GrowInvertMask's defaults (which change nothing)."""

    threshold: float = 0.0  # above 0: pixels above it become 1, the rest 0
    fill_holes: bool = False
    min_region_px: int = 0  # 8-connected regions smaller than this are removed
    grow: int = 0  # pixels; negative shrinks
    round_corners: bool = True
    feather: int = 0  # Gaussian blur reaching this many pixels
    feather_inside: bool = False  # the blur never goes past the hard mask
    invert: bool = False


def clean_mask(mask: torch.Tensor, steps: Cleanup, out: torch.Tensor | None = None,
               check: Callable[[], None] | None = None) -> torch.Tensor:
    """One ``[H,W]`` mask (0..1) through ``steps``, written into ``out`` (a ``[H,W]`` float32 tensor,
    which may be ``mask`` itself) or into a new tensor. ``check`` (ComfyUI's Cancel) runs between the
    steps and inside the long ones."""
    if out is None:
        out = mask.to(torch.float32, copy=True)
    elif out is not mask:
        out.copy_(mask)
    check = check or (lambda: None)
    if steps.threshold > 0:
        out.copy_(out > steps.threshold)
    if steps.fill_holes:
        check()
        fill_holes_(out)
    if steps.min_region_px > 1:
        check()
        remove_small_regions_(out, steps.min_region_px)
    check()
    grow_(out, steps.grow, steps.round_corners, check)
    check()
    feather_(out, steps.feather, steps.feather_inside, check)
    if steps.invert:
        torch.sub(1.0, out, out=out)
    return out
