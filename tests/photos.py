"""Real photos for the parity tests (scikit-image's bundled pictures, no download) and the overlap measure."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch


@cache
def photo(name: str) -> np.ndarray:
    """``skimage.data.<name>()`` as 8-bit ``H×W×3`` (``chelsea`` 300×451, ``coffee`` 400×600, ``astronaut`` 512²)."""
    from skimage import data

    return getattr(data, name)()


def as_image(pixels: np.ndarray) -> torch.Tensor:
    """The node's IMAGE ``[1,H,W,3]`` in 0..1; ``ops.to_uint8`` gives the 8-bit pixels back exactly."""
    return torch.from_numpy(pixels).float().div(255.0)[None]


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    a, b = a.bool(), b.bool()
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0
