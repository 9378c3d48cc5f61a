import hashlib
import os
import threading
import time

import pytest

from maskforge.models import download
from tests.file_server import (FileServer, cut_short, onnx_bytes, page, redirect, safetensors_bytes, send, silent,
                               stall)

ONNX = onnx_bytes()
SHA = ("sha256", hashlib.sha256(ONNX).hexdigest())


@pytest.fixture
def no_proxy_settings(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_file_is_streamed_checked_and_placed(file_server, tmp_path):
    file_server.files["/m.onnx"] = ONNX
    target = tmp_path / "rembg" / "m.onnx"
    assert download.fetch(file_server.url + "/m.onnx", target, checksum=SHA, size=len(ONNX))
    assert target.read_bytes() == ONNX and leftovers(target.parent) == ["m.onnx"]
    assert file_server.requests[0][1]["User-Agent"].startswith("MaskForge")


def test_downloads_go_through_the_proxy_in_the_environment(tmp_path, monkeypatch, no_proxy_settings):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    proxy = FileServer()  # a forward proxy sees the absolute URL
    proxy.files["http://models.invalid/m.onnx"] = ONNX
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    try:
        assert download.fetch("http://models.invalid/m.onnx", tmp_path / "m.onnx", checksum=SHA)
    finally:
        proxy.close()
    assert proxy.paths() == ["http://models.invalid/m.onnx"]  # the only connection went to the proxy
    assert (tmp_path / "m.onnx").read_bytes() == ONNX


def test_no_proxy_hosts_are_reached_directly(file_server, tmp_path, monkeypatch, no_proxy_settings):
    file_server.files["/m.onnx"] = ONNX
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert download.fetch(file_server.url + "/m.onnx", tmp_path / "m.onnx")
    assert file_server.paths() == ["/m.onnx"]


def test_deadlines_add_up_to_at_most_30_seconds():
    assert download.CONNECT_TIMEOUT <= 1.5
    assert download.CONNECT_TIMEOUT + download.STALL_TIMEOUT + 2 * download.POLL <= 30


@pytest.mark.parametrize("behaviour", ["headers then nothing", "no answer at all"])
def test_a_stalled_download_fails_after_the_stall_timeout_and_leaves_nothing(file_server, tmp_path, monkeypatch,
                                                                            behaviour):
    monkeypatch.setattr(download, "STALL_TIMEOUT", 0.6)
    answer = stall(file_server, first=ONNX[:100]) if behaviour == "headers then nothing" else silent(file_server)
    file_server.files["/m.onnx"] = answer
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="127.0.0.1 sent nothing for 0.6 s"):
        download.fetch(file_server.url + "/m.onnx", tmp_path / "rembg" / "m.onnx")
    assert time.monotonic() - start < 0.6 + 1.0
    assert not (tmp_path / "rembg").exists()


def test_cancel_stops_a_stalled_download_within_two_seconds(file_server, fake_comfyui, tmp_path):
    file_server.files["/m.onnx"] = stall(file_server, first=ONNX[:100])
    threading.Timer(0.3, lambda: setattr(fake_comfyui, "interrupted", True)).start()
    start = time.monotonic()
    with pytest.raises(fake_comfyui.modules["comfy.model_management"].Interrupted):
        download.fetch(file_server.url + "/m.onnx", tmp_path / "rembg" / "m.onnx")
    assert time.monotonic() - start < 0.3 + 2.0
    assert not (tmp_path / "rembg").exists()
    fake_comfyui.interrupted = False
    file_server.files["/m.onnx"] = ONNX  # and the lock is free again
    assert download.fetch(file_server.url + "/m.onnx", tmp_path / "rembg" / "m.onnx")


def test_a_connection_closed_early_is_not_kept(file_server, tmp_path):
    file_server.files["/m.onnx"] = cut_short(ONNX[:200], announced=len(ONNX))
    with pytest.raises(ValueError, match=f"closed after 200 of {len(ONNX)} bytes"):
        download.fetch(file_server.url + "/m.onnx", tmp_path / "m" / "m.onnx")
    assert not (tmp_path / "m").exists()


def test_a_web_page_served_instead_of_the_file_is_refused(file_server, tmp_path):
    file_server.files["/m.onnx"] = page()
    with pytest.raises(ValueError, match="sent a web page instead of the file"):
        download.fetch(file_server.url + "/m.onnx", tmp_path / "m.onnx")
    file_server.files["/m.onnx"] = page(content_type="application/octet-stream")  # the page, mislabelled
    with pytest.raises(ValueError, match="what arrived is not a usable m.onnx: it is a web page"):
        download.fetch(file_server.url + "/m.onnx", tmp_path / "m.onnx")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name, body, why", [
    ("model.safetensors", safetensors_bytes()[:-10], "incomplete metadata"),
    ("model.safetensors", b"\x00" * 64, "header"),
    ("config.json", b'{"model_type": "sam"', "not valid JSON"),
    ("config.json", b"[1, 2]", "not an object"),
    ("m.onnx", ONNX[: len(ONNX) // 2], "cut short"),
    ("m.onnx", b"PK\x03\x04 a zip, not ONNX", "not an ONNX model"),
    ("sam.pth", b"\x00" * 100, "not a PyTorch checkpoint"),
])
def test_a_file_that_does_not_parse_is_never_renamed_into_place(file_server, tmp_path, name, body, why):
    file_server.files["/" + name] = body  # served whole: no checksum or length can tell
    with pytest.raises(ValueError, match=f"what arrived is not a usable {name}: .*{why}"):
        download.fetch(f"{file_server.url}/{name}", tmp_path / "model" / name)
    assert not (tmp_path / "model").exists()


def test_files_that_parse_are_placed(file_server, tmp_path):
    import torch

    torch.save({"w": torch.zeros(3)}, tmp_path / "sam.pth")
    for name, body in [("model.safetensors", safetensors_bytes()), ("config.json", b'{"model_type": "sam"}'),
                       ("vocab.txt", b"[PAD]\n[UNK]\n"), ("sam.pth", (tmp_path / "sam.pth").read_bytes())]:
        file_server.files["/" + name] = body
        assert download.fetch(f"{file_server.url}/{name}", tmp_path / "model" / name)
        assert (tmp_path / "model" / name).read_bytes() == body


def test_a_killed_processs_temporary_files_are_removed_by_the_next_download(file_server, tmp_path):
    folder = tmp_path / "rembg"
    folder.mkdir()
    (folder / ".m.onnx.0badc0de.part").write_bytes(b"half a file")
    (folder / ".other.onnx.0badc0de.part").write_bytes(b"another download's")
    file_server.files["/m.onnx"] = ONNX
    assert download.fetch(file_server.url + "/m.onnx", folder / "m.onnx")
    assert leftovers(folder) == [".other.onnx.0badc0de.part", "m.onnx"]


def test_a_failed_download_keeps_the_folders_that_were_there(file_server, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(OSError, match="404"):
        download.fetch(file_server.url + "/gone.safetensors", folder / "model.safetensors")
    assert leftovers(folder) == ["config.json"]


def test_two_runs_downloading_one_file_share_one_download(file_server, tmp_path):
    def slow(handler):
        time.sleep(0.5)
        send(handler, ONNX)

    file_server.files["/m.onnx"] = slow
    target = tmp_path / "rembg" / "m.onnx"
    placed = []
    runs = [threading.Thread(target=lambda: placed.append(download.fetch(file_server.url + "/m.onnx", target)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(10)
    assert sorted(placed) == [False, True]  # one downloaded, the other waited and used its file
    assert file_server.paths() == ["/m.onnx"]
    assert target.read_bytes() == ONNX


def test_a_waiting_run_downloads_itself_when_the_first_one_failed(file_server, tmp_path):
    calls = []

    def first_fails(handler):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)
            handler.send_error(503)
        else:
            send(handler, ONNX)

    file_server.files["/m.onnx"] = first_fails
    target = tmp_path / "rembg" / "m.onnx"
    outcomes = []

    def run():
        try:
            outcomes.append(download.fetch(file_server.url + "/m.onnx", target))
        except OSError as exc:
            outcomes.append(str(exc))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for r in runs:
        r.start()
        time.sleep(0.1)
    for r in runs:
        r.join(10)
    assert outcomes[0].endswith("answered HTTP 503 Service Unavailable") and outcomes[1] is True
    assert target.read_bytes() == ONNX


def test_the_token_goes_to_the_urls_own_host_only(tls_servers, tmp_path):
    hub, cdn = tls_servers
    hub.files["/resolve/a.onnx"] = redirect("/cache/a.onnx")  # the same host: the token goes along
    hub.files["/cache/a.onnx"] = ONNX
    hub.files["/resolve/b.onnx"] = redirect(cdn.url + "/signed/b.onnx")  # another host: it does not
    cdn.files["/signed/b.onnx"] = ONNX
    assert download.fetch(hub.url + "/resolve/a.onnx", tmp_path / "a.onnx", token="hf_secret")
    assert download.fetch(hub.url + "/resolve/b.onnx", tmp_path / "b.onnx", token="hf_secret")
    sent = {path: headers.get("Authorization") for path, headers in hub.requests + cdn.requests}
    assert sent == {"/resolve/a.onnx": "Bearer hf_secret", "/cache/a.onnx": "Bearer hf_secret",
                    "/resolve/b.onnx": "Bearer hf_secret", "/signed/b.onnx": None}


@pytest.mark.parametrize("location", ["http://127.0.0.1:{plain}/m.onnx", "file:///etc/passwd", "ftp://127.0.0.1/m.onnx"])
def test_redirects_to_other_schemes_than_https_are_refused(tls_servers, file_server, tmp_path, location):
    hub, _ = tls_servers
    hub.files["/m.onnx"] = redirect(location.format(plain=file_server.httpd.server_port))
    file_server.files["/m.onnx"] = ONNX
    scheme = location.split(":")[0]
    with pytest.raises(ValueError, match=f"redirected the download to a '{scheme}:' address; only HTTPS"):
        download.fetch(hub.url + "/m.onnx", tmp_path / "m.onnx", token="hf_secret")
    assert file_server.requests == [] and leftovers(tmp_path) == []


def test_a_plain_http_server_may_redirect_within_itself_only(file_server, tmp_path):
    file_server.files["/a.onnx"] = redirect("/b.onnx")
    file_server.files["/b.onnx"] = ONNX
    assert download.fetch(file_server.url + "/a.onnx", tmp_path / "m.onnx")
    other = FileServer()
    try:
        file_server.files["/c.onnx"] = redirect(other.url + "/b.onnx")
        with pytest.raises(ValueError, match="'http:' address"):
            download.fetch(file_server.url + "/c.onnx", tmp_path / "c.onnx")
        assert other.requests == []
    finally:
        other.close()


def test_an_unreachable_host_fails_fast(tmp_path, monkeypatch, no_proxy_settings):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    start = time.monotonic()
    with pytest.raises(OSError, match="cannot reach example.com"):  # conftest refuses every host but 127.0.0.1
        download.fetch("https://example.com/m.onnx", tmp_path / "m" / "m.onnx")
    assert time.monotonic() - start < 2
    assert not (tmp_path / "m").exists()


def test_a_name_lookup_that_hangs_is_given_up_after_the_connect_timeout(tmp_path, monkeypatch, no_proxy_settings):
    import socket

    monkeypatch.delenv("HF_HUB_OFFLINE")
    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(10) and [])
    start = time.monotonic()
    try:
        with pytest.raises(OSError, match=f"cannot reach models.invalid: no connection within {download.CONNECT_TIMEOUT:g} s"):
            download.fetch("https://models.invalid/m.onnx", tmp_path / "m.onnx")
    finally:
        release.set()
    assert time.monotonic() - start < 2
