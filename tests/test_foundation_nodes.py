from pathlib import Path

import pytest
import torch
from tests.fake_comfyui import Interrupted

from maskforge import ops
from maskforge.errors import MaskForgeError
from maskforge.nodes.blue_nodes import BlueMaskToMask, MaskToBlueMask
from maskforge.nodes.mask_nodes import GrowInvertMask
from tools.peak_memory import measure

DEFAULTS = dict(threshold=0.0, fill_holes=False, min_region_px=0, grow=0, corners="round", feather=0,
                feather_inside=False, invert=False)


def run(mask, **kw):
    return GrowInvertMask().run(mask, **{**DEFAULTS, **kw})


def ring():
    m = torch.zeros(1, 30, 30)
    m[:, 5:25, 5:25] = 0.8
    m[:, 10:20, 10:20] = 0  # a hole
    m[:, 0, 29] = 0.8  # a speck
    return m


def test_defaults_change_nothing_and_second_output_is_the_inverse():
    m = ring()
    mask, inverted = run(m)
    assert torch.equal(mask, m) and torch.allclose(inverted, 1 - m)


def test_steps_run_in_the_documented_order():
    m = ring()
    mask, _ = run(m, threshold=0.5, fill_holes=True, min_region_px=2, grow=2, corners="square", feather=0)
    expected = ops.grow(ops.remove_small_regions(ops.fill_holes(ops.threshold(m, 0.5)), 2), 2, False)
    assert torch.equal(mask, expected)
    assert mask[0, 0, 29] == 0 and mask[0, 15, 15] == 1
    # invert comes last: after feathering
    inv, _ = run(m, threshold=0.5, feather=3, invert=True)
    assert torch.allclose(inv, 1 - ops.feather(ops.threshold(m, 0.5), 3))


def test_threshold_zero_keeps_soft_values():
    assert run(ring())[0].max() == torch.tensor(0.8)


def test_whole_batch_and_tiny_masks():
    assert run(torch.rand(3, 5, 7), grow=2, feather=2, fill_holes=True)[0].shape == (3, 5, 7)
    assert run(torch.ones(1, 1), grow=-3, feather=4)[0].shape == (1, 1, 1)


def test_blue_nodes_round_trip():
    m = (torch.rand(2, 9, 11) > 0.5).float()
    (img,) = MaskToBlueMask().run(m, 0.5, "blue #7878CD")
    assert img.shape == (2, 9, 11, 3)
    back, inverted = BlueMaskToMask().run(img, "blue #7878CD", 0.25)
    assert torch.equal(back, m) and torch.equal(inverted, 1 - m)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures the resident size (Linux)")
def test_memory_above_inputs_and_outputs_is_one_image_whatever_the_batch():
    """GrowInvertMask (fill holes, grow, feather) and Blue Mask Image to Mask, on 2 and 10 masks of 768²,
    measured in a fresh process: the memory beyond inputs and outputs is about one image at most, not
    the 19x (GrowInvertMask) and 8x (Blue Mask Image to Mask) of the batch that whole-batch work takes."""
    runs = measure([("grow", 2), ("grow", 10), ("blue", 2), ("blue", 10)], 768, grow=16, feather=8)
    work = {(r["node"], r["batch"]): (r["extra_bytes"] - r["output_bytes"]) / r["image_bytes"] for r in runs}
    for node in ("grow", "blue"):
        assert work[node, 10] <= 2.0, work
        assert work[node, 10] <= work[node, 2] + 0.5, work


def test_cancel_is_checked_per_image_and_inside_long_work(fake_comfyui):
    fake_comfyui.interrupted = True
    with pytest.raises(Interrupted):
        run(torch.rand(3, 40, 40), feather=5)
    checks = []
    fake_comfyui.interrupted = False
    mm = fake_comfyui.modules["comfy.model_management"]
    mm.throw_exception_if_processing_interrupted = lambda: checks.append(1)
    run(torch.rand(2, 40, 40), fill_holes=True, grow=3, feather=3)
    assert len(checks) >= 2 * 5  # per image, between steps and in the strips of the long ones
    checks.clear()
    BlueMaskToMask().run(torch.rand(3, 8, 8, 3), "blue #7878CD", 0.25)
    MaskToBlueMask().run(torch.rand(3, 8, 8), 0.5, "blue #7878CD")
    assert len(checks) >= 6


def test_a_long_feather_can_be_cancelled_inside_one_image():
    """Between strips of rows, so an 8192² feather of 1024 (minutes before) stops within a strip."""
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        ops.clean_mask(torch.zeros(1024, 1024), ops.Cleanup(feather=200), check=check)


def test_clean_mask_works_on_one_mask_in_place_or_into_a_buffer():
    m = ring()[0]
    steps = ops.Cleanup(threshold=0.5, fill_holes=True, grow=2, feather=2, invert=True)
    expected = run(m[None], threshold=0.5, fill_holes=True, grow=2, feather=2, invert=True)[0][0]
    assert torch.equal(ops.clean_mask(m, steps), expected)
    buffer = torch.empty_like(m)
    assert ops.clean_mask(m, steps, out=buffer) is buffer and torch.equal(buffer, expected)
    same = m.clone()
    assert torch.equal(ops.clean_mask(same, steps, out=same), expected)
    assert torch.equal(m, ring()[0])  # the input is left alone


def test_blue_node_errors_name_the_nodes_users_see():
    with pytest.raises(MaskForgeError, match="^Blue Mask Image to Mask: image: "):
        BlueMaskToMask().run(torch.rand(1, 4, 4, 2), "blue #7878CD", 0.25)
    with pytest.raises(MaskForgeError, match="^Mask to Blue Mask Image: mask: "):
        MaskToBlueMask().run(torch.rand(5), 0.5, "blue #7878CD")
