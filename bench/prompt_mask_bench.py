"""PromptMask latency and memory on this machine's CPU, with full-size Grounding DINO, SAM and SAM 2.1.

Run from the repo root: ``.venv/bin/python -m bench.prompt_mask_bench`` (``--quick``: the default
pair only).
Targets (2-core CPU): the default CPU models ≤ 8 s per 1024 px image; a second prompt on the same
image ≤ 10% of the first; a cached model adds < 50 ms on the second run; peak memory < 3 GB.

The real weights cannot be downloaded here, so every model is built from a hand-written copy of
its published configuration (same layers, widths and input sizes) with random weights and saved
in the hub layout; the node then resolves, loads and runs it as it would the real files. Random
weights give random boxes, so each image is given three objects (box threshold 0, max_objects 3),
about what a prompt such as "sofa. lamp" finds in a room. Each pair runs in its own process so its
peak memory (RSS) is its own. Writes bench/results/prompt_mask.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "prompt_mask.md"
OBJECTS = 3


# --- the published configurations, by hand ---


def grounding_dino_config(name: str):
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    if name == "grounding-dino-tiny":
        swin = SwinConfig(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7, image_size=224,
                          out_indices=[2, 3, 4])
    else:  # grounding-dino-base
        swin = SwinConfig(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
                          image_size=384, out_indices=[2, 3, 4])
    return GroundingDinoConfig(backbone_config=swin, text_config=BertConfig())  # BERT-base, d_model 256, 900 queries


def sam2_config(name: str):
    from transformers import Sam2Config

    hiera = {
        "sam2.1-hiera-tiny": {},  # the configuration's defaults are Hiera-T
        "sam2.1-hiera-small": dict(blocks_per_stage=[1, 2, 11, 2], global_attention_blocks=[7, 10, 13]),
        "sam2.1-hiera-base-plus": dict(hidden_size=112, num_attention_heads=2, blocks_per_stage=[2, 3, 16, 3],
                                       embed_dim_per_stage=[112, 224, 448, 896],
                                       num_attention_heads_per_stage=[2, 4, 8, 16],
                                       global_attention_blocks=[12, 16, 20],
                                       window_positional_embedding_background_size=[14, 14]),
    }[name]
    channels = list(reversed(hiera.get("embed_dim_per_stage", [96, 192, 384, 768])))
    return Sam2Config(vision_config=dict(backbone_config=dict(model_type="sam2_hiera_det_model", **hiera),
                                         backbone_channel_list=channels))


def build(name: str, models: Path) -> None:
    """Saves a random-weight model of ``name``'s architecture where the node looks for it."""
    import torch
    from transformers import (BertTokenizer, GroundingDinoForObjectDetection, Sam2Model, SamConfig, SamModel)
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import GroundingDinoImageProcessorPil

    torch.manual_seed(0)
    if name.startswith("grounding-dino"):
        out = models / "grounding-dino" / name
        GroundingDinoForObjectDetection(grounding_dino_config(name)).save_pretrained(out)
        GroundingDinoImageProcessorPil().save_pretrained(out)  # 800 px shortest side, 1333 longest, as published
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "sofa", "lamp", "chair", "table"]
        BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(out)
        (out / "vocab.txt").write_text("\n".join(words) + "\n")
    elif name.startswith("sam2"):
        Sam2Model(sam2_config(name)).save_pretrained(models / "sam2" / name)
    else:  # sam-vit-base: SamConfig's defaults are ViT-B
        SamModel(SamConfig()).save_pretrained(models / "sams" / name)


# --- one pair, in its own process ---


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # kB on Linux


def run_pair(detector: str, sam_model: str, sizes: list[int], models: Path, resolution: int) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tools.pack import load_pack

    load_pack()
    from maskforge.models import management, sam, weights
    from maskforge.nodes.prompt_mask import PromptMask

    torch.manual_seed(0)
    node = PromptMask()
    base = dict(detector=detector, sam_model=sam_model, box_threshold=0.0, text_threshold=0.0, nms_iou=1.0,
                max_objects=OBJECTS, mask_type="segment", grow=0, invert=False, stop_on_empty_mask=False,
                background_colour="#FFFFFF", force_cpu=True, detector_resolution=resolution)

    def timed(**options) -> tuple[float, dict]:
        start = time.perf_counter()
        out = node.run(**(base | options))
        return time.perf_counter() - start, json.loads(out[2])

    t0 = time.perf_counter()
    timed(image=torch.rand(1, 64, 64, 3), prompt="sofa")  # loads both models
    result = {"load_s": time.perf_counter() - t0, "sizes": {}}
    for size in sizes:
        image = torch.rand(1, size, size, 3)
        first, report = timed(image=image, prompt="sofa. lamp")
        second_text, _ = timed(image=image, prompt="chair. table")
        boxes = json.dumps(report)
        second_boxes, _ = timed(image=image, prompt="", boxes=boxes)
        points = json.dumps([[size // 3, size // 3], [size // 2, size // 2, 0]])
        second_points, _ = timed(image=image, prompt="", points=points)
        sam.clear_cache()
        cold_sam, _ = timed(image=image, prompt="", boxes=boxes)  # SAM alone, embedding computed again
        result["sizes"][size] = dict(first=first, second_text=second_text, second_boxes=second_boxes,
                                     second_points=second_points, sam_alone=cold_sam)
    # What a cached model costs on a second run: resolving the names and the cache look-ups.
    start = time.perf_counter()
    for name, folders in ((detector, ("grounding-dino",)), (sam_model, ("sam2", "sams"))):
        path = weights.resolve("PromptMask", name, folders=folders)
        management.get_model(str(path), lambda: None, device=management.compute_device(True),
                             dtype=torch.float32 if folders[0] == "grounding-dino" else management.compute_dtype(
                                 management.compute_device(True)))
    result["cached_model_ms"] = (time.perf_counter() - start) * 1000
    result["peak_rss_gb"] = rss_gb()
    result["load_average"] = os.getloadavg()[1]  # other work on the machine during the last 5 minutes
    return result


# --- the table ---


def table(rows: list[tuple[str, str, int, dict]], threads: int) -> str:
    lines = [
        "# PromptMask benchmark",
        "",
        f"CPU, {threads} threads, torch {torch_version()}; full-size architectures with random weights (see "
        "bench/prompt_mask_bench.py). Seconds per image; 3 objects per image.",
        "",
        "| detector | detector input | SAM model | px | first prompt | 2nd text prompt | 2nd prompt: boxes | 2nd prompt: points "
        "| SAM alone (boxes, new image) | loading both models | cached model | peak RSS | machine load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for detector, sam_model, resolution, r in rows:
        for size, t in r["sizes"].items():
            lines.append(
                f"| {detector} | {resolution} | {sam_model} | {size} | {t['first']:.2f} | {t['second_text']:.2f} "
                f"| {t['second_boxes']:.3f} ({t['second_boxes'] / t['first']:.0%}) "
                f"| {t['second_points']:.3f} ({t['second_points'] / t['first']:.0%}) | {t['sam_alone']:.2f} "
                f"| {r['load_s']:.1f} | {r['cached_model_ms']:.1f} ms | {r['peak_rss_gb']:.2f} GB "
                f"| {r['load_average']:.1f} |")
    lines += ["", "2nd text prompt: another prompt on the same image (detection runs again; the SAM embedding is "
              "reused). 2nd prompt boxes/points: the same image prompted through the boxes or points input "
              "(no detection; only SAM's mask decoder runs). Cached model: resolving both names and the model "
              "cache look-up on a second run. Machine load: the 5-minute load average when the pair finished; "
              f"above {threads}, other processes were sharing the cores and the times are inflated.", ""]
    return "\n".join(lines)


def torch_version() -> str:
    import torch

    return torch.__version__


PAIRS = [
    ("grounding-dino-tiny", "sam2.1-hiera-tiny"),
    ("grounding-dino-tiny", "sam2.1-hiera-small"),
    ("grounding-dino-tiny", "sam-vit-base"),
    ("grounding-dino-base", "sam2.1-hiera-tiny"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the default pair only")
    parser.add_argument("--detector-resolutions", nargs="*", type=int, default=[512],
                        help="short sides Grounding DINO sees (the node's detector_resolution; 512 is its default)")
    parser.add_argument("--pair", help=argparse.SUPPRESS)  # internal: detector,sam_model,models_dir,sizes,resolution
    args = parser.parse_args()
    import torch

    if args.pair:
        detector, sam_model, models, sizes, resolution = args.pair.split(",", 4)
        result = run_pair(detector, sam_model, [int(s) for s in sizes.split("+")], Path(models), int(resolution))
        print("RESULT " + json.dumps(result))
        return
    pairs = PAIRS[:1] if args.quick else PAIRS
    sizes = [512, 1024]
    rows = []
    with tempfile.TemporaryDirectory(prefix="maskforge-bench-") as tmp:
        models = Path(tmp) / "models"
        for name in dict.fromkeys(n for pair in pairs for n in pair):
            build(name, models)
        env = dict(os.environ, MASKFORGE_MODELS_DIR=str(models), HF_HUB_OFFLINE="1")
        for (detector, sam_model), resolution in [(p, r) for p in pairs for r in args.detector_resolutions]:
            out = subprocess.run([sys.executable, "-m", "bench.prompt_mask_bench", "--pair",
                                  f"{detector},{sam_model},{models},{'+'.join(map(str, sizes))},{resolution}"],
                                 capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{detector} + {sam_model} failed:\n{out.stderr[-3000:]}")
            r = json.loads(line[7:])
            r["sizes"] = {int(k): v for k, v in r["sizes"].items()}
            rows.append((detector, sam_model, resolution, r))
    text = table(rows, torch.get_num_threads())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
