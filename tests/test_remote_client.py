"""The shared remote client against the local stand-in: keys, retries, error mapping, downloads, images."""

import base64
import io
import json
import logging
import socket
import time

import numpy as np
import pytest
import torch
from PIL import Image
from tests.remote_standin import KEYS, Reply, half_mask_png

from maskforge.errors import MaskForgeError
from maskforge.remote import client as remote_client
from maskforge.remote import images, keys
from maskforge.remote.client import Client, retry_after

NODE = "TestNode"
SEGMIND_PATH = "/segmind/automatic-mask-generator"
ML_PATH = "/modelslab/image_editing/removebg_mask"


def segmind_client(**kwargs) -> Client:
    return Client(NODE, keys.SEGMIND, **kwargs)


def post_segmind(c: Client) -> bytes:
    body = {"image": images.to_base64(images.encode_image(torch.rand(4, 6, 3))), "prompt": "sofa"}
    return c.post_image(c.url("automatic-mask-generator"), "the reply", headers={"x-api-key": c.key}, json=body)


def post_modelslab(c: Client) -> dict:
    return c.post_json(c.url("image_editing/removebg_mask"), json={"key": c.key})


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG")


# Keys


def test_key_from_environment_variable(standin):
    assert segmind_client().key == KEYS["segmind"]


def test_key_file_in_user_dir_is_used_when_variable_unset(standin, monkeypatch, tmp_path):
    monkeypatch.delenv("MASKFORGE_SEGMIND_KEY")
    user = tmp_path / "user"
    user.mkdir()
    (user / "maskforge_keys.json").write_text(json.dumps({"segmind": " from-file-key "}))
    assert segmind_client().key == "from-file-key"


def test_environment_variable_wins_over_key_file(standin, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "maskforge_keys.json").write_text(json.dumps({"segmind": "from-file-key"}))
    assert segmind_client().key == KEYS["segmind"]


def test_missing_key_error_names_variable_and_key_file(standin, monkeypatch, tmp_path):
    monkeypatch.delenv("MASKFORGE_MODELSLAB_KEY")
    with pytest.raises(MaskForgeError) as err:
        Client(NODE, keys.MODELSLAB)
    text = str(err.value)
    assert text.startswith(f"{NODE}: no ModelsLab API key")
    assert "MASKFORGE_MODELSLAB_KEY" in text
    assert str(tmp_path / "user" / "maskforge_keys.json") in text
    assert '"modelslab"' in text


def test_broken_key_file_error_names_file_but_not_its_contents(standin, monkeypatch, tmp_path):
    monkeypatch.delenv("MASKFORGE_SEGMIND_KEY")
    user = tmp_path / "user"
    user.mkdir()
    (user / "maskforge_keys.json").write_text('{"segmind": "leaky-secret-value",}')
    with pytest.raises(MaskForgeError) as err:
        segmind_client()
    assert "maskforge_keys.json" in str(err.value) and "line 1" in str(err.value)
    assert "leaky-secret-value" not in str(err.value)


def test_scrub_removes_key_and_its_url_encoded_form():
    assert keys.scrub("a k/y+1 b k%2Fy%2B1 c", ["k/y+1"]) == "a *** b *** c"


# Base URLs


def test_base_url_variable_must_be_http(standin, monkeypatch):
    monkeypatch.setenv("MASKFORGE_SEGMIND_URL", "file:///etc/passwd")
    with pytest.raises(MaskForgeError, match="MASKFORGE_SEGMIND_URL must be an http:// or https:// URL"):
        segmind_client()


def test_default_base_urls_are_the_documented_hosts(monkeypatch):
    for service in (keys.HOMEDESIGNS, keys.SEGMIND, keys.MODELSLAB):
        monkeypatch.delenv(service.url_env, raising=False)
    assert keys.base_url(NODE, keys.HOMEDESIGNS) == "https://homedesigns.ai/api/v2"
    assert keys.base_url(NODE, keys.SEGMIND) == "https://api.segmind.com/v1"
    assert keys.base_url(NODE, keys.MODELSLAB) == "https://modelslab.com/api/v6"


# Retries


def test_429_is_retried_after_the_retry_after_seconds(standin):
    standin.queue(SEGMIND_PATH, Reply(429, {"error": "Too many requests"}, {"Retry-After": "3"}))
    with segmind_client() as c:
        assert is_png(post_segmind(c))
    assert len(standin.to(SEGMIND_PATH)) == 2
    assert standin.sleeps == [1.0, 1.0, 1.0]  # 3 s, in steps that check Cancel every second


def test_500_then_success_is_retried_with_backoff(standin):
    standin.queue(SEGMIND_PATH, Reply(500, {"error": "Internal server error"}), Reply(502, b"", {}))
    with segmind_client() as c:
        assert is_png(post_segmind(c))
    assert len(standin.to(SEGMIND_PATH)) == 3
    assert standin.sleeps == [0.5, 1.0]  # backoff doubles


@pytest.mark.parametrize("status, text", [
    (429, "rate limited (429 Too Many Requests)"),
    (500, "the service had an internal error (500 Server Error)"),
    (502, "the service is temporarily unavailable (502 Bad Gateway)"),
    (504, "the service timed out (504 Gateway Timeout)"),
])
def test_retryable_status_gives_up_after_the_retries_with_a_clear_error(standin, status, text):
    standin.queue(SEGMIND_PATH, *[Reply(status, {"error": "service says no"})] * 4)
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert str(err.value) == f"{NODE}: Segmind: {text} after 3 retries; try again later: service says no"
    assert len(standin.to(SEGMIND_PATH)) == 4
    assert sum(standin.sleeps) == 0.5 + 1.0 + 2.0 and max(standin.sleeps) <= 1.0


def test_retry_after_beyond_the_cap_is_not_waited_for(standin):
    standin.queue(SEGMIND_PATH, Reply(429, {"message": "slow down"}, {"Retry-After": "3600"}))
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert "the service asks to wait 3600 s before trying again: slow down" in str(err.value)
    assert len(standin.to(SEGMIND_PATH)) == 1 and standin.sleeps == []


def test_retry_after_accepts_an_http_date():
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after("7") == 7.0
    assert retry_after("soon") is None and retry_after(None) is None


@pytest.mark.parametrize("status, text", [
    (400, "the service rejected the request (400 Bad Request)"),
    (401, "the API key was refused (401 Unauthorized); check MASKFORGE_SEGMIND_KEY or the key file"),
    (403, "the API key may not use this endpoint (403 Forbidden)"),
    (404, "endpoint not found (404 Not Found); check MASKFORGE_SEGMIND_URL"),
    (406, "not enough credits on the account (406 Insufficient Credits)"),
])
def test_other_4xx_are_not_retried_and_name_the_cause(standin, status, text):
    standin.queue(SEGMIND_PATH, Reply(status, {"error": {"detail": "from the service"}}))
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert str(err.value).startswith(f"{NODE}: Segmind: {text}")
    assert str(err.value).endswith(": from the service")
    assert len(standin.to(SEGMIND_PATH)) == 1 and standin.sleeps == []


def test_html_error_pages_are_not_quoted(standin):
    standin.queue(SEGMIND_PATH, Reply(403, b"<html><body>Cloudflare</body></html>", {"Content-Type": "text/html"}))
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert "Cloudflare" not in str(err.value) and "403 Forbidden" in str(err.value)


def test_slow_reply_hits_the_deadline_and_is_not_retried(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS",
                        remote_client.Settings(deadline=0.3, sleep=standin.sleeps.append))
    standin.queue(SEGMIND_PATH, Reply(200, b"late", {"Content-Type": "image/png"}, delay=1.5))
    late = r"no complete reply from 127\.0\.0\.1:\d+ within 0.3 s"
    with segmind_client() as c, pytest.raises(MaskForgeError, match=late):
        post_segmind(c)
    assert len(standin.to(SEGMIND_PATH)) == 1 and standin.sleeps == []


def test_unreachable_host_is_retried_then_reported(standin, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASKFORGE_SEGMIND_URL", f"http://127.0.0.1:{port}/v1")
    with segmind_client() as c, pytest.raises(MaskForgeError, match="cannot reach 127.0.0.1:.* after 3 retries"):
        post_segmind(c)
    assert standin.sleeps == [0.5, 1.0, 1.0, 1.0]  # 0.5, 1 and 2 s: nothing was sent, so the POST may go again


def test_api_calls_do_not_follow_redirects(standin):
    standin.queue(SEGMIND_PATH, Reply(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"unexpected redirect \(HTTP 302\)"):
        post_segmind(c)
    assert len(standin.requests) == 1


def test_key_is_only_sent_to_the_service_host(standin):
    with segmind_client() as c, pytest.raises(MaskForgeError, match="refusing to send the API key there"):
        c.post_json("http://localhost:1/steal", json={"key": c.key})
    assert standin.requests == []


@pytest.mark.parametrize("url, allowed", [
    ("http://127.0.0.1:{port}/segmind/fetch/1", True),
    ("http://api.127.0.0.1:{port}/x", False),  # a subdomain of the service's host: only the host itself
    ("https://127.0.0.1:{port}/x", False),  # another scheme
    ("http://127.0.0.1:1/x", False),  # another port
    ("http://example.com:{port}/x", False),
])
def test_key_bearing_requests_stay_on_the_service_site(standin, url, allowed):
    url = url.format(port=standin.server.server_address[1])
    with segmind_client() as c:
        if allowed:
            c.check_same_origin(url)
        else:
            with pytest.raises(MaskForgeError, match="refusing to send the API key there"):
                c.check_same_origin(url)


def test_broken_urls_become_node_errors(standin):
    with segmind_client() as c:
        with pytest.raises(MaskForgeError, match=r"the result image link names no host: 'https://'"):
            c.download("https://")
        with pytest.raises(MaskForgeError, match=r"the request to 127\.0\.0\.1 failed \(InvalidURL\)"):
            c.download("http://127.0.0.1:99999/x")


def test_malformed_json_reply_is_a_clear_error(standin):
    standin.queue(ML_PATH, Reply(200, b"{not json", {"Content-Type": "application/json"}))
    malformed = r"malformed reply \(not JSON\): '\{not json'"
    with Client(NODE, keys.MODELSLAB) as c, pytest.raises(MaskForgeError, match=malformed):
        post_modelslab(c)


def test_key_never_appears_in_errors_or_logs(standin, caplog):
    key = KEYS["segmind"]
    standin.queue(SEGMIND_PATH, Reply(500, {"error": f"upstream failed for key {key}"}),
                  Reply(401, {"error": f"invalid key {key}"}))
    caplog.set_level(logging.DEBUG)
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert "invalid key ***" in str(err.value)
    assert key not in str(err.value) and key not in caplog.text
    assert "Segmind: HTTP 500; retrying in 0.5 s" in caplog.text


def test_a_key_near_the_cut_is_scrubbed_before_the_message_is_shortened(standin):
    key = KEYS["segmind"]
    standin.queue(SEGMIND_PATH, Reply(400, {"error": "x" * 295 + key}))
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert str(err.value).endswith("x***") and key[:4] not in str(err.value)


# Downloads


def test_download_returns_image_bytes(standin):
    url = standin.add_file("image/png", half_mask_png(4, 2))
    with segmind_client() as c:
        assert c.download(url) == half_mask_png(4, 2)
    assert "x-api-key" not in standin.requests[-1].headers


def test_failed_download_names_the_file_not_the_key(standin):
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        c.download(f"{standin.url}/files/expired")
    assert f"the result file {standin.url}/files/expired could not be fetched (HTTP 404 Not Found)" in str(err.value)
    assert "API key" not in str(err.value)


def test_download_rejects_non_image_content(standin):
    url = standin.add_file("text/html", b"<html>login</html>")
    with segmind_client() as c, pytest.raises(MaskForgeError, match="is text/html, not an image"):
        c.download(url)


@pytest.mark.parametrize("declared", [True, False])
def test_download_is_limited_in_size(standin, monkeypatch, declared):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(max_download=1000))
    url = standin.add_file("image/png", b"\x89PNG" + b"0" * 5000)
    if not declared:  # no Content-Length: the limit applies while reading
        standin.queue(url[len(standin.url):], Reply(200, b"\x89PNG" + b"0" * 5000,
                                                    {"Content-Type": "image/png", "Content-Length": ""}))
    with segmind_client() as c, pytest.raises(MaskForgeError, match="1000-byte limit"):
        c.download(url)


def test_download_accepts_only_http_urls(standin):
    with segmind_client() as c, pytest.raises(MaskForgeError, match="not an http.s. URL"):
        c.download("file:///etc/passwd")


# Images


def test_png_encoding_is_lossless_and_base64_round_trips():
    image = torch.rand(5, 7, 3)
    data = images.encode_image(image, "png")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(images.to_base64(data)))))
    assert pixels.shape == (5, 7, 3)
    assert np.array_equal(pixels, (image * 255).round().to(torch.uint8).numpy())
    assert images.data_uri(data, "png").startswith("data:image/png;base64,iVBOR")


def test_jpeg_encoding_makes_a_jpeg():
    data = images.encode_image(torch.rand(8, 8, 3), "jpeg")
    assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_decode_mask_resizes_to_the_input_size():
    mask = images.decode_mask(NODE, half_mask_png(8, 4), 8, 16)
    assert mask.shape == (8, 16) and mask.dtype == torch.float32
    assert mask[:, :7].min() == 1.0 and mask[:, 9:].max() == 0.0


def test_decode_mask_treats_transparent_pixels_as_unmasked():
    rgba = np.full((2, 2, 4), 255, np.uint8)
    rgba[0, :, 3] = 0
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    assert images.decode_mask(NODE, out.getvalue(), 2, 2).tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_decode_mask_reports_unreadable_data():
    with pytest.raises(MaskForgeError, match="not a readable image"):
        images.decode_mask(NODE, b"<html>", 2, 2)


# A hostile world: result links, redirects, addresses


@pytest.mark.parametrize("link, why", [
    ("http://example.com/mask.png", "is not https"),
    ("https://127.0.0.2/mask.png", "127.0.0.2 is not a public internet address"),
    ("https://10.1.2.3/mask.png", "10.1.2.3 is not a public"),
    ("https://172.16.0.1/mask.png", "172.16.0.1 is not a public"),
    ("https://192.168.1.1/mask.png", "192.168.1.1 is not a public"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public"),
    ("https://[::1]/mask.png", " ::1 is not a public"),
    ("https://[fe80::1]/mask.png", " fe80::1 is not a public"),
    ("https://[fd00::1]/mask.png", " fd00::1 is not a public"),
    ("https://[::ffff:169.254.169.254]/mask.png", "is not a public"),
    ("https://localhost:{port}/files/x", "localhost resolves to (127.0.0.1|::1), which is not a public"),
])
def test_result_links_must_be_https_to_a_public_address(standin, link, why):
    with segmind_client() as c, pytest.raises(MaskForgeError, match=why):
        c.download(link.format(port=standin.server.server_address[1]))
    assert standin.requests == []


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Names in ``answers`` resolve to the next address of their list on each lookup; returns the lookups."""
    real = socket.getaddrinfo
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = answers[host][min(len(lookups), len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_is_judged_by_the_address_it_resolves_to(standin, monkeypatch):
    fake_dns(monkeypatch, {"cdn.example": ["169.254.169.254"]})
    with segmind_client() as c, pytest.raises(MaskForgeError, match="cdn.example resolves to 169.254.169.254"):
        c.download("https://cdn.example/mask.png")


def test_the_connection_goes_to_the_address_that_was_checked(standin, monkeypatch):
    """DNS rebinding: a public answer for the check, then 127.0.0.1. The client connects to what it
    checked (here refused by the test's no-network guard) and never to the second answer."""
    port = standin.server.server_address[1]
    lookups = fake_dns(monkeypatch, {"cdn.example": ["93.184.216.34", "127.0.0.1"]})
    connects = []
    guarded = socket.socket.connect

    def connect(self, address):
        connects.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    with segmind_client() as c, pytest.raises(MaskForgeError, match="cdn.example resolves to 127.0.0.1"):
        c.download(f"https://cdn.example:{port}/files/x")
    assert connects == [("93.184.216.34", port)]  # the retry looked up again and was refused before connecting
    assert len(lookups) == 2 and standin.requests == []


@pytest.mark.parametrize("location, outcome", [
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public internet address"),
    ("https://[::1]:{port}/files/{name}", " ::1 is not a public internet address"),
    ("http://example.com/mask.png", "http://example.com/mask.png is not https"),
    ("/files/{name}", None),  # on the service's own host (which the user set): followed
])
def test_every_redirect_hop_is_checked(standin, location, outcome):
    name = standin.add_file("image/png", half_mask_png(4, 2)).rsplit("/", 1)[1]
    start = standin.add_file("image/png", b"")
    location = location.format(port=standin.server.server_address[1], name=name)
    standin.queue(start[len(standin.url):], Reply(302, b"", {"Location": location}))
    with segmind_client() as c:
        if outcome is None:
            assert c.download(start) == half_mask_png(4, 2)
        else:
            with pytest.raises(MaskForgeError, match=outcome):
                c.download(start)
            assert len(standin.requests) == 1


def test_a_redirect_loop_ends(standin):
    start = standin.add_file("image/png", b"")
    standin.queue(start[len(standin.url):], *[Reply(302, b"", {"Location": start})] * 10)
    with segmind_client() as c, pytest.raises(MaskForgeError, match="redirects more than 5 times"):
        c.download(start)


def test_the_documented_hosts_get_no_exemption(monkeypatch):
    monkeypatch.setenv("MASKFORGE_SEGMIND_KEY", "k")
    monkeypatch.delenv("MASKFORGE_SEGMIND_URL", raising=False)
    with segmind_client() as c, pytest.raises(MaskForgeError, match="127.0.0.1 is not a public"):
        assert c.trusted_host is None
        c.download("https://127.0.0.1/mask.png")


def test_a_fetched_page_is_never_quoted(standin):
    page = standin.add_file("text/plain", b"root:x:0:0 internal secrets")
    standin.queue("/files/gone", Reply(404, b"internal secrets too", {"Content-Type": "text/plain"}))
    with segmind_client() as c:
        with pytest.raises(MaskForgeError, match="is text/plain, not an image$") as err:
            c.download(page)
        assert "secrets" not in str(err.value)
        with pytest.raises(MaskForgeError, match=r"could not be fetched \(HTTP 404 Not Found\)$") as err:
            c.download(f"{standin.url}/files/gone")
        assert "secrets" not in str(err.value)


def test_messages_name_the_host_of_the_hop_and_no_credentials(standin):
    port = standin.server.server_address[1]
    start = standin.add_file("image/png", b"")
    standin.queue(start[len(standin.url):], Reply(302, b"", {"Location": f"http://127.0.0.1:{port}/files/missing"}))
    with segmind_client() as c:
        with pytest.raises(MaskForgeError, match=rf"the result file http://127.0.0.1:{port}/files/missing could not"):
            c.download(start)
        with pytest.raises(MaskForgeError) as err:
            c.download("https://user:hunter2@10.0.0.1/x?token=abc")
    assert "hunter2" not in str(err.value) and "abc" not in str(err.value)


# A hostile world: sizes and deadlines


def test_json_replies_have_a_size_cap(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(max_json=100_000))
    standin.queue(ML_PATH, Reply(200, b"", endless=True))
    with Client(NODE, keys.MODELSLAB) as c, pytest.raises(MaskForgeError, match="over the 100000-byte limit"):
        post_modelslab(c)


def test_a_non_image_reply_is_read_only_up_to_its_cap(standin):
    standin.queue(SEGMIND_PATH, Reply(200, b"", {"Content-Type": "text/plain"}, endless=True))
    start = time.monotonic()
    with segmind_client() as c, pytest.raises(MaskForgeError, match="is text/plain, not an image: 'xxxx"):
        post_segmind(c)
    assert time.monotonic() - start < 3  # not read to its (endless) end, nor stopped by the 5 s deadline


def test_error_bodies_are_capped_and_not_read_before_a_retry(standin):
    standin.queue(SEGMIND_PATH, *[Reply(500, b"", {"Content-Type": "text/plain"}, endless=True)] * 4)
    start = time.monotonic()
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"internal error \(500 Server Error\) after 3"):
        post_segmind(c)
    assert time.monotonic() - start < 3 and len(standin.to(SEGMIND_PATH)) == 4


def test_a_dripping_reply_ends_at_the_deadline(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(deadline=1.0))
    standin.queue(SEGMIND_PATH, Reply(200, half_mask_png(4, 2), {"Content-Type": "image/png"}, drip=0.1))
    start = time.monotonic()
    with segmind_client() as c, pytest.raises(MaskForgeError, match="no complete reply from 127.0.0.1:.* within 1 s"):
        post_segmind(c)
    assert time.monotonic() - start < 2


def test_one_deadline_covers_every_redirect_hop(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(deadline=1.0))
    start = standin.add_file("image/png", b"")
    standin.queue(start[len(standin.url):], *[Reply(302, b"", {"Location": start}, delay=0.4)] * 5)
    began = time.monotonic()
    with segmind_client() as c, pytest.raises(MaskForgeError, match="no complete reply"):
        c.download(start)
    assert time.monotonic() - began < 1.8


class Cancelled(Exception):
    pass


def cancel_after(monkeypatch, seconds: float) -> list[float]:
    """ComfyUI's Cancel pressed ``seconds`` from now; returns the times it was checked."""
    from maskforge import comfy_adapter

    start, checks = time.monotonic(), []

    def check():
        checks.append(time.monotonic() - start)
        if checks[-1] >= seconds:
            raise Cancelled

    monkeypatch.setattr(comfy_adapter, "throw_if_interrupted", check)
    return checks


def test_cancel_is_checked_every_second_while_a_reply_is_slow(standin, monkeypatch):
    standin.queue(SEGMIND_PATH, Reply(200, b"late", {"Content-Type": "image/png"}, delay=4))
    checks = cancel_after(monkeypatch, 1.5)
    with segmind_client() as c, pytest.raises(Cancelled):
        post_segmind(c)
    assert checks[-1] < 2.6 and all(b - a < 1.2 for a, b in zip(checks, checks[1:]))


def test_cancel_is_checked_every_second_while_waiting_to_retry(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(sleep=time.sleep))
    standin.queue(SEGMIND_PATH, Reply(429, {"error": "slow down"}, {"Retry-After": "30"}))
    checks = cancel_after(monkeypatch, 1.5)
    with segmind_client() as c, pytest.raises(Cancelled):
        post_segmind(c)
    assert checks[-1] < 2.6 and len(standin.to(SEGMIND_PATH)) == 1


# A hostile world: charged requests, JSON


def test_a_charged_request_is_not_sent_again_when_the_connection_drops_after_sending(standin):
    standin.queue(SEGMIND_PATH, Reply(drop=True))
    with segmind_client() as c, pytest.raises(MaskForgeError) as err:
        post_segmind(c)
    assert "the connection to 127.0.0.1" in str(err.value)
    assert str(err.value).endswith("the service may have received it; check your account before retrying")
    assert len(standin.to(SEGMIND_PATH)) == 1 and standin.sleeps == []


def test_a_download_whose_connection_drops_is_tried_again(standin):
    url = standin.add_file("image/png", half_mask_png(4, 2))
    standin.queue(url[len(standin.url):], Reply(drop=True))
    with segmind_client() as c:
        assert c.download(url) == half_mask_png(4, 2)
    assert len(standin.requests) == 2


def test_deeply_nested_json_is_a_clear_error(standin):
    deep = b"[" * 100_000 + b"]" * 100_000
    standin.queue(ML_PATH, Reply(200, deep), Reply(400, deep))
    with Client(NODE, keys.MODELSLAB) as c:
        with pytest.raises(MaskForgeError, match=r"malformed reply \(JSON nested too deeply\)"):
            post_modelslab(c)
        with pytest.raises(MaskForgeError, match=r"rejected the request \(400 Bad Request\): \[\[\[\["):
            post_modelslab(c)


def test_deep_but_parsable_error_objects_are_flattened_to_a_bounded_depth():
    body = "bottom"
    for _ in range(900):
        body = {"error": body}
    assert remote_client.flatten(body) == "…"
    assert remote_client.flatten({"error": {"detail": ["a", "b"]}}) == "a; b"


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (its header only: what decoding would read first)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_decode_mask_checks_the_pixel_count_before_decoding():
    with pytest.raises(MaskForgeError, match="sent a 12000x12000 image for a 16x8 input, over the 16777216-pixel"):
        images.decode_mask(NODE, png_header(12000, 12000), 8, 16, "Segmind")
    with pytest.raises(MaskForgeError, match="sent an image of more than .* pixels for a 16x8 input"):
        images.decode_mask(NODE, png_header(30000, 30000), 8, 16)  # past PIL's own bomb limit
    small = io.BytesIO()
    Image.new("L", (5000, 4000)).save(small, "PNG")  # 20 MP, a real image a few KB long
    with pytest.raises(MaskForgeError, match="over the 16777216-pixel limit"):
        images.decode_mask(NODE, small.getvalue(), 8, 16)
    assert images.pixel_limit(4000, 4000) == 4 * 4000 * 4000  # large inputs: four times their size
