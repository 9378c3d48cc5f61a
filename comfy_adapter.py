"""The only module that touches ComfyUI.

Inside ComfyUI it defers to ``folder_paths``, ``comfy.model_management`` and
``comfy.utils.ProgressBar``; outside it (tests, scripts) it falls back to plain
torch device choice, a silent progress bar and a local models folder. ComfyUI
modules are imported on first use, never at import time, so the pack loads
without ComfyUI.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

import torch

PACK_DIR = Path(__file__).resolve().parent


def _comfy(module: str):
    """The ComfyUI module, or None outside ComfyUI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def in_comfyui() -> bool:
    return _comfy("comfy.model_management") is not None and _comfy("folder_paths") is not None


def torch_device() -> torch.device:
    mm = _comfy("comfy.model_management")
    if mm is not None:
        return mm.get_torch_device()
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def offload_device() -> torch.device:
    mm = _comfy("comfy.model_management")
    return mm.unet_offload_device() if mm is not None else torch.device("cpu")


def intermediate_device() -> torch.device:
    """Where node outputs live between nodes (ComfyUI keeps them on the CPU)."""
    mm = _comfy("comfy.model_management")
    return mm.intermediate_device() if mm is not None else torch.device("cpu")


def throw_if_interrupted() -> None:
    """Stops a long loop when the user presses Cancel in ComfyUI."""
    mm = _comfy("comfy.model_management")
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


def soft_empty_cache() -> None:
    mm = _comfy("comfy.model_management")
    if mm is not None:
        mm.soft_empty_cache()
    elif torch.cuda.is_available():
        torch.cuda.empty_cache()


class _SilentProgressBar:
    def __init__(self, total: int):
        self.total = total
        self.current = 0

    def update(self, value: int) -> None:
        self.current += value

    def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
        self.current = value
        if total is not None:
            self.total = total


def progress_bar(total: int):
    """ComfyUI's progress bar on the node, or a silent one outside ComfyUI."""
    utils = _comfy("comfy.utils")
    return utils.ProgressBar(total) if utils is not None else _SilentProgressBar(total)


def models_dir() -> Path:
    """ComfyUI's ``models`` folder; outside ComfyUI ``$MASKFORGE_MODELS_DIR`` or ``models_local/`` in the pack."""
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.models_dir)
    return Path(os.environ.get("MASKFORGE_MODELS_DIR", PACK_DIR / "models_local"))


def add_model_folder(kind: str, subfolder: str) -> None:
    """Registers ``models/<subfolder>`` under ``kind`` in ComfyUI, keeping paths that are already there
    (other packs', ``extra_model_paths.yaml``)."""
    fp = _comfy("folder_paths")
    if fp is None:
        return
    path = str(models_dir() / subfolder)
    try:
        known = fp.get_folder_paths(kind)
    except KeyError:
        known = []
    if path not in known:  # older ComfyUI appends duplicates
        fp.add_model_folder_path(kind, path)


def model_folders(kind: str, subfolder: str) -> list[Path]:
    """Every folder searched for ``kind``, the default one (where downloads go) first."""
    fp = _comfy("folder_paths")
    default = models_dir() / subfolder
    if fp is None:
        return [default]
    try:
        paths = [Path(p) for p in fp.get_folder_paths(kind)]
    except KeyError:
        paths = []
    return [default] + [p for p in paths if p != default]


def user_dir() -> Path:
    """ComfyUI's user folder (it survives reinstalling the pack); outside ComfyUI ``$MASKFORGE_USER_DIR`` or ``~/.maskforge``."""
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.get_user_directory())
    return Path(os.environ.get("MASKFORGE_USER_DIR", Path.home() / ".maskforge"))


def half_dtype(device: torch.device) -> torch.dtype:
    """The precision to run on ``device``: ComfyUI's choice inside it; bf16 (else fp16) on CUDA and fp32
    elsewhere outside it (fp16 on the CPU is slow, and on Apple GPUs often inexact)."""
    mm = _comfy("comfy.model_management")
    if device.type not in ("cuda", "xpu"):
        return torch.float32
    if mm is not None:
        if mm.should_use_bf16(device):
            return torch.bfloat16
        return torch.float16 if mm.should_use_fp16(device) else torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def model_patcher(module: torch.nn.Module, load_device: torch.device, offload_device: torch.device):
    """``module`` wrapped in ComfyUI's ModelPatcher so ComfyUI can load, evict and unload it; None outside ComfyUI."""
    mp = _comfy("comfy.model_patcher")
    if mp is None or _comfy("comfy.model_management") is None:
        return None
    return mp.ModelPatcher(module, load_device=load_device, offload_device=offload_device)


def on_unload(patcher, callback) -> None:
    """Calls ``callback()`` when ComfyUI unloads ``patcher``'s model ("Unload models", memory pressure).
    Unloading detaches a patcher with ``unpatch_all=True``; loading a model ComfyUI already holds
    detaches it first with ``unpatch_all=False``, which is no unload."""
    events = _comfy("comfy.model_patcher").CallbacksMP
    patcher.add_callback(events.ON_DETACH, lambda _patcher, unpatch_all: unpatch_all and callback())


def load_models(patchers: list) -> None:
    """Has ComfyUI put the patched models on their load device, evicting others if memory is short."""
    mm = _comfy("comfy.model_management")
    if "force_full_load" in inspect.signature(mm.load_models_gpu).parameters:
        # Our modules have no ComfyUI cast layers, so a partial (low-VRAM) load would not work.
        mm.load_models_gpu(patchers, force_full_load=True)
    else:
        mm.load_models_gpu(patchers)
