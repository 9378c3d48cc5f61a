"""Loaded models: built once, cached across runs, and put on the compute device only while used.

``get_model(key, build)`` calls ``build()`` the first time and returns the same ManagedModel
afterwards. ``build`` returns one of:

- a ``torch.nn.Module`` — ``use()`` yields the module;
- a pair ``(module, extra)``, e.g. a transformers model and its image processor — ``use()``
  yields the pair; only the module moves between devices;
- any other object (e.g. an ONNX Runtime session) — cached as it is; ``use()`` yields it.

Inside ComfyUI a module on a GPU is wrapped once in ComfyUI's ModelPatcher and loaded with
``load_models_gpu``, so ComfyUI can evict it when a sampler needs the memory. Everything else (a
module on the CPU, an ONNX Runtime session) gets a weightless stand-in ModelPatcher on ComfyUI's
device, loaded the same way each time the model is fetched, so that "Unload models" reaches it on
a GPU machine too. When ComfyUI unloads a patcher ("Unload models", i.e. ``POST /free``, or memory
pressure), the cache drops the model there and then, freeing its RAM and its session; the next run
builds it again. ComfyUI 0.3.64 and current core both report an unload through the patcher's
``ON_DETACH`` callbacks. Outside ComfyUI a module moves to the device for the run and back to the
offload device after; a module on the CPU is plain RAM and stays where it is.
"""

from __future__ import annotations

import functools
import weakref
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

    def release(self) -> None:
        self.inner = torch.nn.Module()  # the weights go; the empty holder stays with ComfyUI's patcher


@dataclass(eq=False)
class ManagedModel:
    key: tuple
    module: torch.nn.Module | None  # None for payloads without torch weights
    extra: Any  # what travels with the module (processor, config, session, …)
    load_device: torch.device
    offload_device: torch.device
    dtype: torch.dtype | None
    _payload: Any = field(repr=False, default=None)
    _patcher: Any = field(repr=False, default=None)  # inside ComfyUI: its handle on this model

    @property
    def on_gpu(self) -> bool:
        return self.module is not None and self.load_device.type != "cpu"

    @contextmanager
    def use(self):
        """Yields what ``build`` returned, its module on ``load_device``."""
        if not self.on_gpu:
            yield self._payload
            return
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
_RETIRED: list = []  # patchers ComfyUI unloaded: it still uses them until its unload returns


def get_model(key: str, build: Callable[[], Any], *, device: torch.device | None = None,
              dtype: torch.dtype | None = None) -> ManagedModel:
    """The model cached under (``key``, device, dtype), built on first use.

    ``key`` names the weights (e.g. the resolved path); ``device`` defaults to ``compute_device()``.
    A floating-point module is cast to ``dtype`` once after ``build`` (None keeps its dtype).
    The module is kept on the offload device between runs.
    """
    device = compute_device() if device is None else torch.device(device)
    cache_key = (key, str(device), str(dtype))
    _RETIRED.clear()
    model = _CACHE.get(cache_key)
    if model is None:
        model = _CACHE[cache_key] = _build(cache_key, build, device, dtype)
    if model._patcher is not None and not model.on_gpu:
        comfy_adapter.load_models([model._patcher])  # the stand-in: listed until ComfyUI unloads it
    return model


def _build(cache_key: tuple, build: Callable[[], Any], device: torch.device, dtype: torch.dtype | None) -> ManagedModel:
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
    # A GPU module is ComfyUI's to move; anything else is represented by a module without weights.
    handled = _Holder(module) if model.on_gpu else _Holder(torch.nn.Module())
    model._patcher = comfy_adapter.model_patcher(handled, device if model.on_gpu else comfy_adapter.torch_device(), offload)
    if model._patcher is not None:
        comfy_adapter.on_unload(model._patcher, functools.partial(_drop, cache_key, weakref.ref(model)))
    return model


def _drop(cache_key: tuple, model_ref: weakref.ref) -> None:
    """ComfyUI unloaded the model: its weights and payload are freed now, and the next run builds it
    again. The patcher itself lives on until ComfyUI is done with it: freeing it inside ComfyUI's
    unload would make ComfyUI drop its loaded-model entry in the middle of that unload."""
    model = model_ref()  # weakly held, so the patcher's callback does not keep the model alive
    if model is None or _CACHE.get(cache_key) is not model:
        return
    del _CACHE[cache_key]
    _RETIRED.append(model._patcher)
    model._patcher.model.release()


def forget(key: str | None = None) -> None:
    """Drops cached models built under ``key`` (all when None), e.g. after a file was replaced."""
    for cache_key in [k for k in _CACHE if key is None or k[0] == key]:
        del _CACHE[cache_key]
