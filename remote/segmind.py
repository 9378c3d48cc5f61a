"""Segmind ``automatic-mask-generator`` and ``inpaint-mask-maker`` (reference: the two segmind-*.md).

JSON with the image as base64 and the key in ``x-api-key``; the reply body is the mask image itself.
"""

from __future__ import annotations

import torch

from .client import Client
from .images import decode_mask, encode_image, to_base64

AUTOMATIC = "automatic-mask-generator"
MASK_MAKER = "inpaint-mask-maker"

# Sent on every request whatever the widgets say: the node wants the mask itself, as image bytes.
FORCED = {
    AUTOMATIC: {
        "return_mask": True,
        "return_alpha": False,  # an alpha cut-out instead of the mask
        "stop_on_empty_mask": False,  # an empty mask is a result (the pack never fails on one), not an error
        "base64": False,
    },
    MASK_MAKER: {"return_mask": True, "base64": False},
}


def request_mask(client: Client, endpoint: str, image: torch.Tensor, fields: dict, fmt: str) -> torch.Tensor:
    """One ``[H,W,3]`` image and the endpoint's mask-shaping ``fields`` → its ``[H,W]`` mask."""
    height, width = image.shape[:2]
    body = {"image": to_base64(encode_image(image, fmt)), **fields, **FORCED[endpoint]}
    data = client.post_image(client.url(endpoint), "the reply (expected the mask image)",
                             headers={"x-api-key": client.key}, json=body)
    return decode_mask(client.node, data, height, width, "Segmind")
