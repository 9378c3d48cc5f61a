"""Previews: masks tinted and boxes drawn with their captions on an image (PIL), for tuning thresholds by eye."""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .convert import to_uint8


def palette(count: int) -> list[tuple[int, int, int]]:
    """``count`` well-separated bright colours (golden-ratio hue steps), the same for the same index every time."""
    colours = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb((0.08 + i * 0.618034) % 1.0, 0.85, 1.0)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def annotate(
    image: torch.Tensor,
    masks: torch.Tensor,
    boxes: torch.Tensor,
    captions: list[str],
    colours: list[tuple[int, int, int]],
    tint: float = 0.4,
) -> torch.Tensor:
    """``image`` ``[H,W,3]`` with each mask of ``masks`` ``[N,H,W]`` tinted and each box outlined and captioned
    in its colour; returns ``[H,W,3]`` float in 0..1."""
    out = image[..., :3].float().cpu().clone()
    for mask, colour in zip(masks.cpu(), colours):
        alpha = (mask.float() * tint).unsqueeze(-1)
        out = out * (1 - alpha) + torch.tensor(colour, dtype=torch.float32) / 255.0 * alpha
    canvas = Image.fromarray(to_uint8(out))
    h, w = out.shape[:2]
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(min(h, w) / 300))
    font = default_font(max(10, round(min(h, w) / 40)))
    for box, caption, colour in zip(boxes.tolist(), captions, colours):
        x0, y0, x1, y1 = box
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=colour, width=line)
        if caption:
            left, top, right, bottom = draw.textbbox((0, 0), caption, font=font)
            tw, th = right - left + 4, bottom - top + 4
            ty = y0 - th if y0 - th >= 0 else y0  # above the box, or inside it at the top edge
            draw.rectangle((x0, ty, x0 + tw, ty + th), fill=colour)
            draw.text((x0 + 2 - left, ty + 2 - top), caption, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)


def default_font(size: int):
    """PIL's own font at ``size`` px where Pillow can scale it, else its one bitmap size."""
    try:
        return ImageFont.load_default(size=size)  # scalable since Pillow 10.1
    except TypeError:
        return ImageFont.load_default()
