"""A stand-in for the parts of ComfyUI the adapter calls, recording what the pack asks of it.

Use the ``fake_comfyui`` fixture: it puts ``folder_paths``, ``comfy.model_management``,
``comfy.model_patcher`` and ``comfy.utils`` into ``sys.modules`` for one test.
"""

from __future__ import annotations

import sys
import types
import weakref

import pytest
import torch


class Interrupted(Exception):
    """What ComfyUI raises when the user presses Cancel."""


class FakeComfyUI:
    def __init__(self, models_dir, device=torch.device("cpu")):
        self.models_dir = models_dir
        self.device = device
        self.folder_names_and_paths: dict[str, tuple[list[str], set]] = {}
        self.loaded: list[list] = []  # each load_models_gpu call's models
        self.listed: list = []  # ComfyUI's loaded models (weak references, as ComfyUI holds them)
        self.patchers: list = []
        self.progress: list = []  # every ProgressBar made
        self.bf16 = True
        self.interrupted = False  # set to make the next interrupt check raise, as Cancel does
        self.modules = self._modules()

    def _modules(self) -> dict[str, types.ModuleType]:
        fake = self

        fp = types.ModuleType("folder_paths")
        fp.models_dir = str(self.models_dir)
        fp.folder_names_and_paths = self.folder_names_and_paths

        def add_model_folder_path(folder_name, full_folder_path, is_default=False):
            paths = fake.folder_names_and_paths.setdefault(folder_name, ([], set()))[0]
            if full_folder_path not in paths:
                paths.insert(0, full_folder_path) if is_default else paths.append(full_folder_path)

        fp.add_model_folder_path = add_model_folder_path
        fp.get_folder_paths = lambda name: fake.folder_names_and_paths[name][0][:]
        fp.get_user_directory = lambda: str(self.models_dir.parent / "user")

        mm = types.ModuleType("comfy.model_management")
        mm.get_torch_device = lambda: fake.device
        mm.unet_offload_device = lambda: torch.device("cpu")
        mm.intermediate_device = lambda: torch.device("cpu")

        def throw_exception_if_processing_interrupted():
            if fake.interrupted:
                raise Interrupted()

        mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
        mm.Interrupted = Interrupted
        mm.soft_empty_cache = lambda force=False: None
        mm.should_use_bf16 = lambda device=None, **kw: fake.bf16
        mm.should_use_fp16 = lambda device=None, **kw: True

        def load_models_gpu(models, memory_required=0, force_patch_weights=False,
                            minimum_memory_required=None, force_full_load=False):
            fake.loaded.append(list(models))
            held = [ref() for ref in fake.listed]
            for model in models:
                if any(model is h for h in held):  # ComfyUI detaches a model it holds before loading it again
                    model.detach(unpatch_all=False)
            fake.listed = [weakref.ref(m) for m in models] + [ref for ref in fake.listed
                                                               if ref() is not None and not any(ref() is m for m in models)]

        def unload_all_models():  # what POST /free with unload_models runs
            for ref in fake.listed:
                patcher = ref()
                if patcher is None:
                    continue
                model = weakref.ref(patcher.model)
                patcher.detach(unpatch_all=True)
                del patcher
                # ComfyUI's own finalizer would remove the entry it is unloading if the model died here.
                assert model() is not None, "the model was freed in the middle of ComfyUI's unload"
            fake.listed = []

        mm.load_models_gpu = load_models_gpu
        mm.unload_all_models = unload_all_models

        mp = types.ModuleType("comfy.model_patcher")

        class CallbacksMP:
            ON_DETACH = "on_detach_after"

        class ModelPatcher:
            def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
                self.model, self.load_device, self.offload_device = model, load_device, offload_device
                self.callbacks: dict[str, list] = {}
                fake.patchers.append(self)

            def add_callback(self, call_type, callback):
                self.callbacks.setdefault(call_type, []).append(callback)

            def detach(self, unpatch_all=True):
                for callback in self.callbacks.get(CallbacksMP.ON_DETACH, []):
                    callback(self, unpatch_all)

        mp.ModelPatcher, mp.CallbacksMP = ModelPatcher, CallbacksMP

        utils = types.ModuleType("comfy.utils")

        class ProgressBar:
            def __init__(self, total):
                self.total, self.current = total, 0
                fake.progress.append(self)

            def update(self, value):
                self.current += value

            def update_absolute(self, value, total=None, preview=None):
                self.current = value
                if total is not None:
                    self.total = total

        utils.ProgressBar = ProgressBar

        comfy = types.ModuleType("comfy")
        comfy.__path__ = []
        comfy.model_management, comfy.model_patcher, comfy.utils = mm, mp, utils
        return {"folder_paths": fp, "comfy": comfy, "comfy.model_management": mm,
                "comfy.model_patcher": mp, "comfy.utils": utils}


@pytest.fixture
def fake_comfyui(models_dir, monkeypatch):
    fake = FakeComfyUI(models_dir)
    for name, module in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return fake
