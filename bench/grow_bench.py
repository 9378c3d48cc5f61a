"""Grow timing: MaskForge's grow against the naive way (one 3x3 dilation per pixel, as
ComfyUI's core GrowMask does) on the same 2048x2048 mask, in one run.

Run from the repo root: ``.venv/bin/python -m bench.grow_bench``
Target: growing by 64 px takes at most 1/20 of the 64 naive passes (round corners included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.ndimage as ndi
import torch

from tools.pack import load_pack

load_pack()
from maskforge import ops  # noqa: E402


def sample_mask(size: int) -> torch.Tensor:
    """Irregular shapes spread over the whole image (so no bounding-box shortcut applies)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    m = np.zeros((size, size), bool)
    for _ in range(40):
        cy, cx, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 64, size // 8))]
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    m[rng.random((size, size)) < 1e-4] = True  # specks near every border
    return torch.from_numpy(m).float()[None]


def naive_grow(mask: torch.Tensor, pixels: int, round_corners: bool) -> np.ndarray:
    """ComfyUI's GrowMask: ``pixels`` passes of a 3x3 grey dilation (cross kernel for tapered corners)."""
    kernel = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]) if round_corners else np.ones((3, 3))
    out = mask[0].numpy()
    for _ in range(pixels):
        out = ndi.grey_dilation(out, footprint=kernel)
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--pixels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    mask, px = sample_mask(args.size), args.pixels
    naive = best_of(lambda: naive_grow(mask, px, True), 1)
    print(f"{args.size}x{args.size} mask ({mask.mean():.0%} set), grow by {px} px, torch threads: {torch.get_num_threads()}")
    print(f"{'method':<34}{'time (ms)':>10}{'vs naive':>10}")
    print(f"{'naive: ' + str(px) + ' 3x3 passes (GrowMask)':<34}{naive * 1000:>10.0f}{1:>10.2f}")
    rows = [
        ("round corners", lambda: ops.grow(mask, px, True)),
        ("square corners", lambda: ops.grow(mask, px, False)),
        ("shrink, round corners", lambda: ops.grow(mask, -px, True)),
        ("shrink, square corners", lambda: ops.grow(mask, -px, False)),
    ]
    worst = 0.0
    for name, fn in rows:
        t = best_of(fn, args.repeats)
        worst = max(worst, t / naive)
        print(f"{name:<34}{t * 1000:>10.1f}{t / naive:>10.3f}")
    verdict = "meets" if worst <= 1 / 20 else "MISSES"
    print(f"slowest is {worst:.3f} of naive: {verdict} the 1/20 target")


if __name__ == "__main__":
    main()
