"""Images to and from the bytes services exchange: PNG/JPEG uploads, base64, mask images back to MASK."""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import MaskForgeError
from ..ops import resize_mask, to_uint8

UPLOAD_FORMATS = ("png", "jpeg")  # png is lossless; jpeg is several times smaller for photos
MIME = {"png": "image/png", "jpeg": "image/jpeg"}
JPEG_QUALITY = 95
MIN_PIXEL_LIMIT = 4096 * 4096
_UNREADABLE = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)


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


def pixel_limit(height: int, width: int) -> int:
    """The most pixels a returned mask of an ``height`` x ``width`` input may have before it is decoded:
    four times the input (a service may answer at twice each side), and never less than ``MIN_PIXEL_LIMIT``."""
    return max(4 * height * width, MIN_PIXEL_LIMIT)


def decode_mask(node: str, data: bytes, height: int, width: int, source: str = "the service") -> torch.Tensor:
    """A mask image (white = 1) as an ``[H,W]`` mask at the input's size. Transparent pixels count as
    0, so a white-on-transparent mask reads the same as white-on-black. The image's size is read from
    its header and checked against ``pixel_limit`` before any pixel is decoded."""
    limit = pixel_limit(height, width)
    unreadable = MaskForgeError(node, f"{source} sent data that is not a readable image ({len(data)} bytes)")
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: the size is checked just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:  # more than twice PIL's limit: far over ours too
        raise MaskForgeError(node, f"{source} sent an image of more than {2 * Image.MAX_IMAGE_PIXELS} pixels for a "
                                   f"{width}x{height} input; refusing to decode it") from None
    except _UNREADABLE:
        raise unreadable from None
    with img:
        w, h = img.size
        if w * h > limit:
            raise MaskForgeError(node, f"{source} sent a {w}x{h} image for a {width}x{height} input, over the "
                                       f"{limit}-pixel limit; refusing to decode it")
        try:
            rgba = np.asarray(img.convert("RGBA"))
        except _UNREADABLE:
            raise unreadable from None
    # Channel by channel: float temporaries of one channel, not four.
    luma = _unit(rgba[..., 0]) * 0.299
    luma += _unit(rgba[..., 1]) * 0.587
    luma += _unit(rgba[..., 2]) * 0.114
    luma *= _unit(rgba[..., 3])
    return resize_mask(torch.from_numpy(luma), height, width)[0]


def _unit(channel: np.ndarray) -> np.ndarray:
    return channel.astype(np.float32) / np.float32(255.0)
