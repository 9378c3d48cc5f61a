import json
import os
import time

import pytest
import torch
import torch.nn.functional as F

import maskforge
from maskforge.errors import MaskForgeError
from maskforge.labels import ADE20K_LABELS, index_of
from maskforge.models import management, segmentation
from maskforge.nodes.label_mask import LabelMask
from maskforge.ops.annotate import palette
from tests.photos import as_image, iou, photo
from tests.tiny_ade_models import MASK2FORMER, SEGFORMER, install

DEFAULTS = dict(model=SEGFORMER, labels="wall|floor", on_missing="empty mask", grow=0, invert=False, resolution=64,
                tiled=False, force_cpu=True)


def run_all(image, **kwargs):
    return LabelMask().run(image, **{**DEFAULTS, **kwargs})


def run(image, **kwargs):
    """The three mask and image outputs."""
    return run_all(image, **kwargs)[:3]


@pytest.fixture(autouse=True)
def _fresh_cache():
    management.forget()
    yield
    management.forget()


@pytest.fixture
def segformer(models_dir):
    return install(models_dir, SEGFORMER)


@pytest.fixture
def colour_model(segformer, monkeypatch):
    """The tiny SegFormer loaded as users load it, its scores replaced by colour: red → wall,
    green → floor, blue → sky, black → ceiling, at the model's quarter resolution."""
    def colour_scores(module, pre, image, size):
        x = F.interpolate(image.permute(2, 0, 1)[None].float(), size=size, mode="bilinear", align_corners=False)
        x = F.avg_pool2d(x, 4)[0]
        scores = torch.full((150, *x.shape[1:]), -1.0)
        for label, channel in (("wall", 0), ("floor", 1), ("sky", 2)):
            scores[index_of(label)] = x[channel] * 2 - x.sum(0)
        scores[index_of("ceiling")] = 0.5 - x.sum(0)
        return scores

    monkeypatch.setattr(segmentation, "class_scores", colour_scores)


def halves(height=64, width=96):
    """Left half red (wall), right half green (floor)."""
    image = torch.zeros(1, height, width, 3)
    image[:, :, : width // 2, 0] = 1.0
    image[:, :, width // 2 :, 1] = 1.0
    return image


def test_node_is_registered_with_the_pack():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgeLabelMask"] is LabelMask
    assert maskforge.NODE_DISPLAY_NAME_MAPPINGS["MaskForgeLabelMask"]


def test_inputs_list_registry_models_default_first_then_installed_folders(models_dir):
    own = models_dir / "maskforge" / "my-ade-finetune"
    own.mkdir(parents=True)
    (own / "config.json").write_text("{}")
    (models_dir / "maskforge" / "stray.safetensors").write_bytes(b"x")
    required = LabelMask.INPUT_TYPES()["required"]
    models, options = required["model"]
    assert models[0] == options["default"] == MASK2FORMER
    assert SEGFORMER in models and models[-1] == "my-ade-finetune" and "stray.safetensors" not in models
    assert "non-commercial" in options["tooltip"]
    for name, (_, spec) in required.items():
        assert spec.get("tooltip"), name
    assert "seed" not in required


def test_per_label_masks_follow_the_order_given_image_major(colour_model):
    second = halves().flip(2)  # floor left, wall right
    mask, per_label, preview = run(torch.cat([halves(), second]), labels="floor|wall")
    assert per_label.shape == (4, 64, 96) and mask.shape == (2, 64, 96) and preview.shape == (2, 64, 96, 3)
    left, right = (slice(None), slice(0, 40)), (slice(None), slice(56, 96))
    assert per_label[0][right].eq(1).all() and per_label[0][left].eq(0).all()  # image 1: floor on the right
    assert per_label[1][left].eq(1).all() and per_label[1][right].eq(0).all()  # image 1: wall on the left
    assert per_label[2][left].eq(1).all()  # image 2: floor on the left
    assert per_label[3][right].eq(1).all()  # image 2: wall on the right
    assert mask.eq(1).all()  # the two labels cover both images
    assert mask.dtype == torch.float32 and mask.device.type == "cpu"


def test_synonyms_and_duplicates_map_to_one_label(colour_model):
    _, per_label, _ = run(halves(), labels="Floor | FLOOR|  floors ")
    assert per_label.shape == (1, 64, 96)


def test_a_label_not_in_the_image_gives_an_empty_mask(colour_model):
    mask, per_label, _ = run(halves(), labels="sofa")
    assert mask.shape == (1, 64, 96) and per_label.shape == (1, 64, 96)
    assert mask.eq(0).all() and per_label.eq(0).all()


def test_a_label_not_in_the_image_raises_when_asked(colour_model):
    image = torch.cat([halves(), torch.zeros(1, 64, 96, 3)])  # image 2: all black → ceiling
    with pytest.raises(MaskForgeError, match=r"LabelMask: labels: 'wall', 'floor' not found in image 2 of 2"):
        run(image, on_missing="raise")
    run(image, labels="ceiling|wall", on_missing="empty mask")


def test_an_image_with_nothing_to_find(colour_model):
    mask, per_label, preview = run(torch.zeros(1, 40, 40, 3), labels="wall|sofa")
    assert mask.eq(0).all() and per_label.shape == (2, 40, 40) and per_label.eq(0).all()
    assert preview.shape == (1, 40, 40, 3)


def test_invert_flips_union_and_per_label(colour_model):
    mask, per_label, _ = run(halves(), labels="wall", invert=True)
    assert mask[0, :, :40].eq(0).all() and mask[0, :, 56:].eq(1).all()
    assert torch.equal(mask, per_label)


def test_grow_widens_each_label_by_the_given_pixels(colour_model):
    plain = run(halves(), labels="wall")[0]
    grown = run(halves(), labels="wall", grow=5)[0]
    edge = int(plain[0, 0].sum())
    assert int(grown[0, 0].sum()) == edge + 5
    shrunk = run(halves(), labels="wall", grow=-5)[0]
    assert int(shrunk[0, 0].sum()) == edge - 5


def test_preview_tints_labels_and_draws_a_legend(colour_model):
    image = halves(128, 256)
    _, _, preview = run(image, labels="wall|floor")
    wall_colour, floor_colour = (torch.tensor(c) / 255.0 for c in palette(2))
    middle_left, middle_right = preview[0, 100, 60], preview[0, 100, 200]
    assert torch.allclose(middle_left, image[0, 100, 60] * 0.4 + wall_colour * 0.6, atol=1 / 255)
    assert torch.allclose(middle_right, image[0, 100, 200] * 0.4 + floor_colour * 0.6, atol=1 / 255)
    legend = preview[0, :20, :60]
    assert not torch.allclose(legend, image[0, :20, :60] * 0.4 + wall_colour * 0.6, atol=0.05)


@pytest.mark.parametrize("name", [SEGFORMER, MASK2FORMER])
def test_real_tiny_models_through_the_node(models_dir, name):
    install(models_dir, name)
    images = torch.rand(2, 40, 72, 3)  # a batch of two non-square images
    mask, per_label, preview = run(images, model=name, labels="wall|floor|sky")
    assert mask.shape == (2, 40, 72) and per_label.shape == (6, 40, 72) and preview.shape == (2, 40, 72, 3)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask, per_label.view(2, 3, 40, 72).amax(1))


def test_one_pixel_image(segformer):
    mask, per_label, preview = run(torch.rand(1, 1, 1, 3), labels="wall|floor")
    assert mask.shape == (1, 1, 1) and per_label.shape == (2, 1, 1) and preview.shape == (1, 1, 1, 3)


def test_tiled_runs_through_the_node(segformer):
    mask, _, _ = run(torch.rand(1, 100, 300, 3), tiled=True)
    assert mask.shape == (1, 100, 300)


def test_unknown_label_error_suggests_the_closest(segformer):
    with pytest.raises(MaskForgeError, match=r"^LabelMask: labels: unknown label 'sofaz' — did you mean 'sofa'"):
        run(torch.rand(1, 8, 8, 3), labels="wall|sofaz")


def test_missing_weights_offline_name_the_files_and_folder(models_dir):
    start = time.monotonic()
    with pytest.raises(MaskForgeError) as err:
        run(torch.rand(1, 8, 8, 3), model=MASK2FORMER)
    assert time.monotonic() - start < 2.0
    text = str(err.value)
    assert text.startswith("LabelMask: model: model 'mask2former-swin-tiny-ade-semantic' is not installed")
    assert f"{models_dir / 'maskforge' / MASK2FORMER}{os.sep}:" in text
    assert "model.safetensors (190.0 MB) from https://huggingface.co/facebook/mask2former-swin-tiny-ade-semantic/" \
           "resolve/refs%2Fpr%2F2/model.safetensors" in text


def test_the_model_is_built_once_and_reused(segformer, monkeypatch):
    loads = []
    real_load = segmentation.load
    monkeypatch.setattr(segmentation, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    image = torch.rand(1, 16, 16, 3)
    run(image)
    start = time.perf_counter()
    run(image)
    assert len(loads) == 1
    assert time.perf_counter() - start < 5.0  # the second run only infers (timed properly in bench/)


def test_bad_images_are_refused_with_the_input_named(segformer):
    with pytest.raises(MaskForgeError, match="^LabelMask: image: "):
        run(torch.rand(2, 3))


def test_inside_comfyui_progress_advances_per_image_and_cancel_stops(colour_model, fake_comfyui, monkeypatch):
    run(torch.cat([halves()] * 3))
    bar = fake_comfyui.progress[-1]
    assert (bar.current, bar.total) == (3, 3)

    class Cancelled(Exception):
        pass

    checks = []

    def interrupted():
        checks.append(1)
        if len(checks) == 2:
            raise Cancelled

    monkeypatch.setattr(fake_comfyui.modules["comfy.model_management"], "throw_exception_if_processing_interrupted",
                        interrupted)
    with pytest.raises(Cancelled):
        run(torch.cat([halves()] * 3))
    assert fake_comfyui.progress[-1].current == 1


def test_scores_are_upsampled_to_full_size_before_the_argmax(segformer, monkeypatch):
    """Two source pixels: wall wins on the left, floor on the right, sky is second on both and wins
    in between. Taking the arg-max first and then scaling up would never show the sky."""
    def two_pixels(module, pre, image, size):
        scores = torch.full((150, 1, 2), -10.0)
        scores[index_of("wall"), 0] = torch.tensor([10.0, 0.0])
        scores[index_of("floor"), 0] = torch.tensor([0.0, 10.0])
        scores[index_of("sky")] = 6.0
        return scores

    monkeypatch.setattr(segmentation, "class_scores", two_pixels)
    _, per_label, _ = run(torch.rand(1, 4, 32, 3), labels="wall|sky|floor")
    wall, sky, floor = (m[0].tolist() for m in per_label)
    assert wall[:8] == [1.0] * 8 and floor[-8:] == [1.0] * 8
    assert sky == [0.0] * 14 + [1.0] * 4 + [0.0] * 14  # where the blended wall and floor both fall below 6


def extent(mask):
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1 - xs.min().item(), ys.max().item() + 1 - ys.min().item()]


def test_bboxes_give_each_found_labels_box_and_share_per_image(colour_model):
    first = torch.zeros(1, 64, 96, 3)
    first[:, :, :24, 0] = 1.0  # wall: the left quarter
    first[:, 40:, 24:72, 1] = 1.0  # floor: a block at the bottom
    mask, per_label, _, bboxes = run_all(torch.cat([first, halves()]), labels="floor|sky|wall")
    assert [[d["label"] for d in frame] for frame in bboxes] == [["floor", "wall"], ["floor", "wall"]]
    for frame, masks in zip(bboxes, per_label.view(2, 3, 64, 96)):
        for d, label_mask in zip(frame, masks[[0, 2]]):  # floor and wall; sky is not found
            assert [d["x"], d["y"], d["width"], d["height"]] == extent(label_mask)
            assert d["score"] == pytest.approx(label_mask.mean().item())
    floor, wall = bboxes[0]
    assert floor["x"] == pytest.approx(24, abs=1) and floor["y"] == pytest.approx(40, abs=1)
    assert floor["width"] == pytest.approx(48, abs=2) and floor["score"] == pytest.approx(0.1875, abs=0.02)
    assert (wall["x"], wall["y"], wall["height"]) == (0, 0, 64) and wall["width"] == pytest.approx(24, abs=1)


def test_bboxes_follow_grow_but_not_invert(colour_model):
    image = torch.zeros(1, 64, 96, 3)
    image[:, 16:48, 32:64, 0] = 1.0
    _, plain_mask, _, plain = run_all(image, labels="wall")
    _, grown_mask, _, grown = run_all(image, labels="wall", grow=4)
    *_, inverted = run_all(image, labels="wall", grow=4, invert=True)
    assert grown == inverted
    (box,), (grown_box,) = plain[0], grown[0]
    assert [grown_box[k] for k in ("x", "y", "width", "height")] == extent(grown_mask[0])
    assert (grown_box["x"], grown_box["y"]) == (box["x"] - 4, box["y"] - 4)
    assert (grown_box["width"], grown_box["height"]) == (box["width"] + 8, box["height"] + 8)
    assert grown_box["score"] == box["score"] == pytest.approx(plain_mask.mean().item())  # the label's own share
    *_, nothing = run_all(torch.zeros(1, 16, 16, 3), labels="sky")
    assert nothing == [[]]


def reference_classes(folder, pixels, resolution: int) -> torch.Tensor:
    """transformers' own pipeline on the same weights: the PIL image processor from the folder's
    preprocessor_config.json at the node's input size, the model, ``post_process_semantic_segmentation``."""
    import transformers
    from PIL import Image

    if json.loads((folder / "config.json").read_text())["model_type"] == "mask2former":
        model_class, processor_class = transformers.Mask2FormerForUniversalSegmentation, transformers.Mask2FormerImageProcessorPil
    else:
        model_class, processor_class = transformers.SegformerForSemanticSegmentation, transformers.SegformerImageProcessorPil
    processor, model = processor_class.from_pretrained(folder), model_class.from_pretrained(folder).eval()
    height, width = pixels.shape[:2]
    h, w = segmentation.model_input_size(height, width, resolution)
    inputs = processor(images=Image.fromarray(pixels), size={"height": h, "width": w}, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    return processor.post_process_semantic_segmentation(out, target_sizes=[(height, width)])[0]


@pytest.mark.parametrize("picture", ["chelsea", "coffee"])
@pytest.mark.parametrize("name", [SEGFORMER, MASK2FORMER])
def test_label_masks_equal_transformers_own_pipeline_on_the_same_weights(models_dir, name, picture):
    """Every label covering 0.5 % of the photo or more, through the node (the Mask2Former folder has
    its published preprocessor_config.json)."""
    folder = install(models_dir, name)
    pixels = photo(picture)
    reference = reference_classes(folder, pixels, resolution=128)
    ids, counts = reference.unique(return_counts=True)
    shares = counts / reference.numel()
    labels = [ADE20K_LABELS[i] for i in ids[shares >= 0.005].tolist()]
    assert len(labels) >= 4 and shares.max() < 0.9, "the tiny model must not find one class everywhere"
    mask, per_label, _ = run(as_image(pixels), model=name, labels="|".join(labels), resolution=128)
    for k, label in enumerate(labels):
        assert iou(per_label[k], reference == index_of(label)) >= 0.99, label
    assert iou(mask[0], torch.isin(reference, ids[shares >= 0.005])) >= 0.999


def test_a_truncated_weights_file_is_an_error_naming_it_not_a_raw_safetensors_error(segformer):
    weights = segformer / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(MaskForgeError, match=f"LabelMask: model: {weights} is damaged, incomplete .*delete it"):
        run(halves())


def test_unload_models_frees_the_model_and_the_next_run_loads_it_again(segformer, fake_comfyui, monkeypatch):
    import gc
    import weakref

    loaded = []
    real_load = segmentation.load
    monkeypatch.setattr(segmentation, "load", lambda *a, **k: loaded.append(real_load(*a, **k)) or loaded[-1])
    image = torch.rand(1, 16, 16, 3)
    run(image)
    run(image)
    assert len(loaded) == 1
    first = weakref.ref(loaded.pop()[0])
    fake_comfyui.patchers.clear(), fake_comfyui.loaded.clear()  # the fake's own records
    fake_comfyui.modules["comfy.model_management"].unload_all_models()  # POST /free {"unload_models": true}
    gc.collect()
    assert first() is None  # freed there and then
    run(image)
    assert len(loaded) == 1  # and loaded again
