"""The demo: runs Grow / Invert Mask and the blue-mask nodes on a generated sample and writes PNGs.

Run from the repo root: ``.venv/bin/python -m tools.demo [--out output]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from tools.pack import load_pack

pack = load_pack()


def sample_scene(width: int = 768, height: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """A drawn room (wall, floor, sofa, lamp) and a rough hand-made mask of the sofa, with a speck and a hole."""
    img = Image.new("RGB", (width, height), (214, 206, 190))
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(height * 0.68), width, height], fill=(139, 106, 76))  # floor
    d.rounded_rectangle([180, 250, 560, 400], radius=28, fill=(90, 120, 160))  # sofa
    d.rounded_rectangle([200, 200, 540, 300], radius=24, fill=(80, 110, 150))
    d.rectangle([630, 150, 640, 400], fill=(60, 60, 60))  # lamp
    d.ellipse([595, 110, 675, 170], fill=(250, 230, 160))
    mask = Image.new("L", (width, height), 0)
    md = ImageDraw.Draw(mask)
    md.rounded_rectangle([186, 206, 552, 396], radius=26, fill=255)
    md.ellipse([330, 280, 360, 310], fill=0)  # a hole a detector might leave
    md.ellipse([60, 60, 66, 66], fill=255)  # a stray speck
    image = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)[None]
    return image, torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255)[None]


def save(tensor: torch.Tensor, path: Path) -> None:
    array = (tensor[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)
    print(f"wrote {path}")


def run(out: Path) -> dict[str, torch.Tensor]:
    """Runs the model-free nodes on the sample, writes each result as a PNG and returns them."""
    out.mkdir(parents=True, exist_ok=True)
    nodes = pack.NODE_CLASS_MAPPINGS
    image, rough = sample_scene()
    mask, inverted = nodes["MaskForgeGrowInvertMask"]().run(
        rough, threshold=0.5, fill_holes=True, min_region_px=64, grow=12, corners="round",
        feather=8, feather_inside=False, invert=False,
    )
    (blue,) = nodes["MaskForgeMaskToBlueMask"]().run(mask, threshold=0.5, colour="blue #7878CD")
    back, _ = nodes["MaskForgeBlueMaskToMask"]().run(blue, colour="blue #7878CD", tolerance=0.25)
    results = {
        "sample": image, "rough_mask": rough, "grow_invert_mask": mask, "grow_invert_inverted": inverted,
        "blue_mask": blue, "blue_read_back": back, "cutout": pack.ops.cutout(image, mask, (1.0, 1.0, 1.0)),
    }
    for name, tensor in results.items():
        save(tensor, out / f"{name}.png")
    hard = (mask > 0.5).float()
    print(f"mask covers {hard.mean():.1%}; blue round trip differs on {(back != hard).sum().item()} pixels")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("output"))
    run(parser.parse_args().out)


if __name__ == "__main__":
    main()
