import re
import tomllib

from tools.pack import PACK_DIR


def _requirements() -> list[str]:
    lines = (PACK_DIR / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_registry_dependencies_are_the_requirements():
    project = tomllib.loads((PACK_DIR / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(_requirements())


def test_requirements_leave_torch_and_onnx_runtime_to_the_user():
    names = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in _requirements()}
    assert not names & {"torch", "torchvision", "torchaudio"}, "ComfyUI owns torch; reinstalling it breaks setups"
    assert not names & {"onnxruntime", "onnxruntime-gpu"}, "the user picks one ONNX Runtime (never both)"


def test_comfy_registry_metadata():
    data = tomllib.loads((PACK_DIR / "pyproject.toml").read_text())
    assert "comfyui" not in data["project"]["name"].lower()
    assert data["project"]["urls"]["Repository"]
    comfy = data["tool"]["comfy"]
    assert {"PublisherId", "DisplayName", "Icon"} <= set(comfy)
    assert (PACK_DIR / comfy["Icon"].split("/main/", 1)[1]).is_file(), "the icon URL points at a file in the repo"
