"""ModelsLab ``image_editing/removebg_mask`` (reference: modelslab-removebg-mask.md).

JSON with the key and the image (a base64 data URI) in the body. The reply is ``success`` with result
URLs, ``error`` with a message, or ``processing`` with a ``fetch_result`` URL polled until it settles.
"""

from __future__ import annotations

import torch

from .. import comfy_adapter
from .client import Client, flatten
from .images import data_uri, decode_mask, encode_image

ENDPOINT = "image_editing/removebg_mask"
MAX_POLL_INTERVAL = 15.0

# The node wants the mask image as a URL to download: only_mask makes the result the mask rather
# than the cut-out (the node cuts out locally), base64 would inline it in the JSON.
FORCED = {"only_mask": True, "base64": False}


def remove_bg_mask(client: Client, image: torch.Tensor, options: dict, fmt: str, max_wait_s: float) -> torch.Tensor:
    """One ``[H,W,3]`` image → the ``[H,W]`` subject mask (background removed), polling while processing."""
    height, width = image.shape[:2]
    s = client.settings
    body = {"key": client.key, "image": data_uri(encode_image(image, fmt), fmt), **options, **FORCED}
    reply = client.json_body(client.post(client.url(ENDPOINT), json=body))
    deadline = s.clock() + max_wait_s
    while reply.get("status") == "processing":
        fetch = reply.get("fetch_result")
        if not isinstance(fetch, str) or not fetch:
            raise client.error(f"malformed reply: 'processing' without a fetch_result URL (id {reply.get('id')})")
        remaining = deadline - s.clock()
        if remaining <= 0:
            raise client.error(f"still processing after {max_wait_s:g} s (request id {reply.get('id')}); "
                               "raise max_wait_s or try again later", "max_wait_s")
        eta = reply.get("eta")
        wait = float(eta) if isinstance(eta, (int, float)) and eta > 0 else s.poll_interval
        s.sleep(min(max(wait, s.poll_interval), MAX_POLL_INTERVAL, remaining))
        comfy_adapter.throw_if_interrupted()
        reply = client.json_body(client.post(fetch, json={"key": client.key}))
    status = reply.get("status")
    if status == "error":
        message = flatten(reply.get("message") or reply)[:300]
        raise client.error(f"the service answered with an error: {client.explain(message)}")
    if status != "success":
        raise client.error(f"malformed reply: status {status!r}, expected success, processing or error")
    links = [link for link in (reply.get("output") or reply.get("proxy_links") or []) if isinstance(link, str)]
    if not links:
        raise client.error(f"malformed reply: 'success' without an output URL (id {reply.get('id')})")
    return decode_mask(client.node, client.download(links[0], "mask image"), height, width, "ModelsLab")

