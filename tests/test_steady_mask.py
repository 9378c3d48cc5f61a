import pytest
import torch

import maskforge
from maskforge.errors import MaskForgeError
from maskforge.nodes.steady_mask import SteadyMask
from tests.test_temporal import flickering, moving_block


def test_node_steadies_a_flickering_clip_in_comfyui_shapes():
    truth = moving_block()
    (out,) = SteadyMask().run(flickering(truth), 3)
    assert out.shape == truth.shape and out.dtype == torch.float32
    assert (out - truth).abs().sum() < 0.25 * (flickering(truth) - truth).abs().sum()


def test_one_mask_and_a_2d_mask_pass_through():
    (out,) = SteadyMask().run(torch.ones(5, 6), 5)
    assert out.shape == (1, 5, 6) and out.min() == 1


def test_an_even_window_is_refused():
    with pytest.raises(MaskForgeError, match="SteadyMask: window: .*odd"):
        SteadyMask().run(torch.zeros(3, 4, 4), 4)


def test_progress_and_cancel_run_per_frame(fake_comfyui, monkeypatch):
    checks = []

    def check():
        checks.append(1)
        if len(checks) == 3:
            raise fake_comfyui.modules["comfy.model_management"].Interrupted()

    monkeypatch.setattr(fake_comfyui.modules["comfy.model_management"], "throw_exception_if_processing_interrupted",
                        check)
    with pytest.raises(fake_comfyui.modules["comfy.model_management"].Interrupted):
        SteadyMask().run(torch.zeros(10, 4, 4), 3)
    assert fake_comfyui.progress[-1].current == 2


def test_node_is_registered_with_tooltips():
    assert maskforge.NODE_CLASS_MAPPINGS["MaskForgeSteadyMask"] is SteadyMask
    assert maskforge.NODE_DISPLAY_NAME_MAPPINGS["MaskForgeSteadyMask"] == "Steady Mask (video)"
    assert all(spec[1].get("tooltip") for spec in SteadyMask.INPUT_TYPES()["required"].values())
