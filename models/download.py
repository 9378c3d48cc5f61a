"""One file from a URL onto disk, as a hostile network cannot spoil it.

- Proxies: urllib's own handling of ``HTTP(S)_PROXY`` / ``NO_PROXY`` (and the system settings on
  macOS and Windows), as other tools do; nothing opens a direct connection first.
- Deadlines: a connection must open (name lookup and TCP) within CONNECT_TIMEOUT, and a download
  that receives nothing for STALL_TIMEOUT is abandoned, so a stall fails within 30 s in all.
  The transfer runs in a worker thread; the caller checks ComfyUI's Cancel every POLL seconds
  and, on Cancel or a deadline, shuts the connection down.
- Redirects: followed only to ``https:`` addresses (or within the plain-HTTP server the URL names),
  and the ``Authorization`` header goes only to the URL's own scheme, host and port.
- Nothing broken is kept: the length the server announced, the checksum and the file's format
  (``files.check_file``) are checked before the temporary file is renamed into place.
- One process downloads a given file; others wait for its lock and use its file. Temporary files a
  killed process left are removed by the next download of that file, and a failed download
  removes the folders it created.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .. import comfy_adapter
from . import files

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.5  # seconds for a connection to open; keeps the offline failure under 2 s
STALL_TIMEOUT = 25.0  # seconds without a byte before a download is abandoned (≤ 30 s in all with the connect)
POLL = 0.25  # seconds between Cancel checks while a download runs or another process's is awaited
_CHUNK = 1 << 20
_UNKNOWN_SIZE_CAP = 8 << 30  # bytes: a reply announcing no length, for a file of unknown size, stops here
USER_AGENT = "MaskForge (ComfyUI custom nodes)"
ALGORITHM_NAMES = {"sha256": "SHA-256", "md5": "MD5"}


def fetch(url: str, target: Path, checksum: tuple[str, str] | None = None, size: int | None = None,
          token: str | None = None) -> bool:
    """Streams ``url`` to ``target`` through a temporary file beside it and renames it into place
    once its length, ``checksum`` (algorithm, hex digest) and format are right. ``size`` (bytes, if
    known) caps a reply that announces no length. ``token`` is sent as a bearer token to the URL's
    own origin only; it is never logged. Never replaces an existing ``target``. True when this call
    placed the file, False when another run or the user did meanwhile."""
    with _lock(target):
        if target.exists():
            return False
        created = _make_dirs(target.parent)
        try:
            for stale in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
                stale.unlink(missing_ok=True)  # a killed process's: only the lock holder writes these
            temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                digest = _transfer(url, temp, checksum[0] if checksum else "sha256", size, token)
                if checksum is not None and digest != checksum[1]:
                    raise ValueError(f"checksum mismatch: got {ALGORITHM_NAMES[checksum[0]]} {digest}, "
                                     f"expected {checksum[1]}")
                try:
                    files.check_file(temp, target.name)
                except files.BadModelFile as exc:
                    raise ValueError(f"what arrived is not a usable {target.name}: {exc.detail}") from None
                if target.exists():
                    return False
                os.replace(temp, target)
                return True
            finally:
                temp.unlink(missing_ok=True)
        except BaseException:
            _remove_empty(created)
            raise


@contextmanager
def _lock(target: Path):
    """Holds the download lock of ``target``: a lock file in the temporary folder (the OS releases
    it when its process dies), checking Cancel while another process holds it."""
    folder = Path(tempfile.gettempdir()) / f"maskforge-locks-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(exist_ok=True)
    name = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:24]
    lock = FileLock(str(folder / f"{name}.lock"))
    announced = False
    while True:
        try:
            lock.acquire(timeout=POLL)
            break
        except Timeout:
            if not announced:
                log.info("MaskForge: waiting for another download of %s to finish", target)
                announced = True
            comfy_adapter.throw_if_interrupted()
    try:
        yield
    finally:
        lock.release()


def _make_dirs(path: Path) -> list[Path]:
    """Creates ``path`` and its missing parents; returns those it created, deepest first."""
    created = []
    while not path.exists():
        created.append(path)
        path = path.parent
    for folder in reversed(created):
        folder.mkdir(exist_ok=True)
    return created


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): leave it and its parents
            return


class _Transfer:
    """One download's state, shared by the worker thread that streams it and the caller that waits."""

    def __init__(self):
        self.connected = False  # a connection opened (name lookup and TCP)
        self.progress_at = time.monotonic()  # the last connection or byte
        self.received = 0
        self.total: int | None = None
        self.digest: str | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.aborted = threading.Event()
        self._sockets: list[socket.socket] = []

    def opened(self) -> None:
        if self.aborted.is_set():  # a worker that was stuck in a name lookup stops here
            raise OSError("download abandoned")
        self.connected = True
        self.progress_at = time.monotonic()

    def track(self, sock: socket.socket) -> None:
        self._sockets.append(sock)
        if self.aborted.is_set():
            self.abort()

    def abort(self) -> None:
        """Stops the worker: a blocked read returns once its connection is shut down."""
        self.aborted.set()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _transfer(url: str, temp: Path, algorithm: str, size: int | None, token: str | None) -> str:
    """Streams ``url`` into ``temp`` in a worker thread; returns the data's hex digest (``algorithm``)."""
    state = _Transfer()
    host = urllib.parse.urlsplit(url).hostname
    worker = threading.Thread(target=_stream, args=(url, temp, algorithm, size, token, state),
                              name="MaskForge download", daemon=True)
    bar = comfy_adapter.progress_bar(max(size or 1, 1))
    worker.start()
    try:
        while not state.finished.is_set():
            comfy_adapter.throw_if_interrupted()
            left = state.progress_at + (STALL_TIMEOUT if state.connected else CONNECT_TIMEOUT) - time.monotonic()
            if left <= 0 and not state.connected:
                raise OSError(f"cannot reach {host}: no connection within {CONNECT_TIMEOUT:g} s")
            if left <= 0:
                raise TimeoutError(f"{host} sent nothing for {STALL_TIMEOUT:g} s")
            bar.update_absolute(state.received, max(state.total or size or 1, state.received))
            state.finished.wait(min(POLL, left))
    except BaseException:
        state.abort()
        if state.connected:  # it closes its file; a name lookup that never returns is left to the daemon thread
            worker.join(2 * POLL)
        raise
    if state.error is not None:
        raise state.error
    bar.update_absolute(state.received, max(state.total or 1, state.received))
    return state.digest


def _stream(url: str, temp: Path, algorithm: str, size: int | None, token: str | None, state: _Transfer) -> None:
    host = urllib.parse.urlsplit(url).hostname
    try:
        opener = urllib.request.build_opener(_HTTPHandler(state), _HTTPSHandler(state), _Redirects(url, token))
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if token:
            request.add_unredirected_header("Authorization", f"Bearer {token}")  # _Redirects decides where it goes
        try:
            response = opener.open(request, timeout=CONNECT_TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            if 300 <= exc.code < 400:  # urllib refused the redirect itself (e.g. to file:)
                _Redirects.refuse(exc.url, urllib.parse.urljoin(exc.url, exc.headers.get("Location", "")))
            hint = (": the file is gated or private; accept its licence on the model's page and log in "
                    "(`hf auth login`) or set HF_TOKEN" if exc.code in (401, 403) else "")
            raise OSError(f"{host} answered HTTP {exc.code} {exc.reason}{hint}") from None
        except urllib.error.URLError as exc:
            raise OSError(f"cannot reach {host}: {exc.reason}") from None
        with response:
            if response.headers.get_content_type() == "text/html":
                raise ValueError(f"{host} sent a web page instead of the file (a login, consent or error page)")
            length = response.headers.get("Content-Length", "")
            state.total = int(length) if length.isdigit() else None
            if state.total is not None and size and state.total > 2 * size + _CHUNK:
                raise ValueError(f"{host} announces {state.total} bytes for a file of about {size}")
            cap = state.total if state.total is not None else 2 * size + _CHUNK if size else _UNKNOWN_SIZE_CAP
            digest = hashlib.new(algorithm)
            with open(temp, "wb") as out:
                while chunk := response.read1(_CHUNK):  # returns what has arrived: progress for a slow server
                    if state.aborted.is_set():
                        return
                    state.received += len(chunk)
                    if state.received > cap:
                        raise ValueError(f"{host} sent more than the {cap} bytes expected")
                    out.write(chunk)
                    digest.update(chunk)
                    state.progress_at = time.monotonic()
            if state.total is not None and state.received != state.total:
                raise ValueError(f"the connection closed after {state.received} of {state.total} bytes")
        state.digest = digest.hexdigest()
    except (http.client.HTTPException, ssl.SSLError) as exc:
        state.error = OSError(f"download from {host} failed: {exc!r}")
    except BaseException as exc:  # handed to the caller's thread
        state.error = exc
    finally:
        state.finished.set()


def _tracked(base: type, state: _Transfer) -> type:
    """``base`` (http.client's HTTP or HTTPS connection) reporting to ``state`` when it opens, and
    reading with the stall timeout once open."""

    class Connection(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            open_socket = self._create_connection  # http.client's step between name lookup + TCP and TLS

            def create(*a, **kw):
                sock = open_socket(*a, **kw)
                state.opened()
                return sock

            self._create_connection = create

        def connect(self):
            super().connect()
            # CONNECT_TIMEOUT was for opening. The caller gives up on a stall; this only ends the thread after it.
            self.sock.settimeout(STALL_TIMEOUT + 4 * POLL)
            state.track(self.sock)

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, state: _Transfer):
        super().__init__()
        self.state = state

    def http_open(self, req):
        return self.do_open(_tracked(http.client.HTTPConnection, self.state), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, state: _Transfer):
        super().__init__()
        self.state = state
        self.context = ssl.create_default_context()

    def https_open(self, req):
        return self.do_open(_tracked(http.client.HTTPSConnection, self.state), req, context=self.context)


def _origin(url: str) -> tuple:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to HTTPS (or within the plain-HTTP server of the hop), and sends the
    token only where it belongs: the original URL's origin."""

    def __init__(self, url: str, token: str | None):
        self.origin = _origin(url)
        self.token = token

    @staticmethod
    def refuse(url: str, newurl: str) -> None:
        scheme = urllib.parse.urlsplit(newurl).scheme
        if scheme != "https" and not (scheme == "http" and _origin(newurl) == _origin(url)):
            raise ValueError(f"{urllib.parse.urlsplit(url).hostname} redirected the download to a '{scheme}:' "
                             "address; only HTTPS addresses are followed")

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.refuse(req.full_url, newurl)
        follow = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow is not None and self.token and _origin(newurl) == self.origin:
            follow.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return follow
