"""The four remote nodes against the local stand-in: the exact requests sent and the masks returned."""

import base64
import io
import logging
import time

import numpy as np
import pytest
import torch
from PIL import Image
from tests.remote_standin import KEYS, Reply, half_mask_png

import maskforge
from maskforge import comfy_adapter
from maskforge.errors import MaskForgeError
from maskforge.nodes import remote_nodes
from maskforge.nodes.remote_nodes import (HomeDesignsCreateMask, ModelsLabRemoveBGMask, SegmindAutomaticMask,
                                          SegmindInpaintMaskMaker)
from maskforge.remote import client as remote_client

HD_PATH = "/hd/create_maskimage"
AUTO_PATH = "/segmind/automatic-mask-generator"
MAKER_PATH = "/segmind/inpaint-mask-maker"
ML_PATH = "/modelslab/image_editing/removebg_mask"


def image(batch=1, height=6, width=8, seed=0):
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def left_half(batch, height, width, invert=False):
    mask = torch.zeros(batch, height, width)
    mask[:, :, : width // 2] = 1.0
    return 1.0 - mask if invert else mask


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def as_uint8(img: torch.Tensor) -> np.ndarray:
    return (img * 255).round().to(torch.uint8).numpy()


def run_hd(labels="sofa|floor", img=None, upload_format="png"):
    img = image(1, 512, 520) if img is None else img
    return HomeDesignsCreateMask().run(img, labels, upload_format)[0]


def run_auto(img=None, prompt="sofa", threshold=0.2, grow_mask=10, invert_mask=False, service_seed=-1,
             upload_format="png"):
    img = image() if img is None else img
    return SegmindAutomaticMask().run(img, prompt, threshold, grow_mask, invert_mask, service_seed, upload_format)[0]


def run_maker(img=None, prompt="white horse", confidence_thresh=0.5, iou_thresh=0.2, grow_mask=10,
              invert_mask=False, upload_format="png"):
    img = image() if img is None else img
    return SegmindInpaintMaskMaker().run(img, prompt, confidence_thresh, iou_thresh, grow_mask, invert_mask,
                                         upload_format)[0]


def run_ml(img=None, alpha_matting=False, fg=240, bg=20, erode=5, post_process_mask=False, inverse_mask=False,
           service_seed=-1, max_wait_s=120, cutout_background="#000000", upload_format="png"):
    img = image() if img is None else img
    return ModelsLabRemoveBGMask().run(img, alpha_matting, fg, bg, erode, post_process_mask, inverse_mask,
                                       service_seed, max_wait_s, cutout_background, upload_format)


# Registration and widgets


NODES = {
    "MaskForgeHomeDesignsCreateMask": HomeDesignsCreateMask,
    "MaskForgeSegmindAutomaticMask": SegmindAutomaticMask,
    "MaskForgeSegmindInpaintMaskMaker": SegmindInpaintMaskMaker,
    "MaskForgeModelsLabRemoveBGMask": ModelsLabRemoveBGMask,
}


def test_remote_nodes_are_registered_in_the_pack():
    for key, cls in NODES.items():
        assert maskforge.NODE_CLASS_MAPPINGS[key] is cls
        assert maskforge.NODE_DISPLAY_NAME_MAPPINGS[key]
        assert cls.CATEGORY == "MaskForge/remote" and cls.DESCRIPTION


@pytest.mark.parametrize("cls", NODES.values())
def test_every_input_has_a_tooltip_and_none_takes_a_key(cls):
    inputs = cls.INPUT_TYPES()["required"]
    assert all(spec[1].get("tooltip") for spec in inputs.values())
    assert not any("key" in name or name in ("seed", "base64", "webhook", "track_id") for name in inputs)
    assert tuple(inputs) == cls.run.__code__.co_varnames[1: len(inputs) + 1]


# Documented defaults and ranges: (node, input) → (default, min, max).
DOCUMENTED = {
    (SegmindAutomaticMask, "threshold"): (0.2, 0, 1),
    (SegmindAutomaticMask, "grow_mask"): (10, 0, 100),
    (SegmindAutomaticMask, "invert_mask"): (False, None, None),
    (SegmindAutomaticMask, "service_seed"): (-1, -1, 999999999999999),
    (SegmindInpaintMaskMaker, "confidence_thresh"): (0.5, 0, 1),
    (SegmindInpaintMaskMaker, "iou_thresh"): (0.2, 0, 1),
    (SegmindInpaintMaskMaker, "grow_mask"): (10, 0, 100),
    (SegmindInpaintMaskMaker, "invert_mask"): (False, None, None),
    (ModelsLabRemoveBGMask, "alpha_matting"): (False, None, None),
    (ModelsLabRemoveBGMask, "post_process_mask"): (False, None, None),
    (ModelsLabRemoveBGMask, "inverse_mask"): (False, None, None),
    (ModelsLabRemoveBGMask, "alpha_matting_foreground_threshold"): (240, 0, 240),
    (ModelsLabRemoveBGMask, "alpha_matting_background_threshold"): (20, 0, 20),
    (ModelsLabRemoveBGMask, "alpha_matting_erode_size"): (5, 0, 5),
}


@pytest.mark.parametrize("cls, name", DOCUMENTED)
def test_widgets_have_the_documented_defaults_and_ranges(cls, name):
    default, low, high = DOCUMENTED[(cls, name)]
    spec = cls.INPUT_TYPES()["required"][name][1]
    assert spec["default"] == default
    assert (spec.get("min"), spec.get("max")) == (low, high)


# HomeDesigns


def test_homedesigns_sends_form_data_and_returns_the_mask_at_input_size(standin):
    img = image(1, 512, 520)
    mask = run_hd("Sofa | floor", img)
    (req,) = standin.to(HD_PATH)
    assert req.method == "POST"
    assert req.headers["authorization"] == f"Bearer {KEYS['homedesigns']}"
    assert req.headers["content-type"].startswith("multipart/form-data")
    assert req.form["labels"] == "sofa|floor"
    filename, ctype, data = req.form["image"]
    assert (filename, ctype) == ("image.png", "image/png")
    assert np.array_equal(pixels(data), as_uint8(img[0]))
    # The stand-in's mask is half the input's size; the node resizes it back.
    assert mask.shape == (1, 512, 520) and mask.dtype == torch.float32
    expected = left_half(1, 512, 520)
    assert torch.equal((mask > 0.5).float(), expected)
    assert torch.equal(mask[..., :259], expected[..., :259]) and torch.equal(mask[..., 261:], expected[..., 261:])
    assert standin.requests[-1].method == "GET" and "authorization" not in standin.requests[-1].headers


def test_homedesigns_sends_bed_with_the_documented_trailing_space_first(standin):
    run_hd("floor|beds")
    assert standin.to(HD_PATH)[0].form["labels"] == "bed |floor"


def test_homedesigns_spelling_of_every_label_is_on_the_documented_list():
    from maskforge.labels import ADE20K_LABELS
    from maskforge.remote.homedesigns import labels_field
    from tests.remote_standin import HOMEDESIGNS_OBJECTS

    assert set(labels_field("N", "|".join(ADE20K_LABELS)).split("|")) == HOMEDESIGNS_OBJECTS


def test_homedesigns_jpeg_upload(standin):
    run_hd(upload_format="jpeg")
    filename, ctype, data = standin.to(HD_PATH)[0].form["image"]
    assert (filename, ctype) == ("image.jpeg", "image/jpeg") and data[:2] == b"\xff\xd8"


def test_homedesigns_unknown_label_fails_before_any_request(standin):
    with pytest.raises(MaskForgeError) as err:
        run_hd("sofas|windw")
    assert str(err.value).startswith("HomeDesignsCreateMask: labels: unknown label 'windw' — did you mean 'windowpane'")
    assert standin.requests == []


def test_homedesigns_empty_labels_fail_before_any_request(standin):
    with pytest.raises(MaskForgeError, match="labels: no labels given"):
        run_hd(" | ")
    assert standin.requests == []


@pytest.mark.parametrize("height, width", [(511, 600), (600, 100)])
def test_homedesigns_small_image_fails_locally_with_the_documented_message(standin, height, width):
    with pytest.raises(MaskForgeError) as err:
        run_hd(img=image(1, height, width))
    assert str(err.value) == (
        "HomeDesignsCreateMask: image: Invalid image size. The image width and height must be 512x512 or greater "
        f"than 512x512 pixels. (got {width}x{height}; upscale it first)")
    assert standin.requests == []


def test_homedesigns_upload_format_outside_the_documented_ones_fails_locally(standin):
    with pytest.raises(MaskForgeError, match="upload_format: Invalid image format. Only PNG, JPEG and JPG"):
        run_hd(upload_format="webp")
    assert standin.requests == []


def test_homedesigns_auth_header_is_configurable(standin, monkeypatch):
    monkeypatch.setenv("MASKFORGE_HOMEDESIGNS_AUTH_HEADER", "x-api-key")
    with pytest.raises(MaskForgeError) as err:  # the stand-in wants Bearer: a 401 names the setting
        run_hd()
    req = standin.to(HD_PATH)[0]
    assert req.headers["x-api-key"] == KEYS["homedesigns"] and "authorization" not in req.headers
    assert "401 Unauthorized" in str(err.value) and "MASKFORGE_HOMEDESIGNS_AUTH_HEADER" in str(err.value)
    assert KEYS["homedesigns"] not in str(err.value)


def test_homedesigns_auth_header_from_the_key_file(standin, monkeypatch, tmp_path):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "maskforge_keys.json").write_text('{"homedesigns_auth_header": "Authorization: Token"}')
    with pytest.raises(MaskForgeError):
        run_hd()
    assert standin.to(HD_PATH)[0].headers["authorization"] == f"Token {KEYS['homedesigns']}"


def test_homedesigns_bad_auth_header_setting_is_explained(standin, monkeypatch):
    monkeypatch.setenv("MASKFORGE_HOMEDESIGNS_AUTH_HEADER", "bad header: x")
    with pytest.raises(MaskForgeError, match="MASKFORGE_HOMEDESIGNS_AUTH_HEADER must look like"):
        run_hd()


@pytest.mark.parametrize("message, hint", [
    ("Please enter valid labels", "none of the labels was found in this image"),
    ("Labels are required.", None),
    ("Image field required", None),
])
def test_homedesigns_service_messages_reach_the_user(standin, message, hint):
    standin.queue(HD_PATH, Reply(400, {"error": message}))
    with pytest.raises(MaskForgeError) as err:
        run_hd()
    assert str(err.value).startswith("HomeDesignsCreateMask: HomeDesigns: the service rejected the request (400 Bad")
    assert message in str(err.value)
    assert hint is None or hint in str(err.value)


def test_homedesigns_reply_without_masked_image_is_an_error(standin):
    standin.queue(HD_PATH, Reply(200, {"error": "Please enter valid labels"}))
    with pytest.raises(MaskForgeError, match="no masked_image in the reply: Please enter valid labels — none of"):
        run_hd()


def test_homedesigns_masked_image_that_is_not_an_image_is_an_error(standin):
    url = standin.add_file("text/html", b"<html>expired</html>")
    standin.queue(HD_PATH, Reply(200, {"success": {"masked_image": url}}))
    with pytest.raises(MaskForgeError, match="the masked_image at .* is text/html, not an image"):
        run_hd()


# Segmind


def test_segmind_automatic_sends_the_documented_json(standin):
    img = image(1, 6, 8)
    mask = run_auto(img, prompt=" Sofa ", threshold=0.35, grow_mask=4, invert_mask=False, service_seed=468685)
    (req,) = standin.to(AUTO_PATH)
    assert req.headers["x-api-key"] == KEYS["segmind"]
    assert req.headers["content-type"] == "application/json"
    body = dict(req.json)
    data = base64.b64decode(body.pop("image"), validate=True)
    assert np.array_equal(pixels(data), as_uint8(img[0]))
    assert body == {"prompt": "Sofa", "threshold": 0.35, "grow_mask": 4, "invert_mask": False, "seed": 468685,
                    "return_mask": True, "return_alpha": False, "stop_on_empty_mask": False, "base64": False}
    # The stand-in answers at twice the size; the node resizes back.
    assert torch.equal(mask, left_half(1, 6, 8))


def test_segmind_automatic_invert_reaches_the_service(standin):
    assert torch.equal(run_auto(invert_mask=True), left_half(1, 6, 8, invert=True))


def test_segmind_mask_maker_sends_the_documented_json(standin):
    mask = run_maker(confidence_thresh=0.7, iou_thresh=0.1, grow_mask=0, invert_mask=True)
    body = dict(standin.to(MAKER_PATH)[0].json)
    body.pop("image")
    assert body == {"prompt": "white horse", "confidence_thresh": 0.7, "iou_thresh": 0.1, "grow_mask": 0,
                    "invert_mask": True, "return_mask": True, "base64": False}
    assert torch.equal(mask, left_half(1, 6, 8, invert=True))


def test_segmind_batch_is_one_request_per_image_with_progress(standin, monkeypatch):
    bars = []

    class Bar:
        def __init__(self, total):
            self.total, self.done = total, 0
            bars.append(self)

        def update(self, n):
            self.done += n

    monkeypatch.setattr(comfy_adapter, "progress_bar", Bar)
    img = image(3, 6, 8)
    mask = run_auto(img)
    requests = standin.to(AUTO_PATH)
    assert len(requests) == 3 and mask.shape == (3, 6, 8)
    for i, req in enumerate(requests):
        assert np.array_equal(pixels(base64.b64decode(req.json["image"])), as_uint8(img[i]))
    assert [(b.total, b.done) for b in bars] == [(3, 3)]


def test_segmind_cancel_stops_the_batch(standin, monkeypatch):
    class Interrupted(Exception):
        pass

    calls = []

    def interrupt():
        calls.append(1)
        if len(standin.to(AUTO_PATH)) >= 1:
            raise Interrupted

    monkeypatch.setattr(comfy_adapter, "throw_if_interrupted", interrupt)
    with pytest.raises(Interrupted):
        run_auto(image(3))
    assert len(standin.to(AUTO_PATH)) == 1


def test_segmind_empty_prompt_fails_before_any_request(standin):
    with pytest.raises(MaskForgeError, match="SegmindInpaintMaskMaker: prompt: the prompt is empty"):
        run_maker(prompt="  ")
    assert standin.requests == []


def test_segmind_validation_error_is_reported_with_the_service_message(standin):
    with pytest.raises(MaskForgeError) as err:
        run_auto(threshold=1.5)
    assert str(err.value) == ("SegmindAutomaticMask: Segmind: the service rejected the request (400 Bad Request): "
                              "threshold must be between 0 and 1")


def test_segmind_non_image_reply_is_malformed(standin):
    standin.queue(MAKER_PATH, Reply(200, {"status": "ok"}))
    with pytest.raises(MaskForgeError) as err:
        run_maker()
    assert str(err.value) == ("SegmindInpaintMaskMaker: Segmind: the reply (expected the mask image) is "
                              """application/json, not an image: '{"status": "ok"}'""")


def test_segmind_corrupt_image_reply_is_reported(standin):
    standin.queue(AUTO_PATH, Reply(200, b"\x89PNG broken", {"Content-Type": "image/png"}))
    with pytest.raises(MaskForgeError, match="Segmind sent data that is not a readable image"):
        run_auto()


def test_segmind_500_then_success_returns_the_mask(standin):
    standin.queue(AUTO_PATH, Reply(500, {"error": "Internal server error"}))
    assert torch.equal(run_auto(), left_half(1, 6, 8))
    assert len(standin.to(AUTO_PATH)) == 2 and standin.sleeps == [0.5]


def test_segmind_missing_key_names_the_variable(standin, monkeypatch):
    monkeypatch.delenv("MASKFORGE_SEGMIND_KEY")
    with pytest.raises(MaskForgeError, match="no Segmind API key: set the environment variable MASKFORGE_SEGMIND_KEY"):
        run_auto()
    assert standin.requests == []


# ModelsLab


def test_modelslab_sends_key_and_options_in_the_body(standin):
    img = image(1, 6, 8)
    run_ml(img, alpha_matting=True, fg=200, bg=10, erode=3, post_process_mask=True)
    (req,) = standin.to(ML_PATH)
    body = dict(req.json)
    uri = body.pop("image")
    assert uri.startswith("data:image/png;base64,")
    assert np.array_equal(pixels(base64.b64decode(uri.split(",", 1)[1])), as_uint8(img[0]))
    assert body == {"key": KEYS["modelslab"], "alpha_matting": True, "alpha_matting_foreground_threshold": 200,
                    "alpha_matting_background_threshold": 10, "alpha_matting_erode_size": 3,
                    "post_process_mask": True, "inverse_mask": False, "only_mask": True, "base64": False}


def test_modelslab_seed_is_sent_only_when_set(standin):
    run_ml(service_seed=12345)
    assert standin.to(ML_PATH)[0].json["seed"] == 12345


def test_modelslab_outputs_subject_background_and_cutout(standin):
    img = image(2, 6, 8)
    subject, background, cut = run_ml(img, cutout_background="#FF0000")
    expected = left_half(2, 6, 8)
    assert torch.equal(subject, expected) and torch.equal(background, 1.0 - expected)
    assert cut.shape == (2, 6, 8, 3)
    assert torch.equal(cut[:, :, :4], img[:, :, :4])
    assert torch.equal(cut[:, :, 4:], torch.tensor([1.0, 0.0, 0.0]).expand(2, 6, 4, 3))
    assert len(standin.to(ML_PATH)) == 2


def test_modelslab_inverse_mask_reaches_the_service(standin):
    subject, background, _ = run_ml(inverse_mask=True)
    assert torch.equal(subject, left_half(1, 6, 8, invert=True))


def test_modelslab_polls_processing_until_success(standin):
    standin.processing_polls = 3
    subject, _, _ = run_ml()
    assert torch.equal(subject, left_half(1, 6, 8))
    fetches = standin.to("/modelslab/image_editing/fetch/")
    assert len(fetches) == 3
    assert all(f.json == {"key": KEYS["modelslab"]} for f in fetches)
    assert standin.sleeps == [1.0] * 9  # the reply's eta (3 s) each time, in steps that check Cancel


def test_modelslab_gives_up_after_max_wait(standin, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(remote_client, "DEFAULT_SETTINGS", remote_client.Settings(
        sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0]))
    standin.processing_polls = 1000
    with pytest.raises(MaskForgeError) as err:
        run_ml(max_wait_s=10)
    assert str(err.value).startswith("ModelsLabRemoveBGMask: max_wait_s: ModelsLab: still processing after 10 s")
    assert len(standin.to("/modelslab/image_editing/fetch/")) == 3  # at 3, 6 and 9 s; at 10 s the time is up


def test_modelslab_poll_requests_count_towards_max_wait(standin):
    standin.processing_polls = 2
    standin.fetch_delay = 5.0  # the poll request itself hangs
    start = time.monotonic()
    with pytest.raises(MaskForgeError, match="max_wait_s: ModelsLab: still processing after 1 s"):
        run_ml(max_wait_s=1)
    assert time.monotonic() - start < 2.5


def test_modelslab_output_given_as_one_string_is_used(standin):
    url = standin.add_file("image/png", half_mask_png(8, 6))
    standin.queue(ML_PATH, Reply(200, {"status": "success", "id": 7, "output": url}))
    subject, _, _ = run_ml()
    assert torch.equal(subject, left_half(1, 6, 8))


def test_modelslab_fetch_result_must_be_the_exact_service_host(standin, monkeypatch):
    from maskforge.remote import keys
    from maskforge.remote.client import Client

    monkeypatch.delenv("MASKFORGE_MODELSLAB_URL")  # the documented https://modelslab.com/api/v6
    with Client("N", keys.MODELSLAB) as client:
        client.check_same_origin("https://modelslab.com/api/v6/image_editing/fetch/5")
        for other in ("https://com/api/v6/fetch/5", "https://evil.modelslab.com/fetch/5", "http://modelslab.com/x"):
            with pytest.raises(MaskForgeError, match="refusing to send the API key there"):
                client.check_same_origin(other)


def test_segmind_reply_of_too_many_pixels_is_refused_before_decoding(standin):
    from tests.test_remote_client import png_header

    standin.queue(AUTO_PATH, Reply(200, png_header(12000, 12000), {"Content-Type": "image/png"}))
    with pytest.raises(MaskForgeError, match="Segmind sent a 12000x12000 image for a 8x6 input"):
        run_auto()


def test_modelslab_fetch_result_on_another_host_is_refused(standin):
    standin.processing_polls = 2
    standin.fetch_host = "http://localhost:1"
    with pytest.raises(MaskForgeError, match="refusing to send the API key there"):
        run_ml()
    assert standin.to("/modelslab/image_editing/fetch/") == []


@pytest.mark.parametrize("reply, text", [
    ({"status": "error", "message": "Invalid API key"}, "the service answered with an error: Invalid API key"),
    ({"status": "error", "message": {"image": ["The image field is required."]}},
     "the service answered with an error: image: The image field is required."),
    ({"status": "success", "output": []}, "malformed reply: 'success' without an output URL"),
    ({"status": "processing", "id": 5}, "malformed reply: 'processing' without a fetch_result URL"),
    ({"status": "done"}, "malformed reply: status 'done'"),
])
def test_modelslab_error_and_malformed_replies(standin, reply, text):
    standin.queue(ML_PATH, Reply(200, reply))
    with pytest.raises(MaskForgeError, match=text):
        run_ml()


def test_modelslab_wrong_key_is_reported_without_the_key(standin, monkeypatch, caplog):
    monkeypatch.setenv("MASKFORGE_MODELSLAB_KEY", "wrong-key-99")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MaskForgeError) as err:
        run_ml()
    assert str(err.value) == "ModelsLabRemoveBGMask: ModelsLab: the service answered with an error: Invalid API key"
    assert "wrong-key-99" not in caplog.text


def test_modelslab_service_range_error_is_reported(standin):
    with pytest.raises(MaskForgeError, match="alpha_matting_erode_size must be between 0 and 5"):
        run_ml(erode=9)


def test_modelslab_bad_cutout_colour_fails_before_any_request(standin):
    with pytest.raises(MaskForgeError, match="cutout_background: colour 'red' is not #RRGGBB"):
        run_ml(cutout_background="red")
    assert standin.requests == []


def test_no_key_in_any_log_across_retries(standin, caplog):
    caplog.set_level(logging.DEBUG)
    standin.queue(AUTO_PATH, Reply(429, {"error": f"slow down {KEYS['segmind']}"}, {"Retry-After": "0"}))
    standin.queue(ML_PATH, Reply(503, {"message": f"busy for {KEYS['modelslab']}"}))
    run_auto()
    run_ml()
    assert "retrying" in caplog.text
    assert not any(key in caplog.text for key in KEYS.values())


def test_module_keeps_no_comfyui_imports():
    import maskforge.remote.client as c

    source = open(c.__file__).read() + open(remote_nodes.__file__).read()
    assert "import comfy." not in source and "folder_paths" not in source
