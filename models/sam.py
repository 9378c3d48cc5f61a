"""Masks from boxes and points with SAM (ViT-B/L/H) and SAM 2.1 (Hiera) through transformers.

The image goes through the heavy image encoder once; its embedding is kept (the last few images,
keyed by model and image content) so every box of the image, and a second prompt on the same image,
costs only the light mask decoder. All boxes of an image go through the decoder in one batch.

Pre- and post-processing are done here rather than by SamProcessor/Sam2Processor: SAM 2's processor
imports torchvision, and Meta's ``sam_vit_*.pth`` files come without processor files. SAM's steps are
those of transformers' SamProcessor with its PIL image processor (8-bit PIL resize, see ``pixels``);
SAM 2.1's those of Meta's SAM2ImagePredictor (float resize).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import files, pixels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EMBEDDING_CACHE_SIZE = 4  # images; a SAM 2 embedding is about 16 MB, a SAM one 4 MB


class SamLoadError(files.BadModelFile):
    """The file is not a SAM checkpoint this loader understands."""


def family_of(model: torch.nn.Module) -> str:
    return "sam" if model.config.model_type == "sam" else "sam2"  # a sam2_video folder loads as SAM 2 too


# --- loading ---


def load(path: Path) -> torch.nn.Module:
    """A SAM or SAM 2 model (float32, CPU, eval mode) from a hub-format folder (config.json +
    model.safetensors) or from one of Meta's original SAM files (``sam_vit_b_01ec64.pth`` …)."""
    path = Path(path)
    if path.is_dir() and path.suffix in (".pth", ".pt", ".safetensors"):
        raise SamLoadError(f"{path} is a folder where a file is expected; put the model file there")
    if path.is_dir():
        model = _load_hub(path)
    elif path.suffix in (".pth", ".pt"):
        model = _load_meta(path)
    else:
        raise SamLoadError(f"{path.name} is neither a hub-format model folder nor one of Meta's SAM .pth files; "
                           "single-file SAM 2 checkpoints are not read: pick a sam2.1-hiera-* model instead")
    return model.eval()


def _load_hub(path: Path) -> torch.nn.Module:
    from transformers import Sam2Model, SamModel

    config_file = path / "config.json"
    if not config_file.exists():
        raise SamLoadError(f"{path} has no config.json")
    model_type = files.read_json(config_file).get("model_type")
    # The published sam2.1-hiera-* folders say sam2_video (their weights hold the video memory too);
    # the image model takes its own part of them.
    classes = {"sam": SamModel, "sam2": Sam2Model, "sam2_video": Sam2Model}
    if model_type not in classes:
        raise SamLoadError(f"{path.name} is a '{model_type}' model, not SAM or SAM 2")
    return files.load_pretrained(classes[model_type], path, dtype=torch.float32)


def _load_meta(path: Path) -> torch.nn.Module:
    from transformers import SamConfig, SamModel

    files.check_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text suggests weights_only=False, which would run the file's code
        raise SamLoadError(f"{path} is not a weights-only checkpoint: besides tensors it holds Python objects, which "
                           "MaskForge does not load (loading them can run code). Use the model's original release "
                           "or its hub-format (safetensors) version") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise files.damaged(path, files.summary(exc)) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # SAM 2's .pt files and some re-saves wrap the weights
    if not isinstance(state, dict) or "image_encoder.pos_embed" not in state:
        hint = " (SAM 2's Meta files are not supported: use the hub-format sam2.1 models)" if any(
            k.startswith("image_encoder.trunk.") for k in state) else ""
        raise SamLoadError(f"{path.name} is not a Meta SAM ViT checkpoint{hint}")
    model = SamModel(SamConfig(**meta_config(state)))
    missing, unexpected = model.load_state_dict(meta_to_transformers(state), strict=False)
    if missing or unexpected:
        raise SamLoadError(f"{path.name}: weights do not match the SAM layout (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model


# --- Meta's key layout ↔ transformers' (the renames transformers' own conversion makes) ---

_META_TO_HF = [
    (r"^image_encoder\.", "vision_encoder."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"^vision_encoder\.blocks\.", "vision_encoder.layers."),
    (r"\.norm(1|2|3|4|_final_attn)\.", r".layer_norm\1."),
    (r"\.neck\.0\.", ".neck.conv1."),
    (r"\.neck\.1\.", ".neck.layer_norm1."),
    (r"\.neck\.2\.", ".neck.conv2."),
    (r"\.neck\.3\.", ".neck.layer_norm2."),
    (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$", "prompt_encoder.shared_embedding.positional_embedding"),
    (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
    (r"\.mask_downscaling\.0\.", ".mask_embed.conv1."),
    (r"\.mask_downscaling\.1\.", ".mask_embed.layer_norm1."),
    (r"\.mask_downscaling\.3\.", ".mask_embed.conv2."),
    (r"\.mask_downscaling\.4\.", ".mask_embed.layer_norm2."),
    (r"\.mask_downscaling\.6\.", ".mask_embed.conv3."),
    (r"\.output_upscaling\.0\.", ".upscale_conv1."),
    (r"\.output_upscaling\.1\.", ".upscale_layer_norm."),
    (r"\.output_upscaling\.3\.", ".upscale_conv2."),
]
_MLP = re.compile(r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\.layers\.(\d+)\.(.*)$")
_META_ONLY = ("pixel_mean", "pixel_std")  # the normalisation constants, applied in preprocessing here


def meta_to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Meta's SAM state dict with transformers' SamModel keys."""
    mlp_depth: dict[str, int] = {}
    for key in state:
        if m := _MLP.match(key):
            mlp_depth[m[1]] = max(mlp_depth.get(m[1], 0), int(m[2]) + 1)
    out = {}
    for key, value in state.items():
        if key in _META_ONLY:
            continue
        if m := _MLP.match(key):  # Meta's MLP layers 0..n-1 are transformers' proj_in, layers.0..n-3, proj_out
            i, last = int(m[2]), mlp_depth[m[1]] - 1
            name = "proj_in" if i == 0 else "proj_out" if i == last else f"layers.{i - 1}"
            key = f"{m[1]}.{name}.{m[3]}"
        else:
            for pattern, replacement in _META_TO_HF:
                key = re.sub(pattern, replacement, key)
        out[key] = value
    # transformers keeps the random Fourier matrix twice: in the prompt encoder and for the image grid.
    out["shared_image_embedding.positional_embedding"] = out["prompt_encoder.shared_embedding.positional_embedding"]
    return out


def meta_config(state: dict[str, torch.Tensor]) -> dict:
    """SamConfig arguments read off the shapes of a Meta SAM state dict (ViT-B, -L, -H or any other size)."""
    patch = state["image_encoder.patch_embed.proj.weight"].shape[-1]
    grid, hidden = state["image_encoder.pos_embed"].shape[1], state["image_encoder.pos_embed"].shape[-1]
    depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks."))
    rel_rows = [state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] for i in range(depth)]
    head_dim = state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1]
    windowed = [r for r in rel_rows if r != 2 * grid - 1]  # a global block's table spans the whole grid
    decoder_layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("mask_decoder.transformer.layers."))
    iou_depth = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("mask_decoder.iou_prediction_head.layers."))
    decoder_hidden = state["mask_decoder.iou_token.weight"].shape[1]
    return {
        "vision_config": {
            "hidden_size": hidden,
            "output_channels": state["image_encoder.neck.0.weight"].shape[0],
            "num_hidden_layers": depth,
            "num_attention_heads": hidden // head_dim,
            "image_size": grid * patch,
            "patch_size": patch,
            "mlp_dim": state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0],
            "window_size": (windowed[0] + 1) // 2 if windowed else 14,
            "global_attn_indexes": [i for i, r in enumerate(rel_rows) if r == 2 * grid - 1],
            "num_pos_feats": state["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].shape[1],
        },
        "prompt_encoder_config": {
            "hidden_size": state["prompt_encoder.no_mask_embed.weight"].shape[1],
            "image_size": grid * patch,
            "patch_size": patch,
            "mask_input_channels": state["prompt_encoder.mask_downscaling.3.weight"].shape[0],
            "num_point_embeddings": sum(1 for k in state if k.startswith("prompt_encoder.point_embeddings.")),
        },
        "mask_decoder_config": {
            "hidden_size": decoder_hidden,
            "num_hidden_layers": decoder_layers,
            "num_attention_heads": 8,  # not visible in the shapes; 8 in every released SAM
            "mlp_dim": state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0],
            "num_multimask_outputs": state["mask_decoder.mask_tokens.weight"].shape[0] - 1,
            "iou_head_depth": iou_depth,
            "iou_head_hidden_dim": state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0],
        },
    }


# --- inference ---


@dataclass
class Embedding:
    features: torch.Tensor | list[torch.Tensor]  # SAM: one map; SAM 2: the high-resolution maps and the last one
    height: int  # the original image's size
    width: int


_EMBEDDINGS: OrderedDict[tuple, Embedding] = OrderedDict()


def image_key(image: torch.Tensor) -> str:
    """A digest of the image's pixels: equal images share an embedding, whatever tensor holds them."""
    data = image.detach().to("cpu", torch.float32).contiguous().numpy()
    return hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest() + str(tuple(data.shape))


def _input_size(model) -> int:
    return model.config.prompt_encoder_config.image_size


def _resized_size(model, height: int, width: int) -> tuple[int, int]:
    """Where the image lies in the model's square input: SAM keeps the aspect ratio (longest side fits,
    then pads), SAM 2 stretches to the square."""
    size = _input_size(model)
    if family_of(model) == "sam2":
        return size, size
    scale = size / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def preprocess(model, image: torch.Tensor) -> torch.Tensor:
    """``[H,W,3]`` in 0..1 → the normalised ``[1,3,S,S]`` input the image encoder expects."""
    size = _input_size(model)
    h, w = _resized_size(model, image.shape[0], image.shape[1])
    if family_of(model) == "sam":  # SamImageProcessor: 8-bit PIL resize, zeros after normalising, bottom and right
        x = pixels.normalise(pixels.resize_8bit(image, h, w), IMAGENET_MEAN, IMAGENET_STD)
        return F.pad(x, (0, size - w, 0, size - h))
    x = image.permute(2, 0, 1).unsqueeze(0).float()  # SAM2Transforms: the float image, resized and normalised
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean.to(x)) / std.to(x)


def embed(model, image: torch.Tensor, cache_key: str) -> Embedding:
    """The image encoder's output for ``image`` ``[H,W,3]``, from the cache when this model saw it lately."""
    param = next(model.parameters())
    key = (cache_key, str(param.device), str(param.dtype), image_key(image))
    if key in _EMBEDDINGS:
        _EMBEDDINGS.move_to_end(key)
        return _EMBEDDINGS[key]
    pixels = preprocess(model, image.cpu()).to(param.device, param.dtype)
    with torch.inference_mode():
        features = model.get_image_embeddings(pixels)
    result = Embedding(features, image.shape[0], image.shape[1])
    _EMBEDDINGS[key] = result
    while len(_EMBEDDINGS) > EMBEDDING_CACHE_SIZE:
        _EMBEDDINGS.popitem(last=False)
    return result


def clear_cache() -> None:
    _EMBEDDINGS.clear()


def _to_input_coords(model, xy: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates (x, y pairs in the last dimension) → the model's input frame (scaled in float64, as the
    processors do, then float32)."""
    h, w = _resized_size(model, height, width)
    scale = torch.tensor([w / width, h / height], dtype=torch.float64)
    return (xy.double().reshape(*xy.shape[:-1], -1, 2) * scale).reshape(xy.shape).float()


def segment(
    model,
    embedding: Embedding,
    boxes: torch.Tensor | None = None,
    points: torch.Tensor | None = None,
    point_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``[N,H,W]`` (bool, at the image's size) and predicted IoU scores ``[N]``.

    ``boxes`` ``[N,4]`` gives one object per box, decoded in one batch; ``points`` ``[P,2]`` with
    ``point_labels`` ``[P]`` (1 include, 0 exclude) refine every box, or make one object on their own.
    """
    param = next(model.parameters())
    h, w = embedding.height, embedding.width
    count = boxes.shape[0] if boxes is not None else 1
    kwargs = {}
    # Coordinates stay float32 whatever the model's dtype (bf16 would round 1000 px to 4 px steps); the
    # prompt encoder casts them after scaling them to 0..1.
    if boxes is not None:
        kwargs["input_boxes"] = _to_input_coords(model, boxes, h, w).unsqueeze(0).to(param.device)
    if points is not None:
        coords = _to_input_coords(model, points, h, w).to(param.device)
        kwargs["input_points"] = coords.expand(1, count, -1, -1) if coords.ndim == 2 else coords
        labels = point_labels if point_labels is not None else torch.ones(points.shape[0], dtype=torch.long)
        kwargs["input_labels"] = labels.to(param.device, torch.long).expand(1, count, -1)
    features = embedding.features
    with torch.inference_mode():
        out = model(image_embeddings=features, multimask_output=False, **kwargs)
    low_res = out.pred_masks[0, :, 0].float()  # [N, h', w'] logits
    # A few objects at a time, so a large image never holds every object's full-size logits at once.
    masks = torch.cat([_upscale(model, chunk, h, w) > 0.0 for chunk in low_res.split(8)])
    return masks, out.iou_scores[0, :, 0].float().cpu()


def _upscale(model, logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Low-resolution mask logits → the original image's size (SAM: through the padded square, cropped)."""
    x = logits.unsqueeze(1)
    if family_of(model) == "sam":
        size = _input_size(model)
        h, w = _resized_size(model, height, width)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)[..., :h, :w]
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x[:, 0].cpu()
