import pytest
import torch

from maskforge.ops.boxes import (box_iou, clip_boxes, fill_boxes, from_bounding_boxes, inside_image, mask_extents, nms,
                                 to_bounding_boxes)

# A hand-worked example: D overlaps A by exactly 0.5, A and B by 90/110, nothing touches C.
A, B, C, D = [0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 5]
BOXES = torch.tensor([A, B, C, D], dtype=torch.float32)
SCORES = torch.tensor([0.9, 0.8, 0.7, 0.95])


def test_box_iou_matches_hand_computed_overlaps():
    iou = box_iou(BOXES, BOXES)
    assert iou[0, 1].item() == pytest.approx(90 / 110)
    assert iou[3, 0].item() == pytest.approx(0.5)
    assert iou[3, 1].item() == pytest.approx(45 / 105)
    assert iou[2, :2].tolist() == [0.0, 0.0]
    assert torch.allclose(iou.diagonal(), torch.ones(4))


@pytest.mark.parametrize(("threshold", "kept"), [
    (0.5, [3, 0, 2]),  # D keeps A (IoU exactly 0.5 is not above), A then drops B
    (0.45, [3, 1, 2]),  # D drops A; B (0.43 with D) survives
    (1.0, [3, 0, 1, 2]),  # nothing suppressed: all, best first
    (0.0, [3, 2]),  # any overlap at all suppresses
])
def test_nms_keeps_the_hand_worked_boxes(threshold, kept):
    assert nms(BOXES, SCORES, threshold).tolist() == kept


def test_nms_of_no_boxes_is_empty():
    assert nms(torch.zeros((0, 4)), torch.zeros((0,)), 0.5).numel() == 0


def test_empty_boxes_have_zero_iou_not_nan():
    empty = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    assert box_iou(empty, empty).item() == 0.0


def test_clip_boxes_keeps_boxes_inside_the_image():
    clipped = clip_boxes(torch.tensor([[-5.0, 2.0, 50.0, 70.0]]), height=40, width=30)
    assert clipped.tolist() == [[0.0, 2.0, 30.0, 40.0]]


def test_fill_boxes_covers_pixels_whose_centres_are_inside():
    masks = fill_boxes(torch.tensor([[1.0, 1.0, 3.0, 2.0], [0.0, 0.0, 5.0, 4.0]]), height=4, width=5)
    assert masks.shape == (2, 4, 5)
    assert torch.nonzero(masks[0]).tolist() == [[1, 1], [1, 2]]
    assert masks[1].sum().item() == 20


def test_inside_image_drops_boxes_outside_or_only_touching_an_edge():
    boxes = torch.tensor([[-10.0, 0, -1, 5], [-10, 0, 0, 5], [-10, 0, 0.5, 5], [30, 0, 40, 5], [29.5, 39.5, 50, 50]])
    assert inside_image(boxes, height=40, width=30).tolist() == [False, False, True, False, True]


def test_bounding_box_dicts_round_trip_through_corners():
    dicts = [{"x": 10, "y": 20, "width": 30, "height": 5}, {"x": 0.5, "y": 0, "width": 0, "height": 2.5}]
    corners = from_bounding_boxes(dicts)
    assert corners.tolist() == [[10, 20, 40, 25], [0.5, 0, 0.5, 2.5]]
    back = to_bounding_boxes(corners, [0.9, 1.0], ["sofa", "box"])
    assert back == [{"x": 10, "y": 20, "width": 30, "height": 5, "score": pytest.approx(0.9), "label": "sofa"},
                    {"x": 0.5, "y": 0, "width": 0, "height": 2.5, "score": 1.0, "label": "box"}]
    assert all(isinstance(v, float) for d in back for k, v in d.items() if k != "label")


def test_no_bounding_boxes_give_an_empty_box_tensor():
    assert from_bounding_boxes([]).shape == (0, 4)
    assert to_bounding_boxes(torch.zeros((0, 4)), [], []) == []


def test_mask_extents_are_the_pixel_edges_around_each_mask_and_zero_when_empty():
    masks = torch.zeros(3, 6, 8)
    masks[0, 3, 2] = 1  # one pixel
    masks[1, 1:5, 0] = 0.7  # a soft column at the left edge
    masks[1, 5, 7] = 0.9  # and a far corner pixel
    masks[2, 2, 2] = 0.5  # not above 0.5: empty
    assert mask_extents(masks).tolist() == [[2, 3, 3, 4], [0, 1, 8, 6], [0, 0, 0, 0]]
    assert mask_extents(torch.zeros(0, 6, 8)).shape == (0, 4)
