"""The one HTTP client all remote nodes share: timeouts, bounded retries, error mapping, safe downloads.

Every text it raises or logs goes through ``keys.scrub``, so no API key reaches the error dialog,
the console or a log file.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import requests

from .. import comfy_adapter
from ..errors import MaskForgeError
from . import keys

log = logging.getLogger(__name__)

USER_AGENT = "MaskForge (ComfyUI custom nodes)"


@dataclass(frozen=True)
class Settings:
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # a hosted mask takes ~10 s; big images and queues take longer
    retries: int = 3  # after the first try, on 429, 5xx and failed connections only
    backoff: float = 2.0  # seconds before the first retry, doubled each time
    max_retry_wait: float = 60.0  # a longer Retry-After is not waited for: the error says how long to wait
    poll_interval: float = 2.0  # ModelsLab's "processing" replies
    max_download: int = 50 * 1024 * 1024
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


DEFAULT_SETTINGS = Settings()

# What each documented status means for the user; {key_env} and {url_env} name the service's variables.
STATUS_TEXT = {
    400: "the service rejected the request (400 Bad Request)",
    401: "the API key was refused (401 Unauthorized); check {key_env} or the key file",
    403: "the API key may not use this endpoint (403 Forbidden); check the account's plan and permissions",
    404: "endpoint not found (404 Not Found); check {url_env} if you set it",
    406: "not enough credits on the account (406 Insufficient Credits); top it up and queue again",
    429: "rate limited (429 Too Many Requests)",
    500: "the service had an internal error (500 Server Error)",
    502: "the service is temporarily unavailable (502 Bad Gateway)",
    503: "the service is temporarily unavailable (503 Service Unavailable)",
    504: "the service timed out (504 Gateway Timeout)",
}


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def service_message(resp: requests.Response) -> str:
    """The service's own explanation from an error body, flattened to one short line ("" if none)."""
    ctype = resp.headers.get("Content-Type", "")
    if "html" in ctype:
        return ""  # a proxy's error page says nothing the status does not
    try:
        body = resp.json()
    except ValueError:
        return " ".join(resp.text.split())[:300]
    return flatten(body)[:300]


def flatten(body) -> str:
    """A message from the shapes services use: a string, ``{"message"|"error"|"detail"|...: ...}``,
    ``{field: [messages]}``, lists of them."""
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, dict):
        for name in ("message", "error", "errors", "detail", "msg"):
            if body.get(name):
                return flatten(body[name])
        return "; ".join(f"{name}: {flatten(value)}" for name, value in body.items())  # per-field validation errors
    if isinstance(body, list):
        return "; ".join(flatten(item) for item in body if item)
    return str(body)


class Client:
    """One service, one node run: the key, the base URL and a connection pool.

    ``hints`` maps text found in a service message to advice appended to the error."""

    def __init__(self, node: str, service: keys.Service, settings: Settings | None = None,
                 hints: dict[str, str] | None = None, unauthorized_hint: str = ""):
        self.node = node
        self.service = service
        self.settings = settings if settings is not None else DEFAULT_SETTINGS
        self.hints = hints or {}
        self.unauthorized_hint = unauthorized_hint
        self.base = keys.base_url(node, service)
        self.key = keys.api_key(node, service)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def error(self, message: str, input_name: str | None = None) -> MaskForgeError:
        """A node error naming the service, with any key scrubbed out."""
        return MaskForgeError(self.node, keys.scrub(f"{self.service.name}: {message}", [self.key]), input_name)

    def explain(self, message: str) -> str:
        """The service's message with the matching hint, if any."""
        for text, hint in self.hints.items():
            if text.lower() in message.lower():
                return f"{message} — {hint}"
        return message

    def check_same_origin(self, url: str) -> None:
        """The key is only sent to the service's host (or a subdomain of it, or its parent domain), on the
        same scheme and port: a reply may not steer it elsewhere."""
        ours, theirs = _origin(self.base), _origin(url)
        same_site = theirs[1] == ours[1] or theirs[1].endswith("." + ours[1]) or ours[1].endswith("." + theirs[1])
        if not same_site or (theirs[0], theirs[2]) != (ours[0], ours[2]):
            raise self.error(f"the reply points to {theirs[0]}://{theirs[1]}:{theirs[2]}, not to {ours[1]}; "
                             "refusing to send the API key there")

    def post(self, url: str, **kwargs) -> requests.Response:
        """POST to the service (the key goes in a header or the body); redirects are not followed,
        since requests would carry a custom key header to whatever host a redirect names."""
        return self._send("POST", url, allow_redirects=False, **kwargs)

    def json_body(self, resp: requests.Response) -> dict:
        try:
            body = resp.json()
        except ValueError:
            raise self.error(f"malformed reply (not JSON): {' '.join(resp.text.split())[:200]!r}") from None
        if not isinstance(body, dict):
            raise self.error(f"malformed reply (a JSON object was expected): {json.dumps(body)[:200]}")
        return body

    def download(self, url: str, what: str = "result image") -> bytes:
        """A result file the service points to: http(s) only, an ``image/*`` content type, at most
        ``max_download`` bytes. No key is sent (result URLs are public storage links)."""
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise self.error(f"the {what} link is not an http(s) URL: {str(url)[:200]!r}")
        with self._send("GET", url, stream=True, allow_redirects=True, auth_free=True) as resp:
            return self.read_image(resp, f"the {what} at {url}")

    def read_image(self, resp: requests.Response, what: str) -> bytes:
        """The body of a streamed reply that must be an image, read up to ``max_download`` bytes."""
        limit = self.settings.max_download
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not ctype.startswith("image/"):
            text = "" if "html" in ctype else f": {self.explain(' '.join(resp.text.split())[:200])!r}"
            raise self.error(f"{what} is {ctype or 'of no stated type'}, not an image{text}")
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise self.error(f"{what} is {int(length)} bytes, over the {limit}-byte limit")
        data = bytearray()
        try:
            for chunk in resp.iter_content(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise self.error(f"{what} is over the {limit}-byte limit")
        except requests.RequestException as exc:
            raise self.error(f"{what} broke off ({type(exc).__name__})") from None
        return bytes(data)

    def _send(self, method: str, url: str, auth_free: bool = False, **kwargs) -> requests.Response:
        s = self.settings
        if not auth_free:
            self.check_same_origin(url)
        attempt = 0
        while True:
            comfy_adapter.throw_if_interrupted()
            last_try = attempt == s.retries
            try:
                resp = self.session.request(method, url, timeout=(s.connect_timeout, s.read_timeout), **kwargs)
            except requests.exceptions.ReadTimeout:
                # Not retried: the service may still be working (and charging) on the first request.
                raise self.error(f"no reply within {s.read_timeout:g} s from {_host(url)}; the service is busy "
                                 "or the image is large, try again later") from None
            except requests.exceptions.ConnectionError as exc:
                if last_try:
                    raise self.error(f"cannot reach {_host(url)} ({type(exc).__name__}) after {s.retries} "
                                     "retries; check the network, a proxy or the service's URL variable") from None
                self._wait(s.backoff * 2**attempt, f"cannot reach {_host(url)}")
                attempt += 1
                continue
            except requests.RequestException as exc:  # a malformed URL, too many redirects, a broken reply
                raise self.error(f"the request to {_host(url)} failed ({type(exc).__name__})") from None
            if resp.status_code < 300:
                return resp
            if _retryable(resp.status_code) and not last_try:
                wait = retry_after(resp.headers.get("Retry-After"))
                if wait is None or wait <= s.max_retry_wait:
                    resp.close()
                    self._wait(s.backoff * 2**attempt if wait is None else wait, f"HTTP {resp.status_code}")
                    attempt += 1
                    continue
            raise self._status_error(resp, attempt, url if auth_free else None)

    def _wait(self, seconds: float, why: str) -> None:
        seconds = min(seconds, self.settings.max_retry_wait)
        log.warning(keys.scrub(f"{self.node}: {self.service.name}: {why}; retrying in {seconds:g} s", [self.key]))
        self.settings.sleep(seconds)

    def _status_error(self, resp: requests.Response, attempts: int, download: str | None) -> MaskForgeError:
        """The error for a failed status; ``download`` is the URL of a result file (sent without the key)."""
        status = resp.status_code
        if 300 <= status < 400:
            return self.error(f"unexpected redirect (HTTP {status}) to {resp.headers.get('Location', '?')}; "
                              f"check {self.service.url_env} if you set it")
        if download:
            text = f"the result file {download} could not be fetched (HTTP {status} {resp.reason or ''})".strip()
        else:
            text = STATUS_TEXT.get(status, f"HTTP {status} {resp.reason or ''}".strip())
            text = text.format(key_env=self.service.key_env, url_env=self.service.url_env)
        if status in (401, 403) and self.unauthorized_hint and not download:
            text += f"; {self.unauthorized_hint}"
        if _retryable(status):
            wait = retry_after(resp.headers.get("Retry-After"))
            if wait is not None and wait > self.settings.max_retry_wait:
                text += f"; the service asks to wait {wait:.0f} s before trying again"
            elif attempts:
                text += f" after {attempts} retries; try again later"
        message = service_message(resp)
        resp.close()
        return self.error(f"{text}: {self.explain(message)}" if message else text)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
