import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from maskforge.models import sam_video
from tests import tiny_prompt_models, tiny_sam_video as tiny
from tests.tiny_sam_video import one_thread  # noqa: F401 (autouse)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


@pytest.fixture(scope="module")
def model():
    return sam_video.load(tiny.sam2_video())


def processor(size):
    """Sam2VideoProcessor's prompt handling as it is: its image and video processors need torchvision, which
    these two methods never touch."""
    from transformers import Sam2VideoProcessor

    proc = Sam2VideoProcessor.__new__(Sam2VideoProcessor)
    proc.target_size, proc.point_pad_value = size, -10
    return proc


# --- loading ---


def test_the_checkpoints_config_loads_as_the_video_model(model):
    published = tiny.published_config()
    assert published["model_type"] == "sam2_video"
    assert type(model).__name__ == "Sam2VideoModel"
    assert model.config.num_maskmem == published["num_maskmem"] == 7
    assert model.config.max_object_pointers_in_encoder == published["max_object_pointers_in_encoder"] == 16
    assert model.config.image_size == tiny.SIZE


def test_a_config_with_the_older_rope_theta_key_loads(tmp_path):
    """Checkpoints saved by earlier transformers write memory_attention_rope_theta, not rope_parameters."""
    config = tiny.scaled_config()
    config.pop("rope_parameters", None)
    config["memory_attention_rope_theta"] = 5000.0
    tiny.build(config, 0).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert sam_video.load(tmp_path).config.rope_parameters["rope_theta"] == 5000.0


def test_an_image_only_sam2_folder_is_refused_with_what_to_pick():
    with pytest.raises(sam_video.SamVideoLoadError, match="without SAM 2's video memory.*sam2.1-hiera-tiny"):
        sam_video.load(tiny_prompt_models.sam2())


# --- pre- and post-processing: Sam2VideoProcessor's steps ---


def test_frames_are_resized_in_8_bits_as_the_processor_resizes_them():
    """The processor (torchvision) resizes the 8-bit frame with an antialiased bilinear filter; PIL's bilinear
    resize (Meta's own video loader) is an independent implementation of that filter."""
    frame = torch.rand(37, 53, 3)
    ours = sam_video.pixel_values(frame, 64)
    eight_bit = (frame.numpy() * 255).round().astype(np.uint8)
    resized = torch.from_numpy(np.asarray(Image.fromarray(eight_bit).resize((64, 64), Image.BILINEAR)).copy())
    expected = (resized.permute(2, 0, 1).float() / 255 - MEAN) / STD
    assert ours.shape == (3, 64, 64) and ours.dtype == torch.float32
    step = 1 / 255 / STD.min()  # one grey level after normalisation
    assert (ours - expected).abs().max() <= step + 1e-5
    assert ((ours - expected).abs() < 1e-5).float().mean() > 0.98
    # Resized in float without rounding to 8 bits, a fifth of the pixels would be off by a fraction of a level.
    unrounded = F.interpolate(torch.from_numpy(eight_bit).permute(2, 0, 1)[None].float(), size=(64, 64),
                              mode="bilinear", align_corners=False, antialias=True)[0]
    assert not torch.allclose(ours, (unrounded / 255 - MEAN) / STD, atol=1e-4)


def test_a_frame_at_the_models_size_is_only_normalised():
    frame = torch.rand(64, 64, 3)
    expected = (torch.from_numpy((frame.numpy() * 255).round()).permute(2, 0, 1) / 255 - MEAN) / STD
    assert torch.allclose(sam_video.pixel_values(frame, 64), expected, atol=1e-5)


def test_without_avx2_the_resize_rounds_a_float_resize(monkeypatch):
    """torchvision's own rule: the native 8-bit kernel on AVX2 CPUs, else float, rounded back to 8 bits."""
    frame = torch.rand(30, 41, 3)
    monkeypatch.setattr(sam_video, "_native_8bit_resize", lambda device: False)
    ours = sam_video.pixel_values(frame, 64)
    eight_bit = torch.from_numpy((frame.numpy() * 255).round()).permute(2, 0, 1)[None]
    resized = F.interpolate(eight_bit, size=(64, 64), mode="bilinear", align_corners=False, antialias=True).round()
    assert torch.allclose(ours, (resized[0] / 255 - MEAN) / STD, atol=1e-5)


def test_mask_prompts_equal_the_processors():
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    soft = torch.rand(40, 70)
    session = Sam2VideoInferenceSession(video_height=40, video_width=70, dtype=torch.float32)
    processor(64).add_inputs_to_inference_session(session, frame_idx=0, obj_ids=[7], input_masks=[soft])
    assert torch.equal(sam_video.mask_prompt(soft, 64), session.mask_inputs_per_obj[0][0])
    square = torch.rand(64, 64)  # at the model's size the processor keeps the mask as it is, soft values too
    assert torch.equal(sam_video.mask_prompt(square, 64), square[None, None])


@pytest.mark.parametrize("box, points, labels", [
    ([3.5, 2.0, 30.0, 20.25], None, None),
    (None, [[60.0, 40.0], [10.5, 11.0]], [1, 0]),
    ([3.5, 2.0, 30.0, 20.25], [[12.0, 9.0]], [0]),
])
def test_box_and_point_prompts_equal_the_processors(box, points, labels):
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    session = Sam2VideoInferenceSession(video_height=45, video_width=70, dtype=torch.float32)
    kwargs = {}
    if box is not None:
        kwargs["input_boxes"] = [[box]]
    if points is not None:
        kwargs.update(input_points=[[points]], input_labels=[[labels]])
    processor(64).add_inputs_to_inference_session(session, frame_idx=0, obj_ids=[1], **kwargs)
    expected = session.point_inputs_per_obj[0][0]
    ours = sam_video.point_prompt(None if box is None else torch.tensor(box),
                                  None if points is None else torch.tensor(points),
                                  None if labels is None else torch.tensor(labels), 45, 70, 64)
    assert torch.equal(ours["point_coords"], expected["point_coords"])
    assert ours["point_labels"].tolist() == expected["point_labels"].tolist()


def test_masks_come_back_at_the_frame_size_where_the_logits_are_above_zero():
    logits = torch.randn(3, 1, 16, 16)
    masks = sam_video.masks_at(logits, 30, 50)
    # Sam2VideoProcessor.post_process_masks: bilinear resize to the original size, then > 0.
    assert torch.equal(masks, F.interpolate(logits, (30, 50), mode="bilinear", align_corners=False)[:, 0] > 0)
    assert masks.dtype == torch.bool and 0 < masks.float().mean() < 1


# --- tracking: transformers' own pipeline on the same weights ---


def reference(model, frames, key_frame, prompts, direction):
    """What transformers' documented video pipeline gives: the whole clip pre-processed into the session
    (the processor's steps), prompts added with Sam2VideoProcessor, the key frame run, propagate_in_video_iterator
    forward and/or in reverse, post_process_masks' resize and threshold."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    count, height, width = frames.shape[:3]
    size = model.config.image_size
    eight_bit = (frames * 255).round().to(torch.uint8).permute(0, 3, 1, 2).contiguous()
    video = (F.interpolate(eight_bit, size=(size, size), mode="bilinear", align_corners=False,
                           antialias=True).float() / 255 - MEAN) / STD
    session = Sam2VideoInferenceSession(video=video, video_height=height, video_width=width, dtype=torch.float32)
    proc = processor(size)
    outputs = {}
    for obj_id, prompt in enumerate(prompts):
        if prompt.mask is not None:
            kwargs = {"input_masks": [prompt.mask]}
        else:
            kwargs = {}
            if prompt.box is not None:
                kwargs["input_boxes"] = [[prompt.box.tolist()]]
            if prompt.points is not None:
                kwargs.update(input_points=[[prompt.points.tolist()]], input_labels=[[prompt.labels.tolist()]])
        proc.add_inputs_to_inference_session(session, frame_idx=key_frame, obj_ids=[obj_id], **kwargs)
        outputs[key_frame] = model(session, frame_idx=key_frame)
    for reverse in {"forward": [False], "backward": [True], "both": [False, True]}[direction]:
        for out in model.propagate_in_video_iterator(session, start_frame_idx=key_frame, reverse=reverse):
            outputs[out.frame_idx] = out
    return {i: (F.interpolate(out.pred_masks, (height, width), mode="bilinear", align_corners=False)[:, 0] > 0,
                torch.sigmoid(out.object_score_logits.reshape(-1))) for i, out in outputs.items()}


def three_objects():
    frames, truth = tiny.clip()
    prompts = [sam_video.Prompt(mask=truth[4]),
               sam_video.Prompt(box=torch.tensor([2.0, 3.0, 30.5, 21.0])),
               sam_video.Prompt(points=torch.tensor([[60.0, 40.0], [5.0, 5.0]]), labels=torch.tensor([1, 0]))]
    return frames, prompts


@pytest.mark.parametrize("direction, objects", [("both", 3), ("forward", 1), ("backward", 1)])
def test_tracking_equals_transformers_pipeline_on_the_same_weights(model, direction, objects):
    """Masks within a few pixels and presence scores within 1e-4 of transformers' own pipeline. Not to the bit: the
    reference adds a mask and a box object in separate calls, each encoding the key frame's memory on its own,
    where the node encodes all objects' memories in one batch, and batched convolutions round differently (1e-7)."""
    frames, prompts = three_objects()
    prompts = prompts[:objects]
    ours = list(sam_video.track(model, frames, 4, prompts, direction))
    expected = reference(model, frames, 4, prompts, direction)
    assert ours[0].index == 4  # the key frame comes first
    assert sorted(f.index for f in ours) == sorted(expected)
    for frame in ours:
        masks, scores = expected[frame.index]
        assert (frame.masks != masks).sum((1, 2)).max() <= 4, frame.index  # of 3840 pixels
        assert torch.allclose(frame.scores, scores, atol=1e-4), frame.index
    coverage = torch.stack([f.masks.float().mean((1, 2)) for f in ours])
    assert coverage.min() < 0.1 and coverage.max() > 0.5  # the tiny model's masks differ from frame to frame


def test_both_directions_go_forward_then_backward_from_the_key_frame(model):
    frames, prompts = three_objects()
    order = [f.index for f in sam_video.track(model, frames, 4, prompts[:1], "both")]
    assert order == [4, *range(5, len(frames)), 3, 2, 1, 0]


# --- memory ---


def held_bytes(session) -> int:
    """Bytes of every tensor the session holds: frames, cached features, inputs and outputs."""
    seen, total = set(), 0

    def walk(value):
        nonlocal total
        if isinstance(value, torch.Tensor):
            if value.data_ptr() not in seen:
                seen.add(value.data_ptr())
                total += value.numel() * value.element_size()
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    frames = session.processed_frames
    walk(dict(frames) if isinstance(frames, dict) else None)
    walk(session.cache._vision_features)
    walk([session.point_inputs_per_obj, session.mask_inputs_per_obj, session.output_dict_per_obj,
          session.frames_tracked_per_obj])
    return total


@pytest.fixture
def sessions(monkeypatch):
    from transformers.models.sam2_video import modeling_sam2_video

    made = []

    class Recorded(modeling_sam2_video.Sam2VideoInferenceSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(modeling_sam2_video, "Sam2VideoInferenceSession", Recorded)
    return made


def peak_held(model, sessions, frames, prompts):
    peak = 0
    for _ in sam_video.track(model, frames, 2, prompts, "forward"):
        peak = max(peak, held_bytes(sessions[-1]))
    return peak


def test_what_the_session_holds_does_not_grow_with_the_clip(model, sessions):
    """The memory bank and object pointers reach 15 frames back; past that, a clip twice as long holds no more."""
    frames, truth = tiny.clip()
    prompts = [sam_video.Prompt(mask=truth[2])]
    assert peak_held(model, sessions, frames.repeat(2, 1, 1, 1), prompts) == peak_held(
        model, sessions, frames.repeat(4, 1, 1, 1), prompts)  # 24 and 48 frames


def test_without_forgetting_the_session_grows_with_the_clip(model, sessions, monkeypatch):
    """The check above can fail: kept as transformers keeps it, the session grows by every frame's outputs."""
    monkeypatch.setattr(sam_video, "_forget", lambda session, index, keep: None)
    frames, truth = tiny.clip()
    prompts = [sam_video.Prompt(mask=truth[2])]
    short = peak_held(model, sessions, frames, prompts)
    assert peak_held(model, sessions, frames.repeat(2, 1, 1, 1), prompts) > 1.5 * short
