import json

import pytest
import torch

import maskforge
from maskforge.errors import MaskForgeError
from maskforge.models import grounding_dino, sam, weights
from maskforge.nodes.prompt_mask import PromptMask
from tests import tiny_prompt_models as tiny
from tests.photos import as_image, photo

FIND_ALL = dict(box_threshold=0.0, text_threshold=0.0)
FIND_NOTHING = dict(box_threshold=1.0, text_threshold=0.0)


@pytest.fixture
def models(models_dir):
    tiny.install_defaults(models_dir)
    sam.clear_cache()
    return models_dir


def run_all(image, **options):
    """All six outputs, objects_json parsed."""
    args = dict(detector="grounding-dino-tiny", sam_model="sam2.1-hiera-tiny", prompt="white sofa. lamp",
                box_threshold=0.3, text_threshold=0.25, nms_iou=0.5, max_objects=0, mask_type="segment", grow=0,
                invert=False, stop_on_empty_mask=False, background_colour="#FFFFFF", force_cpu=True, detector_resolution=512) | options
    mask, per_object, report, preview, cutout, bboxes = PromptMask().run(image, **args)
    return mask, per_object, json.loads(report), preview, cutout, bboxes


def run(image, **options):
    return run_all(image, **options)[:5]


def test_batch_of_two_gives_every_output_in_comfyui_shapes(models):
    images = torch.rand(2, 24, 40, 3)
    mask, per_object, report, preview, cutout = run(images, max_objects=2, **FIND_ALL)
    assert mask.shape == (2, 24, 40) and mask.dtype == torch.float32
    assert preview.shape == cutout.shape == (2, 24, 40, 3)
    objects = report["objects"]
    assert [o["image"] for o in objects] == [0, 0, 1, 1]  # image-major, as the per-object batch
    assert per_object.shape == (4, 24, 40)
    assert report["image_size"] == [40, 24]
    for o in objects:
        assert o["phrase"] in ("white sofa", "lamp") and 0 <= o["score"] <= 1 and len(o["box"]) == 4
    for i in range(2):  # the union is the per-image maximum of its objects
        assert torch.equal(mask[i], per_object[2 * i : 2 * i + 2].amax(0))
    for t in (mask, per_object, preview, cutout):
        assert 0 <= t.min() and t.max() <= 1


def test_nothing_found_gives_empty_masks_of_the_right_shape(models):
    images = torch.rand(2, 16, 20, 3)
    mask, per_object, report, preview, cutout = run(images, **FIND_NOTHING)
    assert report["objects"] == []
    assert mask.shape == (2, 16, 20) and mask.sum() == 0
    assert per_object.shape == (1, 16, 20) and per_object.sum() == 0
    assert torch.allclose(cutout, torch.ones_like(cutout))  # all background colour
    assert torch.allclose(preview, images, atol=1 / 255)


def test_nothing_found_raises_when_stop_on_empty_mask_is_on(models):
    with pytest.raises(MaskForgeError, match="PromptMask: nothing found in image 1 of 2 .*box_threshold"):
        run(torch.rand(2, 16, 20, 3), stop_on_empty_mask=True, **FIND_NOTHING)


@pytest.mark.parametrize("size", [(1, 1), (20, 70), (70, 20)])
@pytest.mark.parametrize("sam_model", ["sam2.1-hiera-tiny", "sam-vit-base"])
def test_one_pixel_and_non_square_images(models, size, sam_model):
    h, w = size
    mask, per_object, report, preview, cutout = run(torch.rand(1, h, w, 3), sam_model=sam_model, max_objects=2,
                                                    grow=3, invert=True, **FIND_ALL)
    assert mask.shape == (1, h, w)
    assert per_object.shape == (len(report["objects"]), h, w) and len(report["objects"]) >= 1
    assert preview.shape == cutout.shape == (1, h, w, 3)


def test_box_mode_fills_boxes_then_grows_and_inverts(models):
    image = torch.rand(1, 10, 12, 3)
    boxes = "[[2, 2, 6, 6]]"
    plain, _, report, _, _ = run(image, mask_type="box", prompt="", boxes=boxes)
    assert plain.sum() == 16 and plain[0, 2:6, 2:6].all()
    assert report["objects"][0]["box"] == [2, 2, 6, 6] and "mask_score" not in report["objects"][0]
    grown, per_object, _, _, cutout = run(image, mask_type="box", prompt="", boxes=boxes, grow=1)
    assert grown.sum() == 16 + 4 * 4  # round corners: the diagonal neighbours are √2 away
    inverted, per_object_inverted, _, _, _ = run(image, mask_type="box", prompt="", boxes=boxes, grow=1, invert=True)
    assert torch.equal(inverted, 1 - grown)
    assert torch.equal(per_object_inverted, per_object)  # objects stay objects
    assert torch.allclose(cutout[0][grown[0] == 1], image[0][grown[0] == 1])


def test_box_mode_on_detections_covers_each_detected_box(models):
    mask, per_object, report, _, _ = run(torch.rand(1, 30, 30, 3), mask_type="box", max_objects=3, **FIND_ALL)
    for k, o in enumerate(report["objects"]):
        x0, y0, x1, y1 = o["box"]
        inside = per_object[k, round(y0 + 0.5) : int(y1 - 0.5), round(x0 + 0.5) : int(x1 - 0.5)]
        assert inside.numel() == 0 or inside.all()


def test_boxes_input_skips_detection(models):
    """With boxes connected the detector is never looked for: a missing one does not matter."""
    objects = json.dumps({"objects": [{"image": 1, "phrase": "sofa", "score": 0.8, "box": [1, 1, 9, 9]}]})
    mask, per_object, report, _, _ = run(torch.rand(2, 12, 12, 3), detector="no-such-detector", boxes=objects)
    assert [(o["image"], o["phrase"], o["score"]) for o in report["objects"]] == [(1, "sofa", 0.8)]
    assert per_object.shape == (1, 12, 12) and mask[0].sum() == 0


def test_objects_json_fed_back_as_boxes_gives_the_same_boxes_and_masks(models):
    """The boxes are written at float32 precision: the second node prompts SAM with the very same
    numbers as the first (a box 0.05 px off can move a mask's edge)."""
    image = as_image(photo("chelsea"))
    _, first_masks, first, _, _ = run(image, max_objects=3, **FIND_ALL)
    _, second_masks, second, _, _ = run(image, prompt="", boxes=json.dumps(first))
    model, processor = grounding_dino.load(weights.resolve("PromptMask", "grounding-dino-tiny", folders=("grounding-dino",)))
    found = grounding_dino.detect(model, processor, image[0], ["white sofa", "lamp"], 0.0, 0.0, 0.5, 3, 512)
    written = torch.tensor([o["box"] for o in first["objects"]], dtype=torch.float32)
    assert torch.equal(written, found.boxes)
    assert [o["box"] for o in second["objects"]] == [o["box"] for o in first["objects"]]
    assert torch.equal(second_masks, first_masks)


@pytest.mark.parametrize(("boxes", "message"), [
    ("[[1, 2, 3]", "boxes: not valid JSON"),
    ("[[1, 2, 3]]", "boxes: a box \\[x0, y0, x1, y1\\] must be 4 numbers"),
    ('[{"box": [5, 5, 1, 9]}]', "boxes: box .* has x1 < x0"),
    ('[{"box": [1, 1, 5, 5], "image": 3}]', "boxes: image index 3 is outside the batch of 1"),
])
def test_bad_boxes_json_gets_a_clear_error(models, boxes, message):
    with pytest.raises(MaskForgeError, match=message):
        run(torch.rand(1, 8, 8, 3), prompt="", boxes=boxes)


def test_points_alone_make_one_object_per_image(models):
    points = json.dumps({"positive": [[3, 3]], "negative": [{"x": 10, "y": 10}]})
    mask, per_object, report, _, _ = run(torch.rand(2, 16, 16, 3), prompt="", points=points)
    assert per_object.shape == (2, 16, 16)
    assert [o["phrase"] for o in report["objects"]] == ["points", "points"]


def test_bad_points_get_a_clear_error(models):
    with pytest.raises(MaskForgeError, match="points: a point's label is 1"):
        run(torch.rand(1, 8, 8, 3), prompt="", points="[[1, 2, 5]]")


def test_too_long_a_prompt_is_a_prompt_error(models):
    with pytest.raises(MaskForgeError, match="PromptMask: prompt: the prompt is .* tokens long"):
        run(torch.rand(1, 8, 8, 3), prompt=". ".join(f"thing{i}" for i in range(200)))


def test_boxes_keep_their_phrase_label_and_score(models):
    boxes = '[{"box": [0, 0, 4, 4], "phrase": "sofa", "label": "white sofa", "score": 0.7}]'
    _, _, report, _, _ = run(torch.rand(1, 8, 8, 3), prompt="", boxes=boxes, mask_type="box")
    assert [(o["phrase"], o["label"], o["score"]) for o in report["objects"]] == [("sofa", "white sofa", 0.7)]


def test_nothing_to_look_for_is_an_error(models):
    with pytest.raises(MaskForgeError, match="PromptMask: prompt: say what to mask"):
        run(torch.rand(1, 8, 8, 3), prompt=" . ")


def test_second_prompt_on_the_same_images_reuses_their_embeddings(models, monkeypatch):
    from transformers import Sam2Model

    calls = []
    original = Sam2Model.get_image_embeddings
    monkeypatch.setattr(Sam2Model, "get_image_embeddings", lambda self, x, **kw: calls.append(1) or original(self, x, **kw))
    images = torch.rand(2, 20, 20, 3)
    run(images, prompt="sofa", max_objects=2, **FIND_ALL)
    assert len(calls) == 2  # once per image, however many boxes
    run(images, prompt="lamp", max_objects=3, **FIND_ALL)
    assert len(calls) == 2


def test_meta_sam_file_works_in_the_node(models):
    tiny.install(models, "sams", "sam_vit_b_01ec64.pth", tiny.meta_sam())
    mask, per_object, report, _, _ = run(torch.rand(1, 20, 30, 3), sam_model="sam_vit_b_01ec64.pth", max_objects=2,
                                         **FIND_ALL)
    assert mask.shape == (1, 20, 30) and per_object.shape == (2, 20, 30)


def test_missing_models_offline_name_the_files_and_folder(models_dir):
    with pytest.raises(MaskForgeError) as error:
        run(torch.rand(1, 8, 8, 3))
    message = str(error.value)
    assert message.startswith("PromptMask: detector: model 'grounding-dino-tiny' is not installed")
    assert "model.safetensors" in message and str(models_dir / "grounding-dino" / "grounding-dino-tiny") in message


def test_progress_bar_and_interrupt_check_run_per_image(models, fake_comfyui, monkeypatch):
    checks = []
    monkeypatch.setattr(fake_comfyui.modules["comfy.model_management"], "throw_exception_if_processing_interrupted",
                        lambda: checks.append(1))
    run(torch.rand(3, 12, 12, 3), **FIND_NOTHING)
    bars = [b for b in fake_comfyui.progress if b.total == 3]
    assert bars and bars[-1].current == 3
    assert len(checks) >= 3


def test_node_is_registered_with_tooltips_and_no_seed():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgePromptMask"] is PromptMask
    inputs = PromptMask.INPUT_TYPES()
    everything = {**inputs["required"], **inputs["optional"]}
    assert "seed" not in everything
    assert all(spec[1].get("tooltip") for spec in everything.values())
    assert inputs["required"]["detector"][1]["default"] in inputs["required"]["detector"][0]
    assert inputs["required"]["sam_model"][1]["default"] in inputs["required"]["sam_model"][0]


# --- JSON inputs, hardened: each case crashed or gave a wrong result before ---
# A SAM model that is not installed: these must fail on the input, before any model is looked for.
NO_SAM = dict(prompt="", sam_model="no-such-sam")


@pytest.mark.parametrize(("inputs", "message"), [
    (dict(boxes="[[1, NaN, 5, 5]]"), "boxes: NaN is not a number"),
    (dict(boxes='[{"box": [1, 1, 5, 5], "score": Infinity}]'), "boxes: Infinity is not a number"),
    (dict(boxes="[[1, 1, 5, 1e999]]"), "boxes: a box .* must be finite numbers"),
    (dict(points="[[NaN, 2]]"), "points: NaN is not a number"),
    (dict(points='{"positive": [[-Infinity, 2]]}'), "points: -Infinity is not a number"),
    (dict(points="[" * 50_000 + "]" * 50_000), "points: the JSON is nested more than"),
    (dict(boxes='{"objects": ' + "[" * 20 + "]" * 20 + "}"), "boxes: the JSON is nested more than"),
    (dict(points='{"positive": 5}'), "points: 'positive' must be a list of points, got 5"),
    (dict(points='{"negative": [[1, 2]], "positives": []}'), "points: .* it has \\['negative', 'positives'\\]"),
    (dict(boxes='{"objects": {"box": [1, 1, 2, 2]}}'), "boxes: expected a list of boxes"),
])
def test_bad_json_inputs_stop_with_a_clear_error_before_any_model(models_dir, inputs, message):
    with pytest.raises(MaskForgeError, match=f"PromptMask: {message}"):
        run(torch.rand(1, 8, 8, 3), **NO_SAM, **inputs)


def test_a_box_wholly_outside_the_image_is_dropped_not_segmented_as_an_empty_box(models_dir):
    boxes = '[[20, 20, 30, 30], [2, 2, 6, 6], [-9, 0, -1, 4]]'
    mask, per_object, report, _, _ = run(torch.rand(1, 10, 10, 3), prompt="", boxes=boxes, mask_type="box")
    assert [o["box"] for o in report["objects"]] == [[2, 2, 6, 6]]
    assert per_object.shape == (1, 10, 10) and mask.sum() == 16


def test_max_objects_keeps_the_best_given_boxes_too(models_dir):
    boxes = json.dumps([{"box": [0, 0, 2, 2], "score": 0.3}, {"box": [3, 3, 5, 5], "score": 0.9},
                        {"box": [6, 6, 8, 8], "score": 0.6}])
    _, per_object, report, _, _ = run(torch.rand(2, 10, 10, 3), prompt="", boxes=boxes, mask_type="box", max_objects=2)
    assert [(o["image"], o["score"]) for o in report["objects"]] == [(0, 0.9), (0, 0.6), (1, 0.9), (1, 0.6)]
    assert per_object.shape == (4, 10, 10) and per_object[0, 4, 4] == 1 and per_object[1, 7, 7] == 1


# --- ComfyUI's BOUNDING_BOX and point strings ---

SOFA = {"x": 1.0, "y": 2.0, "width": 4.0, "height": 3.0, "score": 0.8, "label": "couch"}
LAMP = {"x": 6.0, "y": 0.0, "width": 2.0, "height": 2.0}


@pytest.mark.parametrize(("bboxes", "expected"), [
    (SOFA, [["couch"], ["couch"]]),  # one dict: every image
    ([SOFA, LAMP], [["couch", "box"], ["couch", "box"]]),  # a flat list: every image
    ([[LAMP], [SOFA, LAMP]], [["box"], ["couch", "box"]]),  # one list per image
    ([[SOFA]], [["couch"], ["couch"]]),  # a short list of lists repeats its last
])
def test_bboxes_in_every_core_shape_replace_detection(models_dir, bboxes, expected):
    mask, per_object, report, _, _, out = run_all(torch.rand(2, 10, 10, 3), bboxes=bboxes, mask_type="box",
                                                  detector="no-such-detector")
    labels = [[o["label"] for o in report["objects"] if o["image"] == i] for i in range(2)]
    assert labels == expected
    for o in report["objects"]:
        assert (o["phrase"], o["score"], o["box"]) in [("couch", 0.8, [1, 2, 5, 5]), ("box", 1.0, [6, 0, 8, 2])]
    sofa_area = per_object[[o["label"] == "couch" for o in report["objects"]]]
    assert all(m.sum() == 12 and m[2:5, 1:5].all() for m in sofa_area)
    assert [[d["label"] for d in frame] for frame in out] == expected


def test_the_bboxes_output_is_one_list_per_image_that_feeds_another_prompt_mask(models_dir):
    boxes = json.dumps([{"box": [1, 2, 5, 5], "image": 0, "phrase": "white sofa", "label": "sofa", "score": 0.7},
                        {"box": [0, 0, 3, 3], "image": 1, "label": "lamp", "score": 0.4}])
    image = torch.rand(3, 10, 10, 3)
    first = run_all(image, prompt="", boxes=boxes, mask_type="box")
    assert first[5] == [[{"x": 1.0, "y": 2.0, "width": 4.0, "height": 3.0, "score": pytest.approx(0.7), "label": "sofa"}],
                        [{"x": 0.0, "y": 0.0, "width": 3.0, "height": 3.0, "score": pytest.approx(0.4), "label": "lamp"}],
                        []]
    second = run_all(image, prompt="", bboxes=first[5], mask_type="box")
    assert torch.equal(second[0], first[0]) and torch.equal(second[1], first[1])
    assert [(o["image"], o["label"], o["box"]) for o in second[2]["objects"]] == [(0, "sofa", [1, 2, 5, 5]),
                                                                                 (1, "lamp", [0, 0, 3, 3])]
    assert second[5] == first[5]


def test_boxes_and_bboxes_together_are_both_used(models_dir):
    _, _, report, _, _ = run(torch.rand(1, 10, 10, 3), prompt="", boxes="[[0, 0, 2, 2]]", bboxes=[LAMP],
                             mask_type="box")
    assert [o["box"] for o in report["objects"]] == [[0, 0, 2, 2], [6, 0, 8, 2]]


def test_core_point_strings_give_the_same_masks_as_the_points_input(models, monkeypatch):
    given = []
    segment = sam.segment
    monkeypatch.setattr(sam, "segment", lambda model, emb, boxes, xy, labels: given.append((xy.tolist(), labels.tolist()))
                        or segment(model, emb, boxes, xy, labels))
    image = torch.rand(1, 16, 16, 3)
    with_points = run(image, prompt="", points="[[3, 4, 1], [12, 12, 0], [5, 6, 1]]")
    with_coords = run(image, prompt="", points="[[3, 4]]", positive_coords='[{"x": 5, "y": 6}]',
                      negative_coords='[{"x": 12, "y": 12}]')
    shuffled = run(image, prompt="", positive_coords='[{"x": 3, "y": 4}, {"x": 5, "y": 6}]',
                   negative_coords='[{"x": 12, "y": 12}]')
    only_positive = run(image, prompt="", positive_coords='[{"x": 3, "y": 4}, {"x": 5, "y": 6}]')
    assert torch.equal(with_points[1], with_coords[1]) and torch.equal(with_points[1], shuffled[1])
    assert with_points[2]["objects"] == with_coords[2]["objects"]
    assert given[1] == ([[3, 4], [5, 6], [12, 12]], [1, 1, 0])  # points, then positive, then negative coords
    assert given[3] == ([[3, 4], [5, 6]], [1, 1]) and len(only_positive[2]["objects"]) == 1


def test_damaged_model_files_are_errors_on_their_own_input(models):
    (models / "grounding-dino" / "grounding-dino-tiny" / "config.json").write_text("{")
    with pytest.raises(MaskForgeError, match="PromptMask: detector: .*config.json is damaged.*not valid JSON"):
        run(torch.rand(1, 32, 32, 3))
    (models / "sam2" / "sam2.1-hiera-tiny" / "model.safetensors").write_bytes(b"")
    with pytest.raises(MaskForgeError, match="PromptMask: sam_model: .*model.safetensors is damaged"):
        run(torch.rand(1, 32, 32, 3), boxes="[[1, 1, 20, 20]]")
