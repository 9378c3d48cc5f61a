"""Work on an image a strip of rows at a time, so that temporaries stay a small part of one image."""

from __future__ import annotations

from typing import Callable

import torch

STRIP_BYTES = 4 << 20  # temporaries per strip


def by_rows(src: torch.Tensor, dst: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], row_bytes: int,
            check: Callable[[], None] | None = None) -> torch.Tensor:
    """``dst[a:b] = fn(src[a:b])`` over strips of rows (the first dimension) whose temporaries, at about
    ``row_bytes`` per row, fill ``STRIP_BYTES``. ``check`` (ComfyUI's Cancel) runs before each strip.
    Pass transposed views (``x.T``) to work along columns."""
    rows = max(1, STRIP_BYTES // max(1, row_bytes))
    for start in range(0, src.shape[0], rows):
        if check is not None:
            check()
        dst[start : start + rows] = fn(src[start : start + rows])
    return dst
