"""The batch command's per-image work gives the nodes' own outputs, image for image (no Ray here)."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import maskforge
from maskforge import ops
from maskforge.batch import files
from maskforge.batch.cli import widget_inputs
from maskforge.batch.tasks import TASKS, render
from maskforge.labels import ADE20K_LABELS
from maskforge.models import management, sam, segmentation
from tests import tiny_prompt_models
from tests.tiny_ade_models import SEGFORMER, install
from tests.tiny_rembg import square_image, write_model

NODES = maskforge.NODE_CLASS_MAPPINGS


def photo(seed: int, height: int = 40, width: int = 56) -> torch.Tensor:
    """A generated picture (blocks of colour and noise) saved as JPEG and read back as the command reads files."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    noisy = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
    return as_loaded(noisy, "JPEG")


def as_loaded(pixels: np.ndarray, fmt: str = "PNG", mode: str = "RGB") -> torch.Tensor:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return torch.from_numpy(files.decode(out.getvalue(), mode)).float() / 255.0


def masked(task, image: torch.Tensor, **outputs) -> dict:
    task.load()
    try:
        return render(task(image), **outputs)
    finally:
        task.close()


@pytest.fixture(autouse=True)
def _fresh_models():
    management.forget()
    sam.clear_cache()
    yield
    management.forget()


@pytest.mark.parametrize("node", sorted(TASKS))
def test_every_widget_of_the_node_is_a_batch_option_or_named_as_not_applicable(node):
    task = TASKS[node]
    assert set(widget_inputs(NODES[task.NODE_KEY])) == set(task.PARAMS) | set(task.NOT_IN_BATCH)
    assert set(task.MODELS) <= set(task.PARAMS)


def test_label_mask_equals_the_node(models_dir):
    install(models_dir, SEGFORMER)
    image = photo(0)
    module, pre = segmentation.load("LabelMask", models_dir / "maskforge" / SEGFORMER)
    classes = segmentation.segment(module, pre, image, 64).flatten().bincount(minlength=150)
    labels = "|".join(ADE20K_LABELS[i] for i in classes.argsort(descending=True)[:2].tolist())  # two it finds
    params = dict(model=SEGFORMER, labels=labels + "|sky", on_missing="empty mask", grow=-1, invert=False,
                  resolution=64, tiled=False, force_cpu=True)
    for changes in ({}, {"grow": 2, "invert": True}):
        node_mask = NODES["MaskForgeLabelMask"]().run(image[None], **{**params, **changes})[0][0]
        out = masked(TASKS["LabelMask"]({**params, **changes}), image, cutout="#00FF00", blue_threshold=0.5)
        assert 0 < node_mask.mean() < 1, "a mask that is all or nothing proves little"
        assert np.array_equal(out["mask"], ops.to_uint8(node_mask))
        assert np.array_equal(out["cutout"], ops.to_uint8(ops.cutout(image, node_mask, (0.0, 1.0, 0.0))[0]))
        (blue,) = NODES["MaskForgeMaskToBlueMask"]().run(node_mask[None], 0.5, "blue #7878CD")
        assert np.array_equal(out["blue_mask"], ops.to_uint8(blue[0]))


def test_label_mask_raise_on_missing_fails_the_image_as_the_node_does(models_dir):
    install(models_dir, SEGFORMER)
    task = TASKS["LabelMask"](dict(model=SEGFORMER, labels="stage", on_missing="raise", grow=0, invert=False,
                                   resolution=64, tiled=False, force_cpu=True))
    task.load()
    with pytest.raises(maskforge.errors.MaskForgeError, match="'stage' not found in the image"):
        task(torch.zeros(16, 16, 3))


@pytest.mark.parametrize("matting", [False, True])
def test_remove_bg_mask_and_cutouts_equal_the_node(models_dir, monkeypatch, tmp_path, matting):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "rembg_home"))
    write_model(models_dir / "rembg" / "u2net.onnx", "u2net")
    image = as_loaded(square_image(40, 56))
    params = dict(model="u2net.onnx", alpha_matting=matting, alpha_matting_foreground_threshold=240,
                  alpha_matting_background_threshold=20, alpha_matting_erode_size=5, post_process_mask=False,
                  custom_model_family="u2net", force_cpu=True)
    subject, _, node_cutout = NODES["MaskForgeRemoveBGMask"]().run(image[None], cutout_background="#3366FF", **params)
    task = TASKS["RemoveBGMask"](params)
    coloured = masked(task, image, cutout="#3366FF")
    transparent = masked(task, image, cutout="transparent")
    assert 0 < subject.mean() < 1
    assert np.array_equal(coloured["mask"], ops.to_uint8(subject[0]))
    assert np.array_equal(coloured["cutout"], ops.to_uint8(node_cutout[0]))
    assert transparent["cutout"].shape == (40, 56, 4)
    assert np.array_equal(transparent["cutout"][..., 3], coloured["mask"])  # the mask is the alpha
    if not matting:
        assert np.array_equal(transparent["cutout"][..., :3], ops.to_uint8(image))


@pytest.mark.parametrize("changes", [{}, {"grow": -1, "invert": True}, {"mask_type": "box"}])
def test_prompt_mask_equals_the_node(models_dir, changes):
    tiny_prompt_models.install_defaults(models_dir)
    image = photo(1, 24, 40)
    params = dict(detector="grounding-dino-tiny", sam_model="sam2.1-hiera-tiny", prompt="white sofa. lamp",
                  box_threshold=0.0, text_threshold=0.0, nms_iou=0.5, max_objects=2, mask_type="segment", grow=0,
                  invert=False, stop_on_empty_mask=False, force_cpu=True, detector_resolution=512) | changes
    outputs = NODES["MaskForgePromptMask"]().run(image[None], background_colour="#FFFFFF", **params)
    node_mask, report, node_cutout = outputs[0], outputs[2], outputs[4]
    task = TASKS["PromptMask"](params)
    task.load()
    result = task(image)
    out = render(result, cutout="#FFFFFF")
    task.close()
    assert 0 < node_mask.mean() < 1
    assert np.array_equal(out["mask"], ops.to_uint8(node_mask[0]))
    assert np.array_equal(out["cutout"], ops.to_uint8(node_cutout[0]))
    node_objects = json.loads(report)["objects"]
    assert result.found["objects"] == [{k: v for k, v in o.items() if k != "image"} for o in node_objects]


def test_prompt_mask_needs_a_prompt(models_dir):
    with pytest.raises(maskforge.errors.MaskForgeError, match="say what to mask"):
        TASKS["PromptMask"](dict(detector="grounding-dino-tiny", sam_model="sam2.1-hiera-tiny", prompt=" . ",
                                 box_threshold=0.3, text_threshold=0.25, nms_iou=0.5, max_objects=0,
                                 mask_type="segment", grow=0, invert=False, stop_on_empty_mask=False, force_cpu=True,
                                 detector_resolution=512))


@pytest.mark.parametrize("channel", ["luminance", "alpha"])
def test_grow_invert_mask_equals_the_node_on_the_file_read_as_a_mask(channel):
    rng = np.random.default_rng(3)
    grey = (rng.random((30, 44)) > 0.7).astype(np.uint8) * 255
    rgba = np.dstack([grey, grey, grey, 255 - grey])
    image = as_loaded(rgba, mode="RGBA")
    params = dict(threshold=0.5, fill_holes=channel == "luminance", min_region_px=3, grow=1, corners="round", feather=2,
                  feather_inside=False, invert=True)
    node_mask = NODES["MaskForgeGrowInvertMask"]().run(ops.image_to_mask(image, channel), **params)[0]
    out = masked(TASKS["GrowInvertMask"]({**params, "mask_channel": channel}), image)
    assert 0 < node_mask.mean() < 1
    assert np.array_equal(out["mask"], ops.to_uint8(node_mask[0]))
