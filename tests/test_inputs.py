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
    assert inputs.check_mask("N", "mask", torch.full((1, 2, 2), 1.5)).eq(1).all()  # overshoot, not 0..255
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


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_integer_images_are_read_as_8_bit_pixels(dtype):
    pixels = torch.tensor([[[[0, 128, 255]]]], dtype=dtype)
    assert torch.equal(inputs.check_image("N", "image", pixels), torch.tensor([[[[0.0, 128.0, 255.0]]]]) / 255)


def test_an_integer_image_of_zeros_and_ones_stays_nearly_black():
    image = torch.ones(1, 2, 2, 3, dtype=torch.uint8)
    assert torch.allclose(inputs.check_image("N", "image", image), torch.full((1, 2, 2, 3), 1 / 255))


def test_integer_masks_of_0_and_1_are_binary_and_of_0_to_255_are_8_bit():
    assert inputs.check_mask("N", "mask", torch.tensor([[[0, 1]]], dtype=torch.uint8)).tolist() == [[[0.0, 1.0]]]
    eight_bit = inputs.check_mask("N", "mask", torch.tensor([[[0, 51, 255]]], dtype=torch.int32))
    assert torch.equal(eight_bit, torch.tensor([[[0.0, 51.0, 255.0]]]) / 255)
    assert inputs.check_mask("N", "mask", torch.tensor([[[False, True]]])).tolist() == [[[0.0, 1.0]]]


@pytest.mark.parametrize("value, message", [
    (torch.full((1, 2, 2, 3), 200.0), "values go from 200 to 200, but this input holds 0..1; 0..255 pixels must be"),
    (torch.tensor([[[[0.0, 3.0, 1.0]]]]), "values go from 0 to 3"),
    (torch.full((1, 2, 2, 3), 300, dtype=torch.int16), "integer values from 300 to 300: integer pixels are read as"),
    (torch.full((1, 2, 2, 3), -1, dtype=torch.int32), "integer values from -1 to -1"),
    (torch.tensor([[[[0.5, float("inf"), 0.0]]]]), "contains infinite values"),
])
def test_images_on_another_scale_are_refused_with_the_cause(value, message):
    with pytest.raises(MaskForgeError, match=message) as err:
        inputs.check_image("PromptMask", "image", value)
    assert str(err.value).startswith("PromptMask: image: ")


def test_a_float_0_255_mask_is_refused_not_clamped_to_ones():
    with pytest.raises(MaskForgeError, match="GrowInvertMask: mask: values go from 0 to 255"):
        inputs.check_mask("GrowInvertMask", "mask", torch.tensor([[[0.0, 128.0, 255.0]]]))


def test_slight_overshoot_is_clamped_and_in_range_input_is_not_copied():
    assert inputs.check_image("N", "image", torch.full((1, 1, 1, 3), 1.05)).eq(1).all()
    assert inputs.check_mask("N", "mask", torch.tensor([[[-0.02, 0.5]]])).tolist() == [[[0.0, 0.5]]]
    image, mask = torch.rand(2, 4, 5, 3), torch.rand(2, 4, 5)
    assert inputs.check_image("N", "image", image).data_ptr() == image.data_ptr()
    assert inputs.check_mask("N", "mask", mask) is mask
    assert inputs.mask_output(mask, 4, 5) is mask and inputs.image_output(image) is image


def test_half_precision_inputs_become_float32():
    out = inputs.check_image("N", "image", torch.rand(1, 3, 3, 3).half())
    assert out.dtype == torch.float32


def test_the_error_type_comfyui_shows_is_maskforgeerror():
    """ComfyUI's execution.full_type_name: ``module.qualname``, or the bare name for module ``builtins``."""
    err = MaskForgeError("LabelMask", "no labels given", "labels")
    shown = type(err).__qualname__ if type(err).__module__ == "builtins" else f"{type(err).__module__}.MaskForgeError"
    assert shown == "MaskForgeError"
    assert isinstance(err, ValueError)
    with pytest.raises(ValueError, match="LabelMask: labels: no labels given"):
        raise err


def test_maskforge_errors_survive_pickling():
    import pickle

    back = pickle.loads(pickle.dumps(MaskForgeError("LabelMask", "no labels given", "labels")))
    assert type(back) is MaskForgeError and str(back) == "LabelMask: labels: no labels given"
    assert (back.node, back.input_name, back.message) == ("LabelMask", "labels", "no labels given")
