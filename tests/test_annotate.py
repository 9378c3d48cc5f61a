import torch

from maskforge.ops.annotate import annotate, palette


def test_palette_gives_distinct_colours_stable_by_index():
    colours = palette(6)
    assert len(set(colours)) == 6
    assert palette(3) == colours[:3]


def test_annotate_tints_masks_and_draws_boxes_without_changing_the_size():
    image = torch.zeros(40, 60, 3)
    mask = torch.zeros(1, 40, 60)
    mask[0, 20:30, 30:50] = 1
    out = annotate(image, mask, torch.tensor([[5.0, 25.0, 55.0, 38.0]]), ["sofa 0.42"], palette(1))
    assert out.shape == (40, 60, 3) and out.dtype == torch.float32
    assert out[25, 40].sum() > 0  # tinted inside the mask
    assert out[0, 0].sum() == 0  # untouched far from mask and box
    assert out[37, 54].sum() > 0  # box outline


def test_annotate_handles_a_one_pixel_image_and_no_objects():
    image = torch.rand(1, 1, 3)
    assert torch.allclose(annotate(image, torch.zeros(0, 1, 1), torch.zeros(0, 4), [], []), image, atol=1 / 255)
