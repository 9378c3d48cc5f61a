"""One HTTP exchange at a time, under a deadline, with Cancel, capped bodies and checked addresses.

Each exchange (a request and its whole reply) runs on a short-lived worker thread while the calling
thread waits in slices of at most a second, checking ComfyUI's Cancel and the deadline. When either
fires, the exchange's sockets are shut down, which ends the worker's blocked read, and no request is
sent afterwards. A reply that drips a byte at a time therefore ends at the deadline like a silent one.

The connection classes resolve the host themselves, check every address against the exchange's rule
(public addresses only, except the one host the user pointed the service at) and connect to the address
they checked, so a second DNS answer cannot swap it. They also record whether the request went out, so
a charged request is never sent again after a connection broke once it was sent.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

WAIT_SLICE = 1.0  # seconds between Cancel checks while an exchange runs

# IPv6 ranges that carry an IPv4 address in their low 32 bits (NAT64, IPv4-compatible).
_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


class Refused(Exception):
    """The address a host resolves to is not one the exchange may connect to."""


class Late(Exception):
    """The exchange's deadline passed before the reply was complete."""


class TooLarge(Exception):
    def __init__(self, limit: int, length: int | None = None):
        super().__init__(limit, length)
        self.limit, self.length = limit, length


def is_public(address: str) -> bool:
    """Whether ``address`` is a globally routed unicast address: not loopback, private, link-local
    (169.254.169.254 included), shared, reserved or multicast, in IPv4 or in any IPv6 form of them."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in net for net in _EMBEDDING):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public(str(embedded)):
            return False
    return ip.is_global and not ip.is_multicast


@dataclass
class Reply:
    """A reply with its body already read (within the caps the reader applied)."""

    status: int
    reason: str
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


class Exchange:
    """One request and its reply: the connections it opened, whether it was sent, whether it was abandoned.

    ``trusted_host`` may resolve to any address (the host of a base URL the user set, such as a local
    gateway); every other host must resolve to public addresses only."""

    def __init__(self, trusted_host: str | None = None):
        self.trusted_host = (trusted_host or "").lower() or None
        self.sent: bool | None = None  # None: no guarded connection saw the request (assume it may be sent)
        self.aborted = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def check(self, host: str, addresses: list[str]) -> None:
        if host.lower().strip("[]") == self.trusted_host:
            return
        for address in addresses:
            if not is_public(address):
                what = "is" if address == host.strip("[]") else f"resolves to {address}, which is"
                raise Refused(f"{host} {what} not a public internet address")

    def attach(self, conn: HTTPConnection) -> None:
        with self._lock:
            if self.aborted:
                raise Late()
            if conn not in self._connections:
                self._connections.append(conn)

    def abort(self) -> None:
        """Stops the exchange: a blocked read returns, and nothing more is sent."""
        with self._lock:
            self.aborted = True
            connections = list(self._connections)
        for conn in connections:
            sock = conn.sock
            if sock is not None:
                try:  # the plain socket's shutdown, also under TLS: it wakes the reader without a TLS goodbye
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass


_local = threading.local()


def _current() -> Exchange | None:
    return getattr(_local, "exchange", None)


def _resolve(host: str, port: int) -> list[tuple[str, int]]:
    """(address, family) of every stream address of ``host``."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys((info[4][0], info[0]) for info in infos))


class _Guard:
    """Mixed into urllib3's connections: address checks, pinned connects, and the exchange's bookkeeping."""

    def _new_conn(self):
        exchange = _current()
        if exchange is None:
            return super()._new_conn()
        exchange.attach(self)
        exchange.sent = False
        tunnel = getattr(self, "_tunnel_host", None)
        if tunnel or getattr(self, "proxy", None):
            # Through a proxy the proxy resolves the name: check what it resolves to here, when it does.
            target = tunnel or self.host
            exchange.check(target, [address for address, _ in _resolve(target, self.port)])
            return super()._new_conn()
        addresses = _resolve(self._dns_host, self.port)
        if not addresses:
            raise NewConnectionError(self, f"cannot resolve {self.host}")
        exchange.check(self.host, [address for address, _ in addresses])
        error: OSError | None = None
        for address, _ in addresses:  # connect to the very addresses checked, not to a second lookup
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except socket.timeout:
                raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from None
            except OSError as exc:
                error = exc
                continue
            if exchange.aborted:
                sock.close()
                raise Late()
            return sock
        raise NewConnectionError(self, f"failed to connect to {self.host}: {error}")

    def request(self, *args, **kwargs):
        exchange = _current()
        if exchange is not None:
            exchange.attach(self)
            if exchange.sent is None:  # a connection made before this exchange: its request counts from here
                exchange.sent = False
        super().request(*args, **kwargs)
        if exchange is not None:
            exchange.sent = True


class _HTTPConnection(_Guard, HTTPConnection):
    pass


class _HTTPSConnection(_Guard, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests' adapter with the guarded connections, directly and through HTTP(S) proxies."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has its own connections: sent stays unknown
            manager.pool_classes_by_scheme = _POOLS
        return manager


def session(user_agent: str) -> requests.Session:
    s = requests.Session()
    adapter = GuardedAdapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    # A fresh connection per exchange: a reused one that the server had closed would fail after
    # "sending", and a charged request must be told apart from that.
    s.headers.update({"User-Agent": user_agent, "Connection": "close"})
    return s


def read_capped(resp: requests.Response, limit: int, strict: bool = True) -> bytes:
    """The body, at most ``limit`` bytes: over it, ``TooLarge`` (``strict``) or the first ``limit`` bytes."""
    length = resp.headers.get("Content-Length", "")
    if strict and length.isdigit() and int(length) > limit:
        raise TooLarge(limit, int(length))
    data = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        data += chunk
        if len(data) > limit:
            if strict:
                raise TooLarge(limit)
            return bytes(data[:limit])
    return bytes(data)


def run(exchange: Exchange, work: Callable[[], Reply], deadline: float, clock: Callable[[], float],
        check: Callable[[], None]):
    """``work()`` on a worker thread inside ``exchange``; ``check`` (Cancel) runs at least once a
    second while it waits, and ``Late`` is raised when ``clock()`` reaches ``deadline``."""
    outcome: dict = {}
    done = threading.Event()

    def worker():
        _local.exchange = exchange
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            _local.exchange = None
            done.set()

    threading.Thread(target=worker, name="MaskForge HTTP", daemon=True).start()
    try:
        while not done.wait(max(0.0, min(WAIT_SLICE, deadline - clock()))):
            check()
            if clock() >= deadline:
                raise Late()
    except BaseException:
        exchange.abort()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
