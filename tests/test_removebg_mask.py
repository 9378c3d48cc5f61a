import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import maskforge
from maskforge.errors import MaskForgeError
from maskforge.nodes.removebg_mask import RemoveBGMask
from tests.photos import as_image, photo
from tests.tiny_rembg import square_image, write_model

DEFAULTS = dict(model="u2net.onnx", alpha_matting=False, alpha_matting_foreground_threshold=240,
                alpha_matting_background_threshold=20, alpha_matting_erode_size=5, post_process_mask=False,
                cutout_background="#FF0000", custom_model_family="u2net", force_cpu=False)


@pytest.fixture
def rembg_dir(models_dir, monkeypatch, tmp_path):
    """models/rembg with a tiny U²-Net-style file under the registry name u2net.onnx, and users' own
    files: an ISNet-style one and one that finds nothing. rembg may neither download nor write."""
    import pooch

    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("rembg tried to download a model"))
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "rembg_home"))
    monkeypatch.setenv("REMBG_HOME", str(tmp_path / "rembg_home"))
    folder = models_dir / "rembg"
    write_model(folder / "u2net.onnx", "u2net")
    write_model(folder / "my_isnet.onnx", "isnet")
    write_model(folder / "people" / "nothing.onnx", "u2net", flat=True)
    yield folder
    assert not (tmp_path / "rembg_home").exists()


def images(*shapes):
    return torch.stack([torch.from_numpy(square_image(*shape)).float() / 255.0 for shape in shapes])


def run(image, **options):
    return RemoveBGMask().run(image, **{**DEFAULTS, **options})


def test_the_node_is_registered_with_the_pack():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgeRemoveBGMask"] is RemoveBGMask
    assert maskforge.NODE_DISPLAY_NAME_MAPPINGS["MaskForgeRemoveBGMask"] == "Remove Background Mask"


def test_every_input_has_a_tooltip_and_the_model_tooltip_names_licences(rembg_dir):
    inputs = RemoveBGMask.INPUT_TYPES()["required"]
    assert all("tooltip" in options for _, options in inputs.values())
    assert "seed" not in inputs
    assert "CC BY-NC 4.0" in inputs["model"][1]["tooltip"] and "Apache-2.0" in inputs["model"][1]["tooltip"]


def test_the_model_list_has_registry_names_first_then_the_users_files(rembg_dir):
    models = RemoveBGMask.INPUT_TYPES()["required"]["model"][0]
    assert models[0] == "u2net.onnx" and "isnet-general-use.onnx" in models and "bria-rmbg.onnx" in models
    assert models[-2:] == ["my_isnet.onnx", "people/nothing.onnx"]
    assert models.count("u2net.onnx") == 1


def test_a_batch_of_two_gives_the_subject_its_inverse_and_the_cutout(rembg_dir):
    batch = images((48, 64), (48, 64))
    batch[1] = batch[1].flip(1)  # the square at the other side
    subject, background, cutout = run(batch)
    assert subject.shape == background.shape == (2, 48, 64) and cutout.shape == (2, 48, 64, 3)
    assert subject.dtype == torch.float32 and subject.device.type == "cpu"
    assert subject[0, 24, 24] == 1 and subject[0, 24, 56] == 0
    assert subject[1, 24, 40] == 1 and subject[1, 24, 8] == 0
    assert torch.allclose(background, 1 - subject)
    assert torch.equal(cutout[0, 24, 24], torch.tensor([1.0, 1.0, 1.0]))  # the subject's own pixels
    assert torch.equal(cutout[0, 4, 4], torch.tensor([1.0, 0.0, 0.0]))  # cutout_background


def test_a_users_isnet_file_runs_with_the_isnet_family(rembg_dir):
    subject, _, _ = run(images((40, 30)), model="my_isnet.onnx", custom_model_family="isnet")
    assert subject.shape == (1, 40, 30) and subject[0, 20, 10] == 1 and subject[0, 2, 2] == 0


def test_an_image_with_nothing_gives_an_empty_subject_and_a_full_background(rembg_dir):
    subject, background, cutout = run(images((32, 32)), model="people/nothing.onnx")
    assert subject.shape == (1, 32, 32) and subject.max() == 0 and background.min() == 1
    assert torch.equal(cutout[0].reshape(-1, 3).unique(dim=0), torch.tensor([[1.0, 0.0, 0.0]]))


@pytest.mark.parametrize("shape", [(1, 1), (1, 200), (37, 5)])
def test_one_pixel_and_non_square_images_keep_their_size(rembg_dir, shape):
    for matting in (False, True):
        subject, background, cutout = run(images(shape), alpha_matting=matting)
        assert subject.shape == background.shape == (1, *shape) and cutout.shape == (1, *shape, 3)
        assert torch.isfinite(subject).all()


def test_alpha_matting_and_post_processing_change_the_edge(rembg_dir):
    batch = images((96, 128))
    plain = run(batch)[0]
    matted, _, matted_cutout = run(batch, alpha_matting=True)
    smoothed = run(batch, post_process_mask=True)[0]
    assert not torch.equal(plain, matted) and not torch.equal(plain, smoothed)
    assert set(smoothed.unique().tolist()) == {0.0, 1.0}
    assert matted[0, 48, 40] > 0.98 and matted[0, 5, 5] < 0.02
    assert torch.allclose(matted_cutout[0, 5, 5], torch.tensor([1.0, 0.0, 0.0]), atol=0.02)


def test_each_image_updates_the_progress_bar_and_checks_for_interrupts(rembg_dir, fake_comfyui, monkeypatch):
    checks = []
    monkeypatch.setattr(fake_comfyui.modules["comfy.model_management"], "throw_exception_if_processing_interrupted",
                        lambda: checks.append(1))
    run(images((16, 16), (16, 16), (16, 16)))
    assert len(checks) == 3
    assert [(bar.total, bar.current) for bar in fake_comfyui.progress if bar.total == 3] == [(3, 3)]


def test_a_missing_known_model_offline_names_the_file_and_the_folder_quickly(rembg_dir):
    start = time.monotonic()
    with pytest.raises(MaskForgeError) as err:
        run(images((8, 8)), model="isnet-general-use.onnx")
    assert time.monotonic() - start < 2
    message = str(err.value)
    assert message.startswith("RemoveBGMask: model: ") and "isnet-general-use.onnx" in message
    assert str(rembg_dir) in message and "releases/download/v0.0.0/isnet-general-use.onnx" in message


def test_an_unknown_model_name_is_a_clear_error(rembg_dir):
    with pytest.raises(MaskForgeError, match="RemoveBGMask: model: 'gone.onnx' is not a model MaskForge knows"):
        run(images((8, 8)), model="gone.onnx")


def test_a_bad_cutout_background_is_a_clear_error(rembg_dir):
    with pytest.raises(MaskForgeError, match="RemoveBGMask: cutout_background: colour 'red' is not #RRGGBB"):
        run(images((8, 8)), cutout_background="red")


def test_without_rembg_the_node_says_what_to_install_and_the_pack_still_loads(rembg_dir, monkeypatch):
    for name in ("rembg", "rembg.bg", "rembg.sessions"):
        monkeypatch.setitem(sys.modules, name, None)
    assert "MaskForgeRemoveBGMask" in maskforge.NODE_CLASS_MAPPINGS
    RemoveBGMask.INPUT_TYPES()  # the dropdown still builds
    with pytest.raises(MaskForgeError, match="`pip install rembg`"):
        run(images((8, 8)))


def test_the_pack_loads_and_reports_a_missing_model_fast_without_importing_rembg(tmp_path):
    """rembg's first import compiles pymatting with numba (about a minute on a fresh install)."""
    code = ("import os, sys, time, torch; from tools.pack import load_pack; load_pack(); "
            "loaded = lambda: sorted(m for m in ('rembg', 'onnxruntime', 'pymatting') if m in sys.modules); "
            "print(loaded(), os.environ.get('ORT_DISABLE_TELEMETRY')); "
            "from maskforge.nodes.removebg_mask import RemoveBGMask; start = time.monotonic()\n"
            "try: RemoveBGMask().run(torch.zeros(1, 8, 8, 3), **" + repr({**DEFAULTS, "model": "isnet-general-use.onnx"}) +
            ")\nexcept Exception as e: print(type(e).__name__, time.monotonic() - start < 2, loaded())")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env |= {"MASKFORGE_MODELS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    # ORT_DISABLE_TELEMETRY is set before ONNX Runtime's first import, which reads it.
    assert out.stdout.split("\n")[:2] == ["[] 1", "MaskForgeError True []"]


def test_a_file_in_an_extra_rembg_folder_of_comfyui_is_listed_and_runs(rembg_dir, fake_comfyui, tmp_path):
    extra = tmp_path / "elsewhere" / "rembg"
    write_model(extra / "shared.onnx", "u2net")
    fake_comfyui.modules["folder_paths"].add_model_folder_path("rembg", str(extra))  # as extra_model_paths.yaml does
    assert "shared.onnx" in RemoveBGMask.INPUT_TYPES()["required"]["model"][0]
    subject, _, _ = run(images((20, 24)), model="shared.onnx")
    assert subject[0, 10, 8] > 0.9 and subject[0, 2, 20] < 0.1


# --- ComfyUI's own background-removal model (BACKGROUND_REMOVAL) ---


class CoreModel:
    """Stands in for core's BackgroundRemovalModel: encode_image(image [B,H,W,C], image_size) gives a soft
    [B,H,W] mask, made at the model's square size and resized back, as core's does. Its mask is a smooth
    function of brightness, so its values vary across the image. It records each call."""

    image_size = 16

    def __init__(self):
        self.calls = []

    def encode_image(self, image, image_size=None):
        self.calls.append((image.shape[0], image_size))
        size = image_size or self.image_size
        small = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(size, size), mode="bilinear")
        logits = (small.mean(1, keepdim=True) - 0.5) * 6
        out = torch.nn.functional.interpolate(logits, size=image.shape[1:3], mode="bicubic")
        return out.sigmoid().squeeze(1)


def no_onnx(monkeypatch):
    """Any look for an ONNX file or session fails the test."""
    from maskforge.models import rembg_backend, weights

    for module, name in ((weights, "resolve"), (rembg_backend, "session"), (rembg_backend, "libraries")):
        monkeypatch.setattr(module, name, lambda *a, _name=name, **k: pytest.fail(f"{_name} was called"))


def test_the_core_model_makes_the_mask_image_by_image_and_no_onnx_model_is_looked_for(models_dir, monkeypatch):
    no_onnx(monkeypatch)
    model = CoreModel()
    batch = images((40, 56), (40, 56), (40, 56))
    batch[1] = batch[1].flip(1)
    subject, background, cutout = run(batch, model="isnet-general-use.onnx", bg_removal_model=model)
    assert model.calls == [(1, None)] * 3  # one image per call, at the model's own size
    expected = torch.cat([CoreModel().encode_image(batch[i : i + 1]) for i in range(3)])
    assert torch.equal(subject, expected)  # the model's soft mask itself, not rounded to 8 bits
    assert 0 < subject.min() < 0.05 and 0.95 < subject.max() < 1 and len(subject.unique()) > 50
    assert torch.allclose(background, 1 - subject)
    red = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(cutout, red + subject[..., None] * (batch - red), atol=1e-6)


def test_resolution_sets_the_size_the_core_model_sees(models_dir):
    model = CoreModel()
    small = run(images((40, 56)), bg_removal_model=model, resolution=64)[0]
    own = run(images((40, 56)), bg_removal_model=model)[0]
    assert model.calls == [(1, 64), (1, None)]
    assert not torch.equal(small, own)


def test_post_processing_and_alpha_matting_refine_the_core_models_mask_as_rembg_does(models_dir):
    from rembg.bg import post_process

    batch = images((96, 128))
    plain = run(batch, bg_removal_model=CoreModel())[0]
    smoothed = run(batch, bg_removal_model=CoreModel(), post_process_mask=True)[0]
    expected = post_process(maskforge.ops.to_uint8(plain[0].numpy())).astype("float32") / 255
    assert torch.equal(smoothed[0], torch.from_numpy(expected)) and set(smoothed.unique().tolist()) == {0.0, 1.0}
    matted, _, matted_cutout = run(batch, bg_removal_model=CoreModel(), alpha_matting=True)
    assert not torch.equal(matted, plain)
    assert matted[0, 48, 40] > 0.98 and matted[0, 5, 5] < 0.02
    assert torch.allclose(matted_cutout[0, 5, 5], torch.tensor([1.0, 0.0, 0.0]), atol=0.02)


@pytest.mark.parametrize(("model", "message"), [
    ("u2net.onnx", "got a str, which is not a background-removal model; connect the bg_model output"),
    (object(), "got a object, which is not a background-removal model"),
])
def test_something_that_is_not_a_background_removal_model_is_a_clear_error(models_dir, model, message):
    with pytest.raises(MaskForgeError, match=f"RemoveBGMask: bg_removal_model: {message}"):
        run(images((8, 8)), bg_removal_model=model)


class WrongModel:
    def __init__(self, result):
        self.result = result

    def encode_image(self, image, image_size=None):
        return self.result


@pytest.mark.parametrize(("result", "message"), [
    (torch.zeros(2, 8, 8), "a mask of shape \\[2, 8, 8\\] for one 8x8 image"),
    (torch.zeros(1, 4, 4), "a mask of shape \\[1, 4, 4\\]"),
    (torch.full((1, 8, 8), float("nan")), "NaN"),
    ("mask", "gave a str, not a mask"),
])
def test_a_core_model_giving_something_else_than_one_mask_is_a_clear_error(models_dir, result, message):
    with pytest.raises(MaskForgeError, match=f"RemoveBGMask: bg_removal_model: .*{message}"):
        run(images((8, 8)), bg_removal_model=WrongModel(result))


def test_the_core_model_path_checks_cancel_per_image(models_dir, fake_comfyui, monkeypatch):
    model = CoreModel()
    checks = []

    def cancel_on_second():
        checks.append(1)
        if len(checks) == 2:
            raise fake_comfyui.modules["comfy.model_management"].Interrupted()

    monkeypatch.setattr(fake_comfyui.modules["comfy.model_management"], "throw_exception_if_processing_interrupted",
                        cancel_on_second)
    with pytest.raises(fake_comfyui.modules["comfy.model_management"].Interrupted):
        run(images((16, 16), (16, 16), (16, 16)), bg_removal_model=model)
    assert len(model.calls) == 1  # stopped before the second image reached the model


def test_the_new_inputs_are_optional_with_tooltips():
    optional = RemoveBGMask.INPUT_TYPES()["optional"]
    assert optional["bg_removal_model"][0] == "BACKGROUND_REMOVAL"
    assert optional["resolution"][1]["default"] == 0
    assert all(spec[1].get("tooltip") for spec in optional.values())


@pytest.mark.parametrize(("model", "family", "reference_session"), [
    ("u2net.onnx", "u2net", "u2net_custom"), ("my_isnet.onnx", "isnet", "dis_custom")])
@pytest.mark.parametrize("post_process_mask", [False, True])
def test_the_subject_mask_is_rembgs_remove_on_a_photo(rembg_dir, tmp_path, monkeypatch, model, family,
                                                      reference_session, post_process_mask):
    """rembg's own ``remove(..., only_mask=True)`` on the same tiny ONNX file, bit for bit. Varied: the
    brightness-to-subject model gives a mask with every grey level across the photo."""
    from PIL import Image
    from rembg import new_session, remove

    pixels = photo("chelsea")
    with monkeypatch.context() as env:  # rembg reads custom files only from its own home
        home = tmp_path / "reference_home"
        home.mkdir()
        shutil.copy(rembg_dir / model, home / model)
        env.setenv("U2NET_HOME", str(home))
        env.setenv("REMBG_HOME", str(home))
        session = new_session(reference_session, model_path=str(home / model))
        expected = np.asarray(remove(Image.fromarray(pixels), session=session, only_mask=True,
                                     post_process_mask=post_process_mask))
    subject, _, _ = run(as_image(pixels), model=model, custom_model_family=family, post_process_mask=post_process_mask)
    assert len(np.unique(expected)) > (1 if post_process_mask else 200)
    assert np.array_equal((subject[0].numpy() * 255).round().astype(np.uint8), expected)


def test_under_comfyuis_cpu_device_no_gpu_provider_is_tried(rembg_dir, fake_comfyui, monkeypatch):
    import onnxruntime

    requested = []
    open_session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda path, sess_options, providers: requested.append(
        providers) or open_session(path, sess_options=sess_options, providers=["CPUExecutionProvider"]))
    run(images((16, 16)))  # ComfyUI started with --cpu
    assert requested == [["CPUExecutionProvider"]]
    fake_comfyui.device = torch.device("cuda", 1)  # ComfyUI on the second GPU
    run(images((16, 16)))
    assert requested[-1] == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]


def test_a_users_file_run_with_the_wrong_family_names_the_file_and_what_to_set(rembg_dir):
    with pytest.raises(MaskForgeError, match="RemoveBGMask: custom_model_family: .*my_isnet.onnx does not take the "
                                             "input custom_model_family 'u2net' gives it .*: set custom_model_family"):
        run(images((16, 16)), model="my_isnet.onnx", custom_model_family="u2net")


def test_another_models_file_under_a_known_name_is_reported_on_the_model(rembg_dir):
    write_model(rembg_dir / "u2net.onnx", "isnet")  # a 1024 px ISNet saved as U²-Net's file
    with pytest.raises(MaskForgeError, match="RemoveBGMask: model: .*u2net.onnx does not take the input of rembg's "
                                             "'u2net' model .*another model's file"):
        run(images((16, 16)))


def test_alpha_matting_without_a_solution_cuts_out_as_rembgs_remove_does(rembg_dir):
    from rembg import remove

    from maskforge.models import rembg_backend

    rgb = square_image(96, 128)
    rgb[..., 2] = 90  # a blue background: remove() frees the edge colours of it
    batch = torch.from_numpy(rgb).float()[None] / 255
    subject, _, cutout = run(batch, alpha_matting=True, alpha_matting_foreground_threshold=255)  # no sure subject
    assert torch.equal(subject, run(batch)[0])  # the plain mask
    libs = rembg_backend.libraries("test")
    session = rembg_backend.session("test", libs, rembg_dir / "u2net.onnx", "u2net", force_cpu=True)
    reference = remove(rgb, session=session, alpha_matting=True, alpha_matting_foreground_threshold=255,
                       alpha_matting_background_threshold=20, alpha_matting_erode_size=5, bgcolor=(255, 0, 0, 255))
    assert torch.allclose(cutout[0], torch.tensor(reference[..., :3]).float() / 255, atol=1.01 / 255)


def test_unload_models_drops_the_onnx_session_and_the_next_run_opens_it_again(rembg_dir, fake_comfyui, monkeypatch):
    import gc
    import weakref

    import onnxruntime

    opened = []
    open_session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: opened.append(open_session(*a, **k)) or opened[-1])
    run(images((16, 16)))
    run(images((16, 16)))
    assert len(opened) == 1
    first = weakref.ref(opened.pop())
    fake_comfyui.patchers.clear(), fake_comfyui.loaded.clear()  # the fake's own records
    fake_comfyui.modules["comfy.model_management"].unload_all_models()  # POST /free {"unload_models": true}
    gc.collect()
    assert first() is None  # freed there and then
    run(images((16, 16)))
    assert len(opened) == 1  # and opened again
