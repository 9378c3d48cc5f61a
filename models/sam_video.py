"""Objects followed through a clip (a frame batch) with SAM 2.1's video model, transformers' ``Sam2VideoModel``.

How transformers 5.x drives the model: a ``Sam2VideoInferenceSession`` holds the clip's pre-processed frames,
each object's prompt on the key frame and, per frame and object, the model's outputs. ``model(session,
frame_idx=k)`` segments the key frame from the prompts; every later call segments one more frame, reading the
key frame's memory, the memories of the 6 frames before it (after it when going backward) and the object
pointers of up to 15 (``num_maskmem`` and ``max_object_pointers_in_encoder`` in the config).

Left to itself the session keeps every frame's pixels (12 MB at 1024 px) and, per object, every frame's
outputs (about 6 MB: the full-size mask logits among them), so a few hundred frames would fill the memory. Here
the session reads each frame's pixels from the clip when the model asks for them (nothing is kept; the session
caches one frame's image features), and after each frame the outputs no later frame reads are dropped: what is
held does not grow with the clip.

Pre- and post-processing are done here, step for step as ``Sam2VideoProcessor`` does them (its video
processor needs torchvision):
- frames: 8-bit RGB → resized to the model's square (bilinear, antialiased, on the 8-bit values, as torchvision
  resizes a uint8 tensor) → ``(x - 255·mean) / (255·std)`` with ImageNet's mean and std;
- mask prompts: resized to the square (bilinear, antialiased) and thresholded at 0.5, unless already that size;
- boxes and points: pixel coordinates scaled to the square; a box is the two points labelled 2 and 3, ahead of
  the object's other points (1 = object, 0 = not);
- masks out: the low-resolution logits resized (bilinear) to the frame size, kept where above 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..ops.convert import to_uint8
from .sam import IMAGENET_MEAN, IMAGENET_STD

DIRECTIONS = {"forward": (1,), "backward": (-1,), "both": (1, -1)}


class SamVideoLoadError(ValueError):
    """The folder is not a SAM 2 video checkpoint."""


def load(path: Path) -> torch.nn.Module:
    """A ``Sam2VideoModel`` (float32, CPU, eval mode) from a hub-format ``sam2_video`` folder, as the published
    ``facebook/sam2.1-hiera-*`` repositories are."""
    from transformers import Sam2VideoModel

    path = Path(path)
    config_file = path / "config.json"
    if not path.is_dir() or not config_file.is_file():
        raise SamVideoLoadError(f"{path.name} is not a hub-format model folder (config.json + model.safetensors); "
                                "pick a sam2.1-hiera-* model")
    model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    if model_type != "sam2_video":
        raise SamVideoLoadError(f"{path.name} is a '{model_type}' model without SAM 2's video memory; tracking needs "
                                "a 'sam2_video' checkpoint such as sam2.1-hiera-tiny")
    return Sam2VideoModel.from_pretrained(path, dtype=torch.float32, use_safetensors=True).eval()


# --- pre- and post-processing ---


def _native_8bit_resize(device: torch.device) -> bool:
    """Whether torchvision resizes a uint8 tensor on ``device`` in 8 bits (CPUs with AVX2) rather than in float
    with rounding; the two differ by one grey level on about a fifth of the pixels."""
    return device.type == "cpu" and "AVX2" in torch.backends.cpu.get_cpu_capability()


def pixel_values(frame: torch.Tensor, size: int) -> torch.Tensor:
    """A frame ``[H,W,3]`` in 0..1 → the normalised ``[3,S,S]`` float32 input of the image encoder."""
    x = torch.from_numpy(to_uint8(frame)).permute(2, 0, 1).unsqueeze(0).contiguous()
    if x.shape[-2:] != (size, size):
        native = _native_8bit_resize(x.device)
        x = F.interpolate(x if native else x.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
        if not native:
            x = x.round_().to(torch.uint8)
    mean = (torch.tensor(IMAGENET_MEAN) * 255.0).view(3, 1, 1)  # rescaling by 1/255 folded into the normalisation
    std = (torch.tensor(IMAGENET_STD) * 255.0).view(3, 1, 1)
    return (x[0].float() - mean) / std


def mask_prompt(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A mask ``[H,W]`` in 0..1 → the ``[1,1,S,S]`` mask input of the session."""
    m = mask.float()[None, None]
    if m.shape[-2:] != (size, size):
        m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        m = (m >= 0.5).float()
    return m


def point_prompt(box: torch.Tensor | None, points: torch.Tensor | None, labels: torch.Tensor | None,
                 height: int, width: int, size: int) -> dict[str, torch.Tensor]:
    """One object's box ``[4]`` and/or points ``[P,2]`` (pixels, labels ``[P]``: 1 object, 0 not) → the
    session's point inputs, ``point_coords`` ``[1,1,Q,2]`` and ``point_labels`` ``[1,1,Q]``."""
    coords, kinds = [], []
    if box is not None:
        coords.append(box.float().reshape(2, 2))
        kinds.append(torch.tensor([2, 3], dtype=torch.int64))
    if points is not None:
        coords.append(points.float().reshape(-1, 2))
        kinds.append(labels.to(torch.int64).reshape(-1))
    xy = torch.cat(coords).clone()
    xy[:, 0] = xy[:, 0] * (size / width)
    xy[:, 1] = xy[:, 1] * (size / height)
    return {"point_coords": xy[None, None], "point_labels": torch.cat(kinds)[None, None]}


def masks_at(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Low-resolution mask logits ``[K,1,h,w]`` → masks ``[K,H,W]`` (bool, CPU) at the frame size."""
    out = [F.interpolate(chunk.float(), size=(height, width), mode="bilinear", align_corners=False)[:, 0] > 0.0
           for chunk in logits.split(8)]  # a few objects at a time: never every object's full-size logits at once
    return torch.cat(out).cpu()


# --- tracking ---


@dataclass
class Prompt:
    """What marks one object on the key frame: a mask, or a box and/or points (pixels)."""

    mask: torch.Tensor | None = None  # [H,W] in 0..1
    box: torch.Tensor | None = None  # [4]: x0, y0, x1, y1
    points: torch.Tensor | None = None  # [P,2]: x, y
    labels: torch.Tensor | None = None  # [P]: 1 object, 0 not


@dataclass
class Frame:
    index: int
    masks: torch.Tensor  # [K,H,W] bool, one per object in prompt order; empty where SAM finds the object absent
    scores: torch.Tensor  # [K] SAM's object presence probability (sigmoid of its object score)


class _ClipFrames(Mapping):
    """The clip as the session reads it (its ``processed_frames``): a frame's pixel values are made when the
    model asks for them and not kept."""

    def __init__(self, frames: torch.Tensor, size: int, dtype: torch.dtype):
        self.frames, self.size, self.dtype = frames, size, dtype

    def __getitem__(self, index: int) -> torch.Tensor:
        return pixel_values(self.frames[index].cpu(), self.size).to(self.dtype)

    def __len__(self) -> int:
        return self.frames.shape[0]

    def __iter__(self):
        return iter(range(len(self)))


def track(model, frames: torch.Tensor, key_frame: int, prompts: list[Prompt], direction: str = "forward"
          ) -> Iterator[Frame]:
    """Segments the objects of ``prompts`` on ``key_frame`` of ``frames`` ``[N,H,W,3]``, then follows them frame by
    frame (forward to the last frame, backward to the first, or forward then backward), yielding each frame's
    result as soon as it is made, the key frame first."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    count, height, width = frames.shape[:3]
    param = next(model.parameters())
    size = model.config.image_size
    session = Sam2VideoInferenceSession(video_height=height, video_width=width, inference_device=param.device,
                                        inference_state_device=param.device, dtype=param.dtype)
    session.processed_frames = _ClipFrames(frames, size, param.dtype)
    for obj_id, prompt in enumerate(prompts):
        obj_idx = session.obj_id_to_idx(obj_id)
        if prompt.mask is not None:
            session.add_mask_inputs(obj_idx, key_frame, mask_prompt(prompt.mask, size))
        else:
            session.add_point_inputs(obj_idx, key_frame, point_prompt(prompt.box, prompt.points, prompt.labels,
                                                                      height, width, size))
    session.obj_with_new_inputs = list(range(len(prompts)))

    # The frames whose outputs a later frame may read: the memories of num_maskmem - 1 and the object
    # pointers of max_object_pointers_in_encoder - 1 frames on the side the tracking comes from.
    reach = max(model.config.num_maskmem, model.config.max_object_pointers_in_encoder) - 1
    yield _frame(model(session, frame_idx=key_frame), height, width)
    steps = DIRECTIONS[direction]
    for i, step in enumerate(steps):
        # The other direction, run next, starts by reading the frames this one tracks beside the key frame.
        kept_for_next = {key_frame + step * d for d in range(1, reach + 1)} if i + 1 < len(steps) else set()
        for index in range(key_frame + step, count if step > 0 else -1, step):
            yield _frame(model(session, frame_idx=index, reverse=step < 0), height, width)
            _forget(session, index, {index - step * d for d in range(reach + 1)} | kept_for_next)


def _frame(output, height: int, width: int) -> Frame:
    return Frame(output.frame_idx, masks_at(output.pred_masks, height, width),
                 torch.sigmoid(output.object_score_logits.float().reshape(-1)).cpu())


def _forget(session, index: int, keep: set[int]) -> None:
    """Drops the tracked frames' outputs outside ``keep`` and, of frame ``index``, the mask logits (no later frame
    reads a tracked frame's masks: only its memory and object pointer)."""
    for obj_idx, outputs in session.output_dict_per_obj.items():
        tracked = outputs["non_cond_frame_outputs"]
        for done in [f for f in tracked if f not in keep]:
            del tracked[done]
        for key in ("pred_masks", "high_res_masks"):
            tracked.get(index, {}).pop(key, None)
        seen = session.frames_tracked_per_obj[obj_idx]
        for done in [f for f in seen if f not in keep]:
            del seen[done]
