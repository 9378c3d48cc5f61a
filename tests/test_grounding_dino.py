import shutil
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from maskforge.models import grounding_dino, weights
from tests import tiny_prompt_models as tiny
from tests.photos import as_image, photo


@pytest.fixture
def detector(models_dir):
    tiny.install(models_dir, "grounding-dino", "grounding-dino-tiny", tiny.grounding_dino())
    path = weights.resolve("PromptMask", "grounding-dino-tiny", folders=("grounding-dino",), input_name="detector")
    return grounding_dino.load(path)


class FakeModel(torch.nn.Module):
    """Returns chosen word probabilities and boxes, as GroundingDinoForObjectDetection's output."""

    def __init__(self, probs, boxes):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(max_text_len=256)
        self.probs, self.boxes = torch.tensor(probs), torch.tensor(boxes)

    def forward(self, input_ids, pixel_values=None, **_):
        self.seen = pixel_values
        logits = torch.full((1, len(self.probs), 256), -float("inf"))
        logits[0, :, : self.probs.shape[1]] = torch.logit(self.probs)
        assert input_ids.shape[1] == self.probs.shape[1]
        return SimpleNamespace(logits=logits, pred_boxes=self.boxes[None])


# "white sofa. lamp." tokenises as [CLS] white sofa . lamp . [SEP]
PROBS = [
    [0.0, 0.2, 0.9, 0.0, 0.0, 0.0, 0.0],  # q0: a sofa
    [0.0, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0],  # q1: a lamp
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # q2: nothing
    [0.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0],  # q3: the same sofa again
    [0.99, 0.0, 0.0, 0.9, 0.0, 0.0, 0.99],  # q4: only special tokens and dots
    [0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0],  # q5: a white sofa
]
BOXES = [[0.25, 0.5, 0.5, 1.0], [0.8, 0.3, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1],
         [0.27, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0], [0.6, 0.8, 0.1, 0.2]]  # centre x, y, width, height


def fake_detect(detector, **overrides):
    options = dict(box_threshold=0.3, text_threshold=0.25, nms_iou=0.5, max_objects=0) | overrides
    model = FakeModel(PROBS, BOXES)
    return grounding_dino.detect(model, detector[1], torch.rand(50, 100, 3), ["white sofa", "lamp"], **options)


@pytest.mark.parametrize("resolution", [320, 800])
def test_detector_resolution_sets_the_short_side_the_model_sees(detector, resolution):
    model = FakeModel(PROBS, BOXES)
    for height, width in ((300, 400), (300, 1000)):
        grounding_dino.detect(model, detector[1], torch.rand(height, width, 3), ["white sofa", "lamp"], 0.3, 0.25,
                              0.5, 0, resolution=resolution)
        short, long = model.seen.shape[-2:]
        if width / height < 5 / 3:
            assert short == resolution
        else:  # the long side is capped at 5/3 of the short one, as the checkpoints' 800:1333
            assert long == resolution * 5 // 3 and short < resolution


def test_split_phrases_lowercases_and_drops_empty_and_repeated_phrases():
    assert grounding_dino.split_phrases(" White  Sofa. lamp..\nlamp. ") == ["white sofa", "lamp"]
    assert grounding_dino.split_phrases("  ") == []


def test_each_token_belongs_to_its_phrase(detector):
    member = grounding_dino._phrase_tokens(detector[1], "white sofa. lamp.", ["white sofa", "lamp"], 7)
    assert member.int().tolist() == [[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0]]


def test_detect_thresholds_suppresses_and_labels_as_worked_out_by_hand(detector):
    found = fake_detect(detector)
    # q4 (best on the start token), q0, q1, q5: q2 too weak, q3 overlaps q0
    assert found.phrases == ["white sofa", "white sofa", "lamp", "white sofa"]
    assert found.labels == ["white sofa", "sofa", "lamp", "white sofa"]  # no word of q4's phrase above 0.25
    assert found.scores.tolist() == pytest.approx([0.99, 0.9, 0.6, 0.5])
    assert torch.allclose(found.boxes, torch.tensor([[0.0, 0, 100, 50], [0, 0, 50, 50], [70, 10, 90, 20],
                                                     [55, 35, 65, 45]]), atol=1e-4)


def test_max_objects_keeps_the_best(detector):
    assert fake_detect(detector, max_objects=2).scores.tolist() == pytest.approx([0.99, 0.9])


def test_text_threshold_chooses_the_label_words_and_keeps_the_boxes(detector):
    found = fake_detect(detector, text_threshold=0.55)
    assert found.labels == ["white sofa", "sofa", "lamp", "white sofa"]
    assert found.scores.tolist() == pytest.approx([0.99, 0.9, 0.6, 0.5])


def test_nms_iou_of_one_keeps_overlapping_boxes(detector):
    assert len(fake_detect(detector, nms_iou=1.0)) == 5


def test_real_architecture_finds_boxes_inside_the_image_or_nothing(detector):
    model, processor = detector
    image = torch.rand(37, 83, 3)
    found = grounding_dino.detect(model, processor, image, ["white sofa", "lamp"], 0.0, 0.0, 0.9, 5)
    assert 0 < len(found) <= 5
    assert found.boxes.shape == (len(found), 4)
    assert (found.boxes[:, 0::2] <= 83).all() and (found.boxes[:, 1::2] <= 37).all() and (found.boxes >= 0).all()
    assert set(found.phrases) <= {"white sofa", "lamp"}
    assert len(grounding_dino.detect(model, processor, image, ["lamp"], 1.0, 0.0, 0.5, 0)) == 0


def test_processor_uses_pil_image_processing(detector):
    """The torchvision-backed processor must never be picked: torchvision is optional for the pack."""
    assert "Pil" in type(detector[1].image_processor).__name__


def test_a_prompt_longer_than_the_model_reads_is_refused(detector):
    model, processor = detector
    phrases = [f"thing{i}" for i in range(200)]  # two tokens each with its dot
    with pytest.raises(grounding_dino.PromptTooLong, match="Grounding DINO reads at most 256"):
        grounding_dino.detect(model, processor, torch.rand(16, 16, 3), phrases, 0.3, 0.25, 0.5, 0)


def test_second_prompt_on_the_same_image_skips_the_image_backbone(detector, monkeypatch):
    model, processor = detector
    backbone = model.model.backbone.inner
    calls = []
    original = backbone.forward
    monkeypatch.setattr(backbone, "forward", lambda *a: calls.append(1) or original(*a))
    image = torch.rand(30, 40, 3)
    first = grounding_dino.detect(model, processor, image, ["sofa"], 0.0, 0.0, 0.5, 4)
    second = grounding_dino.detect(model, processor, image, ["lamp", "cat"], 0.0, 0.0, 0.5, 4)
    again = grounding_dino.detect(model, processor, image, ["sofa"], 0.0, 0.0, 0.5, 4)
    assert len(calls) == 1
    assert torch.equal(first.boxes, again.boxes) and first.phrases == again.phrases  # the kept output is not altered
    grounding_dino.detect(model, processor, torch.rand(30, 40, 3), ["sofa"], 0.0, 0.0, 0.5, 4)
    assert len(calls) == 2
    fresh_model, _ = grounding_dino.load(weights.resolve("PromptMask", "grounding-dino-tiny", folders=("grounding-dino",)))
    fresh = grounding_dino.detect(fresh_model, processor, image, ["lamp", "cat"], 0.0, 0.0, 0.5, 4)
    assert torch.allclose(fresh.boxes, second.boxes) and fresh.phrases == second.phrases


@pytest.mark.parametrize("picture", ["chelsea", "coffee"])
def test_boxes_and_scores_equal_transformers_post_processing_on_a_photo(models_dir, picture):
    """The node's detector (grounding-dino-base with its published preprocessor_config.json) against
    transformers' processor, model and ``post_process_grounded_object_detection`` on the same weights,
    with suppression off. Varied: some boxes fall below the threshold, some win on a token that is no
    word of a phrase (the start and end tokens, the dots)."""
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

    folder = tiny.install(models_dir, "grounding-dino", "grounding-dino-base", tiny.grounding_dino())
    shutil.copy(tiny.CONFIGS / "grounding-dino-base" / "preprocessor_config.json", folder)
    model, processor = grounding_dino.load(weights.resolve("PromptMask", "grounding-dino-base",
                                                           folders=("grounding-dino",)))
    pixels = photo(picture)
    height, width = pixels.shape[:2]
    reference = GroundingDinoProcessor.from_pretrained(folder, backend="pil")
    inputs = reference(images=Image.fromarray(pixels), text="white sofa. lamp.", return_tensors="pt",
                       size={"shortest_edge": 256, "longest_edge": 426})
    with torch.no_grad():
        out = GroundingDinoForObjectDetection.from_pretrained(folder).eval()(**inputs)
    expected = reference.post_process_grounded_object_detection(out, inputs["input_ids"], threshold=0.6,
                                                                text_threshold=0.5, target_sizes=[(height, width)])[0]
    assert inputs["input_ids"].shape[1] == 7
    words = torch.tensor([0, 1, 1, 0, 1, 0, 0], dtype=torch.bool)  # [CLS] white sofa . lamp . [SEP]
    probs = out.logits[0, :, :7].sigmoid()
    assert 0 < len(expected["scores"]) < probs.shape[0]
    assert (probs[probs.amax(-1) > 0.6].argmax(-1)[:, None] != words.nonzero().T).all(-1).any()

    found = grounding_dino.detect(model, processor, as_image(pixels)[0], ["white sofa", "lamp"], 0.6, 0.5, nms_iou=1.0,
                                  max_objects=0, resolution=256)
    order = expected["scores"].argsort(descending=True, stable=True)
    boxes = expected["boxes"][order]
    boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([width, height, width, height]))  # clipped to the image
    assert len(found) == len(order)
    assert (found.scores - expected["scores"][order]).abs().max() <= 1e-4
    assert (found.boxes - boxes).abs().max() <= 1e-3


@pytest.mark.parametrize("name", ["tokenizer_config.json", "preprocessor_config.json", "config.json"])
def test_a_damaged_json_file_is_named(models_dir, name):
    from maskforge.models import files

    folder = tiny.install(models_dir, "grounding-dino", "grounding-dino-tiny", tiny.grounding_dino())
    (folder / name).write_text("<!DOCTYPE html>")
    with pytest.raises(files.BadModelFile, match=f"{name} is damaged.*web page"):
        grounding_dino.load(folder)


def test_another_kind_of_model_is_refused(models_dir):
    from maskforge.models import files

    folder = tiny.install(models_dir, "grounding-dino", "not-a-detector", tiny.sam())
    with pytest.raises(files.BadModelFile, match="not-a-detector is a 'sam' model, not a 'grounding-dino' model"):
        grounding_dino.load(folder)
