import pytest
import torch

from maskforge.errors import MaskForgeError
from maskforge.nodes import inputs


def test_check_image_accepts_hwc_rgba_and_grey():
    assert inputs.check_image("N", "image", torch.rand(5, 6, 3)).shape == (1, 5, 6, 3)
    assert inputs.check_image("N", "image", torch.rand(2, 5, 6, 4)).shape == (2, 5, 6, 3)
    assert inputs.check_image("N", "image", torch.rand(1, 5, 6, 1)).shape == (1, 5, 6, 3)


@pytest.mark.parametrize(
    "value,message",
    [
        (torch.rand(5, 6), r"\[B,H,W,C\]"),
        (torch.rand(1, 5, 6, 2), "1, 3 or 4 channels"),
        (torch.rand(0, 5, 6, 3), "batch is empty"),
        (torch.rand(1, 0, 6, 3), "no pixels"),
        (torch.full((1, 2, 2, 3), float("nan")), "NaN"),
        ("not a tensor", "expected a tensor"),
    ],
)
def test_check_image_errors_name_the_node_and_input(value, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        inputs.check_image("PromptMask", "image", value)
    assert str(err.value).startswith("PromptMask: image: ")


@pytest.mark.parametrize(
    "value,message",
    [
        (torch.rand(2, 3, 4, 5), r"\[B,H,W\]"),
        (torch.rand(5), r"\[B,H,W\]"),
        (torch.rand(0, 4, 4), "batch is empty"),
        (torch.tensor([[[float("nan")]]]), "NaN"),
    ],
)
def test_check_mask_errors(value, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        inputs.check_mask("GrowInvertMask", "mask", value)
    assert str(err.value).startswith("GrowInvertMask: mask: ")


def test_check_mask_accepts_every_mask_rank_and_clamps():
    assert inputs.check_mask("N", "mask", torch.rand(4, 5)).shape == (1, 4, 5)
    assert inputs.check_mask("N", "mask", torch.rand(3, 1, 4, 5)).shape == (3, 4, 5)
    assert inputs.check_mask("N", "mask", torch.full((1, 2, 2), 3.0)).eq(1).all()
    assert inputs.check_mask("N", "mask", torch.ones(1, 2, 2, dtype=torch.uint8)).dtype == torch.float32


def test_fit_mask_resizes_or_refuses():
    image = torch.rand(2, 8, 10, 3)
    mask = torch.ones(1, 4, 5)
    fitted = inputs.fit_mask("RemoveBGMask", mask, image, resize=True)
    assert fitted.shape == (2, 8, 10)
    with pytest.raises(MaskForgeError, match="turn on resize_mask") as err:
        inputs.fit_mask("RemoveBGMask", mask, image, resize=False)
    assert "mask is 5x4 but the image is 10x8" in str(err.value)


def test_batch_sizes_must_match_or_be_one():
    assert inputs.batch_size("N", image=3, mask=1) == 3
    with pytest.raises(MaskForgeError, match="batch sizes differ"):
        inputs.batch_size("N", image=3, mask=2)


def test_mask_output_is_never_empty():
    out = inputs.mask_output(torch.zeros(0, 4, 6), 4, 6)
    assert out.shape == (1, 4, 6) and out.dtype == torch.float32


def test_check_colour_names_the_node_and_input():
    assert inputs.check_colour("N", "colour", "#FF0000") == (1.0, 0.0, 0.0)
    with pytest.raises(MaskForgeError, match="PromptMask: background_colour: colour 'red' is not #RRGGBB"):
        inputs.check_colour("PromptMask", "background_colour", "red")
