"""A file server on this machine for download tests: plain HTTP or HTTPS, well behaved or hostile.

``files`` maps a request path (or, for a server acting as a proxy, the absolute URL it is asked
for) to bytes, or to a function that answers the request itself (see ``stall``, ``redirect``,
``cut_short``). Every request is recorded with its headers.

HTTPS uses tests/data/tls: a test CA (``ca.pem``) and a certificate it signed for 127.0.0.1 and
localhost (``server.pem``, ``server.key``), made once with openssl and valid for 100 years. A test
trusts the CA by pointing ``SSL_CERT_FILE`` at it (the ``trust_test_ca`` fixture).
"""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path

import pytest

TLS = Path(__file__).parent / "data" / "tls"


class FileServer:
    def __init__(self, tls: bool = False, host: str = "127.0.0.1"):
        self.files: dict = {}
        self.requests: list[tuple[str, dict]] = []  # (path, headers)
        self.release = threading.Event()  # set at teardown: stalled answers give up
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                body = server.files.get(self.path)
                if callable(body):
                    body(self)
                elif body is None:
                    self.send_error(404)
                else:
                    send(self, body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://{host}:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler, body: bytes, content_type: str = "application/octet-stream") -> None:
    """A whole 200 answer with ``body``: what the server gives for a file it holds."""
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def stall(server: FileServer, first: bytes = b"", announced: int = 1000):
    """Answers with headers and ``first``, then sends nothing until the test ends."""

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(announced))
        handler.end_headers()
        handler.wfile.write(first)
        handler.wfile.flush()
        server.release.wait(30)

    return answer


def silent(server: FileServer):
    """Accepts the request and never answers."""
    return lambda handler: server.release.wait(30)


def cut_short(body: bytes, announced: int):
    """Announces ``announced`` bytes, sends ``body`` and closes the connection."""

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(announced))
        handler.end_headers()
        handler.wfile.write(body)
        handler.close_connection = True

    return answer


def page(html: bytes = b"<!DOCTYPE html><html><body>Sign in</body></html>", content_type: str = "text/html"):
    """A web page where a file was expected."""

    return lambda handler: send(handler, html, content_type)


def redirect(location: str, code: int = 302):
    def answer(handler):
        handler.send_response(code)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


@pytest.fixture
def file_server(monkeypatch):
    """A plain-HTTP server; the machine is online, but only 127.0.0.1 answers."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    s = FileServer()
    yield s
    s.close()


@pytest.fixture
def trust_test_ca(monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "ca.pem"))


@pytest.fixture
def tls_servers(monkeypatch, trust_test_ca):
    """Two HTTPS servers: one at 127.0.0.1, one at localhost (another host)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    servers = FileServer(tls=True), FileServer(tls=True, host="localhost")
    yield servers
    for s in servers:
        s.close()


def onnx_bytes() -> bytes:
    """A small, valid ONNX model (rembg's U²-Net layout)."""
    import tempfile

    from tests.tiny_rembg import write_model

    with tempfile.TemporaryDirectory() as folder:
        return write_model(Path(folder) / "m.onnx").read_bytes()


def safetensors_bytes(n: int = 1000) -> bytes:
    import numpy as np
    from safetensors.numpy import save

    return save({"weight": np.arange(n, dtype=np.float32)})
