import shutil

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from maskforge.models import files, sam, weights
from maskforge.models.registry import specs
from tests import tiny_prompt_models as tiny
from tests.photos import as_image, iou, photo


@pytest.fixture(autouse=True)
def _fresh_cache():
    sam.clear_cache()
    yield
    sam.clear_cache()


@pytest.fixture
def installed(models_dir):
    tiny.install(models_dir, "sams", "sam-vit-base", tiny.sam())
    tiny.install(models_dir, "sam2", "sam2.1-hiera-tiny", tiny.sam2_video())
    tiny.install(models_dir, "sams", "sam_vit_b_01ec64.pth", tiny.meta_sam())
    return models_dir


def load(name):
    """Through the same resolution the node uses."""
    return sam.load(weights.resolve("PromptMask", name, folders=("sam2", "sams"), input_name="sam_model"))


def count_calls(monkeypatch, model, method):
    calls = []
    original = getattr(model, method)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, method, counting)
    return calls


MODELS = ["sam-vit-base", "sam2.1-hiera-tiny"]


def test_meta_checkpoint_is_saved_under_metas_own_key_names():
    state = torch.load(tiny.meta_sam(), weights_only=True)
    for key in ("image_encoder.blocks.0.norm1.weight", "image_encoder.blocks.1.attn.rel_pos_h",
                "image_encoder.patch_embed.proj.weight", "image_encoder.neck.0.weight", "image_encoder.neck.3.bias",
                "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", "prompt_encoder.point_embeddings.3.weight",
                "prompt_encoder.mask_downscaling.6.weight", "mask_decoder.output_upscaling.3.weight",
                "mask_decoder.output_hypernetworks_mlps.0.layers.2.weight", "mask_decoder.iou_prediction_head.layers.1.bias",
                "mask_decoder.transformer.norm_final_attn.weight", "mask_decoder.transformer.layers.1.norm4.weight"):
        assert key in state, key


def test_meta_checkpoint_round_trip_gives_the_same_masks(installed):
    hub, meta = load("sam-vit-base"), load("sam_vit_b_01ec64.pth")
    image = torch.rand(48, 80, 3)
    boxes = torch.tensor([[4.0, 6.0, 40.0, 30.0], [30.0, 10.0, 79.0, 47.0]])
    hub_masks, hub_iou = sam.segment(hub, sam.embed(hub, image, "hub"), boxes)
    meta_masks, meta_iou = sam.segment(meta, sam.embed(meta, image, "meta"), boxes)
    assert torch.equal(hub_masks, meta_masks)
    assert torch.allclose(hub_iou, meta_iou)
    for name, value in hub.state_dict().items():
        assert torch.equal(value, meta.state_dict()[name]), name


def test_meta_config_reads_the_architecture_off_the_shapes():
    config = sam.meta_config(torch.load(tiny.meta_sam(), weights_only=True))
    vision = config["vision_config"]
    assert (vision["hidden_size"], vision["num_hidden_layers"], vision["num_attention_heads"]) == (32, 2, 2)
    assert (vision["image_size"], vision["patch_size"], vision["window_size"]) == (64, 16, 2)
    assert vision["global_attn_indexes"] == [1]
    assert config["mask_decoder_config"]["iou_head_depth"] == 3


def test_a_file_that_is_not_a_sam_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"backbone.weight": torch.zeros(2)}, path)
    with pytest.raises(sam.SamLoadError, match="not a Meta SAM ViT checkpoint"):
        sam.load(path)


def test_a_single_file_sam2_checkpoint_gets_a_clear_error(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.safetensors"
    path.write_bytes(b"")
    with pytest.raises(sam.SamLoadError, match="pick a sam2.1-hiera-\\* model"):
        sam.load(path)


@pytest.mark.parametrize("name", MODELS)
def test_embedding_is_computed_once_per_image(installed, monkeypatch, name):
    model = load(name)
    calls = count_calls(monkeypatch, model, "get_image_embeddings")
    first, second = torch.rand(40, 40, 3), torch.rand(40, 40, 3)
    box = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    masks, scores = sam.segment(model, sam.embed(model, first, name), box)
    sam.segment(model, sam.embed(model, first.clone(), name), torch.tensor([[5.0, 5.0, 30.0, 30.0]]))
    again, again_scores = sam.segment(model, sam.embed(model, first, name), box)
    assert len(calls) == 1  # the same pixels in another tensor reuse the embedding
    assert torch.equal(masks, again) and torch.equal(scores, again_scores)  # the kept embedding is not altered
    sam.embed(model, second, name)
    assert len(calls) == 2


@pytest.mark.parametrize("name", MODELS)
def test_all_boxes_of_an_image_go_through_the_decoder_in_one_call(installed, monkeypatch, name):
    model = load(name)
    embedding = sam.embed(model, torch.rand(30, 50, 3), name)
    calls = count_calls(monkeypatch, model, "forward")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 40.0, 25.0], [20.0, 0.0, 50.0, 30.0]] * 4)
    masks, scores = sam.segment(model, embedding, boxes)
    assert len(calls) == 1
    assert masks.shape == (12, 30, 50) and masks.dtype == torch.bool
    assert scores.shape == (12,)
    assert torch.equal(masks[:3], masks[9:])  # upscaled a few at a time, in order


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [(1, 1), (24, 90), (90, 24)])
def test_masks_come_back_at_the_image_size(installed, name, size):
    model = load(name)
    h, w = size
    masks, _ = sam.segment(model, sam.embed(model, torch.rand(h, w, 3), name), torch.tensor([[0.0, 0.0, w, h]]))
    assert masks.shape == (1, h, w)


@pytest.mark.parametrize("name", MODELS)
def test_points_alone_make_one_object_and_refine_every_box(installed, monkeypatch, name):
    model = load(name)
    embedding = sam.embed(model, torch.rand(32, 32, 3), name)
    points, labels = torch.tensor([[8.0, 8.0], [20.0, 20.0]]), torch.tensor([1, 0])
    alone, _ = sam.segment(model, embedding, None, points, labels)
    assert alone.shape == (1, 32, 32)
    seen = []
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda **kw: seen.append(kw) or original(**kw))
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [10.0, 10.0, 30.0, 30.0]])
    refined, _ = sam.segment(model, embedding, boxes, points, labels)
    assert refined.shape == (2, 32, 32)
    assert seen[0]["input_points"].shape == (1, 2, 2, 2)  # both points, with each of the two boxes
    assert seen[0]["input_labels"].tolist() == [[[1, 0], [1, 0]]]


def test_coordinates_follow_each_familys_resize(installed):
    """SAM fits the longest side and keeps the aspect ratio; SAM 2 stretches to its square (64 px here)."""
    point = torch.tensor([[128.0, 32.0]])
    assert sam._to_input_coords(load("sam-vit-base"), point, 32, 128).tolist() == [[64.0, 16.0]]
    assert sam._to_input_coords(load("sam2.1-hiera-tiny"), point, 32, 128).tolist() == [[64.0, 64.0]]


def test_sam_input_is_padded_bottom_right_with_zeros(installed):
    x = sam.preprocess(load("sam-vit-base"), torch.ones(32, 128, 3))
    assert x.shape == (1, 3, 64, 64)
    assert (x[..., 16:, :] == 0).all() and (x[..., :16, :] != 0).all()


@pytest.mark.parametrize("name", MODELS)
def test_half_precision_models_take_full_precision_prompts(installed, name):
    """As on a GPU in bf16: the prompt encoder casts the coordinates itself, after scaling them."""
    model = load(name).to(torch.bfloat16)
    embedding = sam.embed(model, torch.rand(20, 30, 3), name)
    masks, scores = sam.segment(model, embedding, torch.tensor([[2.0, 3.0, 25.0, 18.0]]), torch.tensor([[10.0, 10.0]]),
                                torch.tensor([1]))
    assert masks.shape == (1, 20, 30) and scores.dtype == torch.float32


# Boxes on chelsea (451 × 300), not on whole pixels, one reaching the bottom edge.
BOXES = [[30.3, 20.7, 200.2, 250.9], [180.5, 40.1, 420.8, 290.4], [10.9, 150.2, 300.6, 300.0]]


def assert_same_masks(masks, expected):
    """Varied masks (not empty, not everything, not all alike), each and their union as the reference's."""
    shares = expected.float().mean((1, 2))
    assert ((shares > 0.02) & (shares < 0.98)).all() and not torch.equal(expected[0], expected[1])
    for got, want in zip(masks, expected):
        assert iou(got, want) >= 0.99
    assert iou(masks.any(0), expected.any(0)) >= 0.999


def test_sam_masks_equal_sam_processor_and_model_on_a_photo(models_dir):
    """transformers' SamProcessor with its PIL image processor as published (sam-vit-huge's
    preprocessor_config.json, its 1024 px scaled to the tiny model's 256) and SamModel, on the same weights."""
    from transformers import SamImageProcessorPil, SamModel, SamProcessor

    tiny.install(models_dir, "sams", "sam-vit-base", tiny.sam(256))
    square = {"longest_edge": 256}, {"height": 256, "width": 256}
    image_processor = SamImageProcessorPil.from_pretrained(tiny.CONFIGS / "sam-vit-huge", size=square[0],
                                                           pad_size=square[1])
    pixels = photo("chelsea")
    inputs = SamProcessor(image_processor=image_processor)(images=Image.fromarray(pixels), input_boxes=[BOXES],
                                                           return_tensors="pt")
    with torch.no_grad():
        out = SamModel.from_pretrained(models_dir / "sams" / "sam-vit-base")(
            pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"].float(), multimask_output=False)
    expected = image_processor.post_process_masks(out.pred_masks, inputs["original_sizes"],
                                                  inputs["reshaped_input_sizes"])[0][:, 0]
    model = load("sam-vit-base")
    assert torch.equal(sam.preprocess(model, as_image(pixels)[0]), inputs["pixel_values"])  # the very same input
    masks, scores = sam.segment(model, sam.embed(model, as_image(pixels)[0], "sam"), torch.tensor(BOXES))
    assert_same_masks(masks, expected)
    assert torch.allclose(scores, out.iou_scores[0, :, 0], atol=1e-4)


def test_sam2_masks_equal_metas_steps_with_transformers_model_on_a_photo(models_dir):
    """A folder laid out as the published sam2.1 ones (sam2_video), through the pack's loader, against
    Sam2Model loaded by transformers and the steps of Meta's SAM2ImagePredictor (transformers'
    Sam2Processor needs torchvision): the float image resized to the model's square with
    antialiasing and normalised, box corners scaled to the square, mask logits upsampled to the image, > 0."""
    from transformers import Sam2Model

    folder = tiny.install(models_dir, "sam2", "sam2.1-hiera-tiny", tiny.sam2_video())
    reference = Sam2Model.from_pretrained(folder).eval()
    pixels = photo("chelsea")
    height, width = pixels.shape[:2]
    size = reference.config.prompt_encoder_config.image_size
    x = F.interpolate(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255, size=(size, size),
                      mode="bilinear", align_corners=False, antialias=True)
    x = (x - torch.tensor(sam.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(sam.IMAGENET_STD).view(1, 3, 1, 1)
    boxes = torch.tensor(BOXES, dtype=torch.float64) * torch.tensor([size / width, size / height] * 2, dtype=torch.float64)
    with torch.no_grad():
        out = reference(pixel_values=x, input_boxes=boxes.float()[None], multimask_output=False)
    expected = F.interpolate(out.pred_masks[0], size=(height, width), mode="bilinear", align_corners=False)[:, 0] > 0
    model = load("sam2.1-hiera-tiny")
    masks, scores = sam.segment(model, sam.embed(model, as_image(pixels)[0], "sam2"), torch.tensor(BOXES))
    assert_same_masks(masks, expected)
    assert torch.allclose(scores, out.iou_scores[0, :, 0], atol=1e-4)


@pytest.mark.parametrize("name", [s.name for s in specs("sam2")])
def test_every_sam2_1_folder_as_published_loads_as_the_image_model(models_dir, name):
    """The published sam2.1-hiera-* folders declare model_type sam2_video (with their
    processor_config.json, where its text was found); PromptMask must take them."""
    folder = tiny.install(models_dir, "sam2", name, tiny.sam2_video())
    published = tiny.CONFIGS / name / "processor_config.json"
    if published.is_file():
        shutil.copy(published, folder)
    model = load(name)
    assert sam.family_of(model) == "sam2"
    masks, _ = sam.segment(model, sam.embed(model, torch.rand(30, 40, 3), name), torch.tensor([[2.0, 3.0, 30.0, 25.0]]))
    assert masks.shape == (1, 30, 40)


def test_a_sam2_folder_loads_too(tmp_path):
    """Folders saved with model_type sam2 (the older *-hf repos, transformers' own Sam2Model saves)."""
    model = sam.load(tiny.sam2())
    assert sam.family_of(model) == "sam2" and model.config.model_type == "sam2"


def test_a_pth_that_is_not_weights_only_is_refused_without_torchs_advice(tmp_path):
    import argparse

    torch.save({"model": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}, tmp_path / "trained.pth")
    with pytest.raises(sam.SamLoadError, match="trained.pth is not a weights-only checkpoint") as err:
        sam.load(tmp_path / "trained.pth")
    assert "weights_only=False" not in str(err.value) and "weights_only" not in str(err.value)


@pytest.mark.parametrize("cut", [100, 0.5])
def test_a_truncated_pth_is_damaged(installed, cut):
    path = installed / "sams" / "sam_vit_b_01ec64.pth"
    data = path.read_bytes()
    path.write_bytes(data[: cut if isinstance(cut, int) else int(len(data) * cut)])
    with pytest.raises(files.BadModelFile, match="sam_vit_b_01ec64.pth is damaged, incomplete"):
        load("sam_vit_b_01ec64.pth")


def test_a_folder_where_the_pth_file_should_be_is_refused(tmp_path):
    (tmp_path / "sam_vit_b_01ec64.pth").mkdir()
    with pytest.raises(sam.SamLoadError, match="sam_vit_b_01ec64.pth is a folder where a file is expected"):
        sam.load(tmp_path / "sam_vit_b_01ec64.pth")


@pytest.mark.parametrize("name", MODELS)
def test_a_truncated_hub_checkpoint_is_damaged(installed, name):
    folder = installed / ("sam2" if "sam2" in name else "sams") / name
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:-10])
    with pytest.raises(ValueError, match="model.safetensors is damaged, incomplete"):
        load(name)
