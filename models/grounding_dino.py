"""Text → boxes with Grounding DINO (transformers), open-vocabulary: any phrases, several at once.

The processor is built with PIL image processing, so torchvision is never needed. Grounding DINO stays
in float32 on every device: it is fast enough on a GPU, and its deformable attention is where half
precision costs accuracy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..ops.boxes import clip_boxes, nms
from ..ops.convert import to_uint8
from . import files


class PromptTooLong(ValueError):
    """The prompt has more tokens than the model reads."""


@dataclass
class Detections:
    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros((0, 4)))  # [N,4] pixel corners x0 y0 x1 y1
    scores: torch.Tensor = field(default_factory=lambda: torch.zeros((0,)))  # [N], best first
    phrases: list[str] = field(default_factory=list)  # the prompt phrase each box matched
    labels: list[str] = field(default_factory=list)  # that phrase's words above the text threshold, or the phrase

    def __len__(self) -> int:
        return len(self.phrases)


def load(path: Path) -> tuple[torch.nn.Module, object]:
    """The model (float32, CPU, eval mode) and its processor from a hub-format folder (config.json,
    model.safetensors, preprocessor and tokenizer files)."""
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

    model = files.load_pretrained(GroundingDinoForObjectDetection, path, model_type="grounding-dino", dtype=torch.float32)
    try:
        processor = GroundingDinoProcessor.from_pretrained(path, backend="pil")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise files.BadModelFile(f"{path} lacks a usable tokenizer or preprocessor ({files.summary(exc)}): put the "
                                 "model's tokenizer and preprocessor files there") from None
    model.model.backbone = LastImageBackbone(model.model.backbone)
    return model.eval(), processor


class LastImageBackbone(torch.nn.Module):
    """Grounding DINO's image backbone (Swin and position embeddings), keeping its output for the last
    image it saw. The backbone reads the image alone, so another prompt on the same image skips it;
    only the text encoder and the image-text layers run again."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.inner = backbone
        self._last: tuple | None = None  # (key, output)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "inner":
                raise
            return getattr(self.inner, name)  # the model also reads backbone.position_embedding

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor):
        digest = hashlib.blake2b(pixel_values.detach().float().cpu().numpy().tobytes(), digest_size=16)
        digest.update(pixel_mask.detach().cpu().numpy().tobytes())
        key = (digest.hexdigest(), tuple(pixel_values.shape), str(pixel_values.device), pixel_values.dtype)
        if self._last is None or self._last[0] != key:
            self._last = (key, self.inner(pixel_values, pixel_mask))
        return self._last[1]


def split_phrases(prompt: str) -> list[str]:
    """``"White sofa. lamp."`` → ``["white sofa", "lamp"]``: the model was trained on lower-case phrases ending in dots."""
    seen = []
    for part in prompt.replace("\n", ".").split("."):
        phrase = " ".join(part.lower().split())
        if phrase and phrase not in seen:
            seen.append(phrase)
    return seen


def _phrase_tokens(processor, text: str, phrases: list[str], length: int) -> torch.Tensor:
    """``[P,length]`` bool: which token positions belong to which phrase of ``text``."""
    encoded = processor.tokenizer(text, return_offsets_mapping=True)
    spans, start = [], 0
    for phrase in phrases:  # phrases appear in order, each followed by ". "
        spans.append((start, start + len(phrase)))
        start += len(phrase) + 2
    member = torch.zeros((len(phrases), length), dtype=torch.bool)
    for position, (begin, end) in enumerate(encoded["offset_mapping"][:length]):
        if end <= begin:  # special tokens
            continue
        for p, (s, e) in enumerate(spans):
            if begin >= s and end <= e:
                member[p, position] = True
    return member


def detect(
    model: torch.nn.Module,
    processor,
    image: torch.Tensor,
    phrases: list[str],
    box_threshold: float,
    text_threshold: float,
    nms_iou: float,
    max_objects: int,
    resolution: int = 800,
) -> Detections:
    """Boxes in ``image`` (``[H,W,3]`` in 0..1) for ``phrases``.

    Boxes and scores are those of transformers' ``post_process_grounded_object_detection`` (and of
    Grounding DINO's own demo): a box's score is the highest probability the model gives any token of
    the prompt (dots and the start and end tokens included), and boxes scoring ``box_threshold`` or
    less are dropped. Its phrase is the prompt phrase with the most probable word; its label the words
    of that phrase scoring above ``text_threshold`` (the whole phrase when none does). Boxes are clipped
    to the image. Overlapping boxes (IoU above ``nms_iou``, whatever their phrase) keep only the best;
    then the best ``max_objects`` (0 = all) remain. The model sees the image with its short side at
    ``resolution`` (800 is the checkpoints' own setting).
    """
    from PIL import Image

    h, w = image.shape[:2]
    text = ". ".join(phrases) + "."
    pil = Image.fromarray(to_uint8(image))
    size = {"shortest_edge": resolution, "longest_edge": resolution * 5 // 3}  # the checkpoints' 800:1333
    inputs = processor(images=pil, text=text, return_tensors="pt", input_data_format="channels_last", size=size)
    limit = model.config.max_text_len
    if inputs["input_ids"].shape[1] > limit:
        raise PromptTooLong(f"the prompt is {inputs['input_ids'].shape[1]} tokens long; Grounding DINO reads at most "
                            f"{limit}: shorten it or split it over two nodes")
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in inputs.items()}
    with torch.inference_mode():
        out = model(**inputs)
    length = inputs["input_ids"].shape[1]
    probs = out.logits[0, :, :length].float().sigmoid().cpu()  # [queries, tokens]; beyond the text it is 0
    keep = probs.amax(-1) > box_threshold
    if not keep.any():
        return Detections()
    probs = probs[keep]
    member = _phrase_tokens(processor, text, phrases, length)  # [P, tokens]
    phrase_index = torch.where(member[None], probs[:, None, :], torch.zeros(())).amax(-1).argmax(-1)
    cx, cy, bw, bh = out.pred_boxes[0].float().cpu()[keep].unbind(-1)
    boxes = torch.stack([cx - 0.5 * bw, cy - 0.5 * bh, cx + 0.5 * bw, cy + 0.5 * bh], -1) * torch.tensor([w, h, w, h])
    boxes, scores = clip_boxes(boxes, h, w), probs.amax(-1)
    order = nms(boxes, scores, nms_iou)
    if max_objects > 0:
        order = order[:max_objects]
    ids = inputs["input_ids"][0].cpu()
    found = [phrases[i] for i in phrase_index[order].tolist()]
    words = member[phrase_index[order]] & (probs[order] > text_threshold)  # [N, tokens]
    labels = [processor.tokenizer.decode(ids[w]) if w.any() else phrase for w, phrase in zip(words, found)]
    return Detections(boxes[order], scores[order], found, labels)
