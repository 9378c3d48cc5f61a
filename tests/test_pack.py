"""The pack as ComfyUI sees it: how it loads, what it exports, and its node definitions."""

import importlib.abc
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import maskforge
from tests.fake_comfyui import Interrupted
from tools.pack import PACK_DIR, load_pack

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
MAX_SAFE_INT = 2**53 - 1  # the front end stores INT widgets as JS numbers


def load_as_comfyui(tmp_path, folder_name="ComfyUI-MaskForge"):
    """ComfyUI imports a custom node folder under its path (dots replaced), not an identifier."""
    folder = tmp_path / "custom_nodes" / folder_name
    folder.parent.mkdir(parents=True)
    folder.symlink_to(PACK_DIR, target_is_directory=True)
    name = str(folder).replace(".", "_x_")
    try:
        return load_pack(name, folder)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_loads_by_path_under_its_folder_name(tmp_path):
    pack = load_as_comfyui(tmp_path)
    assert pack.WEB_DIRECTORY == "./web"
    assert set(pack.NODE_CLASS_MAPPINGS) == set(maskforge.NODE_CLASS_MAPPINGS)
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(pack.NODE_CLASS_MAPPINGS)


def test_the_tests_run_in_a_checkout_folder_named_as_the_readme_clones_it(tmp_path):
    """pytest must not import the pack's __init__.py as a test package under a folder name that is no identifier."""
    checkout = tmp_path / "ComfyUI-MaskForge"
    shutil.copytree(PACK_DIR, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "__pycache__", "example_workflows", "docs", "bench", "web"))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_readme.py"], cwd=checkout,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]


class _BlockTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise ImportError("torchvision is broken here")
        return None


def test_loads_and_runs_where_torchvision_cannot_be_imported(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [_BlockTorchvision(), *sys.meta_path])
    for key in [k for k in sys.modules if k.startswith("torchvision")]:
        monkeypatch.delitem(sys.modules, key)
    pack = load_as_comfyui(tmp_path)
    grow = pack.NODE_CLASS_MAPPINGS["MaskForgeGrowInvertMask"]()
    assert grow.run(torch.ones(1, 4, 4), 0.0, False, 0, 1, "round", 1, False, True)[0].shape == (1, 4, 4)


def _python_sources():
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=PACK_DIR, capture_output=True, text=True).stdout.split()
    return [PACK_DIR / f for f in files if not f.startswith("tests/")]


def test_nothing_imports_torchvision_or_comfyui_outside_the_adapter():
    comfy_import = re.compile(r"^\s*(import|from)\s+(comfy|folder_paths)\b", re.M)
    for path in _python_sources():
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+torchvision\b", text, re.M), path
        if path.name != "comfy_adapter.py":
            assert not comfy_import.search(text), f"{path} imports ComfyUI; go through comfy_adapter"


def test_pack_modules_use_relative_imports_only():
    own = "|".join(p.name for p in PACK_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    own += "|" + "|".join(p.stem for p in PACK_DIR.glob("*.py") if p.stem != "__init__")
    absolute = re.compile(rf"^\s*(import|from)\s+({own})\b", re.M)
    pack_files = [p for p in _python_sources() if p.parts[len(PACK_DIR.parts)] not in ("tools", "bench")]
    for path in pack_files:
        assert not absolute.search(path.read_text()), f"{path}: absolute import of a pack module"


def test_adapter_uses_comfyui_when_present(fake_comfyui, models_dir):
    adapter = maskforge.comfy_adapter
    fake_comfyui.device = torch.device("meta")
    fake_comfyui.folder_names_and_paths["sams"] = (["/elsewhere/sams"], set())
    assert adapter.in_comfyui()
    assert adapter.torch_device() == torch.device("meta")
    assert adapter.progress_bar(3) is fake_comfyui.progress[-1]
    assert adapter.models_dir() == models_dir
    assert adapter.user_dir() == models_dir.parent / "user"
    adapter.add_model_folder("sams", "sams")
    assert fake_comfyui.folder_names_and_paths["sams"][0] == ["/elsewhere/sams", str(models_dir / "sams")]
    assert adapter.model_folders("sams", "sams") == [models_dir / "sams", Path("/elsewhere/sams")]
    fake_comfyui.interrupted = True
    with pytest.raises(Interrupted):
        adapter.throw_if_interrupted()


def test_adapter_falls_back_outside_comfyui(models_dir):
    adapter = maskforge.comfy_adapter
    assert not adapter.in_comfyui()
    assert adapter.models_dir() == models_dir
    assert adapter.model_folders("sams", "sams") == [models_dir / "sams"]
    bar = adapter.progress_bar(2)
    bar.update(1)
    bar.update_absolute(2)
    adapter.throw_if_interrupted()
    assert adapter.intermediate_device() == torch.device("cpu")


def _inputs(node_class):
    spec = node_class.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}, node_class
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            yield name, entry


@pytest.mark.parametrize("key", sorted(maskforge.NODE_CLASS_MAPPINGS))
def test_node_definition_follows_comfyui_widget_rules(key):
    node = maskforge.NODE_CLASS_MAPPINGS[key]
    assert key.startswith("MaskForge")
    assert node.CATEGORY.startswith("MaskForge/") and node.DESCRIPTION
    assert callable(getattr(node, node.FUNCTION))
    assert len(node.RETURN_TYPES) == len(node.RETURN_NAMES) > 0
    if hasattr(node, "OUTPUT_TOOLTIPS"):
        assert len(node.OUTPUT_TOOLTIPS) == len(node.RETURN_TYPES)
    if hasattr(node, "OUTPUT_IS_LIST"):
        assert len(node.OUTPUT_IS_LIST) == len(node.RETURN_TYPES)
    for name, entry in _inputs(node):
        kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
        assert options.get("tooltip"), f"{key}.{name} has no tooltip"
        assert name != "seed", f"{key}: a widget named seed makes ComfyUI re-run the node every queue"
        if isinstance(kind, (list, tuple)):
            assert kind, f"{key}.{name}: empty combo"
            assert options.get("default", kind[0]) in kind, f"{key}.{name}: default not among the options"
        elif kind in ("INT", "FLOAT"):
            lo, hi, default = options["min"], options["max"], options["default"]
            assert lo <= default <= hi, f"{key}.{name}: default {default} outside [{lo}, {hi}]"
            assert options.get("step", 1) > 0
            if kind == "INT":
                assert all(isinstance(v, int) and abs(v) <= MAX_SAFE_INT for v in (lo, hi, default)), f"{key}.{name}"
        elif kind == "BOOLEAN":
            assert isinstance(options["default"], bool)
        elif kind == "STRING":
            assert isinstance(options.get("default", ""), str)
        else:
            assert kind.isupper() and kind not in WIDGET_TYPES, f"{key}.{name}: unknown type {kind!r}"
