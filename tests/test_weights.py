import hashlib
import logging
import os
import time

import pytest

from maskforge.errors import MaskForgeError
from maskforge.models import weights
from maskforge.models.registry import REGISTRY, ModelFile, ModelSpec
from tests.file_server import onnx_bytes, redirect, safetensors_bytes

PAYLOAD = onnx_bytes()  # a single-file model that passes the format check
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
WEIGHTS = safetensors_bytes(3000)  # a hub model's weights
WEIGHTS_SHA = hashlib.sha256(WEIGHTS).hexdigest()


@pytest.fixture
def server(file_server):
    return file_server


def add_spec(monkeypatch, spec):
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    return spec


def single_file_spec(url, sha=PAYLOAD_SHA, name="tiny.onnx", folder="rembg"):
    return ModelSpec(name=name, family="testfam", folder=folder, licence="MIT", commercial=True,
                     files=(ModelFile(path=name, sha256=sha, size=len(PAYLOAD), url=url),))


def hub_spec(name="tiny-seg", repo="org/tiny-seg", revision="0123abcd"):
    return ModelSpec(name=name, family="testfam", folder="maskforge", licence="Apache-2.0", commercial=True,
                     repo=repo, revision=revision,
                     files=(ModelFile("config.json", size=30), ModelFile("model.safetensors", sha256=WEIGHTS_SHA, size=13_000)))


def test_register_folders_appends_and_keeps_other_packs_paths(fake_comfyui, models_dir):
    fake_comfyui.folder_names_and_paths["sams"] = (["/other/pack/sams", "/extra_model_paths/sams"], {".pth"})
    weights.register_folders()
    weights.register_folders()
    assert fake_comfyui.folder_names_and_paths["sams"][0] == [
        "/other/pack/sams", "/extra_model_paths/sams", str(models_dir / "sams")]
    for folder in weights.FOLDERS:
        assert fake_comfyui.folder_names_and_paths[folder][0].count(str(models_dir / folder)) == 1


def test_choices_lists_registry_names_first_then_installed_files_from_every_folder(fake_comfyui, models_dir, monkeypatch, tmp_path):
    add_spec(monkeypatch, single_file_spec("http://127.0.0.1:9/b.onnx", name="b-default.onnx"))
    add_spec(monkeypatch, single_file_spec("http://127.0.0.1:9/a.onnx", name="a-other.onnx"))
    extra = tmp_path / "extra_rembg"
    (extra / "sub").mkdir(parents=True)
    (extra / "mine.onnx").write_bytes(b"x")
    (extra / "sub" / "nested.onnx").write_bytes(b"x")
    (extra / "notes.txt").write_text("not a model")
    (extra / ".hidden.onnx").write_bytes(b"x")
    (models_dir / "rembg").mkdir()
    (models_dir / "rembg" / "b-default.onnx").write_bytes(b"x")  # installed registry model: listed once
    hub_dir = models_dir / "rembg" / "hubmodel"
    hub_dir.mkdir()
    (hub_dir / "config.json").write_text("{}")
    (hub_dir / "model.onnx").write_bytes(b"x")
    fake_comfyui.folder_names_and_paths["rembg"] = ([str(extra)], set())
    weights.register_folders()
    assert weights.choices("testfam") == ["b-default.onnx", "a-other.onnx", "hubmodel", "mine.onnx", "sub/nested.onnx"]


def test_download_streams_verifies_and_places_the_file(server, models_dir, monkeypatch):
    server.files["/tiny.onnx"] = PAYLOAD
    add_spec(monkeypatch, single_file_spec(server.url + "/tiny.onnx"))
    path = weights.resolve("RemoveBGMask", "tiny.onnx")
    assert path == models_dir / "rembg" / "tiny.onnx"
    assert path.read_bytes() == PAYLOAD
    assert os.listdir(path.parent) == ["tiny.onnx"]  # no temporary file left
    hashed = []
    real_digest = weights._digest
    monkeypatch.setattr(weights, "_digest", lambda *a: hashed.append(a) or real_digest(*a))
    assert weights.resolve("RemoveBGMask", "tiny.onnx") == path
    assert server.paths() == ["/tiny.onnx"]  # the second resolve opened no connection
    assert hashed == []  # and did not hash the file again: it was checked while downloading


def test_download_reports_progress_to_comfyui(server, fake_comfyui, monkeypatch):
    server.files["/tiny.onnx"] = PAYLOAD
    add_spec(monkeypatch, single_file_spec(server.url + "/tiny.onnx"))
    weights.resolve("RemoveBGMask", "tiny.onnx")
    bar = fake_comfyui.progress[-1]
    assert (bar.current, bar.total) == (len(PAYLOAD), len(PAYLOAD))


def test_download_with_wrong_checksum_fails_and_leaves_nothing(server, models_dir, monkeypatch):
    server.files["/tiny.onnx"] = PAYLOAD
    add_spec(monkeypatch, single_file_spec(server.url + "/tiny.onnx", sha="0" * 64))
    with pytest.raises(MaskForgeError, match="checksum mismatch") as err:
        weights.resolve("RemoveBGMask", "tiny.onnx")
    assert str(err.value).startswith("RemoveBGMask: model: ")
    assert not (models_dir / "rembg").exists() or os.listdir(models_dir / "rembg") == []


def test_md5_is_checked_where_no_sha256_is_published(server, models_dir, monkeypatch):
    server.files["/tiny.onnx"] = PAYLOAD
    bad = ModelFile(path="tiny.onnx", md5="0" * 32, size=len(PAYLOAD), url=server.url + "/tiny.onnx")
    add_spec(monkeypatch, ModelSpec(name="tiny.onnx", family="testfam", folder="rembg", licence="MIT",
                                    commercial=True, files=(bad,)))
    with pytest.raises(MaskForgeError, match="checksum mismatch: got MD5 " + hashlib.md5(PAYLOAD).hexdigest()):
        weights.resolve("RemoveBGMask", "tiny.onnx")
    good = ModelFile(path="tiny.onnx", md5=hashlib.md5(PAYLOAD).hexdigest(), size=len(PAYLOAD), url=bad.url)
    add_spec(monkeypatch, ModelSpec(name="tiny.onnx", family="testfam", folder="rembg", licence="MIT",
                                    commercial=True, files=(good,)))
    assert weights.resolve("RemoveBGMask", "tiny.onnx").read_bytes() == PAYLOAD


def test_http_error_names_the_file_and_folder(server, models_dir, monkeypatch):
    add_spec(monkeypatch, single_file_spec(server.url + "/gone.onnx"))
    with pytest.raises(MaskForgeError, match="404") as err:
        weights.resolve("RemoveBGMask", "tiny.onnx")
    assert str(models_dir / "rembg") in str(err.value)


def test_hand_placed_file_with_wrong_checksum_is_used_with_a_warning_and_kept(server, models_dir, monkeypatch, caplog):
    server.files["/tiny.onnx"] = PAYLOAD
    add_spec(monkeypatch, single_file_spec(server.url + "/tiny.onnx"))
    placed = models_dir / "rembg" / "tiny.onnx"
    placed.parent.mkdir()
    placed.write_bytes(b"the user's own variant")
    with caplog.at_level(logging.WARNING):
        assert weights.resolve("RemoveBGMask", "tiny.onnx") == placed
    assert "does not match the SHA-256" in caplog.text
    assert placed.read_bytes() == b"the user's own variant"
    assert server.paths() == []


def test_file_in_another_comfyui_folder_is_used_without_download(server, fake_comfyui, monkeypatch, tmp_path):
    add_spec(monkeypatch, single_file_spec(server.url + "/tiny.onnx"))
    other = tmp_path / "shared_models" / "rembg"
    other.mkdir(parents=True)
    (other / "tiny.onnx").write_bytes(PAYLOAD)
    fake_comfyui.folder_names_and_paths["rembg"] = ([str(other)], set())
    weights.register_folders()
    assert weights.resolve("RemoveBGMask", "tiny.onnx") == other / "tiny.onnx"
    assert server.paths() == []


def test_offline_error_names_each_missing_file_size_and_folder_quickly(models_dir, monkeypatch):
    spec = add_spec(monkeypatch, hub_spec())
    start = time.monotonic()
    with pytest.raises(MaskForgeError) as err:
        weights.resolve("LabelMask", spec.name)
    assert time.monotonic() - start < 2.0
    target = models_dir / "maskforge" / "tiny-seg"
    assert str(err.value) == (
        "LabelMask: model: model 'tiny-seg' is not installed and cannot be downloaded (HF_HUB_OFFLINE is set).\n"
        f"Place these files in {target}{os.sep}:\n"
        "  config.json (30 B) from https://huggingface.co/org/tiny-seg/resolve/0123abcd/config.json\n"
        "  model.safetensors (13.0 KB) from https://huggingface.co/org/tiny-seg/resolve/0123abcd/model.safetensors"
    )


def test_without_network_the_error_comes_in_under_two_seconds(models_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")  # conftest's socket guard refuses every host but 127.0.0.1
    spec = add_spec(monkeypatch, single_file_spec("https://example.com/tiny.onnx"))
    start = time.monotonic()
    with pytest.raises(MaskForgeError, match="cannot reach example.com") as err:
        weights.resolve("RemoveBGMask", spec.name)
    assert time.monotonic() - start < 2.0
    assert f"Place this file in {models_dir / 'rembg'}{os.sep}:\n  tiny.onnx ({weights._size(len(PAYLOAD))}) from https://example.com/tiny.onnx" in str(err.value)


def test_hub_model_downloads_only_missing_files_into_its_directory(server, models_dir, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    spec = add_spec(monkeypatch, hub_spec())
    server.files["/org/tiny-seg/resolve/0123abcd/config.json"] = b'{"server": true}'
    server.files["/org/tiny-seg/resolve/0123abcd/model.safetensors"] = WEIGHTS
    target = models_dir / "maskforge" / spec.name
    target.mkdir(parents=True)
    (target / "config.json").write_text('{"user": true}')
    assert weights.resolve("LabelMask", spec.name) == target
    assert (target / "config.json").read_text() == '{"user": true}'
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert server.paths() == ["/org/tiny-seg/resolve/0123abcd/model.safetensors"]


def test_hub_urls_quote_pull_request_revisions(models_dir, monkeypatch):
    spec = add_spec(monkeypatch, hub_spec(revision="refs/pr/2"))
    with pytest.raises(MaskForgeError, match="resolve/refs%2Fpr%2F2/model.safetensors"):
        weights.resolve("LabelMask", spec.name)


def test_hub_cache_snapshot_is_used_offline(models_dir, monkeypatch, tmp_path):
    from huggingface_hub import constants

    cache = tmp_path / "hf_cache"
    snapshot = cache / "models--org--tiny-seg" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(PAYLOAD)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    spec = add_spec(monkeypatch, hub_spec())
    assert weights.resolve("LabelMask", spec.name) == snapshot


def test_hub_rows_must_not_name_pickles(models_dir, monkeypatch):
    spec = ModelSpec(name="pickled", family="testfam", folder="maskforge", licence="MIT", commercial=True,
                     repo="org/pickled", revision="abc", files=(ModelFile("pytorch_model.bin"),))
    add_spec(monkeypatch, spec)
    with pytest.raises(ValueError, match="pickle"):
        weights.resolve("LabelMask", "pickled")


def test_users_own_file_or_directory_is_found_in_the_folders(models_dir):
    own = models_dir / "sams" / "my_sam.pth"
    own.parent.mkdir()
    own.write_bytes(b"x")
    hub_dir = models_dir / "maskforge" / "my-segformer"
    hub_dir.mkdir(parents=True)
    assert weights.resolve("PromptMask", "my_sam.pth") == own
    assert weights.resolve("LabelMask", "my-segformer") == hub_dir


def test_unknown_name_error_lists_the_folders_searched(models_dir):
    with pytest.raises(MaskForgeError, match="not a model MaskForge knows") as err:
        weights.resolve("LabelMask", "nothing-here", folders=("maskforge",))
    assert str(models_dir / "maskforge") in str(err.value)


@pytest.mark.parametrize("name", ["", "../secrets", "/etc/passwd"])
def test_names_outside_the_folders_are_refused(models_dir, name):
    with pytest.raises(MaskForgeError, match="not a model name"):
        weights.resolve("LabelMask", name)


def test_telemetry_is_disabled_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY")
    weights.disable_telemetry()
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")
    weights.disable_telemetry()
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "0"


def test_a_truncated_hub_download_is_not_kept_and_the_next_run_downloads_it_again(server, models_dir, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    spec = add_spec(monkeypatch, ModelSpec(
        name="tiny-seg", family="testfam", folder="maskforge", licence="MIT", commercial=True, repo="org/tiny-seg",
        revision="0123abcd", files=(ModelFile("config.json"), ModelFile("model.safetensors"))))  # no checksums
    server.files["/org/tiny-seg/resolve/0123abcd/config.json"] = b'{"model_type": "segformer"}'
    server.files["/org/tiny-seg/resolve/0123abcd/model.safetensors"] = WEIGHTS[:-100]  # the whole reply, cut file
    with pytest.raises(MaskForgeError, match="what arrived is not a usable model.safetensors: .*incomplete metadata") as err:
        weights.resolve("LabelMask", spec.name)
    assert sorted(os.listdir(models_dir / "maskforge" / "tiny-seg")) == ["config.json"]
    assert "config.json (" not in str(err.value)  # only what is still missing is listed
    server.files["/org/tiny-seg/resolve/0123abcd/model.safetensors"] = WEIGHTS
    assert (weights.resolve("LabelMask", spec.name) / "model.safetensors").read_bytes() == WEIGHTS


def test_a_failed_download_leaves_no_empty_model_folder(server, models_dir, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    spec = add_spec(monkeypatch, hub_spec())  # the server has none of its files
    with pytest.raises(MaskForgeError, match="404"):
        weights.resolve("LabelMask", spec.name)
    assert not (models_dir / "maskforge").exists()


def test_the_hugging_face_token_goes_only_to_the_hub(tls_servers, models_dir, monkeypatch):
    from huggingface_hub import constants

    hub, other = tls_servers
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.files["/org/tiny-seg/resolve/0123abcd/config.json"] = b"{}"
    hub.files["/org/tiny-seg/resolve/0123abcd/model.safetensors"] = redirect(other.url + "/lfs/model.safetensors")
    other.files["/lfs/model.safetensors"] = WEIGHTS
    other.files["/tiny.onnx"] = PAYLOAD
    weights.resolve("LabelMask", add_spec(monkeypatch, hub_spec()).name)
    weights.resolve("RemoveBGMask", add_spec(monkeypatch, single_file_spec(other.url + "/tiny.onnx")).name)
    assert {path: headers.get("Authorization") for path, headers in hub.requests} == {
        "/org/tiny-seg/resolve/0123abcd/config.json": "Bearer hf_secret",
        "/org/tiny-seg/resolve/0123abcd/model.safetensors": "Bearer hf_secret"}
    assert [headers.get("Authorization") for _, headers in other.requests] == [None, None]
