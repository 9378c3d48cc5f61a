"""Memory of GrowInvertMask (fill holes, grow 64, feather 16) and Blue Mask Image to Mask on a batch of
2048x2048 masks: the peak resident memory a run adds beyond its inputs and outputs, measured in a
fresh process (``tools/peak_memory.py``).

Run from the repo root: ``.venv/bin/python -m bench.memory_bench`` (Linux; ``--batch 8`` for a quick look).
Target: 64 masks within 3 GB above inputs and outputs, and flat in the batch size (about one image).
"""

from __future__ import annotations

import argparse

from tools.peak_memory import measure

GIB = 1 << 30
MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    print(f"{args.batch} x {args.size}x{args.size}; GrowInvertMask: fill_holes, grow 64 (round), feather 16; "
          "one torch thread")
    print(f"{'node':<26}{'batch':>6}{'inputs':>10}{'outputs':>10}{'extra peak':>12}{'beyond outputs':>16}"
          f"{'in images':>11}{'time (s)':>10}")
    worst = 0.0
    for node, name, input_images in (("grow", "GrowInvertMask", 1), ("blue", "Blue Mask Image to Mask", 3)):
        for batch in (1, args.batch):
            (r,) = measure([(node, batch)], args.size, grow=64, feather=16)
            beyond = r["extra_bytes"] - r["output_bytes"]
            worst = max(worst, beyond)
            inputs = batch * r["image_bytes"] * input_images
            print(f"{name:<26}{batch:>6}{inputs / GIB:>9.2f}G{r['output_bytes'] / GIB:>9.2f}G"
                  f"{r['extra_bytes'] / GIB:>11.2f}G{beyond / MIB:>15.1f}M{beyond / r['image_bytes']:>11.2f}"
                  f"{r['seconds']:>10.1f}")
    verdict = "meets" if worst <= 3 * GIB else "MISSES"
    print(f"most memory beyond inputs and outputs: {worst / MIB:.1f} MiB: {verdict} the 3 GB target")


if __name__ == "__main__":
    main()
