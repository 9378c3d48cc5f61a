"""Tiny random-weight SegFormer and Mask2Former ADE20K models of the real architectures, for tests.

Each is built once per test session (``from_config`` with small sizes, 150 ADE20K classes) and
saved as its hub repo is laid out (config.json, model.safetensors, preprocessor_config.json: the
published one for Mask2Former, the image processor's own ``save_pretrained`` for SegFormer, whose
published file was not found); ``install`` copies it under its registry name into a test's models
folder, where the pack's own resolution finds it.

Their outputs are varied, not one class everywhere: SegFormer's random logits already pick dozens of
classes on a photo. Mask2Former's random heads give every query nearly the same class mix and
nearly flat masks (the same class wins everywhere), so its class head is scaled up (each query
commits to a class) and its mask head too (each mask has a shape). The parity tests check the
class histograms themselves.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch

from maskforge.labels import ADE20K_LABELS

SEGFORMER = "segformer-b0-finetuned-ade-512-512"
MASK2FORMER = "mask2former-swin-tiny-ade-semantic"
ID2LABEL = dict(enumerate(ADE20K_LABELS))
CONFIGS = Path(__file__).parent / "data" / "configs"  # published config files, byte for byte


def segformer_config(num_labels: int = 150):
    from transformers import SegformerConfig

    return SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], num_attention_heads=[1, 1, 2, 4],
                           decoder_hidden_size=32, num_labels=num_labels,
                           id2label=ID2LABEL if num_labels == 150 else None)


def mask2former_config():
    from transformers import Mask2FormerConfig, SwinConfig

    swin = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=7,
                      out_features=["stage1", "stage2", "stage3", "stage4"])
    return Mask2FormerConfig(backbone_config=swin, hidden_dim=32, mask_feature_size=32, feature_size=32,
                             encoder_layers=1, decoder_layers=2, num_queries=10, dim_feedforward=64,
                             num_attention_heads=2, encoder_feedforward_dim=64, num_labels=150, id2label=ID2LABEL)


@cache
def _built(name: str) -> Path:
    import transformers

    session = tempfile.mkdtemp(prefix="maskforge-ade-")
    atexit.register(shutil.rmtree, session, True)
    folder = Path(session) / name
    torch.manual_seed(0)
    if name.startswith("mask2former"):
        model = transformers.Mask2FormerForUniversalSegmentation(mask2former_config())
        with torch.no_grad():
            model.class_predictor.weight.mul_(50)
            model.model.transformer_module.decoder.mask_predictor.mask_embedder.layers[2].layers[0].weight.mul_(300)
        model.save_pretrained(folder)
        shutil.copy(CONFIGS / name / "preprocessor_config.json", folder)
    else:
        transformers.SegformerForSemanticSegmentation(segformer_config()).save_pretrained(folder)
        transformers.SegformerImageProcessorPil().save_pretrained(folder)
    return folder


def install(models_dir: Path, name: str) -> Path:
    """The tiny model saved under ``name`` in ``models_dir/maskforge``; returns its folder."""
    target = models_dir / "maskforge" / name
    shutil.copytree(_built(name), target)
    return target
