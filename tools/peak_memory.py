"""Peak memory of a mask node's run, measured in a fresh process from its resident size (tracemalloc
does not see torch's buffers).

``python -m tools.peak_memory grow:2 grow:16 blue:16 --size 512`` prints one JSON line per run (node:batch):
how much the node's run raised the process's peak resident memory above what it held with its inputs
built, the size of its outputs and of one mask. Linux only: the peak is reset (``/proc/self/clear_refs``) right before the run,
after a warm-up run on a small image so one-time costs (imports, thread pools) are not counted. The
child runs with glibc's ``MALLOC_MMAP_THRESHOLD_`` at 64 KB, so every buffer bigger than that is mapped and
unmapped on its own and the resident size follows the live buffers (no freed heap space hides a peak).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# GrowInvertMask's settings for "grow": the target case.
GROW = dict(threshold=0.0, fill_holes=True, min_region_px=0, grow=64, corners="round", feather=16,
            feather_inside=False, invert=False)


def measure(runs: list[tuple[str, int]], size: int, **grow_settings) -> list[dict]:
    """Measures each ``(node, batch)`` of ``runs`` (node "grow" or "blue"), in order, in one fresh Python."""
    args = [sys.executable, "-m", "tools.peak_memory", *(f"{node}:{batch}" for node, batch in runs),
            "--size", str(size), "--settings", json.dumps(grow_settings)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.strip().splitlines()[-len(runs):]]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _sample(size: int):
    """Rings with holes and specks: fill holes, grow and feather all have work on it."""
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    m = np.zeros((size, size), bool)
    for _ in range(12):
        cy, cx = rng.integers(0, size, 2)
        r = int(rng.integers(size // 32, size // 6))
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        m |= (d <= r * r) & (d > (r // 2) ** 2)
    m[rng.random((size, size)) < 1e-4] = True
    return torch.from_numpy(m.astype(np.float32))


def _node(node: str, settings: dict):
    from maskforge.nodes.blue_nodes import BlueMaskToMask
    from maskforge.nodes.mask_nodes import GrowInvertMask

    if node == "grow":
        options = {**GROW, **settings}
        return lambda x: GrowInvertMask().run(x, **options)
    return lambda x: BlueMaskToMask().run(x, "blue #7878CD", 0.25)


def _inputs(node: str, batch: int, size: int):
    from maskforge import ops

    base = _sample(size)
    return base.expand(batch, -1, -1).contiguous() if node == "grow" else \
        ops.mask_to_colour(base).expand(batch, -1, -1, -1).contiguous()


def _measure(node: str, batch: int, size: int, settings: dict) -> dict:
    run, inputs = _node(node, settings), _inputs(node, batch, size)
    run(inputs[:1, :64, :64].clone())  # warm-up: small, so that no freed buffer of the real size is left over
    gc.collect()
    baseline = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    start = time.perf_counter()
    outputs = run(inputs)
    seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    return {"node": node, "batch": batch, "size": size, "seconds": seconds, "extra_bytes": peak - baseline,
            "output_bytes": sum(t.numel() * t.element_size() for t in outputs), "image_bytes": size * size * 4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="node:batch, node being grow (GrowInvertMask) or blue")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--settings", default="{}", help="GrowInvertMask inputs to change, as JSON")
    args = parser.parse_args()

    import torch

    from tools.pack import load_pack

    torch.set_num_threads(1)  # one worker; the buffers are the same with more threads
    load_pack()
    for spec in args.runs:
        node, batch = spec.split(":")
        print(json.dumps(_measure(node, int(batch), args.size, json.loads(args.settings))), flush=True)


if __name__ == "__main__":
    main()
