import numpy as np
import pytest
import torch

from maskforge.models import pixels
from tests.photos import as_image, photo


@pytest.mark.parametrize("size", [(173, 251), (640, 960), (300, 451), (7, 5)])
@pytest.mark.parametrize("resample", [2, 3])
def test_resize_rescale_and_normalise_equal_the_pil_image_processors_steps(size, resample):
    """transformers' PIL backend: ``resize`` (PIL, 8-bit), ``rescale`` (float64, then float32), ``normalize`` (float32)."""
    from transformers.image_transforms import normalize, rescale, resize
    from transformers.image_utils import ChannelDimension

    source = photo("chelsea")
    first = ChannelDimension.FIRST
    resized = resize(np.moveaxis(source, -1, 0), size, resample=resample, data_format=first, input_data_format=first)
    mean, std = (0.48500001430511475, 0.4560000002384186, 0.4059999883174896), (0.229, 0.224, 0.225)
    expected = normalize(rescale(resized, 1 / 255, data_format=first, input_data_format=first), mean, std,
                         data_format=first, input_data_format=first)
    got_pixels = pixels.resize_8bit(as_image(source)[0], *size, resample)
    assert np.array_equal(got_pixels, np.moveaxis(resized, 0, -1))
    assert torch.equal(pixels.normalise(got_pixels, mean, std), torch.from_numpy(expected)[None])


def test_without_rescaling_or_normalising_the_pixels_pass_as_they_are():
    source = photo("coffee")[:20, :30]
    assert torch.equal(pixels.normalise(source, None, None, None), torch.from_numpy(source).permute(2, 0, 1)[None].float())
    x = pixels.normalise(source, (100.0, 100.0, 100.0), (50.0, 50.0, 50.0), None)
    assert torch.allclose(x, (torch.from_numpy(source).permute(2, 0, 1)[None].float() - 100) / 50)


def test_float_pixels_are_rounded_to_8_bits_before_resizing():
    image = torch.full((4, 4, 3), 0.5)  # 127.5 rounds to 128, as ops.to_uint8 rounds for every node
    assert (pixels.resize_8bit(image, 2, 2) == 128).all()
