import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from maskforge import ops


def square(size=40, lo=10, hi=30):
    m = torch.zeros(1, size, size)
    m[:, lo:hi, lo:hi] = 1
    return m


def test_feather_matches_scipy_gaussian_filter():
    m = square()
    radius = 6
    expected = ndi.gaussian_filter(m[0].numpy(), sigma=radius / 3, mode="reflect", truncate=3.0)
    assert np.allclose(ops.feather(m, radius)[0].numpy(), expected, atol=1e-5)


def test_feather_softens_the_edge_and_keeps_the_core():
    out = ops.feather(square(), 5)[0]
    assert out[20, 20] == pytest.approx(1.0, abs=1e-4)
    assert 0.3 < out[20, 10] < 0.7
    assert out[20, 7] > 0  # outside the hard edge: the blur grew the mask


def test_feather_inside_only_never_exceeds_the_hard_mask():
    m = square()
    out = ops.feather(m, 5, inside_only=True)
    assert (out <= m).all()
    assert out[0, 20, 10] < 1  # the edge still fades inward


def test_feather_zero_radius_is_identity_and_tiny_masks_work():
    m = square()
    assert torch.equal(ops.feather(m, 0), m)
    one = torch.ones(1, 1, 1)
    assert torch.allclose(ops.feather(one, 50), one)
    assert ops.feather(torch.zeros(2, 3, 1), 9).shape == (2, 3, 1)
