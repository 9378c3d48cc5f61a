"""Loaded models: built once, cached across runs, and put on the compute device only while used.

``get_model(key, build)`` calls ``build()`` the first time and returns the same ManagedModel
afterwards. ``build`` returns one of:

- a ``torch.nn.Module`` — ``use()`` yields the module;
- a pair ``(module, extra)``, e.g. a transformers model and its image processor — ``use()``
  yields the pair; only the module moves between devices;
- any other object (e.g. an ONNX Runtime session) — cached as it is; ``use()`` yields it.

Inside ComfyUI a module on a GPU is wrapped once in ComfyUI's ModelPatcher and loaded with
``load_models_gpu``, so ComfyUI can evict it when a sampler needs the memory and "Unload models"
frees it. Outside ComfyUI it moves to the device for the run and back to the offload device after.
A module on the CPU is plain RAM and stays where it is.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import comfy_adapter


def compute_device(force_cpu: bool = False) -> torch.device:
    """ComfyUI's device (CUDA, MPS, …) or the CPU when the user forces it."""
    return torch.device("cpu") if force_cpu else comfy_adapter.torch_device()


def compute_dtype(device: torch.device) -> torch.dtype:
    """bf16 or fp16 on CUDA where the GPU supports it (ComfyUI's own choice inside it), fp32 on CPU and MPS."""
    return comfy_adapter.half_dtype(device)


class _Holder(torch.nn.Module):
    """ModelPatcher sets attributes such as ``device`` on the module it manages; transformers models
    make ``device`` a read-only property, so the patcher gets this plain container instead."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner


@dataclass(eq=False)
class ManagedModel:
    key: tuple
    module: torch.nn.Module | None  # None for payloads without torch weights
    extra: Any  # what travels with the module (processor, config, session, …)
    load_device: torch.device
    offload_device: torch.device
    dtype: torch.dtype | None
    _payload: Any = field(repr=False, default=None)
    _patcher: Any = field(repr=False, default=None)

    @contextmanager
    def use(self):
        """Yields what ``build`` returned, its module on ``load_device``."""
        if self.module is None or self.load_device.type == "cpu":
            yield self._payload
            return
        if self._patcher is None:
            self._patcher = comfy_adapter.model_patcher(_Holder(self.module), self.load_device, self.offload_device)
        if self._patcher is not None:
            comfy_adapter.load_models([self._patcher])  # ComfyUI decides when it leaves the GPU
            yield self._payload
            return
        self.module.to(self.load_device)
        try:
            yield self._payload
        finally:
            self.module.to(self.offload_device)
            comfy_adapter.soft_empty_cache()


_CACHE: dict[tuple, ManagedModel] = {}


def get_model(key: str, build: Callable[[], Any], *, device: torch.device | None = None,
              dtype: torch.dtype | None = None) -> ManagedModel:
    """The model cached under (``key``, device, dtype), built on first use.

    ``key`` names the weights (e.g. the resolved path); ``device`` defaults to ``compute_device()``.
    A floating-point module is cast to ``dtype`` once after ``build`` (None keeps its dtype).
    The module is kept on the offload device between runs.
    """
    device = compute_device() if device is None else torch.device(device)
    cache_key = (key, str(device), str(dtype))
    model = _CACHE.get(cache_key)
    if model is not None:
        return model
    payload = build()
    if isinstance(payload, torch.nn.Module):
        module, extra = payload, None
    elif isinstance(payload, tuple) and len(payload) == 2 and isinstance(payload[0], torch.nn.Module):
        module, extra = payload
    else:
        module, extra = None, payload
    offload = torch.device("cpu") if device.type == "cpu" else comfy_adapter.offload_device()
    if module is not None:
        module.eval()
        if dtype is not None:
            module.to(dtype=dtype)
        module.to(offload)
    model = ManagedModel(cache_key, module, extra, device, offload, dtype, _payload=payload)
    _CACHE[cache_key] = model
    return model


def forget(key: str | None = None) -> None:
    """Drops cached models built under ``key`` (all when None), e.g. after a file was replaced."""
    for cache_key in [k for k in _CACHE if key is None or k[0] == key]:
        del _CACHE[cache_key]
