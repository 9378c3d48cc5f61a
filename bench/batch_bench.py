"""The batch command's throughput on this machine's CPU, and the engine's overhead over the node in a loop.

Run from the repo root: ``.venv/bin/python -m bench.batch_bench`` (``--images 3 --size 256`` checks that it
runs). Needs Ray (requirements-batch.txt).
Target: for a model node at 1024 px, the engine's time per image with one actor, once running, is at most
1.10x that of a plain loop doing the same work: read the file, decode it, run the node, write the mask PNG.

For each node, ``--images`` generated images of ``--size`` px go through that loop (in this process, before Ray
starts; the first image not counted: it loads the model), then through the command's pipeline with one actor and
with two, on one local Ray with the machine's cores (after a small warm-up run: Ray Data starts its helper actors
with a session's first dataset). An engine run is timed twice: 'total' from the start to the
last record (Ray's tasks and actors starting, the model loading in each actor) and 'steady' over the images
after each actor's first one and the first quarter, once images flow. Overhead = steady time per image (one
actor) / loop time per image - 1.

Models: LabelMask's default (Mask2Former Swin-T) and RemoveBGMask's default (a stand-in of U²-Net's size and
interface), built as bench/label_mask_bench.py and bench/removebg_bench.py build them: full size, random
weights, saved under their registry names, so the command resolves and loads them as it would the real files.
Writes bench/results/batch.md and prints it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.label_mask_bench import room, save_model
from bench.removebg_bench import sample_image, write_standin
from tools.pack import load_pack

RESULTS = Path(__file__).resolve().parent / "results" / "batch.md"
LABEL_MODEL = "mask2former-swin-tiny-ade-semantic"
NODES = {  # node → (the node's inputs besides the image, the file type of the inputs)
    "GrowInvertMask": (dict(threshold=0.5, fill_holes=True, min_region_px=64, grow=8, corners="round", feather=4,
                            feather_inside=False, invert=False), ".png"),
    "LabelMask": (dict(model=LABEL_MODEL, labels="wall|floor|ceiling", on_missing="empty mask", grow=0, invert=False,
                       resolution=384, tiled=False, force_cpu=True), ".jpg"),
    "RemoveBGMask": (dict(model="u2net.onnx", alpha_matting=False, alpha_matting_foreground_threshold=240,
                          alpha_matting_background_threshold=20, alpha_matting_erode_size=5, post_process_mask=False,
                          custom_model_family="u2net", force_cpu=True), ".jpg"),
}


def write_images(node: str, folder: Path, count: int, size: int) -> None:
    """``count`` slightly different pictures for ``node``: masks with blobs, a synthetic room, blobs on a gradient."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        if node == "GrowInvertMask":
            yy, xx = np.mgrid[:size, :size]
            mask = np.zeros((size, size), bool)
            for _ in range(12):
                cy, cx, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 32, size // 6))]
                mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            pixels = mask.astype(np.uint8) * 255
        elif node == "LabelMask":
            pixels = (room(size)[0].numpy() * (0.9 + 0.1 * i / count) * 255).astype(np.uint8)
        else:
            pixels = np.roll(sample_image(size), i * size // (2 * count), axis=1)
        Image.fromarray(pixels).save(folder / f"{i:04d}{NODES[node][1]}", quality=95)


def node_loop(pack, node: str, folder: Path, out: Path) -> list[float]:
    """Seconds per image of the plain loop: read, decode (as the command does), the node, the mask PNG written."""
    import torch

    from maskforge import ops
    from maskforge.batch import files

    params, _ = NODES[node]
    instance = pack.NODE_CLASS_MAPPINGS[f"MaskForge{node}"]()
    extra = {"cutout_background": "#000000"} if node == "RemoveBGMask" else {}
    out.mkdir(parents=True)
    times = []
    for path in sorted(folder.iterdir()):
        start = time.perf_counter()
        pixels = files.decode(path.read_bytes(), "RGBA" if node == "GrowInvertMask" else "RGB")
        image = torch.from_numpy(pixels).float()[None] / 255.0
        if node == "GrowInvertMask":
            mask = instance.run(ops.image_to_mask(image), **params)[0]
        else:
            mask = instance.run(image, **params, **extra)[0]
        (out / f"{path.stem}.png").write_bytes(files.png(ops.to_uint8(mask[0])))
        times.append(time.perf_counter() - start)
    return times


def engine(node: str, folder: Path, out: Path, actors: int) -> dict:
    """One run of the command's pipeline: total and steady seconds per image."""
    from maskforge.batch import manifest, pipeline

    params, _ = NODES[node]
    options = {"mask_channel": "luminance"} if node == "GrowInvertMask" else {}
    job = pipeline.Job(node=node, params={**params, **options},
                       input=str(folder), output=str(out), actors=actors, batch_size=1)
    arrivals, add = [], manifest.Manifest.add

    def timed(self, name, line):  # when each record reaches the driver
        arrivals.append(time.perf_counter())
        add(self, name, line)

    manifest.Manifest.add = timed
    try:
        start = time.perf_counter()
        summary = pipeline.run(job)
    finally:
        manifest.Manifest.add = add
    assert summary.done == len(arrivals) and not summary.failed, summary
    # Steady: after each actor's first image (the actors start one after the other) and the first quarter, whose
    # records come in bunches while the stages' workers are still starting.
    skip = max(actors, len(arrivals) // 4)
    steady = (arrivals[-1] - arrivals[skip - 1]) / (len(arrivals) - skip) if len(arrivals) > skip else float("nan")
    return {"total": (arrivals[-1] - start) / len(arrivals), "steady": steady}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12, help="images per node (default: %(default)s)")
    parser.add_argument("--size", type=int, default=1024, help="image side in px (default: %(default)s)")
    parser.add_argument("--nodes", nargs="+", default=list(NODES), choices=list(NODES))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="batch_bench_"))
    models = work / "models"
    os.environ["MASKFORGE_MODELS_DIR"] = str(models)
    os.environ["HF_HUB_OFFLINE"] = "1"
    logging.getLogger("maskforge").setLevel(logging.ERROR)  # the stand-in's checksum is not u2net's
    pack = load_pack()
    import ray
    import torch

    from maskforge.batch import pipeline

    if "LabelMask" in args.nodes:
        save_model(LABEL_MODEL, models)
    if "RemoveBGMask" in args.nodes:
        write_standin(models / "rembg" / "u2net.onnx")
    load = os.getloadavg()
    rows = []
    try:
        loops = {}
        for node in args.nodes:  # first, without Ray running, as a user's own loop would run
            write_images(node, work / node / "images", args.images, args.size)
            loop = node_loop(pack, node, work / node / "images", work / node / "loop")
            loops[node] = statistics.mean(loop[1:]) if len(loop) > 1 else loop[0]
        pipeline.start_ray(num_cpus=os.cpu_count(), _node_ip_address="127.0.0.1")
        # Ray Data starts helper actors with its first dataset, once per session: not any image's cost.
        write_images("GrowInvertMask", work / "warm-up", 2, 64)
        engine("GrowInvertMask", work / "warm-up", work / "warm-up-out", 1)
        for node in args.nodes:
            one = engine(node, work / node / "images", work / node / "one", 1)
            two = engine(node, work / node / "images", work / node / "two", 2)
            rows.append((node, loops[node], one, two))
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()

    lines = [
        "# Batch command benchmark",
        "",
        f"{os.cpu_count()} CPU cores, no GPU; torch {torch.__version__} ({torch.get_num_threads()} threads), Ray "
        f"{ray.__version__}; {args.images} images of {args.size}x{args.size} px per node; one actor (all cores) and "
        f"two (half each), batch size 1 (an upper bound: the command's default of 4 spreads Ray's per-call cost over "
        f"four images). Load average (1 / 5 / 15 min) at the start: {' / '.join(f'{x:.1f}' for x in load)}, at the end: "
        f"{' / '.join(f'{x:.1f}' for x in load_end)} (more than {os.cpu_count()}: other work shared the CPU).",
        "",
        "| node | node in a loop (images/s) | 1 actor, steady (images/s) | 1 actor, total (images/s) "
        "| 2 actors, steady (images/s) | 2 actors, total (images/s) | overhead, 1 actor steady |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for node, per_image, one, two in rows:
        lines.append(f"| {node} | {1 / per_image:.2f} | {1 / one['steady']:.2f} | {1 / one['total']:.2f} "
                     f"| {1 / two['steady']:.2f} | {1 / two['total']:.2f} | {one['steady'] / per_image - 1:+.0%} |")
    lines += ["", "Target: overhead ≤ +10% for a model node at 1024 px. 'Total' includes Ray starting the stages' "
              "workers and each actor loading its model: it approaches 'steady' as the folder grows."]
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
