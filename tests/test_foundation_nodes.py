import torch

from maskforge import ops
from maskforge.nodes.blue_nodes import BlueMaskToMask, MaskToBlueMask
from maskforge.nodes.mask_nodes import GrowInvertMask

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
