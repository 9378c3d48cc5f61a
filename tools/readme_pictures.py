"""Makes the README's pictures (input | mask | result) from real node outputs.

Model-free nodes come from the demo run. Model nodes get a picture only from a run with
their real weights (a picture from random weights shows nothing true), so they are not made here.
Run from the repo root: ``.venv/bin/python -m tools.readme_pictures``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from tools.demo import run

DOCS = Path(__file__).resolve().parents[1] / "docs"
TILE = (320, 213)


def strip(files: list[tuple[str, Path]], target: Path) -> None:
    """Tiles side by side, each captioned."""
    canvas = Image.new("RGB", (TILE[0] * len(files), TILE[1] + 22), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (caption, path) in enumerate(files):
        canvas.paste(Image.open(path).convert("RGB").resize(TILE), (i * TILE[0], 22))
        draw.text((i * TILE[0] + 6, 5), caption, fill="black")
    canvas.save(target)
    print(f"wrote {target}")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run(out)
        strip(
            [("input, a rough mask", out / "rough_mask.png"),
             ("GrowInvertMask mask", out / "grow_invert_mask.png"),
             ("result, cut-out", out / "cutout.png")],
            DOCS / "grow_invert_mask.png",
        )
        strip(
            [("input image", out / "sample.png"),
             ("mask", out / "grow_invert_mask.png"),
             ("Mask to Blue Mask Image, #7878CD", out / "blue_mask.png")],
            DOCS / "blue_mask_convert.png",
        )


if __name__ == "__main__":
    main()
