"""Tiny random-weight Grounding DINO, SAM and SAM 2.1 models of the real architectures, for tests.

Each is built once per test session into a temporary folder, in the file layout of its hub repo
(config.json, model.safetensors and, for Grounding DINO, the preprocessor and BERT tokenizer files
with a small vocabulary written here), then copied under its registry name into a test's models
folder, where the pack's own resolution finds it. SAM 2.1 is saved as the published
``facebook/sam2.1-hiera-*`` folders are: a ``sam2_video`` model (video memory included) with its
published ``processor_config.json``.

Outputs are varied: Grounding DINO's random word logits are so large that every box scores about 1,
so its decoder's last norm is scaled down to spread the scores over 0.3-0.9.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch

CONFIGS = Path(__file__).parent / "data" / "configs"  # published config files, byte for byte
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "the", "white", "sofa", "lamp", "cat", "dog",
         "red", "chair", "table", "person"]


def _built(name: str) -> Path:
    return Path(_session_dir()) / name


@cache
def _session_dir() -> str:
    path = tempfile.mkdtemp(prefix="maskforge-tiny-")
    atexit.register(shutil.rmtree, path, True)
    return path


def grounding_dino_config():
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    swin = SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, image_size=64,
                      out_indices=[2, 3, 4])
    bert = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64)
    return GroundingDinoConfig(backbone_config=swin, text_config=bert, d_model=64, encoder_layers=1, decoder_layers=2,
                               encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                               decoder_attention_heads=2, num_queries=30, encoder_n_points=2, decoder_n_points=2)


@cache
def grounding_dino() -> Path:
    from transformers import BertTokenizer, GroundingDinoForObjectDetection
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import GroundingDinoImageProcessorPil

    out = _built("grounding-dino")
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(grounding_dino_config())
    with torch.no_grad():  # word logits are the decoder output (after this norm) times the text features
        model.model.decoder.layer_norm.weight.mul_(0.1)
        model.model.decoder.layer_norm.bias.mul_(0.1)
    model.save_pretrained(out)
    GroundingDinoImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(out)
    BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)}).save_pretrained(out)
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")  # the hub repo has it too
    return out


def sam_config(image_size: int = 64):
    from transformers import SamConfig

    return SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, output_channels=16,
                           image_size=image_size, patch_size=16, global_attn_indexes=[1], window_size=2, num_pos_feats=8),
        prompt_encoder_config=dict(hidden_size=16, image_size=image_size, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=8, mlp_dim=32,
                                 iou_head_hidden_dim=16),
    )


def sam2_config():
    from transformers import Sam2Config

    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=8, image_size=[64, 64], blocks_per_stage=[1, 1, 2, 1],
                    embed_dim_per_stage=[8, 16, 32, 64], num_attention_heads_per_stage=[1, 1, 1, 1],
                    window_size_per_stage=[4, 4, 2, 2], global_attention_blocks=[3],
                    window_positional_embedding_background_size=[2, 2])
    return Sam2Config(
        vision_config=dict(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8],
                           backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]], fpn_hidden_size=16),
        prompt_encoder_config=dict(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                                 iou_head_hidden_dim=16),
    )


def sam2_video_config():
    """The tiny SAM 2 as the published sam2.1 folders declare it: a ``sam2_video`` model, memory included."""
    from transformers import Sam2VideoConfig

    parts = {k: v for k, v in sam2_config().to_dict().items()
             if k in ("vision_config", "prompt_encoder_config", "mask_decoder_config")}
    return Sam2VideoConfig(**parts, image_size=64, memory_attention_hidden_size=16, memory_attention_num_layers=1,
                           memory_attention_feed_forward_hidden_size=32, memory_encoder_hidden_size=16,
                           memory_encoder_output_channels=8, mask_downsampler_embed_dim=16, memory_fuser_embed_dim=16,
                           memory_fuser_intermediate_dim=32)


@cache
def sam(image_size: int = 64) -> Path:
    from transformers import SamModel

    out = _built("sam" if image_size == 64 else f"sam-{image_size}")
    torch.manual_seed(1)
    SamModel(sam_config(image_size)).save_pretrained(out)
    return out


@cache
def sam2() -> Path:
    """A ``sam2`` folder (as facebook/sam2-hiera-*-hf and transformers' own saves have it)."""
    from transformers import Sam2Model

    out = _built("sam2")
    torch.manual_seed(2)
    Sam2Model(sam2_config()).save_pretrained(out)
    return out


@cache
def sam2_video() -> Path:
    """A ``sam2_video`` folder, laid out as facebook/sam2.1-hiera-tiny."""
    from transformers import Sam2VideoModel

    out = _built("sam2-video")
    torch.manual_seed(2)
    Sam2VideoModel(sam2_video_config()).save_pretrained(out)
    shutil.copy(CONFIGS / "sam2.1-hiera-tiny" / "processor_config.json", out)
    return out


# Inverse of the pack's Meta → transformers renames, written out here on its own so a wrong rule in
# the pack cannot cancel itself out. Meta's names are those of segment_anything's modules.
_HF_TO_META = [
    (r"^vision_encoder\.layers\.", "image_encoder.blocks."),
    (r"^vision_encoder\.", "image_encoder."),
    (r"\.patch_embed\.projection\.", ".patch_embed.proj."),
    (r"\.neck\.conv1\.", ".neck.0."),
    (r"\.neck\.layer_norm1\.", ".neck.1."),
    (r"\.neck\.conv2\.", ".neck.2."),
    (r"\.neck\.layer_norm2\.", ".neck.3."),
    (r"^prompt_encoder\.shared_embedding\.positional_embedding$", "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
    (r"^prompt_encoder\.point_embed\.", "prompt_encoder.point_embeddings."),
    (r"\.mask_embed\.conv1\.", ".mask_downscaling.0."),
    (r"\.mask_embed\.layer_norm1\.", ".mask_downscaling.1."),
    (r"\.mask_embed\.conv2\.", ".mask_downscaling.3."),
    (r"\.mask_embed\.layer_norm2\.", ".mask_downscaling.4."),
    (r"\.mask_embed\.conv3\.", ".mask_downscaling.6."),
    (r"\.upscale_conv1\.", ".output_upscaling.0."),
    (r"\.upscale_layer_norm\.", ".output_upscaling.1."),
    (r"\.upscale_conv2\.", ".output_upscaling.3."),
    (r"\.proj_in\.", ".layers.0."),
    (r"\.layer_norm(1|2|3|4|_final_attn)\.", r".norm\1."),
]


def sam_state_to_meta(model) -> dict[str, torch.Tensor]:
    """A transformers SamModel's weights under the keys of Meta's ``sam_vit_*.pth`` files."""
    state = model.state_dict()
    depth = {}  # MLP name → number of hidden layers (transformers: proj_in, layers.0..k-1, proj_out)
    for key in state:
        if m := re.match(r"^(.*)\.layers\.(\d+)\.weight$", key):
            if "hypernetworks" in key or "iou_prediction_head" in key:
                depth[m[1]] = max(depth.get(m[1], 0), int(m[2]) + 1)
    out = {}
    for key, value in state.items():
        if key.startswith("shared_image_embedding."):
            continue  # Meta keeps this matrix once, in the prompt encoder
        m = re.match(r"^(.*(?:hypernetworks_mlps\.\d+|iou_prediction_head))\.(proj_out|layers\.(\d+))\.(.*)$", key)
        if m:
            hidden = depth.get(m[1], 0)
            index = hidden + 1 if m[2] == "proj_out" else int(m[3]) + 1
            out[f"{m[1]}.layers.{index}.{m[4]}"] = value
            continue
        for pattern, replacement in _HF_TO_META:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    out["pixel_mean"] = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    out["pixel_std"] = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
    return out


@cache
def meta_sam() -> Path:
    """The tiny SAM saved as Meta's original checkpoint format (a plain state dict in a .pth file)."""
    from transformers import SamModel

    out = _built("meta") / "sam_vit_b_01ec64.pth"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sam_state_to_meta(SamModel.from_pretrained(sam())), out)
    return out


def install(models_dir: Path, folder: str, name: str, source: Path) -> Path:
    """Copies a built model into ``models_dir/folder/name`` (a directory, or a single file)."""
    target = models_dir / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target


def install_defaults(models_dir: Path) -> None:
    """The node's default detector and SAM model, under their registry names."""
    install(models_dir, "grounding-dino", "grounding-dino-tiny", grounding_dino())
    install(models_dir, "sam2", "sam2.1-hiera-tiny", sam2_video())
    install(models_dir, "sams", "sam-vit-base", sam())
