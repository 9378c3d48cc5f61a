import time

import pytest
import torch

from maskforge.models import management

CUDA = torch.device("cuda")


class DeviceLog(torch.nn.Linear):
    """A module that records where it is sent instead of going there (no GPU in tests)."""

    def __init__(self):
        super().__init__(2, 2)
        self.moves: list[str] = []

    def to(self, *args, **kwargs):
        target = kwargs.get("device", args[0] if args else None)
        if isinstance(target, (str, torch.device)):
            self.moves.append(str(target))
            return self
        return super().to(*args, **kwargs)


@pytest.fixture(autouse=True)
def _empty_cache():
    management.forget()
    yield
    management.forget()


def test_cache_returns_the_same_model_and_builds_once():
    builds = []

    def build():
        builds.append(1)
        return torch.nn.Linear(2, 2)

    first = management.get_model("tiny", build, device="cpu")
    start = time.perf_counter()
    second = management.get_model("tiny", build, device="cpu")
    assert time.perf_counter() - start < 0.05
    assert second is first and len(builds) == 1


def test_cache_key_includes_device_and_dtype():
    build = lambda: torch.nn.Linear(2, 2)  # noqa: E731
    a = management.get_model("tiny", build, device="cpu", dtype=torch.float32)
    b = management.get_model("tiny", build, device="cpu", dtype=torch.bfloat16)
    c = management.get_model("other", build, device="cpu", dtype=torch.float32)
    assert len({id(a), id(b), id(c)}) == 3
    assert b.module.weight.dtype == torch.bfloat16


def test_inside_comfyui_the_module_is_loaded_through_a_model_patcher(fake_comfyui):
    fake_comfyui.device = CUDA
    module = DeviceLog()
    model = management.get_model("tiny", lambda: module)
    assert model.load_device == CUDA
    for _ in range(2):
        with model.use() as used:
            assert used is module
    assert len(fake_comfyui.patchers) == 1  # wrapped once
    patcher = fake_comfyui.patchers[0]
    assert patcher.model.inner is module
    assert (patcher.load_device, patcher.offload_device) == (CUDA, torch.device("cpu"))
    assert fake_comfyui.loaded == [[patcher], [patcher]]
    assert module.moves == ["cpu"]  # ComfyUI moves it, not the pack


def test_outside_comfyui_the_module_goes_back_to_the_offload_device_after_the_run():
    module = DeviceLog()
    model = management.get_model("tiny", lambda: module, device=CUDA)
    with model.use():
        assert module.moves[-1] == "cuda"
    assert module.moves[-1] == "cpu"
    with pytest.raises(RuntimeError):
        with model.use():
            raise RuntimeError("inference failed")
    assert module.moves[-1] == "cpu"


def test_cpu_models_stay_in_place_even_inside_comfyui(fake_comfyui):
    module = DeviceLog()
    model = management.get_model("tiny", lambda: module, device=management.compute_device(force_cpu=True))
    with model.use():
        pass
    (stand_in,) = fake_comfyui.patchers  # ComfyUI lists a weightless stand-in, never the module itself
    assert list(stand_in.model.parameters()) == [] and fake_comfyui.loaded == [[stand_in]]
    assert module.moves == ["cpu"]


def test_pairs_and_plain_objects_are_yielded_as_built(fake_comfyui):
    fake_comfyui.device = CUDA
    module, processor = DeviceLog(), object()
    pair = management.get_model("pair", lambda: (module, processor))
    assert (pair.module, pair.extra) == (module, processor)
    with pair.use() as used:
        assert used == (module, processor)
    session = object()
    plain = management.get_model("session", lambda: session)
    assert plain.module is None
    with plain.use() as used:
        assert used is session
    assert [p.model.inner for p in fake_comfyui.patchers][0] is module and len(fake_comfyui.patchers) == 2


def test_compute_device_and_dtype():
    assert management.compute_device(force_cpu=True) == torch.device("cpu")
    assert management.compute_dtype(torch.device("cpu")) == torch.float32
    assert management.compute_dtype(torch.device("mps")) == torch.float32


def test_compute_dtype_follows_comfyui_on_gpus(fake_comfyui):
    fake_comfyui.device = CUDA
    assert management.compute_device() == CUDA
    assert management.compute_dtype(CUDA) == torch.bfloat16
    fake_comfyui.bf16 = False
    assert management.compute_dtype(CUDA) == torch.float16


def test_models_are_built_in_eval_mode():
    model = management.get_model("drop", lambda: torch.nn.Dropout(0.5), device="cpu")
    assert not model.module.training


class Session:
    """Stands for an ONNX Runtime session: no torch weights."""


@pytest.mark.parametrize("kind", ["cpu module", "session", "gpu module"])
def test_unload_models_frees_the_model_and_the_next_run_builds_it_again(fake_comfyui, kind):
    import gc
    import weakref

    if kind == "gpu module":
        fake_comfyui.device = CUDA
    builds = []

    def build():
        builds.append(Session() if kind == "session" else DeviceLog())
        return builds[-1]

    device = "cpu" if kind != "gpu module" else None

    def run():
        model = management.get_model("tiny", build, device=device)
        with model.use() as used:
            return weakref.ref(used)

    first = run()
    assert run()() is first() and len(builds) == 1  # cached while ComfyUI holds it
    builds.clear()
    fake_comfyui.patchers.clear(), fake_comfyui.loaded.clear()  # the fake's own records (ComfyUI keeps weakrefs)
    fake_comfyui.modules["comfy.model_management"].unload_all_models()  # POST /free {"unload_models": true}
    gc.collect()
    assert first() is None  # freed there and then, not at the next run
    assert run()() is builds[0]  # built again


def test_a_model_comfyui_still_holds_is_kept(fake_comfyui):
    first = management.get_model("tiny", DeviceLog, device="cpu")
    fake_comfyui.modules["comfy.model_management"].load_models_gpu(fake_comfyui.patchers)  # loaded again
    assert management.get_model("tiny", DeviceLog, device="cpu") is first
