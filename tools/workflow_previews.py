"""Makes each example workflow's thumbnail: ``example_workflows/<name>.jpg`` (the name ComfyUI's
template browser asks for: it requests ``<workflow>.jpg`` for custom-node templates).

A workflow whose nodes all run without model weights is run for real on the demo's sample scene
(tools/demo.py), the sample's hand-made mask standing in for the one a user paints in Load
Image, and its thumbnail shows the input and what the workflow saved. A workflow that needs
model weights cannot be run here (no model hub), and random weights would show nothing true, so
its thumbnail is a drawing of the graph beside the demo input, labelled as such.

Run from the repo root after tools.example_workflows: ``.venv/bin/python -m tools.workflow_previews``
"""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from tools.demo import sample_scene
from tools.example_workflows import FOLDER, WORKFLOWS
from tools.pack import load_pack
from tools.workflow_schema import ACTIVE, OLDEST, signatures, widget_values

SIZE = (960, 540)
BG, INK, DIM = (32, 34, 40), (235, 235, 235), (150, 154, 165)
# Our nodes that run without weights or a network; the others make the workflow a graph drawing.
MODEL_FREE = {"MaskForgeGrowInvertMask", "MaskForgeMaskToBlueMask", "MaskForgeBlueMaskToMask"}


class NotRunnable(Exception):
    """The workflow holds a node this script cannot run (it needs model weights)."""


# Core nodes run here, as ComfyUI runs them, for the model-free workflows.
def _load_image(image, mask):
    return lambda **_: (image, mask)


def _mask_to_image(mask):
    return (mask.reshape(-1, 1, *mask.shape[-2:]).movedim(1, -1).expand(-1, -1, -1, 3),)


def run_workflow(workflow: dict, image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """Runs the active nodes in order; returns the images its Save/Preview Image nodes get."""
    pack = load_pack()
    sigs = signatures(OLDEST)  # only workflows of ComfyUI 0.3.64's nodes run here
    core = {"LoadImage": _load_image(image, mask), "MaskToImage": _mask_to_image}
    links = {link[0]: link for link in workflow["links"]}
    results, saved = {}, []
    for node in sorted(workflow["nodes"], key=lambda n: n["order"]):
        sig = sigs.get(node["type"])
        if sig is None:
            raise NotRunnable(node["type"])  # a core node of a later ComfyUI
        if sig.frontend_only or node.get("mode", ACTIVE) != ACTIVE:
            continue
        kwargs = widget_values(node, sig)
        for slot in node["inputs"]:
            if slot.get("link") is not None:
                _, origin, origin_slot, *_ = links[slot["link"]]
                kwargs[slot["name"]] = results[origin][origin_slot]
        if node["type"] in ("SaveImage", "PreviewImage"):
            saved.append(kwargs["images"])
        elif node["type"] in MODEL_FREE:
            cls = pack.NODE_CLASS_MAPPINGS[node["type"]]
            results[node["id"]] = getattr(cls(), cls.FUNCTION)(**kwargs)
        elif node["type"] in core:
            results[node["id"]] = core[node["type"]](**kwargs)
        else:
            raise NotRunnable(node["type"])
    return saved


def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def _tile(tensor: torch.Tensor, box: tuple[int, int]) -> Image.Image:
    array = (tensor[0].clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    picture = Image.fromarray(array).convert("RGB")
    picture.thumbnail(box)
    return picture


def _with_mask(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image with the painted mask tinted red, as the mask editor shows it."""
    tint = torch.tensor([0.9, 0.2, 0.2])
    return image * (1 - 0.55 * mask[..., None]) + tint * 0.55 * mask[..., None]


def result_card(title: str, image, mask, saved: list[torch.Tensor]) -> Image.Image:
    card = Image.new("RGB", SIZE, BG)
    draw = ImageDraw.Draw(card)
    draw.text((24, 18), title, font=_font(28), fill=INK)
    tiles = [("input + painted mask", _with_mask(image, mask[0])), *(("saved result", s) for s in saved)]
    width = (SIZE[0] - 24 * (len(tiles) + 1)) // len(tiles)
    for i, (caption, tensor) in enumerate(tiles):
        x = 24 + i * (width + 24)
        card.paste(_tile(tensor, (width, 400)), (x, 100))
        draw.text((x, 72), caption, font=_font(18), fill=DIM)
    draw.text((24, SIZE[1] - 34), "A real run of this workflow on the demo image (tools/demo.py).",
              font=_font(16), fill=DIM)
    return card


def graph_card(title: str, workflow: dict, image, version: str) -> Image.Image:
    card = Image.new("RGB", SIZE, BG)
    draw = ImageDraw.Draw(card)
    draw.text((24, 18), title, font=_font(28), fill=INK)
    card.paste(_tile(image, (250, 170)), (24, 90))
    draw.text((24, 66), "demo input", font=_font(16), fill=DIM)
    _draw_graph(draw, workflow, (300, 70, SIZE[0] - 24, SIZE[1] - 70), signatures(version))
    for y, line in ((SIZE[1] - 56, "Graph of this workflow; no mask shown. Its nodes need model weights, which were not"),
                    (SIZE[1] - 34, "run for this picture. Run it with the real weights to see the mask.")):
        draw.text((24, y), line, font=_font(16), fill=DIM)
    return card


def _draw_graph(draw: ImageDraw.ImageDraw, workflow: dict, area: tuple[int, int, int, int], sigs: dict) -> None:
    nodes = [n for n in workflow["nodes"] if not sigs[n["type"]].frontend_only]
    left = min(n["pos"][0] for n in nodes)
    top = min(n["pos"][1] for n in nodes)
    right = max(n["pos"][0] + n["size"][0] for n in nodes)
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes)
    scale = min((area[2] - area[0]) / (right - left), (area[3] - area[1]) / (bottom - top))

    def box(node):
        x0 = area[0] + (node["pos"][0] - left) * scale
        y0 = area[1] + (node["pos"][1] - top) * scale
        return x0, y0, x0 + node["size"][0] * scale, y0 + max(24, min(40, node["size"][1] * scale))

    boxes = {n["id"]: box(n) for n in nodes}
    for _, origin, _, target, _, kind in workflow["links"]:
        if origin in boxes and target in boxes:
            a, b = boxes[origin], boxes[target]
            colour = {"MASK": (120, 200, 120), "IMAGE": (100, 160, 230)}.get(kind, (170, 170, 170))
            draw.line([(a[2], (a[1] + a[3]) / 2), (b[0], (b[1] + b[3]) / 2)], fill=colour, width=2)
    for node in nodes:
        x0, y0, x1, y1 = boxes[node["id"]]
        muted = node.get("mode", ACTIVE) != ACTIVE
        fill = (70, 60, 90) if sigs[node["type"]].ours else (60, 64, 72)
        draw.rounded_rectangle([x0, y0, x1, y1], radius=6, fill=fill, outline=(120, 120, 130))
        name = node.get("title") or sigs[node["type"]].display_name
        while len(name) > 3 and draw.textlength(name, font=_font(14)) > x1 - x0 - 10:
            name = name[:-2] + "…"
        draw.text((x0 + 6, y0 + 4), name, font=_font(14), fill=DIM if muted else INK)
        if muted:
            draw.text((x0 + 6, y0 + 21), "muted", font=_font(12), fill=DIM)


def main() -> None:
    image, mask = sample_scene()
    for path in sorted(FOLDER.glob("*.json")):
        workflow = json.loads(path.read_text(encoding="utf-8"))
        spec = WORKFLOWS[path.stem]
        title = spec.build.__doc__
        try:
            card = result_card(title, image, mask, run_workflow(workflow, image, mask))
            how = "real run"
        except NotRunnable as node:
            card = graph_card(title, workflow, image, spec.core)
            how = f"graph drawing ({node} needs weights)"
        target = path.with_suffix(".jpg")
        card.save(target, quality=88)
        print(f"wrote {target.name}: {how}")


if __name__ == "__main__":
    main()
