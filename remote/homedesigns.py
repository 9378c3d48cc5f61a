"""HomeDesigns ``POST /create_maskimage`` (reference: homedesigns-create-maskimage.md).

Form-data with the image file and ``labels`` joined by ``|``; the reply names a ``masked_image`` URL
(black and white) that is downloaded and read as the mask.
"""

from __future__ import annotations

import re

import torch

from ..errors import MaskForgeError
from ..labels import parse_labels
from . import keys
from .client import Client, flatten
from .images import MIME, UPLOAD_FORMATS, decode_mask, encode_image

ENDPOINT = "create_maskimage"
MIN_SIDE = 512
# The documented messages, so a local check reads as the service's would.
SIZE_ERROR = "Invalid image size. The image width and height must be 512x512 or greater than 512x512 pixels."
FORMAT_ERROR = "Invalid image format. Only PNG, JPEG and JPG images are allowed."

# The document does not say how the key is sent. "<Header>: <prefix>" (the key follows the prefix),
# or "<Header>" alone for the bare key.
AUTH_HEADER_ENV = "MASKFORGE_HOMEDESIGNS_AUTH_HEADER"
AUTH_HEADER_FIELD = "homedesigns_auth_header"
DEFAULT_AUTH_HEADER = "Authorization: Bearer"

# The document's object list writes "bed " with a trailing space: it is the ADE20K id2label
# spelling, which a server matching labels exactly would need. A server that strips or normalises
# labels accepts it as well, so the documented spelling is what is sent.
SERVICE_SPELLING = {"bed": "bed "}

HINTS = {
    "Please enter valid labels": "none of the labels was found in this image; choose objects it shows",
    "Invalid image size": "the image must be at least 512x512; upscale it first",
    "Invalid image format": "upload_format must be png or jpeg",
}


def labels_field(node: str, text: str) -> str:
    """The user's labels, checked against the vocabulary (with "did you mean"), as the service spells
    them. Labels ending in a space go first, since a server that trims the whole field would eat the
    space of the last one."""
    names = [SERVICE_SPELLING.get(name, name) for name in parse_labels(node, text)]
    names.sort(key=lambda name: not name.endswith(" "))
    return "|".join(names)


def check_size(node: str, height: int, width: int) -> None:
    if height < MIN_SIDE or width < MIN_SIDE:
        raise MaskForgeError(node, f"{SIZE_ERROR} (got {width}x{height}; upscale it first)", "image")


def check_format(node: str, fmt: str) -> None:
    """The upload formats the pack makes (png, jpeg) are both among the documented ones."""
    if fmt not in UPLOAD_FORMATS:
        raise MaskForgeError(node, FORMAT_ERROR, "upload_format")


def auth_header(node: str, key: str) -> dict[str, str]:
    """The header carrying the key, as set by ``$MASKFORGE_HOMEDESIGNS_AUTH_HEADER`` or the key file."""
    spec = keys.setting(node, AUTH_HEADER_ENV, AUTH_HEADER_FIELD) or DEFAULT_AUTH_HEADER
    name, _, prefix = spec.partition(":")
    name, prefix = name.strip(), prefix.strip()
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
        raise MaskForgeError(node, f"{AUTH_HEADER_ENV} must look like 'Authorization: Bearer' or 'x-api-key', "
                                   f"got {spec!r}")
    return {name: f"{prefix} {key}" if prefix else key}


def create_mask(client: Client, image: torch.Tensor, labels: str, fmt: str) -> torch.Tensor:
    """One ``[H,W,3]`` image → its ``[H,W]`` mask for the ``|``-joined ``labels``."""
    height, width = image.shape[:2]
    body = client.post_json(
        client.url(ENDPOINT),
        headers=auth_header(client.node, client.key),
        data={"labels": labels},
        files={"image": (f"image.{fmt}", encode_image(image, fmt), MIME[fmt])},
    )
    success = body.get("success")
    url = success.get("masked_image") if isinstance(success, dict) else None
    if not url:
        # The document shows only the success shape; an error in a 200 reply still carries a message.
        found = {k: v for k, v in body.items() if k != "success"} or body
        raise client.error(f"no masked_image in the reply: {client.explain(client.excerpt(flatten(found)))}")
    return decode_mask(client.node, client.download(url, "masked_image"), height, width, "HomeDesigns' masked_image")
