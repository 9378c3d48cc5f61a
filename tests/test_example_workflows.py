"""The example workflows fit the nodes as they are now: node types, widget values, links.

A renamed, retyped or narrowed input of one of our nodes must fail here, not in a user's ComfyUI.
"""

import copy
import json

import pytest
import torch

from maskforge.nodes.mask_nodes import GrowInvertMask
from tools.demo import sample_scene
from tools.example_workflows import FOLDER, WORKFLOWS
from tools.workflow_previews import run_workflow
from tools.workflow_schema import CORE_NODES, CURRENT, OLDEST, api_prompt, check_workflow, core, signatures

PATHS = sorted(FOLDER.glob("*.json"))

# An empty models folder: model dropdowns then list only registry names, as on a fresh install.
pytestmark = pytest.mark.usefixtures("models_dir")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def blue_mask_workflow():
    return load(FOLDER / "blue_mask_for_removal_service.json")


def test_there_are_example_workflows():
    assert PATHS, f"no workflows in {FOLDER}"


def test_every_workflow_file_is_a_known_workflow_with_the_comfyui_it_needs():
    assert sorted(p.stem for p in PATHS) == sorted(WORKFLOWS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_workflow_fits_the_nodes_of_the_comfyui_it_needs(path):
    assert check_workflow(load(path), signatures(WORKFLOWS[path.stem].core)) == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_workflow_has_a_thumbnail_the_template_browser_finds(path):
    # The frontend asks for <workflow>.jpg beside a custom node's example workflow.
    assert path.with_suffix(".jpg").is_file()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_workflow_uses_our_nodes_and_only_known_core_ones(path):
    types = {node["type"] for node in load(path)["nodes"]}
    ours = {k for k, sig in signatures().items() if sig.ours}
    assert types & ours
    assert types <= ours | set(core(WORKFLOWS[path.stem].core))


@pytest.mark.parametrize("name", [n for n, w in WORKFLOWS.items() if w.needs != OLDEST])
def test_a_workflow_for_a_later_comfyui_says_so_in_its_note_and_does_not_fit_0_3_64(name):
    workflow = load(FOLDER / f"{name}.json")
    notes = [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "MarkdownNote"]
    assert any(f"ComfyUI {WORKFLOWS[name].needs} or newer" in text for text in notes)
    assert any("neither a core node" in p for p in check_workflow(workflow, signatures(OLDEST)))


def test_the_core_signature_files_name_the_comfyui_they_come_from():
    assert "ComfyUI 0.3.64" in json.loads(CORE_NODES[OLDEST].read_text())["_about"]
    about = json.loads(CORE_NODES[CURRENT].read_text())["_about"]
    assert "v0.45" in about and "nodes_sam3.py 2edcd9a880c2" in about
    assert "ComfySwitchNode" not in core(OLDEST) and "ComfySwitchNode" in core(CURRENT)
    # Current core's Save/Preview Image pass their images on; 0.3.64's have no output.
    assert core(OLDEST)["SaveImage"].outputs == () and core(CURRENT)["SaveImage"].outputs == (("images", "IMAGE"),)


def test_folder_holds_only_workflows_and_their_thumbnails():
    # ComfyUI lists every .json in the folder as a template.
    for path in FOLDER.iterdir():
        assert path.suffix in (".json", ".jpg"), path.name
        assert path.with_suffix(".json").is_file(), f"{path.name} has no workflow"


def test_renamed_input_breaks_the_check(monkeypatch):
    original = GrowInvertMask.INPUT_TYPES()

    def renamed(cls):
        spec = copy.deepcopy(original)
        spec["required"] = {("grow_px" if k == "grow" else k): v for k, v in spec["required"].items()}
        return spec

    assert check_workflow(blue_mask_workflow()) == []
    monkeypatch.setattr(GrowInvertMask, "INPUT_TYPES", classmethod(renamed))
    assert check_workflow(blue_mask_workflow()) != []


def test_renamed_socket_input_breaks_the_check(monkeypatch):
    original = GrowInvertMask.INPUT_TYPES()

    def renamed(cls):
        spec = copy.deepcopy(original)
        spec["required"] = {("masks" if k == "mask" else k): v for k, v in spec["required"].items()}
        return spec

    monkeypatch.setattr(GrowInvertMask, "INPUT_TYPES", classmethod(renamed))
    problems = check_workflow(blue_mask_workflow())
    assert any("'mask' is not an input" in p for p in problems)
    assert any("'masks' is not connected" in p for p in problems)


def test_added_widget_breaks_the_check(monkeypatch):
    original = GrowInvertMask.INPUT_TYPES()

    def added(cls):
        spec = copy.deepcopy(original)
        spec["required"]["blur"] = ("INT", {"default": 0})
        return spec

    monkeypatch.setattr(GrowInvertMask, "INPUT_TYPES", classmethod(added))
    assert any("widget values saved" in p for p in check_workflow(blue_mask_workflow()))


def test_narrowed_range_and_dropped_option_break_the_check(monkeypatch):
    original = GrowInvertMask.INPUT_TYPES()

    def narrowed(cls):
        spec = copy.deepcopy(original)
        spec["required"]["grow"][1]["max"] = 4
        spec["required"]["corners"] = (["square"], {})
        return spec

    monkeypatch.setattr(GrowInvertMask, "INPUT_TYPES", classmethod(narrowed))
    problems = check_workflow(blue_mask_workflow())
    assert any("widget 'grow'" in p and "outside" in p for p in problems)
    assert any("widget 'corners'" in p for p in problems)


def test_changed_output_breaks_the_check(monkeypatch):
    monkeypatch.setattr(GrowInvertMask, "RETURN_TYPES", ("IMAGE", "MASK"))
    problems = check_workflow(blue_mask_workflow())
    assert any("outputs" in p for p in problems)
    assert any("gives IMAGE" in p for p in problems)


def test_wrong_value_types_and_links_are_caught():
    workflow = blue_mask_workflow()
    grow = next(n for n in workflow["nodes"] if n["type"] == "MaskForgeGrowInvertMask")
    grow["widgets_values"][0] = "0.5"  # threshold saved as text
    workflow["links"][0][5] = "IMAGE"
    workflow["nodes"].append({"id": 99, "type": "SomeoneElsesNode", "inputs": [], "outputs": [], "widgets_values": []})
    problems = check_workflow(workflow)
    assert any("widget 'threshold'" in p for p in problems)
    assert any("saved as IMAGE" in p for p in problems)
    assert any("SomeoneElsesNode" in p for p in problems)


def test_link_to_the_wrong_slot_type_is_caught():
    workflow = blue_mask_workflow()
    save = next(n for n in workflow["nodes"] if n["type"] == "SaveImage")
    blue_link = save["inputs"][0]["link"]
    grow = next(n for n in workflow["nodes"] if n["type"] == "MaskForgeGrowInvertMask")
    link = next(link for link in workflow["links"] if link[0] == blue_link)
    old_origin = next(n for n in workflow["nodes"] if n["id"] == link[1])
    old_origin["outputs"][link[2]]["links"].remove(blue_link)
    link[1], link[2], link[5] = grow["id"], 0, "MASK"  # a MASK into Save Image's IMAGE input
    grow["outputs"][0]["links"].append(blue_link)
    assert any("gives MASK but SaveImage.images takes IMAGE" in p for p in check_workflow(workflow))


def test_blue_mask_workflow_runs_and_saves_the_blue_mask():
    image, mask = sample_scene()  # 768 x 512, the "painted" mask on the sofa
    (saved,) = run_workflow(blue_mask_workflow(), image, mask)
    assert saved.shape == (1, 512, 768, 3)
    blue = torch.tensor([0x78, 0x78, 0xCD]) / 255
    inside, outside, speck = saved[0, 300, 250], saved[0, 20, 740], saved[0, 63, 63]
    assert torch.allclose(inside, blue, atol=1 / 255)
    assert torch.equal(outside, torch.zeros(3))
    assert torch.equal(speck, torch.zeros(3))  # min_region_px removed the stray speck


def test_api_prompt_has_the_running_nodes_widgets_by_name_and_links_by_slot():
    workflow = load(FOLDER / "labelmask_local_or_remote.json")
    sigs = signatures(WORKFLOWS["labelmask_local_or_remote"].core)
    prompt = api_prompt(workflow, sigs)
    by_type = {node["class_type"]: (key, node["inputs"]) for key, node in prompt.items()}
    assert "MarkdownNote" not in by_type and "MaskForgeHomeDesignsCreateMask" not in by_type  # note, muted
    image_id, image_inputs = by_type["LoadImage"]
    assert image_inputs == {"image": "example.png"}  # the upload button's value is the frontend's own
    label_id, label_inputs = by_type["MaskForgeLabelMask"]
    assert label_inputs["labels"] == "sofa" and label_inputs["image"] == [image_id, 0]
    _, switch_inputs = by_type["ComfySwitchNode"]
    assert switch_inputs == {"switch": False, "on_false": [label_id, 0]}  # no link from the muted node
