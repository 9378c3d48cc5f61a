"""SteadyMask's cost per 1080p frame, for windows of 3, 5 and 7 frames.

Run from the repo root: ``.venv/bin/python -m bench.steady_bench``. Binary masks of a moving block with flicker,
steadied by the node (median of the window's frames per pixel); milliseconds per frame, median of 3 runs.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from tools.pack import load_pack

FRAMES, H, W = 12, 1080, 1920


def clip() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(FRAMES, H, W)
    for t in range(FRAMES):
        masks[t, 300:700, 200 + 40 * t : 800 + 40 * t] = 1.0
    flicker = torch.rand(FRAMES, H, W, generator=generator) < 0.01
    return torch.where(flicker, 1.0 - masks, masks)


def main() -> None:
    load_pack()
    from maskforge.nodes.steady_mask import SteadyMask

    masks = clip()
    print(f"{FRAMES} frames of {W}x{H}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| window | ms per frame |\n|---:|---:|")
    for window in (3, 5, 7):
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            SteadyMask().run(masks, window)
            runs.append((time.perf_counter() - started) / FRAMES * 1000)
        print(f"| {window} | {statistics.median(runs):.0f} |")
    print(f"machine load (5-minute average): {os.getloadavg()[1]:.1f}")


if __name__ == "__main__":
    main()
