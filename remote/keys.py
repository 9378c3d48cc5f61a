"""API keys and per-install settings: an environment variable, else the key file in ComfyUI's user folder.

Keys never come from a widget (widget values are saved into workflow JSON that people share) and
never reach a message or a log: ``scrub`` removes them from every text the client emits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .. import comfy_adapter
from ..errors import MaskForgeError

# In ComfyUI's user folder itself, not in user/default: ComfyUI's /userdata API serves files under
# user/<user>/, so a key there could be read by anyone who can reach the ComfyUI server.
KEY_FILE = "maskforge_keys.json"


@dataclass(frozen=True)
class Service:
    name: str  # as users know it, in messages
    key_env: str
    key_field: str  # entry in the key file
    url_env: str
    default_url: str


HOMEDESIGNS = Service("HomeDesigns", "MASKFORGE_HOMEDESIGNS_KEY", "homedesigns",
                      "MASKFORGE_HOMEDESIGNS_URL", "https://homedesigns.ai/api/v2")
SEGMIND = Service("Segmind", "MASKFORGE_SEGMIND_KEY", "segmind",
                  "MASKFORGE_SEGMIND_URL", "https://api.segmind.com/v1")
MODELSLAB = Service("ModelsLab", "MASKFORGE_MODELSLAB_KEY", "modelslab",
                    "MASKFORGE_MODELSLAB_URL", "https://modelslab.com/api/v6")


def key_file() -> Path:
    return comfy_adapter.user_dir() / KEY_FILE


def _from_file(node: str, field: str) -> str | None:
    path = key_file()
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        # The position, not the text: the text around a JSON error may be a key.
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise MaskForgeError(node, f"cannot read the key file {path}{where}; it must be a JSON object "
                                   'like {"segmind": "<key>"}') from None
    if not isinstance(entries, dict):
        raise MaskForgeError(node, f'the key file {path} must hold a JSON object like {{"segmind": "<key>"}}')
    value = entries.get(field)
    if value is not None and not isinstance(value, str):
        raise MaskForgeError(node, f"the key file {path}: '{field}' must be a string")
    return value.strip() if value else None


def setting(node: str, env: str, field: str) -> str | None:
    """The environment variable ``env`` if set, else entry ``field`` of the key file, else None."""
    value = os.environ.get(env, "").strip()
    return value or _from_file(node, field)


def api_key(node: str, service: Service) -> str:
    key = setting(node, service.key_env, service.key_field)
    if not key:
        raise MaskForgeError(
            node,
            f"no {service.name} API key: set the environment variable {service.key_env} before starting "
            f'ComfyUI, or add "{service.key_field}": "<your key>" to {key_file()}',
        )
    return key


def base_url(node: str, service: Service) -> str:
    """The service's base URL, ``$<url_env>`` overriding the documented one; only http(s)."""
    url = os.environ.get(service.url_env, "").strip() or service.default_url
    if not url.lower().startswith(("http://", "https://")):
        raise MaskForgeError(node, f"{service.url_env} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def base_url_is_set(service: Service) -> bool:
    """Whether the user set ``$<url_env>``: its host (a gateway, a test server) may then be a private address."""
    return bool(os.environ.get(service.url_env, "").strip())


def scrub(text: str, secrets) -> str:
    """``text`` with every secret (and its URL-encoded form) replaced by ``***``."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text
