import json
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from maskforge.errors import MaskForgeError
from maskforge.labels import index_of
from maskforge.models import pixels as pixels_module
from maskforge.models import segmentation
from maskforge.models.segmentation import Preprocess
from tests.photos import as_image, photo
from tests.tiny_ade_models import CONFIGS, MASK2FORMER, SEGFORMER, install, segformer_config


@pytest.mark.parametrize("size", [(37, 53, 301, 203), (5, 7, 5, 7), (16, 16, 1, 1), (3, 4, 1000, 17), (128, 96, 64, 40)])
def test_upsample_argmax_equals_interpolate_then_argmax(size):
    h, w, height, width = size
    torch.manual_seed(1)
    scores = torch.randn(150, h, w)
    expected = F.interpolate(scores[None], size=(height, width), mode="bilinear", align_corners=False)[0].argmax(0)
    assert torch.equal(segmentation.upsample_argmax(scores, height, width).long(), expected)


def test_upsample_argmax_equals_interpolate_then_argmax_on_confident_regions():
    """Photo-like scores (a few confident classes in regions, noise elsewhere), where most classes are
    pruned at the class edges."""
    torch.manual_seed(2)
    regions = F.interpolate(torch.randn(1, 6, 4, 5), size=(40, 50), mode="bilinear")[0].argmax(0)
    scores = torch.randn(150, 40, 50) * 0.3
    scores.scatter_add_(0, regions[None] * 17, torch.full((1, 40, 50), 4.0))
    expected = F.interpolate(scores[None], size=(333, 517), mode="bilinear", align_corners=False)[0].argmax(0)
    assert torch.equal(segmentation.upsample_argmax(scores, 333, 517).long(), expected)


def test_upsampling_before_the_argmax_finds_a_class_that_wins_only_between_pixels():
    # Left pixel: wall; right pixel: floor; the sky is second everywhere and wins in between.
    scores = torch.full((150, 1, 2), -10.0)
    scores[index_of("wall"), 0] = torch.tensor([10.0, 0.0])
    scores[index_of("floor"), 0] = torch.tensor([0.0, 10.0])
    scores[index_of("sky"), 0] = 6.0
    classes = segmentation.upsample_argmax(scores, 1, 16)[0].tolist()
    assert classes[0] == index_of("wall") and classes[-1] == index_of("floor")
    assert index_of("sky") in classes  # argmax first, then upsampling, would never show it


@pytest.mark.parametrize("h, w, resolution, expected", [
    (1024, 1024, 512, (512, 512)),
    (768, 1024, 512, (512, 672)),  # 682.7 → nearest multiple of 32
    (1, 1, 512, (512, 512)),
    (10, 1000, 64, (64, 256)),  # long side capped at 4 × the short side
    (100, 50, 64, (128, 64)),
])
def test_model_input_size_keeps_the_aspect_on_a_32_px_grid(h, w, resolution, expected):
    assert segmentation.model_input_size(h, w, resolution) == expected


def test_windows_cover_the_length_with_overlap_on_the_4_px_grid():
    for length, tile in [(1000, 512), (1030, 512), (512, 512), (100, 512), (5000, 256)]:
        windows = segmentation._windows(length, tile)
        assert windows[0][0] == 0 and windows[-1][1] == length
        assert all(start % 4 == 0 for start, _ in windows)
        assert all(b[0] < a[1] for a, b in zip(windows, windows[1:]))  # overlapping, no gaps


def test_preprocess_reads_mean_std_rescaling_and_resampling(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"do_normalize": True, "do_rescale": False, "image_mean": [123.7, 116.3, 103.5], "image_std": [58.4, 57.1, 57.4],
         "resample": 3}))
    assert Preprocess.from_folder(tmp_path) == Preprocess((123.7, 116.3, 103.5), (58.4, 57.1, 57.4), None, 3)
    assert Preprocess.from_folder(tmp_path / "missing") == Preprocess()
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [123.7, 116.3, 103.5]}))
    assert Preprocess.from_folder(tmp_path).rescale is None  # a mean on the 0..255 scale
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False, "rescale_factor": 0.5}))
    assert Preprocess.from_folder(tmp_path) == Preprocess(None, None, 0.5)


@pytest.mark.parametrize("name", ["mask2former-swin-tiny-ade-semantic", "mask2former-swin-small-ade-semantic"])
def test_the_published_preprocessor_configs_give_the_image_processors_input(name):
    """The pack's reading of each published preprocessor_config.json against the PIL image processor
    transformers builds from the same file, on a photo at an input size of the node's."""
    from PIL import Image
    from transformers import Mask2FormerImageProcessorPil

    folder = CONFIGS / name
    pixels = photo("chelsea")
    size = segmentation.model_input_size(*pixels.shape[:2], 384)
    expected = Mask2FormerImageProcessorPil.from_pretrained(folder)(
        images=Image.fromarray(pixels), size={"height": size[0], "width": size[1]}, return_tensors="pt").pixel_values
    pre = Preprocess.from_folder(folder)
    got = pixels_module.normalise(pixels_module.resize_8bit(as_image(pixels)[0], *size, pre.resample), pre.mean,
                                  pre.std, pre.rescale)
    assert torch.equal(got, expected)


def test_mask2former_scores_are_transformers_own_before_its_last_resize(models_dir):
    """The mask logits go up to 384 × 384 before the sigmoid and the class weighting, whatever the input size."""
    from transformers import Mask2FormerImageProcessorPil

    folder = install(models_dir, MASK2FORMER)
    module, pre = segmentation.load("LabelMask", folder)
    pixels = photo("coffee")
    scores = segmentation.class_scores(module, pre, as_image(pixels)[0], (64, 96))
    processor = Mask2FormerImageProcessorPil.from_pretrained(folder)
    with torch.no_grad():
        out = module(pixel_values=processor(images=Image.fromarray(pixels), size={"height": 64, "width": 96},
                                            return_tensors="pt").pixel_values)
    expected = processor.post_process_semantic_segmentation(out, return_segmentation_scores=True)[0]
    assert scores.shape == (150, 384, 384)
    assert torch.allclose(scores, expected.segmentation_scores, atol=1e-6)


@pytest.mark.parametrize("name", [SEGFORMER, MASK2FORMER])
def test_tiny_models_load_and_segment_at_full_size(models_dir, name):
    folder = install(models_dir, name)
    module, pre = segmentation.load("LabelMask", folder)
    assert "torchvision" not in sys.modules
    image = torch.rand(45, 70, 3)
    classes = segmentation.segment(module, pre, image, resolution=64)
    assert classes.shape == (45, 70) and classes.dtype == torch.uint8
    assert int(classes.max()) < 150
    scores = segmentation.class_scores(module, pre, image, (64, 96))
    assert scores.shape == ((150, 384, 384) if name == MASK2FORMER else (150, 16, 24))


def test_tiled_segmentation_stitches_windows_in_place(monkeypatch):
    """Scores from a stand-in model that 'sees' colour: red → wall, green → floor. Each window's
    classes must land where the window was cut from."""
    def colour_scores(module, pre, image, size):
        x = F.interpolate(image.permute(2, 0, 1)[None], size=size, mode="bilinear", align_corners=False)
        x = F.avg_pool2d(x, 4)[0]
        scores = torch.full((150, *x.shape[1:]), -1.0)
        scores[index_of("wall")] = x[0] - x[1]
        scores[index_of("floor")] = x[1] - x[0]
        return scores

    monkeypatch.setattr(segmentation, "class_scores", colour_scores)
    image = torch.zeros(300, 700, 3)
    image[:, :350, 0] = 1.0  # left red
    image[:, 350:, 1] = 1.0  # right green
    classes = segmentation.segment(torch.nn.Linear(1, 1), Preprocess(), image, resolution=128, tiled=True)
    assert classes.shape == (300, 700)
    assert (classes[:, :340] == index_of("wall")).all()
    assert (classes[:, 360:] == index_of("floor")).all()


def test_tiled_segmentation_checks_cancel_per_window(monkeypatch, fake_comfyui):
    from tests.fake_comfyui import Interrupted

    windows = []

    def scores(module, pre, image, size):
        windows.append(size)
        fake_comfyui.interrupted = len(windows) == 2  # Cancel pressed during the second window
        return torch.zeros(150, size[0] // 4, size[1] // 4)

    monkeypatch.setattr(segmentation, "class_scores", scores)
    with pytest.raises(Interrupted):
        segmentation.segment(torch.nn.Linear(1, 1), Preprocess(), torch.zeros(300, 700, 3), resolution=128, tiled=True)
    assert len(windows) == 2


def test_tiled_on_a_real_tiny_model_gives_a_full_size_map(models_dir):
    module, pre = segmentation.load("LabelMask", install(models_dir, SEGFORMER))
    classes = segmentation.segment(module, pre, torch.rand(150, 230, 3), resolution=64, tiled=True)
    assert classes.shape == (150, 230)


def test_models_without_150_classes_are_refused(models_dir):
    from transformers import SegformerForSemanticSegmentation

    folder = models_dir / "maskforge" / "cityscapes-like"
    SegformerForSemanticSegmentation(segformer_config(num_labels=19)).save_pretrained(folder)
    with pytest.raises(MaskForgeError, match="has 19 classes; LabelMask needs an ADE20K model with 150"):
        segmentation.load("LabelMask", folder)


def test_non_segmentation_models_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(MaskForgeError, match="is a 'bert' model"):
        segmentation.load("LabelMask", tmp_path)


def test_a_folder_without_config_is_refused(tmp_path):
    with pytest.raises(MaskForgeError, match="not a transformers model folder"):
        segmentation.load("LabelMask", tmp_path)


def test_a_damaged_weights_file_is_a_labelmask_error_naming_it(models_dir):
    folder = install(models_dir, SEGFORMER)
    (folder / "model.safetensors").write_bytes(b"<html>Sign in</html>")
    with pytest.raises(MaskForgeError, match=f"LabelMask: model: {folder / 'model.safetensors'} is damaged.*web page"):
        segmentation.load("LabelMask", folder)
