"""LabelMask latency and memory on this machine's CPU, with full-size Mask2Former and SegFormer models.

Run from the repo root: ``.venv/bin/python -m bench.label_mask_bench`` (``--quick``: one timed run
per size instead of three).
Targets (2-core CPU): the default CPU model ≤ 2 s per 1024 px image; a cached model adds < 50 ms
on the second run.

The real weights cannot be downloaded here, so each model is built from a hand-written copy of its
published configuration (same layers and widths) with random weights and saved in the hub layout
under its registry name; the node then resolves, loads and runs it as it would the real files, at
its default resolution (short side 512). The image is a synthetic room (flat walls, floor,
ceiling, furniture, slight noise), as photos are; uniform noise would make even a trained model's
class map all edges. Random weights still give more class edges than trained ones, so the
edge-only upsampling does more work here than on real photos: the figures are an upper bound.
Each model runs in its own process so its peak memory (RSS) is its own. Writes
bench/results/label_mask.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "label_mask.md"
MODELS = ("mask2former-swin-tiny-ade-semantic", "segformer-b0-finetuned-ade-512-512",
          "segformer-b2-finetuned-ade-512-512", "mask2former-swin-small-ade-semantic")
SIZES = (512, 1024)


# --- the published configurations, by hand ---


def model_config(name: str):
    from transformers import Mask2FormerConfig, SegformerConfig, SwinConfig

    from maskforge.labels import ADE20K_LABELS

    id2label = dict(enumerate(ADE20K_LABELS))
    if name.startswith("mask2former"):
        depths = [2, 2, 6, 2] if "tiny" in name else [2, 2, 18, 2]
        swin = SwinConfig(embed_dim=96, depths=depths, num_heads=[3, 6, 12, 24], window_size=7,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
        # Defaults: 256-wide pixel decoder (6 deformable layers), 10 decoder layers, 100 queries.
        return Mask2FormerConfig(backbone_config=swin, num_labels=150, id2label=id2label)
    if "b0" in name:  # the configuration's defaults are MiT-b0 with a 256-wide head
        return SegformerConfig(num_labels=150, id2label=id2label)
    return SegformerConfig(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 6, 3], decoder_hidden_size=768,
                           num_labels=150, id2label=id2label)  # MiT-b2


def save_model(name: str, models_dir: Path) -> None:
    import torch
    import transformers

    folder = models_dir / "maskforge" / name
    torch.manual_seed(0)
    if name.startswith("mask2former"):
        model = transformers.Mask2FormerForUniversalSegmentation(model_config(name))
        processor = transformers.Mask2FormerImageProcessorPil(size={"shortest_edge": 512}, size_divisor=32)
    else:
        model = transformers.SegformerForSemanticSegmentation(model_config(name))
        processor = transformers.SegformerImageProcessorPil()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def room(size: int):
    """A synthetic room photo ``[1,size,size,3]``: wall lit from above, ceiling, floor, sofa, window, rug."""
    import torch

    g = torch.Generator().manual_seed(0)
    image = torch.empty(size, size, 3)
    image[:] = torch.tensor([0.85, 0.82, 0.75]) * (0.8 + 0.2 * torch.linspace(0, 1, size).view(-1, 1, 1))
    for (top, bottom, left, right), colour in [
        ((0.65, 1.0, 0.0, 1.0), (0.45, 0.30, 0.20)),  # floor
        ((0.0, 0.08, 0.0, 1.0), (0.95, 0.95, 0.95)),  # ceiling
        ((0.50, 0.78, 0.10, 0.55), (0.20, 0.30, 0.60)),  # sofa
        ((0.20, 0.45, 0.60, 0.85), (0.60, 0.80, 0.95)),  # window
        ((0.70, 0.90, 0.60, 0.90), (0.70, 0.10, 0.10)),  # rug
    ]:
        image[int(top * size) : int(bottom * size), int(left * size) : int(right * size)] = torch.tensor(colour)
    return (image + 0.02 * torch.randn(image.shape, generator=g)).clamp(0, 1).unsqueeze(0)


# --- one model, in its own process ---


def measure(name: str, runs: int, resolution: int) -> dict:
    import torch

    from tools.pack import load_pack

    load_pack()
    from maskforge.models import management, weights
    from maskforge.nodes.label_mask import LabelMask

    models_dir = Path(os.environ["MASKFORGE_MODELS_DIR"])
    save_model(name, models_dir)
    node = LabelMask()
    args = dict(model=name, labels="wall|floor|ceiling", on_missing="empty mask", grow=0, invert=False,
                resolution=resolution, tiled=False, force_cpu=True)
    result = {"model": name, "resolution": resolution, "params_m": None}
    for size in SIZES:
        image = room(size)
        start = time.perf_counter()
        node.run(image, **args)
        first = time.perf_counter() - start
        times, cpu = [], []
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            node.run(image, **args)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        result[f"first_{size}"] = first
        result[f"steady_{size}"] = statistics.median(times)
        result[f"cpu_{size}"] = statistics.median(cpu)
    # What the cache saves a second run: resolving the weights and fetching the loaded model.
    path = weights.resolve("LabelMask", name, (), folders=("maskforge",))
    start = time.perf_counter()
    for _ in range(10):
        path = weights.resolve("LabelMask", name, (), folders=("maskforge",))
        managed = management.get_model(str(path), lambda: None, device=torch.device("cpu"), dtype=torch.float32)
    result["cached_ms"] = (time.perf_counter() - start) / 10 * 1000
    result["params_m"] = sum(p.numel() for p in managed.module.parameters()) / 1e6
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def table(rows: list[dict]) -> str:
    import torch

    lines = [
        "# LabelMask benchmark",
        "",
        f"CPU, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; random weights "
        "of the published architectures; a synthetic room image; "
        "labels wall|floor|ceiling. "
        "Latency is one image through the node (resolve → cached model → segment → masks → preview), median "
        "of the timed runs; 'first' includes loading the model from disk; CPU time is summed over the threads "
        "(less swayed by other work than the wall-clock time, which on an idle machine is about half of it). "
        "Peak memory is the process's peak RSS "
        "(Python, torch and the model). Load average (1 / 5 / 15 min) when the table was written: "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}; this benchmark alone accounts for about "
        f"{torch.get_num_threads()}, more means other work shared the CPU and inflated the times.",
        "",
        "| model | model input (short side) | params (M) | 512 px (s) | 1024 px (s) | 1024 px, CPU time (s) | first run, 512 px (s) "
        "| cached model overhead (ms) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['resolution']} | {r['params_m']:.1f} | {r['steady_512']:.2f} | {r['steady_1024']:.2f} "
                     f"| {r['cpu_1024']:.2f} | {r['first_512']:.2f} | {r['cached_ms']:.1f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed run per size instead of three")
    parser.add_argument("--model", help=argparse.SUPPRESS)  # the child process's one model
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="registry names to measure")
    parser.add_argument("--resolutions", nargs="*", type=int, default=[512],
                        help="model input short sides to measure (the node's resolution widget; 512 is its default)")
    args = parser.parse_args()
    runs = 1 if args.quick else 3
    if args.model:
        print(json.dumps(measure(args.model, runs, args.resolutions[0])))
        return
    rows = []
    for name, resolution in [(m, r) for m in args.models for r in args.resolutions]:
        with tempfile.TemporaryDirectory() as models_dir:
            env = {**os.environ, "MASKFORGE_MODELS_DIR": models_dir, "HF_HUB_OFFLINE": "1"}
            command = [sys.executable, "-m", "bench.label_mask_bench", "--model", name, "--resolutions", str(resolution)]
            command += ["--quick"] if args.quick else []
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    text = table(rows)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
