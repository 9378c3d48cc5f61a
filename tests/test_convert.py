import pytest
import torch

from maskforge import ops


def test_image_to_mask_channels():
    img = torch.zeros(1, 2, 2, 4)
    img[..., 0] = 1.0
    img[..., 3] = 0.25
    assert ops.image_to_mask(img, "red").eq(1).all()
    assert ops.image_to_mask(img, "green").eq(0).all()
    assert ops.image_to_mask(img, "alpha").eq(0.25).all()
    assert ops.image_to_mask(img, "luminance")[0, 0, 0] == pytest.approx(0.299)
    with pytest.raises(ValueError, match="no alpha"):
        ops.image_to_mask(img[..., :3], "alpha")


def test_mask_to_image_is_grey_and_round_trips():
    m = torch.rand(2, 5, 7)
    img = ops.mask_to_image(m)
    assert img.shape == (2, 5, 7, 3)
    assert torch.allclose(ops.image_to_mask(img, "luminance"), m, atol=1e-6)


def test_resize_mask_to_image_size():
    m = torch.zeros(1, 4, 4)
    m[:, :2] = 1
    out = ops.resize_mask(m, 8, 6)
    assert out.shape == (1, 8, 6) and out[0, 0].eq(1).all() and out[0, -1].eq(0).all()


def test_cutout_composites_on_the_background_colour():
    img = torch.ones(1, 2, 2, 3) * 0.5
    m = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])
    out = ops.cutout(img, m, ops.hex_to_rgb("#00FF00"))
    assert out.shape == (1, 2, 2, 3)
    assert out[0, 0, 0].tolist() == [0.5, 0.5, 0.5]
    assert out[0, 0, 1].tolist() == [0.0, 1.0, 0.0]
    assert out[0, 1, 0].tolist() == pytest.approx([0.25, 0.75, 0.25])


def test_cutout_pairs_one_image_with_many_masks():
    assert ops.cutout(torch.rand(1, 3, 3, 3), torch.rand(4, 3, 3), (0, 0, 0)).shape == (4, 3, 3, 3)


@pytest.mark.parametrize("bad", ["#12345", "zzzzzz", "#1234567"])
def test_hex_to_rgb_rejects_bad_colours(bad):
    with pytest.raises(ValueError, match="RRGGBB"):
        ops.hex_to_rgb(bad)


def test_as_bhw_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        ops.as_bhw(torch.zeros(2, 3, 4, 5))
    assert ops.nonempty(torch.zeros(0, 4, 5), 4, 5).shape == (1, 4, 5)


def test_to_uint8_rounds_and_clips_tensors_and_arrays():
    values = [-0.2, 0.0, 0.5 / 255, 1.4 / 255, 0.5, 1.0, 1.3]
    expected = [0, 0, 0, 1, 128, 255, 255]  # 127.5 rounds to the even 128
    assert ops.to_uint8(torch.tensor(values)).tolist() == expected
    assert ops.to_uint8(torch.tensor(values).numpy()).tolist() == expected
    assert ops.to_uint8(torch.rand(2, 3, 3)).dtype.name == "uint8"
