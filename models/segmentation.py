"""Semantic segmentation over the 150 ADE20K classes with transformers (SegFormer, Mask2Former).

Class ``i`` of every ADE20K model is ``labels.ADE20K_LABELS[i]``: the pack maps by index, so a
workflow's labels mean the same with any model. The class map equals transformers' own pipeline at
the same input size: the PIL image processor's input (8-bit PIL resize, rescale and normalise with
the model's ``preprocessor_config.json``; see ``pixels``) and ``post_process_semantic_segmentation``
(class scores upsampled to the full image size, then the arg-max). No torchvision is needed. The
full-size arg-max blends scores only along class edges, so a large image never holds 150
full-size score maps at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import comfy_adapter
from ..errors import MaskForgeError
from ..labels import ADE20K_LABELS, normalise
from . import files, pixels

log = logging.getLogger(__name__)

NUM_CLASSES = len(ADE20K_LABELS)
SIZE_DIVISOR = 32  # Swin (Mask2Former) needs sides divisible by 32; SegFormer is content with it
MAX_ASPECT = 4  # without tiling, the long side the model sees is at most this many short sides
STRIP_BYTES = 64 << 20  # upper bound of the scores gathered at once while upsampling
# transformers' post_process_semantic_segmentation for Mask2Former upsamples the mask logits to this square
# size, whatever the input size, before the sigmoid and the class weighting; its answer depends on it.
MASK2FORMER_SCORE_SIZE = 384

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its pixels, from its ``preprocessor_config.json``: 8-bit pixels resized with PIL's
    ``resample`` filter, times ``rescale`` (None: not rescaled), then ``(x - mean) / std`` (None: not normalised)."""

    mean: tuple[float, float, float] | None = _IMAGENET_MEAN
    std: tuple[float, float, float] | None = _IMAGENET_STD
    rescale: float | None = 1 / 255
    resample: int = pixels.BILINEAR

    @classmethod
    def from_folder(cls, path: Path) -> "Preprocess":
        config_file = path / "preprocessor_config.json"
        if not config_file.is_file():
            return cls()
        config = json.loads(config_file.read_text(encoding="utf-8"))
        mean = tuple(config.get("image_mean", _IMAGENET_MEAN))
        rescale = config.get("rescale_factor", 1 / 255) if config.get("do_rescale", True) else None
        if max(mean) > 1.0:  # a mean written on the 0..255 scale means 0..255 pixels
            rescale = None
        resample = config.get("resample", pixels.BILINEAR)
        if not config.get("do_normalize", True):
            return cls(None, None, rescale, resample)
        return cls(mean, tuple(config.get("image_std", _IMAGENET_STD)), rescale, resample)


def load(node: str, path: Path, input_name: str = "model"):
    """``(module, Preprocess)`` for the hub-format model directory ``path`` (safetensors, no remote code)."""
    try:
        import transformers
    except ImportError as exc:
        raise MaskForgeError(node, f"needs the transformers library ({exc}); run: pip install 'transformers>=4.45'",
                             input_name) from exc
    config_file = path / "config.json"
    if not path.is_dir() or not config_file.exists():
        raise MaskForgeError(node, f"{path} is not a transformers model folder (it needs config.json, "
                                   "model.safetensors and preprocessor_config.json)", input_name)
    model_type = files.load_as(node, input_name, files.read_json, config_file).get("model_type")
    if model_type == "mask2former":
        model_class = transformers.Mask2FormerForUniversalSegmentation
    elif model_type in transformers.models.auto.modeling_auto.MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES:
        model_class = transformers.AutoModelForSemanticSegmentation
    else:
        raise MaskForgeError(node, f"{path.name} is a '{model_type}' model; LabelMask runs SegFormer, Mask2Former "
                                   "and other transformers semantic-segmentation models", input_name)
    module = files.load_as(node, input_name, lambda folder: files.load_pretrained(model_class, folder), path)
    check_classes(node, module.config, path.name, input_name)
    return module, Preprocess.from_folder(path)


def check_classes(node: str, config, name: str, input_name: str = "model") -> None:
    """The model must have the 150 ADE20K classes; names that differ from the vocabulary are logged
    (mapping stays by index, as the ADE20K models' own label lists are in index order)."""
    if config.num_labels != NUM_CLASSES:
        raise MaskForgeError(node, f"{name} has {config.num_labels} classes; LabelMask needs an ADE20K model "
                                   f"with {NUM_CLASSES}", input_name)
    names = {int(i): normalise(str(v)) for i, v in (config.id2label or {}).items()}
    differ = [f"{i}: '{names[i]}' (expected '{label}')" for i, label in enumerate(ADE20K_LABELS)
              if i in names and not names[i].startswith("label ") and label not in names[i]]
    if differ:
        log.warning("MaskForge: %s names %d of its classes differently from ADE20K's index order, e.g. %s; "
                    "labels are matched by index", name, len(differ), "; ".join(differ[:3]))


def model_input_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """The size the model sees: short side ``resolution``, aspect kept (long side at most
    ``MAX_ASPECT`` short sides), both sides multiples of SIZE_DIVISOR."""
    scale = resolution / min(height, width)
    h, w = height * scale, width * scale
    h, w = min(h, MAX_ASPECT * resolution), min(w, MAX_ASPECT * resolution)
    return tuple(max(SIZE_DIVISOR, round(s / SIZE_DIVISOR) * SIZE_DIVISOR) for s in (h, w))


@torch.inference_mode()
def class_scores(module, pre: Preprocess, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Scores ``[150, h, w]`` for ``image`` ``[H,W,3]`` in 0..1 resized to ``size``, as transformers'
    ``post_process_semantic_segmentation`` computes them before its final resize. Higher is likelier.
    SegFormer: its logits, at a quarter of ``size``. Mask2Former: the mask logits upsampled to
    384 × 384, then class-weighted mask probabilities."""
    param = next(module.parameters())
    x = pixels.normalise(pixels.resize_8bit(image, *size, pre.resample), pre.mean, pre.std, pre.rescale)
    out = module(pixel_values=x.to(param.device, param.dtype))
    if hasattr(out, "class_queries_logits"):  # Mask2Former: queries → per-class maps
        masks = F.interpolate(out.masks_queries_logits.float(), size=(MASK2FORMER_SCORE_SIZE,) * 2, mode="bilinear",
                              align_corners=False)
        classes = out.class_queries_logits.float().softmax(-1)[..., :-1]  # last class is "no object"
        return torch.einsum("bqc,bqhw->bchw", classes, masks.sigmoid())[0]
    return out.logits[0].float()


def _source_taps(out_size: int, in_size: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each output index: the two input indices and the weight of the second, exactly as
    ``F.interpolate(mode='bilinear', align_corners=False)`` computes them."""
    pos = ((torch.arange(out_size, device=device, dtype=torch.float64) + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)
    low = pos.floor().long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    return low, high, (pos - low).float()


def upsample_argmax(scores: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``argmax`` over classes of ``scores`` ``[C,h,w]`` bilinearly upsampled to ``[height,width]``;
    returns class indices ``[height,width]`` (uint8), the same as ``F.interpolate`` then ``argmax``.

    Each output pixel blends the four source pixels of its cell. Where they share their arg-max
    class, so does any blend of them: only cells on class edges are blended. There, the corners'
    own classes give each pixel a score to beat, and a class whose best corner is below the lowest
    such score in the cell cannot win anywhere in it, so only the few classes left are blended.
    The cost follows the length of the edges, not 150 × the image area.
    """
    classes, h, w = scores.shape
    r0, _, ty = _source_taps(height, h, scores.device)
    c0, _, tx = _source_taps(width, w, scores.device)
    pixels = scores.permute(1, 2, 0).contiguous().view(h * w, classes)  # rows are score vectors, gathered whole
    low = pixels.argmax(1).view(h, w)
    down, across = _next(h, low.device), _next(w, low.device)  # a cell's second row and column, as the taps clamp
    below = low[down]
    on_edge = (low != low[:, across]) | (low != below) | (low != below[:, across])  # per cell (r, c)
    out = low.to(torch.uint8)[r0][:, c0]  # bytes: the full-size gathers are the bulk of the work off the edges
    ys, xs = on_edge[r0][:, c0].nonzero(as_tuple=True)
    if ys.numel() == 0:
        return out
    row, col = on_edge.nonzero(as_tuple=True)  # the edge cells
    slot = torch.empty(h * w, dtype=torch.long, device=low.device)
    slot[row * w + col] = torch.arange(row.numel(), device=low.device)
    cell = slot[r0[ys] * w + c0[xs]]  # each edge pixel's cell
    wy, wx = ty[ys, None], tx[xs, None]
    corners = torch.stack([pixels.index_select(0, r * w + c) for r in (row, down[row]) for c in (col, across[col])], 1)

    def blend(chosen: torch.Tensor, at: slice) -> torch.Tensor:
        """Blended scores of the classes ``chosen`` ``[cells, K]`` for the edge pixels ``at``."""
        picked = corners.gather(2, chosen.unsqueeze(1).expand(-1, 4, -1))  # [cells, 4 corners, K]
        v00, v01, v10, v11 = picked[cell[at]].unbind(1)
        y, x = wy[at], wx[at]
        return (1 - y) * ((1 - x) * v00 + x * v01) + y * ((1 - x) * v10 + x * v11)  # as PyTorch's kernel does

    everywhere = slice(None)
    to_beat = blend(corners.argmax(2), everywhere).amax(1)  # the corners' own classes, blended
    lowest = torch.full((row.numel(),), float("inf"), device=low.device).scatter_reduce(0, cell, to_beat, "amin")
    best = corners.amax(1)  # [cells, C]
    can_win = best >= (lowest - 1e-5 * (1 + lowest.abs())).unsqueeze(1)  # a margin for rounding in the blends
    count = int(can_win.sum(1).max())
    # Each cell's candidates in class order, so ties go to the lower class as in argmax.
    candidates = best.masked_fill(~can_win, float("-inf")).topk(count, 1).indices.sort(1).values
    chunk = max(1, STRIP_BYTES // (16 * count))
    for start in range(0, ys.numel(), chunk):
        at = slice(start, start + chunk)
        winner = blend(candidates, at).argmax(1, keepdim=True)
        out[ys[at], xs[at]] = candidates[cell[at]].gather(1, winner)[:, 0].to(torch.uint8)
    return out


def _next(size: int, device) -> torch.Tensor:
    """Index of the row (or column) after each, the last one standing for itself."""
    return (torch.arange(size, device=device) + 1).clamp(max=size - 1)


def _windows(length: int, tile: int) -> list[tuple[int, int]]:
    """(start, end) windows of about ``tile`` px covering ``length``, overlapping by a quarter; starts
    lie on the 4-px grid of the score canvas, and the last window runs to the end."""
    if length <= tile:
        return [(0, length)]
    stride = max(4, tile * 3 // 4 // 4 * 4)
    starts = list(range(0, length - tile, stride))
    last = (length - tile) // 4 * 4
    if last > starts[-1]:
        starts.append(last)
    return [(a, a + tile) for a in starts[:-1]] + [(starts[-1], length)]


@torch.inference_mode()
def segment(module, pre: Preprocess, image: torch.Tensor, resolution: int, tiled: bool = False) -> torch.Tensor:
    """Class index map ``[H,W]`` (uint8, ADE20K indices) of ``image`` ``[H,W,3]`` in 0..1.

    Untiled, the whole image is resized so its short side is ``resolution``. Tiled, windows of
    ``resolution`` × ``resolution`` px of the full-size image are segmented and their scores averaged
    where they overlap: small things in very large images keep their detail, at a cost that grows
    with the image's area.
    """
    height, width = image.shape[:2]
    if not tiled or max(height, width) <= resolution:
        scores = class_scores(module, pre, image, model_input_size(height, width, resolution))
        return upsample_argmax(scores, height, width)
    # Scores are gathered on a quarter-size canvas, matching the models' output stride.
    canvas_h, canvas_w = -(-height // 4), -(-width // 4)
    total = torch.zeros((NUM_CLASSES, canvas_h, canvas_w), device=next(module.parameters()).device)
    count = torch.zeros((1, canvas_h, canvas_w), device=total.device)
    for top, bottom in _windows(height, resolution):
        for left, right in _windows(width, resolution):
            comfy_adapter.throw_if_interrupted()  # Cancel, per window
            crop = image[top:bottom, left:right]
            ch, cw = crop.shape[:2]
            size = tuple(max(SIZE_DIVISOR, -(-s // SIZE_DIVISOR) * SIZE_DIVISOR) for s in (ch, cw))
            scores = class_scores(module, pre, crop, size)
            t, l = top // 4, left // 4
            th, tw = min(-(-ch // 4), canvas_h - t), min(-(-cw // 4), canvas_w - l)
            scores = F.interpolate(scores[None], size=(th, tw), mode="bilinear", align_corners=False)[0]
            total[:, t : t + th, l : l + tw] += scores
            count[:, t : t + th, l : l + tw] += 1
    return upsample_argmax(total / count, height, width)
