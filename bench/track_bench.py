"""TrackMask speed and memory on this machine's CPU, with a full-size SAM 2.1 tiny video model.

Run from the repo root: ``.venv/bin/python -m bench.track_bench`` (defaults: frames per second over 20 frames at
512 and 1024 px, memory over 50 and 200 frames at 512 px). Smoke run: ``--fps-frames 3 --memory-frames 4 8
--sizes 256``.

The real weights cannot be downloaded here, so the model is built from the ``facebook/sam2.1-hiera-tiny``
configuration (``tests.tiny_sam_video.published_config``: the published config.json where the fixture holds it,
else transformers' defaults for that checkpoint) with random weights, saved in the hub layout, and resolved and
loaded by the node as the real folder would be. Random weights
give random masks; the times and memory are those of the real network (it always sees 1024 x 1024, whatever the
frame size). One object, given as a mask on frame 0, followed forward.

- Speed: the node end to end (frames in, masks, JSON and preview out), seconds per frame after the key frame.
- Memory: what tracking itself holds, the clip's frames and the node's outputs aside (those grow with the clip by
  design): ``models.sam_video.track`` over the clip, each frame's masks dropped once made, the process's resident
  memory sampled every 5 ms; the peak above the resident memory before the first frame. Each clip length runs in
  its own process. Target: about equal for 50 and 200 frames.

Writes bench/results/track_mask.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "track_mask.md"
NAME = "sam2.1-hiera-tiny"


def build(models: Path) -> Path:
    """The random-weight model of the published config, where the node looks for sam2.1-hiera-tiny."""
    import torch
    from transformers import Sam2VideoConfig, Sam2VideoModel

    from tests.tiny_sam_video import published_config

    out = models / "sam2" / NAME
    if not (out / "model.safetensors").is_file():
        config = published_config()
        torch.manual_seed(0)
        Sam2VideoModel(Sam2VideoConfig.from_dict(config)).save_pretrained(out)
        (out / "config.json").write_text(json.dumps(config, indent=2))  # the configuration's own keys, not a re-save
    return out


def clip(count: int, size: int):
    """``count`` frames of a textured background with a block crossing it, and the block's mask on frame 0."""
    import torch

    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(count, size, size, 3, generator=generator) * 0.3
    side = size // 4
    for i in range(count):
        x = (i * size // 40) % (size - side)
        frames[i, side : 2 * side, x : x + side] = torch.tensor([0.9, 0.8, 0.1])
    mask = torch.zeros(1, size, size)
    mask[0, side : 2 * side, :side] = 1.0
    return frames, mask


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def speed(count: int, size: int) -> dict:
    from tools.pack import load_pack

    load_pack()
    from maskforge.nodes.track_mask import TrackMask

    frames, mask = clip(count, size)
    args = dict(sam_model=NAME, key_frame=0, direction="forward", max_objects=0, grow=0, invert=False,
                force_cpu=True, initial_mask=mask)
    started = time.perf_counter()
    TrackMask().run(frames[:1], **args)  # loads the model; its one frame is the key frame
    loading = time.perf_counter() - started
    started = time.perf_counter()
    TrackMask().run(frames[:1], **args)
    key_frame = time.perf_counter() - started
    started = time.perf_counter()
    TrackMask().run(frames, **args)
    total = time.perf_counter() - started
    per_frame = (total - key_frame) / (count - 1)
    return {"size": size, "frames": count, "loading_s": loading, "key_frame_s": key_frame, "per_frame_s": per_frame}


def memory(count: int, size: int) -> dict:
    import torch

    from tools.pack import load_pack

    load_pack()
    from maskforge.models import sam_video

    model = sam_video.load(build(Path(os.environ["MASKFORGE_MODELS_DIR"])))
    frames, mask = clip(count, size)
    prompts = [sam_video.Prompt(mask=mask[0])]
    with torch.inference_mode():  # warm-up: first-call allocations are not the clip's
        next(sam_video.track(model, frames[:2], 0, prompts, "forward"))
    base, peak, done = rss(), [0], threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    for _ in sam_video.track(model, frames, 0, prompts, "forward"):
        pass  # the masks of each frame are dropped, as the node's outputs would take them
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"size": size, "frames": count, "held_mb": (max(peak[0], rss()) - base) / 2**20,
            "clip_mb": frames.numel() * 4 / 2**20, "per_frame_s": seconds / count}


def child(kind: str, count: int, size: int, models: Path) -> dict:
    env = dict(os.environ, MASKFORGE_MODELS_DIR=str(models), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "bench.track_bench", "--child", kind, str(count), str(size)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--fps-frames", type=int, default=20)
    parser.add_argument("--memory-frames", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--memory-size", type=int, default=512)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, count, size = args.child
        print(json.dumps((speed if kind == "speed" else memory)(int(count), int(size))))
        return

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        build(models)
        speeds = [child("speed", args.fps_frames, size, models) for size in args.sizes]
        held = [child("memory", count, args.memory_size, models) for count in args.memory_frames]
    load = os.getloadavg()[1]
    lines = [
        "# TrackMask benchmark", "",
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}; SAM 2.1 tiny of the published config, "
        f"random weights (see bench/track_bench.py). One object, forward from frame 0. Machine load (5-minute "
        f"average at the end): {load:.1f}.", "",
        "| frame size | frames | loading (s) | key frame (s) | per frame after it (s) | frames per second |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {s['size']} | {s['frames']} | {s['loading_s']:.1f} | {s['key_frame_s']:.2f} | {s['per_frame_s']:.2f} | "
          f"{1 / s['per_frame_s']:.2f} |" for s in speeds],
        "", f"Memory held by tracking itself, {args.memory_size} px frames (the clip and the node's outputs aside):",
        "", "| frames | held above the start (MB) | the clip's frames (MB, for scale) | per frame (s) |",
        "|---:|---:|---:|---:|",
        *[f"| {h['frames']} | {h['held_mb']:.0f} | {h['clip_mb']:.0f} | {h['per_frame_s']:.2f} |" for h in held],
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
