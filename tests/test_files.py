import shutil

import pytest
import torch

from maskforge.models import files
from tests.file_server import onnx_bytes, safetensors_bytes
from tests.tiny_ade_models import MASK2FORMER, SEGFORMER, install


@pytest.fixture
def segformer(tmp_path):
    return install(tmp_path, SEGFORMER)


def load(folder):
    from transformers import SegformerForSemanticSegmentation

    return files.load_pretrained(SegformerForSemanticSegmentation, folder)


def test_sound_files_pass(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "a.pth")
    for name, data in [("m.onnx", onnx_bytes()), ("model.safetensors", safetensors_bytes()), ("c.json", b'{"a": 1}'),
                       ("vocab.txt", b"[PAD]\n")]:
        (tmp_path / name).write_bytes(data)
    for path in tmp_path.iterdir():
        files.check_file(path)


def test_the_name_given_decides_the_format(tmp_path):
    path = tmp_path / ".model.safetensors.1234.part"
    path.write_bytes(b'{"a": 1}')
    files.check_file(path, "config.json")
    with pytest.raises(files.BadModelFile, match="header"):
        files.check_file(path, "model.safetensors")


@pytest.mark.parametrize("data", [b"<!DOCTYPE html><html>", b"  \n<html><head>", b"<?xml version='1.0'?><Error>"])
def test_web_pages_are_refused_whatever_the_name(tmp_path, data):
    (tmp_path / "vocab.txt").write_bytes(data)
    with pytest.raises(files.BadModelFile, match="vocab.txt is damaged.*it is a web page"):
        files.check_file(tmp_path / "vocab.txt")


def test_an_onnx_file_cut_anywhere_is_refused(tmp_path):
    data = onnx_bytes()
    for cut in (1, 2, 10, len(data) // 2, len(data) - 1):
        (tmp_path / "m.onnx").write_bytes(data[:cut])
        with pytest.raises(files.BadModelFile, match="m.onnx is damaged"):
            files.check_file(tmp_path / "m.onnx")


def test_a_truncated_safetensors_file_in_a_model_folder_names_the_file_and_what_to_do(segformer):
    weights = segformer / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(files.BadModelFile) as err:
        load(segformer)
    assert str(err.value) == (f"{weights} is damaged, incomplete or not the right kind of file (Error while "
                              "deserializing header: incomplete metadata, file not fully covered); delete it (a model "
                              "from the list is then downloaded again) or replace it with a complete copy")


def test_another_models_weights_are_refused_not_loaded_at_random(segformer, tmp_path):
    shutil.copy(install(tmp_path / "other", MASK2FORMER) / "model.safetensors", segformer / "model.safetensors")
    with pytest.raises(files.BadModelFile, match=r"model.safetensors does not hold this model's weights \(\d+ of \d+ "
                                                 r"missing, e.g. .*\): it belongs to another model"):
        load(segformer)


def test_weights_that_do_not_fit_the_config_are_refused(segformer):
    import json

    config = json.loads((segformer / "config.json").read_text())
    config["hidden_sizes"][-1] *= 2
    (segformer / "config.json").write_text(json.dumps(config))
    with pytest.raises(files.BadModelFile, match="do not fit .*config.json \\(tensor sizes differ\\)") as err:
        load(segformer)
    assert "ignore_mismatched_sizes" not in str(err.value)


@pytest.mark.parametrize("name", ["config.json", "preprocessor_config.json"])
def test_a_json_file_that_is_not_json_names_the_file(segformer, name):
    (segformer / name).write_text('{"model_type": "segformer",')
    with pytest.raises(files.BadModelFile, match=f"{name} is damaged.*not valid JSON"):
        load(segformer)


def test_a_folder_with_only_pickle_weights_is_refused(segformer):
    (segformer / "model.safetensors").unlink()
    torch.save({}, segformer / "pytorch_model.bin")
    with pytest.raises(files.BadModelFile, match=r"holds only pickle weights \(pytorch_model.bin\), which MaskForge "
                                                 r"does not load .*put the model's model.safetensors there"):
        load(segformer)


def test_a_folder_where_the_weights_file_should_be_is_refused(segformer):
    (segformer / "model.safetensors").unlink()
    (segformer / "model.safetensors").mkdir()
    with pytest.raises(files.BadModelFile, match="model.safetensors is a folder where a file is expected"):
        load(segformer)


def test_a_file_where_the_model_folder_should_be_is_refused(tmp_path):
    (tmp_path / "model").write_text("{}")
    with pytest.raises(files.BadModelFile, match="is a file; a transformers model is a folder"):
        load(tmp_path / "model")


def test_the_config_must_be_of_the_model_type_asked_for(segformer):
    from transformers import SegformerForSemanticSegmentation

    with pytest.raises(files.BadModelFile, match="is a 'segformer' model, not a 'grounding-dino' model"):
        files.load_pretrained(SegformerForSemanticSegmentation, segformer, model_type="grounding-dino")
