"""ModelsLab ``image_editing/removebg_mask`` (reference: modelslab-removebg-mask.md).

JSON with the key and the image (a base64 data URI) in the body. The reply is ``success`` with result
URLs, ``error`` with a message, or ``processing`` with a ``fetch_result`` URL polled until it settles.
"""

from __future__ import annotations

import torch

from ..errors import MaskForgeError
from .client import Client, flatten
from .images import data_uri, decode_mask, encode_image

ENDPOINT = "image_editing/removebg_mask"
MAX_POLL_INTERVAL = 15.0

# The node wants the mask image as a URL to download: only_mask makes the result the mask rather
# than the cut-out (the node cuts out locally), base64 would inline it in the JSON.
FORCED = {"only_mask": True, "base64": False}


def remove_bg_mask(client: Client, image: torch.Tensor, options: dict, fmt: str, max_wait_s: float) -> torch.Tensor:
    """One ``[H,W,3]`` image → the ``[H,W]`` subject mask (background removed), polling while processing:
    ``max_wait_s`` bounds the polling, the poll requests included."""
    height, width = image.shape[:2]
    s = client.settings
    body = {"key": client.key, "image": data_uri(encode_image(image, fmt), fmt), **options, **FORCED}
    reply = client.post_json(client.url(ENDPOINT), json=body)
    deadline = s.clock() + max_wait_s

    def late() -> MaskForgeError:
        return client.error(f"still processing after {max_wait_s:g} s (request id {_id(reply)}); "
                            "raise max_wait_s or try again later", "max_wait_s")

    while reply.get("status") == "processing":
        fetch = reply.get("fetch_result")
        if not isinstance(fetch, str) or not fetch:
            raise client.error(f"malformed reply: 'processing' without a fetch_result URL (id {_id(reply)})")
        remaining = deadline - s.clock()
        if remaining <= 0:
            raise late()
        eta = reply.get("eta")
        wait = float(eta) if isinstance(eta, (int, float)) and eta > 0 else s.poll_interval
        client.wait(min(max(wait, s.poll_interval), MAX_POLL_INTERVAL, remaining))
        # Asking for the result is not charged: a poll whose connection broke may be sent again.
        reply = client.post_json(fetch, json={"key": client.key}, idempotent=True, deadline=deadline, late=late())
    status = reply.get("status")
    if status == "error":
        message = client.excerpt(flatten(reply.get("message") or reply))
        raise client.error(f"the service answered with an error: {client.explain(message)}")
    if status != "success":
        raise client.error(f"malformed reply: status {client.excerpt(str(status), 100)!r}, expected success, "
                           "processing or error")
    link = _first_link(reply.get("output")) or _first_link(reply.get("proxy_links"))
    if link is None:
        raise client.error(f"malformed reply: 'success' without an output URL (id {_id(reply)})")
    return decode_mask(client.node, client.download(link, "mask image"), height, width, "ModelsLab")


def _first_link(value) -> str | None:
    """The first URL of ``output`` / ``proxy_links``: documented as a list, accepted as one string too."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        return next((link for link in value if isinstance(link, str) and link.strip()), None)
    return None


def _id(reply: dict) -> str:
    value = reply.get("id")
    return str(value)[:40] if isinstance(value, (str, int)) else "?"
