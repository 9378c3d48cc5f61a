"""A tiny random-weight SAM 2.1 video model (``Sam2VideoModel``) of the ``facebook/sam2.1-hiera-tiny`` configuration.

The configuration is the published config.json when tests/data/configs/sam2.1-hiera-tiny/config.json holds it. Its
exact text could not be found from here (the hub is unreachable and no stored copy turned up), so until that file is
added the configuration is transformers' ``Sam2VideoConfig`` defaults, which transformers documents as that
checkpoint's. Only sizes change: the input square (1024 → 64 px, with the feature-map sizes that follow from it) and
the widths of the layers. Depths, windows, the memory bank (7 frames), the object-pointer reach (16) and every switch
stay. Two widths are fixed by the code, not the config: the memory channels (64, ``kv_in_dim`` in the memory
attention) and a hidden size that is a larger multiple of them (object pointers are split into 64-wide tokens).

Random weights at transformers' initial scale (std 0.02) give the same answer on every frame, which proves
nothing; the weights are redrawn at a gain of 1.5 so masks and object scores vary with the picture, and the
object-score head's output is scaled so that its logits sit a few units from zero (present or absent, not a coin
toss that rounding could flip). The folder holds the scaled configuration as its config.json, so loading it goes
through the same code as users' checkpoints.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import torch

from tests.tiny_prompt_models import _built

CONFIG = Path(__file__).parent / "data" / "configs" / "sam2.1-hiera-tiny" / "config.json"
SIZE = 64


def published_config() -> dict:
    from transformers import Sam2VideoConfig

    if CONFIG.is_file():
        return json.loads(CONFIG.read_text(encoding="utf-8"))
    return {**Sam2VideoConfig().to_dict(), "architectures": ["Sam2VideoModel"]}


def scaled_config(size: int = SIZE) -> dict:
    config = published_config()
    grid = size // 4  # the Hiera patch stride
    config["image_size"] = size
    vision = config["vision_config"]
    backbone = vision["backbone_config"]
    backbone.update(image_size=[size, size], hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64],
                    num_attention_heads_per_stage=[1, 1, 2, 2])
    vision.update(backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=128,
                  backbone_feature_sizes=[[grid, grid], [grid // 2, grid // 2], [grid // 4, grid // 4]])
    config["prompt_encoder_config"].update(hidden_size=128, image_size=size)
    config["mask_decoder_config"].update(hidden_size=128, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    config.update(memory_attention_hidden_size=128, memory_attention_feed_forward_hidden_size=64,
                  memory_attention_rope_feat_sizes=[grid // 4, grid // 4], memory_encoder_hidden_size=128,
                  mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128, memory_fuser_intermediate_dim=64)
    return config


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Import into a test module to run it on one thread: tiny models run fastest so, and far faster than on threads
    fighting a busy machine for its cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GAIN = 1.5  # weight scale: 1 keeps a layer's output variance; a little more makes the masks differ between frames


def build(config: dict, seed: int) -> torch.nn.Module:
    from transformers import Sam2VideoConfig, Sam2VideoModel

    torch.manual_seed(seed)
    model = Sam2VideoModel(Sam2VideoConfig.from_dict(config)).eval()
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.ndim >= 2:
                weight.normal_(0.0, GAIN * weight[0].numel() ** -0.5)
        head = model.mask_decoder.pred_obj_score_head.proj_out
        head.weight.mul_(30.0)
        head.bias.mul_(30.0)
    return model


# The object's left edge on each frame of the synthetic clip: it crosses to the right, leaves the picture for two
# frames and comes back. None: not in the picture.
PATH = (-8, 6, 20, 34, 48, 62, 76, None, None, 70, 56, 42)


def clip(height: int = 48, width: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """A clip of ``len(PATH)`` frames ``[N,H,W,3]`` (a textured background, a yellow 16 x 18 px block moving along
    PATH) and the block's true masks ``[N,H,W]``."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(len(PATH), height, width, 3, generator=generator) * 0.3
    truth = torch.zeros(len(PATH), height, width)
    for i, x in enumerate(PATH):
        if x is not None:
            truth[i, 14:32, max(x, 0) : max(x + 16, 0)] = 1.0
    frames[truth.bool()] = torch.tensor([0.9, 0.8, 0.1])
    return frames, truth


@cache
def sam2_video(seed: int = 5) -> Path:
    """The tiny model saved as a hub folder: the scaled published config.json and model.safetensors."""
    out = _built(f"sam2-video-{seed}")
    config = scaled_config()
    build(config, seed).save_pretrained(out)
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out
