import json

from PIL import Image

from tools.comfyui_check import prepare
from tools.example_workflows import FOLDER, WORKFLOWS
from tools.workflow_schema import api_prompt, signatures


def test_prepare_lays_out_the_pack_the_input_image_and_the_model_files_the_loaders_name(tmp_path):
    names = ("sam3_objects_inpaint", "removebg_core_model_background", "rtdetr_promptmask")
    prompts = {n: api_prompt(json.loads((FOLDER / f"{n}.json").read_text()), signatures(WORKFLOWS[n].core))
               for n in names}
    prepare(tmp_path, "Some-Folder", prompts)
    pack = tmp_path / "custom_nodes" / "Some-Folder"
    assert (pack / "__init__.py").is_file() and (pack / "nodes" / "prompts.py").is_file()
    assert not (pack / ".git").exists()
    assert Image.open(tmp_path / "input" / "example.png").size == (768, 512)
    models = tmp_path / "models"
    assert sorted(str(p.relative_to(models)) for p in models.rglob("*") if p.is_file()) == [
        "background_removal/birefnet.safetensors", "checkpoints/512-inpainting-ema.safetensors",
        "checkpoints/sam3.safetensors", "diffusion_models/rtdetr_v4.safetensors"]
