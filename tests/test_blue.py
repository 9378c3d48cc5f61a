import io

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from maskforge import ops


def test_blue_is_7878cd_and_black():
    m = torch.tensor([[[1.0, 0.0, 0.6, 0.4]]])
    img = ops.mask_to_colour(m, ops.BLUE, threshold=0.5)
    as_bytes = (img * 255).round().int()[0, 0].tolist()
    assert as_bytes == [[120, 120, 205], [0, 0, 0], [120, 120, 205], [0, 0, 0]]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([ops.BLUE, ops.WHITE]))
def test_binary_mask_round_trips_exactly(seed, colour):
    m = torch.from_numpy((np.random.default_rng(seed).random((2, 7, 9)) > 0.5).astype(np.float32))
    img = ops.mask_to_colour(m, colour)
    assert torch.equal(ops.colour_to_mask(img, colour), m)
    # ... also through 8-bit PNG values, as the image travels to the service
    eight_bit = (img * 255).round() / 255
    assert torch.equal(ops.colour_to_mask(eight_bit, colour), m)


def _jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return torch.from_numpy(np.asarray(Image.open(buf)).astype(np.float32) / 255)[None]


def test_jpeg_blue_mask_reads_back_with_soft_edges_and_no_noise():
    m = torch.zeros(1, 64, 64)
    m[:, 16:48, 20:40] = 1
    back = ops.colour_to_mask(_jpeg(ops.mask_to_colour(m), 70))
    assert (back - m).abs().mean() < 0.02
    assert back[0, 24:40, 26:34].min() > 0.9  # interior
    assert back[0, :8].max() < 0.1  # far background stays clean
    edge = back[0, 16:48, 18:22]
    assert ((edge > 0.05) & (edge < 0.95)).any()  # blended edge pixels are soft, not binary


def test_pixels_off_the_blue_line_are_not_mask():
    img = torch.zeros(1, 1, 4, 3)
    img[0, 0, 0] = torch.tensor(ops.BLUE)
    img[0, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # red
    img[0, 0, 2] = torch.tensor([1.0, 1.0, 1.0])  # white: far off the blue line
    img[0, 0, 3] = torch.tensor(ops.BLUE) * 0.5  # half blue: on the line
    out = ops.colour_to_mask(img, ops.BLUE, tolerance=0.25)[0, 0]
    assert out.tolist() == [1.0, 0.0, 0.0, 0.5]


def test_white_on_black_option():
    img = torch.full((1, 2, 2, 3), 0.75)
    assert ops.colour_to_mask(img, ops.WHITE).eq(0.75).all()
    assert ops.colour_to_mask(img, ops.BLUE, tolerance=0.1).eq(0).all()


def test_colour_to_mask_is_the_same_in_strips_of_any_height(monkeypatch):
    from maskforge.ops import strips

    img = torch.rand(2, 23, 17, 3)
    whole = ops.colour_to_mask(img, ops.BLUE, 0.4)
    monkeypatch.setattr(strips, "STRIP_BYTES", 1)  # one row per strip
    assert torch.equal(ops.colour_to_mask(img, ops.BLUE, 0.4), whole)
