import shutil
import subprocess
import sys

import pytest

from maskforge.batch import cli
from tools.pack import PACK_DIR


def test_runs_as_python_m_batch_from_a_pack_folder_of_any_name(tmp_path):
    folder = tmp_path / "custom_nodes" / "ComfyUI-Mask.Forge 2"
    shutil.copytree(PACK_DIR, folder, ignore=shutil.ignore_patterns(".git", ".venv", "models_local", "__pycache__",
                                                                     "node_modules"))
    done = subprocess.run([sys.executable, "-m", "batch", "GrowInvertMask", "--help"], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "--fill-holes" in done.stdout and "--mask-channel" in done.stdout and "--cutouts" not in done.stdout


def test_options_are_the_nodes_inputs_with_their_defaults_and_ranges(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["LabelMask", "--input", "in", "--output", "out", "--labels", "floor", "--no-invert"])
    assert (args.labels, args.grow, args.resolution, args.on_missing, args.invert) == ("floor", 0, 384, "empty mask",
                                                                                       False)
    with pytest.raises(SystemExit):
        parser.parse_args(["LabelMask", "--input", "in", "--output", "out", "--resolution", "4096"])
    assert "4096 is outside 64..2048" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["RemoveBGMask", "--input", "in", "--output", "out", "--cutouts", "pink"])
    assert "give 'transparent' or #RRGGBB" in capsys.readouterr().err
    args = parser.parse_args(["RemoveBGMask", "--input-list", "l.txt", "--output", "out", "--cutouts"])
    assert args.cutouts == "transparent" and args.model == "u2net.onnx"


def test_models_default_to_comfyuis_folder_inside_a_comfyui_tree(tmp_path, monkeypatch):
    pack = tmp_path / "ComfyUI" / "custom_nodes" / "MaskForge"
    pack.mkdir(parents=True)
    monkeypatch.setattr(cli, "PACK_DIR", pack)
    monkeypatch.setenv("MASKFORGE_MODELS_DIR", str(tmp_path / "own"))
    assert cli.default_models_dir() == tmp_path / "own"  # not a ComfyUI tree: no folder_paths.py
    (tmp_path / "ComfyUI" / "folder_paths.py").write_text("")
    assert cli.default_models_dir() == tmp_path / "ComfyUI" / "models"


def test_without_ray_the_command_says_what_to_install(models_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is not installed
    code = cli.main(["GrowInvertMask", "--input", str(tmp_path), "--output", str(tmp_path / "out")])
    assert code == cli.EXIT_SETUP
    assert "pip install -r requirements-batch.txt" in capsys.readouterr().err


def test_a_missing_model_is_reported_before_ray_starts(models_dir, tmp_path, capsys):
    pytest.importorskip("ray")
    code = cli.main(["LabelMask", "--input", str(tmp_path), "--output", str(tmp_path / "out"), "--labels", "floor"])
    assert code == cli.EXIT_SETUP
    err = capsys.readouterr().err
    assert "mask2former-swin-tiny-ade-semantic' is not installed" in err and str(models_dir / "maskforge") in err


def test_an_input_without_images_is_a_clear_error(models_dir, tmp_path, capsys):
    pytest.importorskip("ray")
    (tmp_path / "notes.txt").write_text("no images here")
    assert cli.main(["GrowInvertMask", "--input", str(tmp_path), "--output", str(tmp_path / "out")]) == cli.EXIT_SETUP
    assert "no image files (.png, .jpg" in capsys.readouterr().err
