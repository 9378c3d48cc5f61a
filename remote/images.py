"""Images to and from the bytes services exchange: PNG/JPEG uploads, base64, mask images back to MASK."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import MaskForgeError
from ..ops import resize_mask, to_uint8

UPLOAD_FORMATS = ("png", "jpeg")  # png is lossless; jpeg is several times smaller for photos
MIME = {"png": "image/png", "jpeg": "image/jpeg"}
JPEG_QUALITY = 95


def encode_image(image: torch.Tensor, fmt: str = "png") -> bytes:
    """One ``[H,W,3]`` IMAGE (0..1) as PNG or JPEG bytes."""
    pixels = to_uint8(image)
    out = io.BytesIO()
    if fmt == "png":
        Image.fromarray(pixels, "RGB").save(out, "PNG", compress_level=4)  # 4: near-smallest, much faster than 9
    else:
        Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes, fmt: str) -> str:
    return f"data:{MIME[fmt]};base64,{to_base64(data)}"


def decode_mask(node: str, data: bytes, height: int, width: int, source: str = "the service") -> torch.Tensor:
    """A mask image (white = 1) as an ``[H,W]`` mask at the input's size. Transparent pixels count as
    0, so a white-on-transparent mask reads the same as white-on-black."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise MaskForgeError(node, f"{source} sent data that is not a readable image ({len(data)} bytes)") from None
    luma = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
    mask = torch.from_numpy(luma * rgba[..., 3])
    return resize_mask(mask, height, width)[0]
