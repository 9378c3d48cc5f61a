"""SAM 3 Objects on what core's SAM3_Detect gives with individual_masks on: the objects of every image in one
MASK batch, and one BOUNDING_BOX list per image saying how many are whose."""

import json

import pytest
import torch

import maskforge
from maskforge.errors import MaskForgeError
from maskforge.nodes.sam3_objects import SAM3Objects

H, W = 12, 16


def rect(x0, y0, x1, y1):
    mask = torch.zeros(H, W)
    mask[y0:y1, x0:x1] = 1
    return mask


def box(x0, y0, x1, y1, score):
    return {"x": float(x0), "y": float(y0), "width": float(x1 - x0), "height": float(y1 - y0), "score": score}


# Three images: two objects in the first, none in the second, one in the third (SAM3_Detect's layout).
BOXES = [[box(0, 0, 4, 4, 0.9), box(8, 2, 12, 10, 0.6)], [], [box(2, 6, 7, 12, 0.75)]]
MASKS = torch.stack([rect(0, 0, 4, 4), rect(8, 2, 12, 10), rect(2, 6, 7, 12)])


def run(image=None, masks=MASKS, bboxes=BOXES, **options):
    image = torch.rand(3, H, W, 3) if image is None else image
    args = dict(grow=0, invert=False, background_colour="#000000") | options
    mask, per_object, report, preview, cutout, out = SAM3Objects().run(image, masks, bboxes, **args)
    return mask, per_object, json.loads(report), preview, cutout, out


def test_concatenated_masks_are_regrouped_image_by_image_by_the_box_lists():
    image = torch.rand(3, H, W, 3)
    mask, per_object, report, preview, cutout, bboxes = run(image)
    assert mask.shape == (3, H, W) and mask.dtype == torch.float32
    assert torch.equal(mask[0], torch.maximum(MASKS[0], MASKS[1]))
    assert mask[1].sum() == 0
    assert torch.equal(mask[2], MASKS[2])
    assert torch.equal(per_object, MASKS)
    assert [(o["image"], o["label"], o["score"], o["box"]) for o in report["objects"]] == [
        (0, "object", 0.9, [0, 0, 4, 4]), (0, "object", 0.6, [8, 2, 12, 10]), (2, "object", 0.75, [2, 6, 7, 12])]
    assert report["image_size"] == [W, H] and report["images"] == 3
    assert [[(d["x"], d["width"], d["label"]) for d in frame] for frame in bboxes] == [
        [(0, 4, "object"), (8, 4, "object")], [], [(2, 5, "object")]]
    assert torch.equal(cutout, image * mask[..., None])  # black background
    assert preview.shape == (3, H, W, 3) and torch.allclose(preview[1], image[1], atol=1 / 255)
    assert not torch.allclose(preview[0], image[0], atol=1 / 255)  # objects tinted


def test_labels_from_the_boxes_are_kept_and_boxes_are_clipped_to_the_image():
    bboxes = [[{**box(0, 0, 4, 4, 0.9), "label": "cat"}, {**box(8, 2, 30, 10, 0.6), "label": "dog"}], [],
              [box(2, 6, 7, 12, 0.75)]]
    _, _, report, _, _, out = run(bboxes=bboxes)
    assert [(o["phrase"], o["label"], o["box"]) for o in report["objects"][:2]] == [
        ("cat", "cat", [0, 0, 4, 4]), ("dog", "dog", [8, 2, 16, 10])]
    assert [d["label"] for d in out[0]] == ["cat", "dog"]


def test_grow_and_invert_apply_to_the_union_and_grow_to_each_object():
    mask, per_object, _, _, _, _ = run(grow=1, invert=True)
    grown, _, _, _, _, _ = run(grow=1)
    assert torch.equal(mask, 1 - grown)
    assert per_object[2].sum() == 5 * 6 + 2 * 6 + 5  # a 5x6 block grown by one pixel, round corners
    assert torch.equal(per_object[2], grown[2])


def test_nothing_found_anywhere_gives_empty_masks_of_the_right_shape():
    mask, per_object, report, _, _, out = run(masks=torch.zeros(0, H, W), bboxes=[[], [], []])
    assert mask.shape == (3, H, W) and mask.sum() == 0
    assert per_object.shape == (1, H, W) and per_object.sum() == 0
    assert report["objects"] == [] and out == [[], [], []]


def test_one_image_may_come_with_a_flat_list_or_a_single_box():
    image = torch.rand(1, H, W, 3)
    for bboxes in ([box(0, 0, 4, 4, 0.5)], box(0, 0, 4, 4, 0.5), [[box(0, 0, 4, 4, 0.5)]]):
        mask, _, report, _, _, _ = run(image, masks=MASKS[:1], bboxes=bboxes)
        assert torch.equal(mask[0], MASKS[0]) and len(report["objects"]) == 1


@pytest.mark.parametrize(("masks", "bboxes", "message"), [
    (MASKS[:2], BOXES, "masks holds 2 masks but bboxes lists 3 objects \\(2, 0, 1 per image\\); connect the masks "
                       "and bboxes of the same SAM3_Detect"),
    (MASKS, [[], [], []], "lists 0 objects .* boxes only for objects it finds from a text prompt .* Prompt Mask"),
    (MASKS, BOXES[:2], "bboxes holds 2 lists of boxes for 3 images"),
    (MASKS, [box(0, 0, 4, 4, 1)] * 3, "bboxes holds 1 lists of boxes for 3 images"),
    (torch.zeros(3, 6, 8), BOXES, "the masks are 8x6 but the image is 16x12"),
    (MASKS, [[{"x": 0, "y": 0}], [], [box(0, 0, 1, 1, 1)] * 2], "a box has x, y, width and height"),
])
def test_masks_and_boxes_that_do_not_match_one_for_one_are_an_error(masks, bboxes, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        run(masks=masks, bboxes=bboxes)
    assert str(err.value).startswith("SAM3Objects: ")


def test_individual_masks_off_is_named_as_the_cause():
    # SAM3_Detect without individual_masks: one union mask per image, while its boxes list every object.
    unions = torch.stack([torch.maximum(MASKS[0], MASKS[1]), torch.zeros(H, W), MASKS[2]])
    bboxes = [BOXES[0], [box(1, 1, 2, 2, 0.5), box(3, 3, 4, 4, 0.5)], BOXES[2]]
    with pytest.raises(MaskForgeError, match="masks: masks holds 3 masks but bboxes lists 5 objects .* turn "
                                             "individual_masks on"):
        run(masks=unions, bboxes=bboxes)


def test_cancel_is_checked_per_image(fake_comfyui):
    fake_comfyui.interrupted = True
    with pytest.raises(fake_comfyui.modules["comfy.model_management"].Interrupted):
        run()


def test_node_is_registered_with_tooltips_and_the_prompt_mask_outputs():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgeSAM3Objects"] is SAM3Objects
    assert maskforge.NODE_DISPLAY_NAME_MAPPINGS["MaskForgeSAM3Objects"] == "SAM 3 Objects"
    inputs = SAM3Objects.INPUT_TYPES()["required"]
    assert all(spec[1].get("tooltip") for spec in inputs.values())
    assert inputs["bboxes"] == ("BOUNDING_BOX", inputs["bboxes"][1]) and inputs["bboxes"][1]["forceInput"]
    prompt_mask = maskforge.NODE_CLASS_MAPPINGS["MaskForgePromptMask"]
    assert SAM3Objects.RETURN_TYPES == prompt_mask.RETURN_TYPES and SAM3Objects.RETURN_NAMES == prompt_mask.RETURN_NAMES
    assert len(SAM3Objects.OUTPUT_TOOLTIPS) == len(SAM3Objects.RETURN_TYPES)


def test_fractional_boxes_keep_their_float32_value_in_objects_json():
    bboxes = [[box(0.3, 0.1234567, 4.05, 4, 0.9), box(8, 2, 12, 10, 0.6)], [], [box(2, 6, 7.77, 12, 0.75)]]
    _, _, report, _, _, _ = run(bboxes=bboxes)
    first = report["objects"][0]["box"]
    assert first == [float(str(v)) for v in torch.tensor([0.3, 0.1234567, 4.05, 4.0]).numpy()]
    assert first[1] != round(first[1], 1)  # no rounding to 0.1 px
