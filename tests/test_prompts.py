import json
import logging

import pytest
import torch

from maskforge.errors import MaskForgeError
from maskforge.nodes.prompts import (MAX_DEPTH, join_boxes, join_points, keep_best, load_json, parse_bboxes,
                                     parse_boxes, parse_coords, parse_points)

NODE = "SomeNode"


def boxes_of(found):
    return [d.boxes.tolist() for d in found]


# --- JSON ---


@pytest.mark.parametrize("text", ["[NaN, 1]", "[Infinity]", '{"x": -Infinity}'])
def test_json_refuses_nan_and_infinity(text):
    with pytest.raises(MaskForgeError, match="SomeNode: boxes: .* is not a number; .* finite"):
        load_json(NODE, text, "boxes")


def test_json_nesting_is_bounded_and_brackets_inside_text_do_not_count():
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(MaskForgeError, match=f"nested more than {MAX_DEPTH} levels"):
        load_json(NODE, deep, "points")
    with pytest.raises(MaskForgeError, match="nested more than"):  # far too deep for Python's own parser
        load_json(NODE, "[" * 100_000 + "]" * 100_000, "points")
    assert load_json(NODE, "[" * MAX_DEPTH + "]" * MAX_DEPTH, "points") == [[[[[[[[]]]]]]]]
    text = json.dumps([{"phrase": '[[[[[[[[[[ \\" {{{{{{{{{{', "box": [1, 2, 3, 4]}])
    assert load_json(NODE, text, "boxes")[0]["box"] == [1, 2, 3, 4]


# --- boxes (JSON) ---


def test_boxes_without_an_image_index_go_to_every_image_and_are_clipped():
    found = parse_boxes(NODE, "[[-5, 2, 50, 70], [1, 1, 2, 2]]", 2, 40, 30)
    assert boxes_of(found) == [[[0, 2, 30, 40], [1, 1, 2, 2]]] * 2
    assert found[0].phrases == found[0].labels == ["box", "box"] and found[0].scores.tolist() == [1, 1]


def test_objects_json_keeps_image_phrase_label_and_score():
    text = json.dumps({"image_size": [30, 40], "images": 2, "objects": [
        {"image": 1, "phrase": "white sofa", "label": "sofa", "score": 0.75, "box": [1, 2, 3, 4]}]})
    first, second = parse_boxes(NODE, text, 2, 40, 30)
    assert len(first) == 0
    assert second.phrases == ["white sofa"] and second.labels == ["sofa"] and second.scores.tolist() == [0.75]


def test_a_boxes_object_and_bbox_key_are_read_too():
    (found,) = parse_boxes(NODE, '{"boxes": [{"bbox": [1, 2, 3, 4], "label": "cat"}]}', 1, 10, 10)
    assert found.boxes.tolist() == [[1, 2, 3, 4]] and found.phrases == found.labels == ["cat"]


def test_a_box_wholly_outside_the_image_is_dropped_not_clipped_to_nothing(caplog):
    text = "[[40, 0, 50, 10], [-20, -20, -1, -1], [0, 0, 30, 40], [29, 39, 60, 60]]"
    with caplog.at_level(logging.WARNING):
        (found,) = parse_boxes(NODE, text, 1, 40, 30)
    assert found.boxes.tolist() == [[0, 0, 30, 40], [29, 39, 30, 40]]
    assert "2 box(es) of image 1 lie wholly outside the 30x40 image" in caplog.text


@pytest.mark.parametrize(("text", "message"), [
    ("[[1, 2, 3]", "not valid JSON"),
    ("[[1, 2, 3]]", r"a box \[x0, y0, x1, y1\] must be 4 numbers"),
    ('[[1, 2, 3, "4"]]', "must be 4 numbers"),
    ("[[1, 2, 3, 1e999]]", "must be finite numbers"),
    ("[[1, NaN, 3, 4]]", "NaN is not a number"),
    ('[{"box": [5, 5, 1, 9]}]', "has x1 < x0"),
    ('[{"box": [1, 1, 5, 5], "image": 3}]', "image index 3 is outside the batch of 1"),
    ('[{"box": [1, 1, 5, 5], "image": true}]', "image index true is outside"),
    ('[{"box": [1, 1, 5, 5], "score": Infinity}]', "Infinity is not a number"),
    ('[{"box": [1, 1, 5, 5], "phrase": {"a": 1}}]', "a box's phrase must be text"),
    ('["sofa"]', "a box is"),
    ('{"objects": 5}', "expected a list of boxes, got 5"),
    ('{"positive": [[1, 2]]}', "needs an 'objects' list .* 'boxes' list; it has \\['positive'\\]"),
    ("7", "expected a list of boxes, got 7"),
])
def test_bad_boxes_get_a_clear_error(text, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        parse_boxes(NODE, text, 1, 10, 10)
    assert str(err.value).startswith("SomeNode: boxes: ")


# --- bboxes (BOUNDING_BOX) ---

SOFA = {"x": 2, "y": 3, "width": 4, "height": 5, "score": 0.9, "label": "couch"}
LAMP = {"x": 10, "y": 0, "width": 2, "height": 2}


def test_one_bounding_box_dict_is_for_every_image():
    found = parse_bboxes(NODE, SOFA, 3, 20, 20)
    assert boxes_of(found) == [[[2, 3, 6, 8]]] * 3
    assert found[2].phrases == found[2].labels == ["couch"] and found[2].scores.tolist() == [pytest.approx(0.9)]


def test_a_flat_list_of_bounding_boxes_is_for_every_image_and_a_missing_label_reads_box():
    found = parse_bboxes(NODE, [SOFA, LAMP], 2, 20, 20)
    assert boxes_of(found) == [[[2, 3, 6, 8], [10, 0, 12, 2]]] * 2
    assert found[1].labels == ["couch", "box"] and found[1].scores.tolist() == [pytest.approx(0.9), 1.0]


def test_per_image_lists_are_padded_with_the_last_as_core_pads_them():
    found = parse_bboxes(NODE, [[SOFA], [LAMP], []], 5, 20, 20)
    assert boxes_of(found) == [[[2, 3, 6, 8]], [[10, 0, 12, 2]], [], [], []]
    found = parse_bboxes(NODE, [[SOFA], [LAMP, SOFA]], 3, 20, 20)
    assert [len(d) for d in found] == [1, 2, 2] and found[2].labels == ["box", "couch"]


def test_no_bounding_boxes_means_no_boxes_for_any_image():
    assert [len(d) for d in parse_bboxes(NODE, [], 2, 20, 20)] == [0, 0]
    assert [len(d) for d in parse_bboxes(NODE, [[]], 2, 20, 20)] == [0, 0]


def test_bounding_boxes_outside_the_image_are_dropped_and_the_rest_clipped():
    outside = {"x": 30, "y": 0, "width": 5, "height": 5}
    overlapping = {"x": -4, "y": 15, "width": 10, "height": 10}
    (found,) = parse_bboxes(NODE, [outside, overlapping], 1, 20, 20)
    assert found.boxes.tolist() == [[0, 15, 6, 20]]


@pytest.mark.parametrize(("value", "message"), [
    ([[SOFA], [LAMP], [SOFA]], "3 lists of boxes for a batch of 2 images"),
    ("[[1, 2, 3, 4]]", "a BOUNDING_BOX is a box .* got str"),
    (None, "got NoneType"),
    ([SOFA, [LAMP]], "a list mixing"),
    ([[SOFA, "lamp"]], "a list mixing"),
    ({"x": 1, "y": 2, "w": 3, "h": 4}, "has x, y, width and height"),
    ({"x": 1, "y": 2, "width": float("nan"), "height": 4}, "must be finite numbers"),
    ({"x": 1, "y": 2, "width": "3", "height": 4}, "must be 4 numbers"),
    ({"x": 1, "y": 2, "width": -3, "height": 4}, "cannot be negative"),
    ({**LAMP, "score": float("inf")}, "a box's score must be finite"),
    ({**LAMP, "label": 3}, "a box's label must be text"),
])
def test_bad_bounding_boxes_get_a_clear_error(value, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        parse_bboxes(NODE, value, 2, 20, 20)
    assert str(err.value).startswith("SomeNode: bboxes: ")


def test_boxes_of_two_inputs_are_joined_per_image_and_keep_best_keeps_their_order():
    json_boxes = parse_boxes(NODE, '[{"box": [0, 0, 1, 1], "score": 0.2}, {"box": [1, 1, 2, 2], "score": 0.9}]',
                             2, 9, 9)
    core_boxes = parse_bboxes(NODE, [[{**LAMP, "x": 3, "score": 0.5}], []], 2, 9, 9)
    joined = join_boxes(json_boxes, None, core_boxes)
    assert [d.scores.tolist() for d in joined] == [[pytest.approx(0.2), pytest.approx(0.9), 0.5],
                                                   [pytest.approx(0.2), pytest.approx(0.9)]]
    best = keep_best(joined[0], 2)
    assert best.boxes.tolist() == [[1, 1, 2, 2], [3, 0, 5, 2]] and best.labels == ["box", "box"]
    assert keep_best(joined[0], 0) is joined[0] and join_boxes(None, None) is None


# --- points ---


@pytest.mark.parametrize("text", [
    "[[3, 4], [5, 6, 0]]",
    '[{"x": 3, "y": 4}, {"x": 5, "y": 6, "label": 0}]',
    '{"positive": [[3, 4]], "negative": [{"x": 5, "y": 6}]}',
    '[[3, 4, true], [5, 6, false]]',
])
def test_every_points_format_gives_the_same_points(text):
    xy, labels = parse_points(NODE, text)
    assert xy.tolist() == [[3, 4], [5, 6]] and labels.tolist() == [1, 0]


def test_core_coords_give_points_with_their_input_label_and_join_with_points():
    positive = parse_coords(NODE, '[{"x": 10, "y": 20}, {"x": 11.5, "y": 21}]', 1, "positive_coords")
    negative = parse_coords(NODE, "[[1, 2]]", 0, "negative_coords")
    xy, labels = join_points(parse_points(NODE, "[[7, 8]]"), positive, None, negative)
    assert xy.tolist() == [[7, 8], [10, 20], [11.5, 21], [1, 2]] and labels.tolist() == [1, 1, 1, 0]
    assert parse_coords(NODE, "[]", 1, "positive_coords") is None and parse_points(NODE, "[]") is None
    assert join_points(None, None) is None


@pytest.mark.parametrize(("text", "message"), [
    ('{"positive": 5}', "'positive' must be a list of points, got 5"),
    ('{"negative": "[[1, 2]]"}', "'negative' must be a list of points"),
    ('{"positives": [[1, 2]]}', "a 'positive' and/or a 'negative' list; it has \\['positives'\\]"),
    ("{}", "a 'positive' and/or a 'negative' list"),
    ("[[1, NaN]]", "NaN is not a number"),
    ('[{"x": 1e400, "y": 2}]', "must be finite numbers"),
    ("[[1, 2, 2]]", "label is 1 .* or 0 .*, got 2"),
    ('[{"x": 1, "y": 2, "label": "1"}]', "label is 1"),
    ("[[1]]", "a point is"),
    ('[{"x": 1}]', "a point's x and y must be 2 numbers"),
    ('"3, 4"', "expected a list of points"),
])
def test_bad_points_get_a_clear_error(text, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        parse_points(NODE, text)
    assert str(err.value).startswith("SomeNode: points: ")


@pytest.mark.parametrize(("text", "message"), [
    ('{"x": 1, "y": 2}', "expected a list of points"),
    ('[{"x": 1, "y": Infinity}]', "Infinity is not a number"),
    ("[[1, 2", "not valid JSON"),
])
def test_bad_coords_get_a_clear_error(text, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        parse_coords(NODE, text, 0, "negative_coords")
    assert str(err.value).startswith("SomeNode: negative_coords: ")


def test_points_come_back_as_float_pixels_and_long_labels():
    xy, labels = parse_points(NODE, "[[3, 4]]")
    assert xy.dtype == torch.float32 and labels.dtype == torch.long
