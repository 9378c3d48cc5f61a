import json

import pytest
import torch

import maskforge
from maskforge import ops
from maskforge.errors import MaskForgeError
from maskforge.models import sam_video
from maskforge.nodes.track_mask import TrackMask
from tests import tiny_prompt_models, tiny_sam_video as tiny
from tests.tiny_sam_video import one_thread  # noqa: F401 (autouse)

KEY = 2


@pytest.fixture
def installed(models_dir):
    tiny_prompt_models.install(models_dir, "sam2", "sam2.1-hiera-tiny", tiny.sam2_video())
    return models_dir


@pytest.fixture(scope="module")
def model():
    return sam_video.load(tiny.sam2_video())


def run(frames, **options):
    args = dict(sam_model="sam2.1-hiera-tiny", key_frame=KEY, direction="both", max_objects=0, grow=0, invert=False,
                force_cpu=False)
    args.update(options)
    return TrackMask().run(frames, **args)


def expected_frames(model, frames, prompts, direction="both", key=KEY):
    return {f.index: f for f in sam_video.track(model, frames, key, prompts, direction)}


def test_every_start_input_marks_its_objects_in_order(installed, model):
    """Masks first (an empty one skipped), then core's boxes, then JSON boxes, refined by the points; per_object is
    frame-major and each mask is what SAM 2.1 gives for that object."""
    frames, truth = tiny.clip()
    masks = torch.stack([truth[KEY], torch.zeros_like(truth[KEY])])
    per_frame_bboxes = [[{"x": 0, "y": 0, "width": 5, "height": 5}]] * KEY + [[{"x": 2, "y": 3, "width": 28.5,
                                                                                 "height": 18}]]
    boxes = json.dumps({"images": len(frames), "objects": [{"image": KEY, "box": [40, 10, 70, 44]}]})
    points = json.dumps([[60, 40, 1], [5, 5, 0]])
    mask, per_object, report, preview = run(frames, initial_mask=masks, bboxes=per_frame_bboxes, boxes=boxes,
                                            points=points)
    report = json.loads(report)
    assert report["objects"] == [{"id": 0, "from": "initial_mask 0"},
                                 {"id": 1, "from": "bboxes 0", "label": "box", "points": True},
                                 {"id": 2, "from": "boxes 0", "label": "box", "points": True}]
    point_xy, labels = torch.tensor([[60.0, 40.0], [5.0, 5.0]]), torch.tensor([1, 0])
    prompts = [sam_video.Prompt(mask=truth[KEY]),
               sam_video.Prompt(box=torch.tensor([2.0, 3.0, 30.5, 21.0]), points=point_xy, labels=labels),
               sam_video.Prompt(box=torch.tensor([40.0, 10.0, 70.0, 44.0]), points=point_xy, labels=labels)]
    expected = expected_frames(model, frames, prompts)
    count = len(frames)
    assert per_object.shape == (count * 3, 48, 80) and mask.shape == (count, 48, 80)
    for i in range(count):
        assert torch.equal(per_object[3 * i : 3 * i + 3].bool(), expected[i].masks), i
        assert torch.equal(mask[i].bool(), expected[i].masks.any(0)), i
    tracks = report["tracks"]
    assert [(t["frame"], t["object"]) for t in tracks] == [(i, k) for i in range(count) for k in range(3)]
    assert preview.shape == (count, 48, 80, 3)


def test_points_alone_mark_one_object(installed, model):
    """JSON points and core's point strings are one set of points."""
    frames, _ = tiny.clip()
    _, per_object, report, _ = run(frames, points="[[60, 40]]", negative_coords='[{"x": 5, "y": 6}]',
                                   direction="forward")
    prompt = sam_video.Prompt(points=torch.tensor([[60.0, 40.0], [5.0, 6.0]]), labels=torch.tensor([1, 0]))
    expected = expected_frames(model, frames, [prompt], "forward")
    assert json.loads(report)["objects"] == [{"id": 0, "from": "points"}]
    for i in range(KEY, len(frames)):
        assert torch.equal(per_object[i].bool(), expected[i].masks[0])


def test_an_object_that_leaves_has_an_empty_mask_and_comes_back(installed):
    """The block leaves the clip and comes back; wherever SAM finds the object absent the mask is empty, the box
    null and the area 0, and the object is found again later."""
    frames, truth = tiny.clip()
    _, per_object, report, preview = run(frames, initial_mask=truth[KEY])
    tracks = json.loads(report)["tracks"]
    absent = [t["frame"] for t in tracks if t["score"] < 0.5]
    assert absent and any(t["frame"] > min(absent) and t["score"] > 0.5 for t in tracks)  # gone, then back
    for t in tracks:
        m = per_object[t["frame"]]
        assert t["area"] == int(m.sum())
        if t["score"] < 0.5:
            assert t["area"] == 0 and t["box"] is None
            assert torch.equal(preview[t["frame"]], frames[t["frame"]])  # nothing drawn
        elif t["area"]:
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert t["box"] == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
            assert not torch.equal(preview[t["frame"]], frames[t["frame"]])  # tinted and boxed


@pytest.mark.parametrize("direction, reached", [("forward", range(KEY, 12)), ("backward", range(0, KEY + 1))])
def test_frames_the_direction_does_not_reach_stay_empty(installed, direction, reached):
    frames, truth = tiny.clip()
    mask, per_object, report, _ = run(frames, initial_mask=truth[KEY], direction=direction)
    tracks = json.loads(report)["tracks"]
    for i in range(len(frames)):
        if i in reached:
            assert tracks[i]["score"] is not None
        else:
            assert tracks[i] == {"frame": i, "object": 0, "box": None, "area": 0, "score": None}
            assert mask[i].max() == 0 and per_object[i].max() == 0


def test_grow_and_invert_apply_frame_by_frame(installed, model):
    frames, truth = tiny.clip()
    mask, per_object, _, _ = run(frames, initial_mask=truth[KEY], grow=3, invert=True, direction="forward")
    expected = expected_frames(model, frames, [sam_video.Prompt(mask=truth[KEY])], "forward")
    for i in range(KEY, len(frames)):
        grown = ops.grow(expected[i].masks.float(), 3)
        assert torch.equal(per_object[i], grown[0])  # grown, not inverted
        assert torch.equal(mask[i], 1 - grown[0])


def test_max_objects_keeps_the_first_ones(installed):
    frames, truth = tiny.clip()
    three = torch.stack([truth[KEY], truth[KEY].roll(20, 1), truth[KEY].roll(-20, 1)])
    _, per_object, report, _ = run(frames, initial_mask=three, max_objects=2, direction="forward")
    assert [o["from"] for o in json.loads(report)["objects"]] == ["initial_mask 0", "initial_mask 1"]
    assert per_object.shape[0] == 2 * len(frames)


def test_nothing_to_follow_gives_empty_outputs_without_loading_a_model(models_dir):
    frames, _ = tiny.clip()
    mask, per_object, report, preview = run(frames, initial_mask=torch.zeros(1, 48, 80))  # no model installed
    assert mask.shape == (12, 48, 80) and mask.max() == 0
    assert per_object.shape == (1, 48, 80) and per_object.max() == 0
    assert json.loads(report)["objects"] == [] and torch.equal(preview, frames)


def test_progress_and_cancel_are_checked_every_frame(installed, fake_comfyui, monkeypatch):
    frames, truth = tiny.clip()
    made = []
    real_track = sam_video.track

    def counting(*args, **kwargs):
        for frame in real_track(*args, **kwargs):
            made.append(frame.index)
            if len(made) == 3:
                fake_comfyui.interrupted = True  # Cancel pressed while the third frame was made
            yield frame

    monkeypatch.setattr(sam_video, "track", counting)
    with pytest.raises(fake_comfyui.modules["comfy.model_management"].Interrupted):
        run(frames, initial_mask=truth[KEY])
    assert len(made) == 3  # stopped before the fourth frame
    bar = fake_comfyui.progress[-1]
    assert (bar.total, bar.current) == (12, 3)  # both directions: every frame


def test_the_progress_bar_counts_the_frames_the_direction_reaches(installed, fake_comfyui):
    frames, truth = tiny.clip()
    run(frames, initial_mask=truth[KEY], direction="backward")
    bar = fake_comfyui.progress[-1]
    assert (bar.total, bar.current) == (KEY + 1, KEY + 1)


@pytest.mark.parametrize("options, name, message", [
    ({"initial_mask": torch.ones(1, 48, 80), "key_frame": 12}, "key_frame", "past the last frame"),
    ({}, "initial_mask", "say what to follow"),
    ({"initial_mask": torch.ones(1, 24, 40)}, "initial_mask", "the masks are 40x24 but the frames are 80x48"),
    ({"boxes": '[{"image": 0, "box": [1, 1, 9, 9]}]'}, "boxes", "none of the boxes is on the key frame"),
    ({"boxes": "[1, 2"}, "boxes", "not valid JSON"),
    ({"points": '[{"x": 1}]'}, "points", "x and y"),
    ({"bboxes": [{"x": 1, "y": 2}]}, "bboxes", "x, y, width and height"),
    ({"bboxes": "10,10,20,20"}, "bboxes", "a BOUNDING_BOX is"),
    ({"positive_coords": '[{"x": 1}]'}, "positive_coords", "x and y"),
])
def test_bad_inputs_get_errors_naming_the_node_and_input(models_dir, options, name, message):
    frames, _ = tiny.clip()
    with pytest.raises(MaskForgeError) as error:
        run(frames, **options)
    assert error.value.node == "TrackMask" and error.value.input_name == name
    assert message in str(error.value)


def test_an_image_only_sam2_folder_gets_a_clear_error(models_dir):
    tiny_prompt_models.install(models_dir, "sam2", "sam2.1-hiera-tiny", tiny_prompt_models.sam2())
    frames, truth = tiny.clip()
    with pytest.raises(MaskForgeError, match="TrackMask: sam_model: .*'sam2_video' checkpoint"):
        run(frames, initial_mask=truth[KEY])


def test_node_is_registered_with_tooltips():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgeTrackMask"] is TrackMask
    assert maskforge.NODE_DISPLAY_NAME_MAPPINGS["MaskForgeTrackMask"] == "Track Mask (video)"
    inputs = TrackMask.INPUT_TYPES()
    everything = {**inputs["required"], **inputs["optional"]}
    assert all(spec[1].get("tooltip") for spec in everything.values())
    assert inputs["required"]["sam_model"][1]["default"] in inputs["required"]["sam_model"][0]
    assert set(inputs["optional"]) == {"initial_mask", "bboxes", "boxes", "points", "positive_coords",
                                       "negative_coords"}
    assert TrackMask.CATEGORY.startswith("MaskForge/") and TrackMask.DESCRIPTION
