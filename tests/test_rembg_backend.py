import logging
import os
import sys
import types

import numpy as np
import pytest

from maskforge.errors import MaskForgeError
from maskforge.models import rembg_backend
from maskforge.models.registry import specs
from tests.tiny_rembg import square_image, write_model

NODE = "RemoveBGMask"


@pytest.fixture
def libs():
    return rembg_backend.libraries(NODE)


@pytest.fixture(autouse=True)
def _rembg_never_downloads(monkeypatch, tmp_path):
    """rembg's own sessions fetch files with pooch into its home folder: neither may happen."""
    import pooch

    def refuse(*args, **kwargs):
        raise AssertionError("rembg tried to download a model")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    home = tmp_path / "rembg_home"
    monkeypatch.setenv("U2NET_HOME", str(home))
    monkeypatch.setenv("REMBG_HOME", str(home))
    yield
    assert not home.exists(), "rembg wrote into its own model folder"


def test_every_registry_model_maps_to_a_rembg_session_with_a_release_url_and_checksum(libs):
    rows = specs("rembg")
    assert rows[0].name == "u2net.onnx"  # the default: Apache-2.0, fast on CPU
    for spec in rows:
        assert spec.folder == "rembg"
        assert rembg_backend.session_name(spec.name, "u2net") in libs.sessions, spec.name
        (file,) = spec.files
        assert file.path == spec.name and file.url.startswith("https://github.com/danielgatis/rembg/releases/")
        assert file.md5 or file.sha256
        assert spec.licence
    assert not next(s for s in rows if s.name == "bria-rmbg.onnx").commercial


def test_custom_files_use_the_family_the_user_picked():
    assert rembg_backend.session_name("my_model.onnx", "isnet") == "dis_custom"
    assert rembg_backend.session_name("my_model.onnx", "u2net") == "u2net_custom"
    assert rembg_backend.session_name("isnet-general-use.onnx", "u2net") == "isnet-general-use"


_U2NET_SIZED = ("u2net", "u2netp", "u2net_human_seg", "silueta")  # 320 px inputs; the rest take 1024 px
_EVERY_SESSION = [("u2net" if s.name[:-5] in _U2NET_SIZED else "isnet", rembg_backend.session_name(s.name, "u2net"))
                  for s in specs("rembg")]
_EVERY_SESSION += [("u2net" if family == "u2net" else "isnet", session)
                   for family, session in rembg_backend.CUSTOM_FAMILIES.items()]


@pytest.mark.parametrize("family, session", _EVERY_SESSION)
def test_a_file_outside_rembgs_folder_runs_and_finds_the_bright_square(tmp_path, libs, family, session):
    path = write_model(tmp_path / "anywhere" / f"{family}.onnx", family)
    sess = rembg_backend.session(NODE, libs, path, session)
    image = square_image(48, 64)
    alpha, foreground = rembg_backend.predict_alpha(libs, sess, image)
    assert alpha.shape == (48, 64) and alpha.dtype == np.uint8 and foreground is None
    assert alpha[24, 24] == 255 and alpha[4, 4] == 0 and alpha[24, 56] == 0


def test_the_session_is_cached_and_reopened_when_the_file_changes(tmp_path, libs):
    path = write_model(tmp_path / "m.onnx")
    first = rembg_backend.session(NODE, libs, path, "u2net_custom")
    assert rembg_backend.session(NODE, libs, path, "u2net_custom") is first
    write_model(path, flat=True)
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert rembg_backend.session(NODE, libs, path, "u2net_custom") is not first


def test_a_flat_prediction_gives_an_empty_mask_without_numpy_warnings(tmp_path, libs):
    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "flat.onnx", flat=True), "u2net_custom")
    with np.errstate(all="raise"):
        alpha, _ = rembg_backend.predict_alpha(libs, sess, square_image())
    assert alpha.max() == 0


def test_post_processing_gives_a_hard_mask(tmp_path, libs):
    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "m.onnx"), "u2net_custom")
    plain, _ = rembg_backend.predict_alpha(libs, sess, square_image(96, 128))
    smoothed, _ = rembg_backend.predict_alpha(libs, sess, square_image(96, 128), post_process=True)
    assert ((plain > 0) & (plain < 255)).any()  # the resized prediction has soft edges
    assert set(np.unique(smoothed)) == {0, 255}


def test_alpha_matting_gives_the_matted_alpha_and_foreground(tmp_path, libs):
    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "m.onnx"), "u2net_custom")
    image = square_image(96, 128)
    plain, _ = rembg_backend.predict_alpha(libs, sess, image)
    alpha, foreground = rembg_backend.predict_alpha(libs, sess, image, alpha_matting=True, foreground_threshold=240,
                                                    background_threshold=20, erode_size=5)
    assert foreground.shape == (96, 128, 3) and alpha.shape == (96, 128)
    assert not np.array_equal(alpha, plain)
    assert alpha[48, 40] > 250 and alpha[5, 5] < 5


def test_alpha_matting_without_a_sure_subject_keeps_the_plain_mask_and_cuts_out_as_rembg_does(tmp_path, libs, caplog):
    from rembg import remove

    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "m.onnx"), "u2net_custom")
    image = square_image(96, 128)
    image[..., 2] = 90  # a blue background, which the cut-out's edge colours must be freed of
    plain, _ = rembg_backend.predict_alpha(libs, sess, image)
    # No mask value is above 255, so there is no sure subject: matting has no solution.
    alpha, foreground = rembg_backend.predict_alpha(libs, sess, image, alpha_matting=True, foreground_threshold=255)
    assert "alpha matting found no solution" in caplog.text
    reference = remove(image, session=sess, alpha_matting=True, alpha_matting_foreground_threshold=255,
                       alpha_matting_background_threshold=10, alpha_matting_erode_size=10)
    assert np.array_equal(alpha, plain) and np.array_equal(alpha, reference[..., 3])
    assert np.array_equal(foreground, reference[..., :3])
    edge = (alpha > 0) & (alpha < 255)
    assert np.abs(foreground.astype(int) - image)[edge].max() > 8  # not the raw image's colours


def test_alpha_matting_of_an_image_with_nothing_in_it_keeps_the_empty_mask(tmp_path, libs, caplog):
    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "flat.onnx", flat=True), "u2net_custom")
    alpha, _ = rembg_backend.predict_alpha(libs, sess, square_image(), alpha_matting=True)
    assert alpha.max() == 0 and "alpha matting found no solution" in caplog.text


def test_the_provider_that_runs_is_logged(tmp_path, libs, caplog):
    caplog.set_level(logging.INFO)
    rembg_backend.session(NODE, libs, write_model(tmp_path / "logged.onnx"), "u2net_custom", force_cpu=True)
    assert "logged.onnx runs on CPUExecutionProvider" in caplog.text


def _fake_ort(*available):
    return types.SimpleNamespace(get_available_providers=lambda: list(available))


def test_providers_take_the_first_available_accelerator_then_the_cpu():
    cpu = "CPUExecutionProvider"
    assert rembg_backend.providers(_fake_ort("CUDAExecutionProvider", cpu), device_index=1) == [
        ("CUDAExecutionProvider", {"device_id": 1}), cpu]
    assert rembg_backend.providers(_fake_ort("TensorrtExecutionProvider", "DmlExecutionProvider", cpu)) == [
        ("DmlExecutionProvider", {"device_id": 0}), cpu]
    assert rembg_backend.providers(_fake_ort("CoreMLExecutionProvider", cpu)) == ["CoreMLExecutionProvider", cpu]
    assert rembg_backend.providers(_fake_ort("CUDAExecutionProvider", cpu), force_cpu=True) == [cpu]
    assert rembg_backend.providers(_fake_ort(cpu)) == [cpu]


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_a_requested_gpu_that_does_not_load_is_reported(tmp_path, libs, caplog, monkeypatch):
    monkeypatch.setattr(rembg_backend, "providers", lambda ort, force_cpu=False, device_index=0: [
        ("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"])
    rembg_backend.session(NODE, libs, write_model(tmp_path / "gpu.onnx"), "u2net_custom")
    assert "could not use CUDAExecutionProvider" in caplog.text and "runs on CPUExecutionProvider" in caplog.text


def test_a_file_onnx_runtime_cannot_open_gives_a_clear_error(tmp_path, libs):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(MaskForgeError, match="RemoveBGMask: model: .*broken.onnx is damaged, incomplete or not the right "
                                             "kind of file \\(not a model ONNX Runtime can open: .*\\); delete it"):
        rembg_backend.session(NODE, libs, path, "u2net_custom")


def test_missing_onnx_runtime_says_to_install_one_runtime(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MaskForgeError) as err:
        rembg_backend.libraries(NODE)
    message = str(err.value)
    assert message.startswith("RemoveBGMask: ONNX Runtime is not installed")
    assert "pip install onnxruntime`" in message and "pip install onnxruntime-gpu`" in message and "never both" in message


def test_missing_rembg_says_to_install_it(monkeypatch):
    for name in ("rembg", "rembg.bg", "rembg.sessions"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MaskForgeError, match=r"RemoveBGMask: rembg is not installed .*`pip install rembg`"):
        rembg_backend.libraries(NODE)


def test_two_onnx_runtimes_installed_are_reported_once(monkeypatch, caplog):
    monkeypatch.setattr(rembg_backend, "_installed", lambda name: name in ("onnxruntime", "onnxruntime-gpu"))
    rembg_backend._warn_two_runtimes.cache_clear()
    rembg_backend.libraries(NODE)
    rembg_backend.libraries(NODE)
    assert caplog.text.count("onnxruntime and onnxruntime-gpu are installed together") == 1
    rembg_backend._warn_two_runtimes.cache_clear()


def test_a_rembg_without_the_model_type_asks_for_an_update(tmp_path, libs):
    older = rembg_backend.Libraries(libs.ort, {k: v for k, v in libs.sessions.items() if k != "ben_custom"}, libs.bg)
    with pytest.raises(MaskForgeError, match="RemoveBGMask: model: the installed rembg has no 'ben_custom' model type"):
        rembg_backend.session(NODE, older, write_model(tmp_path / "ben.onnx", "isnet"), "ben_custom")


def test_a_rembg_too_old_for_the_session_table_asks_for_an_update(monkeypatch):
    monkeypatch.setitem(sys.modules, "rembg.sessions", types.ModuleType("rembg.sessions"))
    with pytest.raises(MaskForgeError, match=r"the installed rembg is too old .*rembg>=2.0.67"):
        rembg_backend.libraries(NODE)


def test_a_folder_where_the_onnx_file_should_be_gives_a_clear_error(tmp_path, libs):
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(MaskForgeError, match="RemoveBGMask: model: .*folder.onnx is a folder; pick an .onnx file"):
        rembg_backend.session(NODE, libs, tmp_path / "folder.onnx", "u2net_custom")


def test_a_model_run_with_the_wrong_family_raises_wrong_input(tmp_path, libs):
    sess = rembg_backend.session(NODE, libs, write_model(tmp_path / "isnet.onnx", "isnet"), "u2net_custom")
    with pytest.raises(rembg_backend.WrongInput, match="Got: 320 Expected: 1024|invalid dimensions"):
        rembg_backend.predict_alpha(libs, sess, square_image())


@pytest.fixture
def fresh_numba(monkeypatch, tmp_path):
    """pymatting not imported yet, no NUMBA_CACHE_DIR, and a stand-in for numba's config module."""
    monkeypatch.delitem(sys.modules, "pymatting", raising=False)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("MASKFORGE_USER_DIR", str(tmp_path / "user"))
    reloads = []
    monkeypatch.setitem(sys.modules, "numba.core.config", types.SimpleNamespace(reload_config=lambda: reloads.append(1)))
    return reloads


def test_numba_caches_in_the_user_folder_when_pymattings_folder_is_read_only(fresh_numba, monkeypatch, tmp_path):
    monkeypatch.setattr(rembg_backend, "_writable", lambda folder: False)
    rembg_backend.numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "user" / "maskforge" / "numba-cache")
    assert fresh_numba == [1]  # numba, already imported, re-reads its settings


def test_numba_keeps_its_own_cache_where_pymattings_folder_is_writable(fresh_numba, monkeypatch):
    monkeypatch.setattr(rembg_backend, "_writable", lambda folder: True)
    rembg_backend.numba_cache()
    assert "NUMBA_CACHE_DIR" not in os.environ and fresh_numba == []


def test_a_users_numba_cache_dir_is_kept(fresh_numba, monkeypatch):
    monkeypatch.setattr(rembg_backend, "_writable", lambda folder: False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/users/choice")
    rembg_backend.numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == "/users/choice" and fresh_numba == []


@pytest.fixture
def no_telemetry_setting(monkeypatch):
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)


def test_onnx_runtime_telemetry_is_switched_off_unless_the_user_set_it(no_telemetry_setting, monkeypatch, caplog):
    rembg_backend.disable_telemetry()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1" and caplog.text == ""
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    rembg_backend.disable_telemetry()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "0"


def test_onnx_runtime_imported_by_another_pack_first_is_reported(no_telemetry_setting, monkeypatch, caplog):
    calls = []
    monkeypatch.setitem(sys.modules, "onnxruntime",
                        types.SimpleNamespace(disable_telemetry_events=lambda: calls.append(1)))
    rembg_backend.disable_telemetry()
    assert calls == [1]  # its non-essential events at least
    assert "imported before MaskForge loaded" in caplog.text and "ORT_DISABLE_TELEMETRY=1" in caplog.text
