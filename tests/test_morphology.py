import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maskforge import ops
from maskforge.ops import morphology


def blobs(seed: int, size=(48, 64), count=4) -> torch.Tensor:
    """A binary mask of a few random discs and rectangles, some touching the border."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros(size, bool)
    for _ in range(count):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(2, 10)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        y, x = rng.integers(0, h), rng.integers(0, w)
        m[y : y + rng.integers(1, 8), x : x + rng.integers(1, 8)] = True
    return torch.from_numpy(m).float()


@pytest.mark.parametrize("radius", [1, 2, 5, 13, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grow_round_matches_distance_transform(radius, seed):
    m = blobs(seed)
    expected = ndi.distance_transform_edt(m.numpy() == 0) <= radius
    assert torch.equal(ops.grow(m, radius, round_corners=True)[0].bool(), torch.from_numpy(expected))


@pytest.mark.parametrize("radius", [1, 3, 7])
@pytest.mark.parametrize("seed", [0, 3])
def test_shrink_round_matches_distance_transform(radius, seed):
    m = blobs(seed, count=6)
    expected = ndi.distance_transform_edt(m.numpy()) > radius
    assert torch.equal(ops.grow(m, -radius, round_corners=True)[0].bool(), torch.from_numpy(expected))


@pytest.mark.parametrize("radius", [1, 4, 9, 33])
def test_grow_square_matches_maximum_filter_on_soft_masks(radius):
    m = torch.from_numpy(np.random.default_rng(radius).random((40, 52)).astype(np.float32)) ** 8
    expected = ndi.maximum_filter(m.numpy(), size=2 * radius + 1, mode="constant", cval=0.0)
    assert torch.allclose(ops.grow(m, radius, round_corners=False)[0], torch.from_numpy(expected))


@pytest.mark.parametrize("radius", [1, 6])
def test_shrink_square_matches_minimum_filter(radius):
    m = blobs(5, count=8)
    expected = ndi.minimum_filter(m.numpy(), size=2 * radius + 1, mode="nearest")
    assert torch.equal(ops.grow(m, -radius, round_corners=False)[0], torch.from_numpy(expected))


def test_grow_round_on_grey_levels_is_a_grey_dilation():
    m = blobs(7).numpy() * 0.5
    m[20:24, 30:34] = 1.0
    disk = np.hypot(*np.mgrid[-4:5, -4:5]) <= 4
    expected = ndi.grey_dilation(m, footprint=disk, mode="constant", cval=0.0)
    assert np.allclose(ops.grow(torch.from_numpy(m), 4)[0].numpy(), expected)


def test_grow_round_on_many_levels_keeps_original_values_and_steps_the_ring():
    m = torch.linspace(0, 1, 32 * 32).reshape(32, 32)
    grown = ops.grow(m, 3)[0]
    assert (grown >= m).all()
    new_ring = grown > m
    levels = torch.linspace(0, 1, morphology.ROUND_GROW_LEVELS + 1)
    assert torch.isin(grown[new_ring], levels).all()


def test_grow_leaves_empty_and_full_masks_alone():
    empty, full = torch.zeros(1, 20, 30), torch.ones(1, 20, 30)
    for rc in (True, False):
        assert torch.equal(ops.grow(empty, 5, rc), empty)
        assert torch.equal(ops.grow(full, -5, rc), full)
        assert torch.equal(ops.grow(full, 5, rc), full)


def test_grow_accepts_all_mask_ranks_and_returns_bhw():
    m = blobs(1)
    for shaped in (m, m[None], m[None, None]):
        out = ops.grow(shaped, 2)
        assert out.shape == (1, *m.shape) and out.dtype == torch.float32


def test_grow_cost_does_not_depend_on_radius_like_repeated_passes():
    m = blobs(2, size=(64, 64))
    # 200 px on a 64 px mask would be 200 passes the naive way; here it just fills the image.
    assert ops.grow(m, 200)[0].all()
    assert ops.grow(m, 200, round_corners=False)[0].all()


masks = st.integers(0, 10_000).map(lambda s: blobs(s, size=(24, 28), count=3))


@settings(max_examples=25, deadline=None)
@given(masks, st.integers(1, 6), st.booleans())
def test_grow_then_shrink_contains_the_original(m, radius, rc):
    closed = ops.grow(ops.grow(m, radius, rc), -radius, rc)[0]
    assert (closed >= m).all()


@settings(max_examples=25, deadline=None)
@given(masks, st.integers(1, 6), st.booleans())
def test_shrink_then_grow_stays_inside_the_original(m, radius, rc):
    opened = ops.grow(ops.grow(m, -radius, rc), radius, rc)[0]
    assert (opened <= m).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_invert_twice_is_identity(seed):
    m = torch.from_numpy(np.random.default_rng(seed).random((3, 9, 11)).astype(np.float32))
    assert torch.allclose(ops.invert(ops.invert(m)), m, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=2, max_size=4), st.integers(-4, 6), st.booleans())
def test_batch_equals_per_image(seeds, radius, rc):
    batch = torch.stack([blobs(s, size=(20, 26), count=3) for s in seeds])
    steps = [
        lambda x: ops.grow(x, radius, rc),
        lambda x: ops.feather(x, 3, inside_only=rc),
        ops.fill_holes,
        lambda x: ops.remove_small_regions(x, 12),
    ]
    for step in steps:
        together = step(batch)
        alone = torch.cat([step(m[None]) for m in batch])
        assert torch.allclose(together, alone, atol=1e-6)


def test_threshold_is_strictly_above():
    m = torch.tensor([[0.2, 0.5, 0.51]])
    assert ops.threshold(m, 0.5).tolist() == [[[0.0, 0.0, 1.0]]]


def test_fill_holes_fills_enclosed_background_only():
    m = torch.zeros(12, 12)
    m[2:9, 2:9] = 1
    m[4:6, 4:6] = 0  # enclosed hole
    m[0:4, 10:12] = 1
    out = ops.fill_holes(m)[0]
    assert out[4:6, 4:6].eq(1).all()
    assert out.sum() == 7 * 7 + 8
    assert out[10, 0] == 0


def test_fill_holes_keeps_soft_values_outside_holes():
    m = torch.zeros(8, 8)
    m[1:7, 1:7] = 1
    m[3, 3] = 0
    m[0, 0] = 0.3
    out = ops.fill_holes(m)[0]
    assert out[3, 3] == 1 and out[0, 0] == pytest.approx(0.3)


def test_remove_small_regions_uses_eight_neighbours():
    m = torch.zeros(10, 10)
    m[0, 0] = m[1, 1] = m[2, 2] = 1  # one diagonal region of 3 px
    m[6:10, 6:10] = 1  # 16 px
    m[0, 9] = 1  # 1 px
    out = ops.remove_small_regions(m, 3)[0]
    assert out[0, 0] == out[2, 2] == 1 and out[0, 9] == 0 and out[6:, 6:].eq(1).all()
    assert ops.remove_small_regions(m, 17)[0].sum() == 0


def test_remove_small_regions_on_empty_mask():
    assert ops.remove_small_regions(torch.zeros(1, 5, 5), 10).sum() == 0


@pytest.mark.parametrize(
    "operation,expected", [("union", [1.0, 0.7, 0.5]), ("intersection", [0.2, 0.0, 0.5]), ("difference", [0.0, 0.7, 0.0])]
)
def test_combine(operation, expected):
    a = torch.tensor([[0.2, 0.7, 0.5]])
    b = torch.tensor([[1.0, 0.0, 0.5]])
    assert torch.allclose(ops.combine(a, b, operation)[0, 0], torch.tensor(expected))


def test_combine_broadcasts_a_single_mask_and_rejects_size_mismatch():
    a = torch.zeros(3, 4, 4)
    b = torch.ones(1, 4, 4)
    assert ops.combine(a, b, "union").shape == (3, 4, 4)
    with pytest.raises(ValueError, match="differ in size"):
        ops.combine(a, torch.ones(1, 5, 4), "union")
    with pytest.raises(ValueError, match="unknown operation"):
        ops.combine(a, b, "xor")


@pytest.mark.parametrize("strip_bytes", [1, 3000, 20_000])
def test_strips_of_any_height_give_the_whole_image_result(monkeypatch, strip_bytes):
    """Square grow (rows with a halo, or columns for long reaches), round grow and feather work a strip
    of rows at a time; the seams must not show."""
    from maskforge.ops import strips

    monkeypatch.setattr(strips, "STRIP_BYTES", strip_bytes)
    monkeypatch.setattr(morphology, "STRIP_BYTES", strip_bytes)
    soft = torch.from_numpy(np.random.default_rng(4).random((40, 52)).astype(np.float32)) ** 8
    for m in (soft, blobs(3, size=(40, 52))):
        for radius in (1, 4, 9, 33):
            expected = ndi.maximum_filter(m.numpy(), size=2 * radius + 1, mode="constant", cval=0.0)
            assert torch.equal(ops.grow(m, radius, round_corners=False)[0], torch.from_numpy(expected))
        expected = ndi.gaussian_filter(m.numpy(), sigma=2, mode="mirror", truncate=3.0)  # torch's "reflect"
        assert np.allclose(ops.feather(m, 6)[0].numpy(), expected, atol=1e-5)
    expected = ndi.distance_transform_edt(blobs(3, size=(40, 52)).numpy() == 0) <= 5
    assert torch.equal(ops.grow(blobs(3, size=(40, 52)), 5)[0].bool(), torch.from_numpy(expected))
