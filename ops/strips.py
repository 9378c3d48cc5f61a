"""Work on an image a strip of rows at a time, so that temporaries stay a small part of one image."""

from __future__ import annotations

from typing import Callable

import torch

STRIP_BYTES = 4 << 20  # temporaries per strip


def by_rows(dst: torch.Tensor, fn: Callable[[int, int], torch.Tensor], row_bytes: int,
            check: Callable[[], None] | None = None) -> torch.Tensor:
    """``dst[a:b] = fn(a, b)`` over strips of rows (the first dimension) whose temporaries, at about
    ``row_bytes`` per row, fill ``STRIP_BYTES``. ``check`` (ComfyUI's Cancel) runs before each strip.
    Pass a transposed view (``x.T``) to work along columns."""
    rows = max(1, STRIP_BYTES // max(1, row_bytes))
    for start in range(0, dst.shape[0], rows):
        if check is not None:
            check()
        stop = min(start + rows, dst.shape[0])
        dst[start:stop] = fn(start, stop)
    return dst
