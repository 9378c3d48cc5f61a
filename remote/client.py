"""The one HTTP client all remote nodes share: deadlines, bounded retries, error mapping, safe downloads.

Every text it raises or logs goes through ``keys.scrub`` (before any truncation), so no API key reaches
the error dialog, the console or a log file. The transport rules (one deadline per request, Cancel
within a second, capped bodies, public addresses only) are in ``transport``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests

from .. import comfy_adapter
from ..errors import MaskForgeError
from . import keys, transport
from .transport import Reply

log = logging.getLogger(__name__)

USER_AGENT = "MaskForge (ComfyUI custom nodes)"
MAX_REDIRECTS = 5  # hops a result link may take
FLATTEN_DEPTH = 8  # levels of a service's error object read for its message


@dataclass(frozen=True)
class Settings:
    connect_timeout: float = 10.0
    deadline: float = 180.0  # one request, its upload and its whole reply; a hosted mask takes ~10 s
    retries: int = 3  # after the first try, on 429, 5xx and connections that failed before the request went out
    backoff: float = 2.0  # seconds before the first retry, doubled each time
    max_retry_wait: float = 60.0  # a longer Retry-After is not waited for: the error says how long to wait
    poll_interval: float = 2.0  # ModelsLab's "processing" replies
    max_download: int = 50 * 1024 * 1024  # an image
    max_json: int = 1024 * 1024  # a JSON reply (links and status, never image data: the nodes ask for links)
    max_error: int = 64 * 1024  # the start of an error body, read for the service's message
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


def flatten(body, depth: int = 0) -> str:
    """A message from the shapes services use: a string, ``{"message"|"error"|"detail"|...: ...}``,
    ``{field: [messages]}``, lists of them; levels below ``FLATTEN_DEPTH`` read as "…"."""
    if depth > FLATTEN_DEPTH:
        return "…"
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, dict):
        for name in ("message", "error", "errors", "detail", "msg"):
            if body.get(name):
                return flatten(body[name], depth + 1)
        return "; ".join(f"{name}: {flatten(value, depth + 1)}" for name, value in body.items())  # per-field errors
    if isinstance(body, list):
        return "; ".join(flatten(item, depth + 1) for item in body if item)
    return str(body)


def parse_json(data: bytes):
    """``data`` as JSON; ValueError (with a reason a user can read) if it is not."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError:
        raise ValueError("not JSON") from None


def _host(url: str) -> str:
    """``host[:port]`` of a URL, without any user name or password it carries."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return host


def _shown(url: str) -> str:
    """A URL for messages: no user name or password, no query (a signed link's token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{_host(url)}{parts.path}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = None
    return scheme, (parts.hostname or "").lower(), port


class Client:
    """One service, one node run: the key, the base URL and a session.

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
        # A base URL the user set may point at a private host (a gateway, a local stand-in): that one
        # host may then have any address. The documented hosts must resolve to public addresses.
        self.trusted_host = _origin(self.base)[1] if keys.base_url_is_set(service) else None
        self.session = transport.session(USER_AGENT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def error(self, message: str, input_name: str | None = None) -> MaskForgeError:
        """A node error naming the service, with any key scrubbed out."""
        return MaskForgeError(self.node, keys.scrub(f"{self.service.name}: {message}", [self.key]), input_name)

    def excerpt(self, text: str, limit: int = 300) -> str:
        """``text`` on one line, the key scrubbed out first and then cut to ``limit`` characters."""
        return keys.scrub(" ".join(text.split()), [self.key])[:limit]

    def explain(self, message: str) -> str:
        """The service's message with the matching hint, if any."""
        for text, hint in self.hints.items():
            if text.lower() in message.lower():
                return f"{message} — {hint}"
        return message

    def check_same_origin(self, url: str) -> None:
        """The key is only sent to the service's own scheme, host and port: a reply may not steer it elsewhere."""
        theirs = _origin(url)
        if theirs != _origin(self.base):
            raise self.error(f"the reply points to {theirs[0]}://{_host(url)}, not to {_host(self.base)}; "
                             "refusing to send the API key there")

    # Requests

    def post_json(self, url: str, *, idempotent: bool = False, deadline: float | None = None,
                  late: MaskForgeError | None = None, **kwargs) -> dict:
        """POST to the service (the key goes in a header or the body) and read the JSON object it answers.
        ``deadline`` (on ``settings.clock``) ends the request early with ``late``."""
        reply = self._call("POST", url, "json", idempotent, deadline, late, **kwargs)
        try:
            body = parse_json(reply.body)
        except ValueError as exc:
            text = self._body_text(reply)
            raise self.error(f"malformed reply ({exc})" + (f": {text!r}" if text else "")) from None
        if not isinstance(body, dict):
            raise self.error(f"malformed reply (a JSON object was expected, got a JSON {type(body).__name__})")
        return body

    def post_image(self, url: str, what: str, **kwargs) -> bytes:
        """POST to the service and read the image it answers with."""
        reply = self._call("POST", url, "image", False, None, None, **kwargs)
        return self._image_body(reply, what, quote=True)

    def download(self, url: str, what: str = "result image") -> bytes:
        """A result file the service points to, sent without the key (result links are public storage):
        https to a public address at every hop (or the service's own host when the user set its URL),
        an ``image/*`` type, at most ``max_download`` bytes, one deadline for all hops."""
        s = self.settings
        deadline = s.clock() + s.deadline
        for _ in range(MAX_REDIRECTS + 1):
            self._check_link(url, what)
            reply = self._call("GET", url, "image", True, deadline, None, auth_free=True)
            if not 300 <= reply.status < 400:
                return self._image_body(reply, f"the {what} at {_shown(url)}", quote=False)
            location = reply.headers.get("Location")
            if not location:
                raise self.error(f"the {what} at {_shown(url)} redirects (HTTP {reply.status}) without a Location")
            url = urljoin(url, location)
        raise self.error(f"the {what} link redirects more than {MAX_REDIRECTS} times")

    def _check_link(self, url, what: str) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https"):
            raise self.error(f"the {what} link is not an http(s) URL: {self.excerpt(str(url), 200)!r}")
        scheme, host, _ = _origin(url)
        if not host:
            raise self.error(f"the {what} link names no host: {self.excerpt(url, 200)!r}")
        if scheme != "https" and host != self.trusted_host:
            raise self.error(f"the {what} link {_shown(url)} is not https; refusing to fetch it")

    def _image_body(self, reply: Reply, what: str, quote: bool) -> bytes:
        """The reply's body, which must be an image; ``quote`` adds the text of a non-image body from the
        service's API (never from a fetched page)."""
        if reply.content_type.startswith("image/"):
            return reply.body
        text = self._body_text(reply) if quote else ""
        text = f": {self.explain(text)!r}" if text else ""
        raise self.error(f"{what} is {reply.content_type or 'of no stated type'}, not an image{text}")

    def _body_text(self, reply: Reply) -> str:
        """The start of a body from the service's API, for a message ("" for an HTML page)."""
        return "" if "html" in reply.content_type else self.excerpt(reply.body.decode("utf-8", "replace"), 200)

    def _call(self, method: str, url: str, kind: str, idempotent: bool, deadline: float | None,
              late: MaskForgeError | None, auth_free: bool = False, **kwargs) -> Reply:
        """One request with retries: on 429/5xx, and on connections that failed before the request went
        out (a charged request whose connection broke after sending is reported, not sent again)."""
        s = self.settings
        if not auth_free:
            self.check_same_origin(url)
        host = _host(url)
        attempt = 0
        while True:
            comfy_adapter.throw_if_interrupted()
            last_try = attempt == s.retries
            start = s.clock()
            own = start + s.deadline
            stop = own if deadline is None else min(own, deadline)
            exchange = transport.Exchange(self.trusted_host)
            try:
                if stop <= start:  # nothing is sent once the deadline has passed
                    raise transport.Late()
                reply = transport.run(exchange, lambda: self._fetch(method, url, kind, last_try, auth_free, **kwargs),
                                      stop, s.clock, comfy_adapter.throw_if_interrupted)
            except (transport.Late, requests.exceptions.ReadTimeout):
                if late is not None and deadline is not None and deadline <= own:
                    raise late from None
                raise self.error(f"no complete reply from {host} within {stop - start:.3g} s; the service is busy "
                                 "or the image is large, try again later") from None
            except transport.Refused as exc:
                raise self.error(f"refusing to connect: {exc}") from None
            except transport.TooLarge as exc:
                size = f"{exc.length} bytes, " if exc.length else ""
                raise self.error(f"the reply from {host} is {size}over the {exc.limit}-byte limit") from None
            except requests.exceptions.ConnectionError as exc:
                if exchange.sent is not False and not idempotent:
                    raise self.error(f"the connection to {host} broke after the request was sent "
                                     f"({type(exc).__name__}); the service may have received it; check your "
                                     "account before retrying") from None
                if last_try:
                    raise self.error(f"cannot reach {host} ({type(exc).__name__}) after {s.retries} retries; "
                                     "check the network, a proxy or the service's URL variable") from None
                self._pause(s.backoff * 2**attempt, f"cannot reach {host}")
                attempt += 1
                continue
            except requests.RequestException as exc:  # a malformed URL, a reply that broke off
                raise self.error(f"the request to {host} failed ({type(exc).__name__})") from None
            if reply.status < 300 or (auth_free and reply.status < 400):
                return reply
            if self._will_retry(reply.status, reply.headers, last_try):
                self._pause(self._retry_wait(reply.headers, attempt), f"HTTP {reply.status}")
                attempt += 1
                continue
            raise self._status_error(reply, attempt, url if auth_free else None)

    def _fetch(self, method: str, url: str, kind: str, last_try: bool, auth_free: bool, **kwargs) -> Reply:
        """Runs on the exchange's worker: the request and as much of the body as the rules allow."""
        s = self.settings
        resp = self.session.request(method, url, stream=True, allow_redirects=False,
                                    timeout=(s.connect_timeout, s.deadline), **kwargs)
        with resp:
            status = resp.status_code
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if status >= 300:  # an error body is read only for its message, and not at all before a retry
                keep = not auth_free and not self._will_retry(status, resp.headers, last_try)
                body = transport.read_capped(resp, s.max_error, strict=False) if keep else b""
            elif kind == "image" and not ctype.startswith("image/"):
                body = b"" if auth_free else transport.read_capped(resp, s.max_error, strict=False)
            else:
                body = transport.read_capped(resp, s.max_download if kind == "image" else s.max_json)
            return Reply(status, resp.reason or "", resp.headers, body, url)

    def _will_retry(self, status: int, headers, last_try: bool) -> bool:
        if not _retryable(status) or last_try:
            return False
        wait = retry_after(headers.get("Retry-After"))
        return wait is None or wait <= self.settings.max_retry_wait

    def _retry_wait(self, headers, attempt: int) -> float:
        wait = retry_after(headers.get("Retry-After"))
        return self.settings.backoff * 2**attempt if wait is None else wait

    def _pause(self, seconds: float, why: str) -> None:
        """Waits before a retry in steps of at most a second, checking Cancel between them."""
        seconds = min(seconds, self.settings.max_retry_wait)
        log.warning(keys.scrub(f"{self.node}: {self.service.name}: {why}; retrying in {seconds:g} s", [self.key]))
        self.wait(seconds)

    def wait(self, seconds: float) -> None:
        """Sleeps ``seconds`` in steps of at most a second, checking ComfyUI's Cancel before each."""
        left = seconds
        while left > 0:
            comfy_adapter.throw_if_interrupted()
            step = min(transport.WAIT_SLICE, left)
            self.settings.sleep(step)
            left -= step
        comfy_adapter.throw_if_interrupted()

    def _status_error(self, reply: Reply, attempts: int, download: str | None) -> MaskForgeError:
        """The error for a failed status; ``download`` is the URL of a result file (sent without the key,
        and whose body is never quoted)."""
        status = reply.status
        if 300 <= status < 400:
            return self.error(f"unexpected redirect (HTTP {status}) from {_host(reply.url)} to "
                              f"{_shown(urljoin(reply.url, reply.headers.get('Location', '')))}; "
                              f"check {self.service.url_env} if you set it")
        plain = f"HTTP {status} {reply.reason}".strip()
        if download:
            return self.error(f"the result file {_shown(download)} could not be fetched ({plain})")
        text = STATUS_TEXT.get(status, plain)
        text = text.format(key_env=self.service.key_env, url_env=self.service.url_env)
        if status in (401, 403) and self.unauthorized_hint:
            text += f"; {self.unauthorized_hint}"
        if _retryable(status):
            wait = retry_after(reply.headers.get("Retry-After"))
            if wait is not None and wait > self.settings.max_retry_wait:
                text += f"; the service asks to wait {wait:.0f} s before trying again"
            elif attempts:
                text += f" after {attempts} retries; try again later"
        message = self.service_message(reply)
        return self.error(f"{text}: {self.explain(message)}" if message else text)

    def service_message(self, reply: Reply) -> str:
        """The service's own explanation from an error body, on one short line ("" if none)."""
        if "html" in reply.content_type:
            return ""  # a proxy's error page says nothing the status does not
        text = reply.body.decode("utf-8", "replace")
        try:
            text = flatten(parse_json(reply.body))
        except ValueError:
            pass
        return self.excerpt(text)
