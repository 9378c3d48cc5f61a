"""Model input made as transformers' PIL image processors make it, so the same weights see the same numbers.

Those processors (SegFormer, Mask2Former, SAM) resize the 8-bit image with PIL, which rounds to 8 bits between
its horizontal and vertical passes; then they rescale in float64, cast to float32, and normalise in float32.
Resizing the float image instead moves pixels by up to a grey level, enough to flip small labels.
"""

from __future__ import annotations

import numpy as np
import torch

from ..ops.convert import to_uint8

BILINEAR = 2  # PIL's resample code, as the processors' configs write it


def resize_8bit(image: torch.Tensor, height: int, width: int, resample: int = BILINEAR) -> np.ndarray:
    """``image`` ``[H,W,3]`` in 0..1 → ``[height,width,3]`` uint8, resized by PIL."""
    from PIL import Image

    return np.asarray(Image.fromarray(to_uint8(image)).resize((width, height), resample=resample))


def normalise(pixels: np.ndarray, mean, std, rescale: float | None = 1 / 255) -> torch.Tensor:
    """8-bit ``[h,w,3]`` pixels → ``[1,3,h,w]`` float32 ``(pixels * rescale - mean) / std`` (``rescale`` None:
    no rescaling; ``mean`` None: no normalisation), rounded step by step as the processors do."""
    x = (pixels.astype(np.float64) * rescale).astype(np.float32) if rescale else pixels.astype(np.float32)
    if mean is not None:
        x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
