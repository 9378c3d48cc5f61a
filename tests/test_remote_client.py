"""The shared remote client against the local stand-in: keys, retries, error mapping, downloads, images."""

import base64
import io
import json
import logging
import socket

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


def segmind_client(**kwargs) -> Client:
    return Client(NODE, keys.SEGMIND, **kwargs)


def post_segmind(c: Client):
    body = {"image": images.to_base64(images.encode_image(torch.rand(4, 6, 3))), "prompt": "sofa"}
    return c.post(c.url("automatic-mask-generator"), headers={"x-api-key": c.key}, json=body)


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
        resp = post_segmind(c)
    assert resp.status_code == 200
    assert len(standin.to(SEGMIND_PATH)) == 2
    assert standin.sleeps == [3.0]


def test_500_then_success_is_retried_with_backoff(standin):
    standin.queue(SEGMIND_PATH, Reply(500, {"error": "Internal server error"}), Reply(502, b"", {}))
    with segmind_client() as c:
        assert post_segmind(c).status_code == 200
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
    assert len(standin.sleeps) == 3


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


def test_slow_reply_hits_the_read_timeout_and_is_not_retried(standin, monkeypatch):
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS",
                        remote_client.Settings(read_timeout=0.3, sleep=standin.sleeps.append))
    standin.queue(SEGMIND_PATH, Reply(200, b"late", {"Content-Type": "image/png"}, delay=1.5))
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"no reply within 0.3 s from 127\.0\.0\.1"):
        post_segmind(c)
    assert len(standin.to(SEGMIND_PATH)) == 1 and standin.sleeps == []


def test_unreachable_host_is_retried_then_reported(standin, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASKFORGE_SEGMIND_URL", f"http://127.0.0.1:{port}/v1")
    with segmind_client() as c, pytest.raises(MaskForgeError, match="cannot reach 127.0.0.1:.* after 3 retries"):
        post_segmind(c)
    assert standin.sleeps == [0.5, 1.0, 2.0]


def test_api_calls_do_not_follow_redirects(standin):
    standin.queue(SEGMIND_PATH, Reply(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"unexpected redirect \(HTTP 302\)"):
        post_segmind(c)
    assert len(standin.requests) == 1


def test_key_is_only_sent_to_the_service_host(standin):
    with segmind_client() as c, pytest.raises(MaskForgeError, match="refusing to send the API key there"):
        c.post("http://localhost:1/steal", json={"key": c.key})
    assert standin.requests == []


@pytest.mark.parametrize("url, allowed", [
    ("http://127.0.0.1:{port}/segmind/fetch/1", True),
    ("http://api.127.0.0.1:{port}/x", True),  # a subdomain of the service's host
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
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"the request to .* failed \(InvalidURL\)"):
        c.download("http://")


def test_malformed_json_reply_is_a_clear_error(standin):
    standin.queue(SEGMIND_PATH, Reply(200, b"{not json", {"Content-Type": "application/json"}))
    with segmind_client() as c, pytest.raises(MaskForgeError, match=r"malformed reply \(not JSON\): '\{not json'"):
        c.json_body(post_segmind(c))


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
