"""The pack's label vocabulary: the 150 ADE20K classes, spelt as HomeDesigns documents them, in
ADE20K index order (index i is class i of every ADE20K model), so saved workflows do not change
with the model."""

from __future__ import annotations

import difflib
import re

from .errors import MaskForgeError

# HomeDesigns' object list (its documentation writes "bed " with a trailing space).
ADE20K_LABELS = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column",
    "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator",
    "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

# Words users type for a class under another name.
SYNONYMS = {
    "couch": "sofa", "settee": "sofa", "window": "windowpane", "carpet": "rug", "fridge": "refrigerator",
    "tv": "television receiver", "television": "television receiver", "picture": "painting",
    "cupboard": "cabinet", "closet": "wardrobe", "dresser": "chest of drawers", "bookshelf": "bookcase",
    "staircase": "stairway", "tub": "bathtub", "bath": "bathtub", "trash can": "ashcan", "bin": "ashcan",
    "garbage can": "ashcan", "toy": "plaything", "ground": "earth", "people": "person", "human": "person",
    "man": "person", "woman": "person", "washing machine": "washer", "clothes": "apparel",
    "kitchen counter": "countertop", "island": "kitchen island", "laptop": "computer", "pc": "computer",
    "street lamp": "streetlight", "ceiling light": "light", "cooker": "stove", "range hood": "hood",
    "sign": "signboard", "pillar": "column", "handrail": "railing", "banister": "bannister",
    "potted plant": "plant", "houseplant": "plant", "flowers": "flower", "trees": "tree",
    "microwave oven": "microwave", "doormat": "rug", "puff": "ottoman", "pouf": "ottoman",
}

_INDEX = {name: i for i, name in enumerate(ADE20K_LABELS)}


def normalise(text: str) -> str:
    """Case- and spacing-insensitive key: ``'  Coffee   Table'`` → ``'coffee table'``."""
    return re.sub(r"[\s_]+", " ", text).strip().lower()


def canonical(text: str) -> str | None:
    """The vocabulary label a user's word stands for, or None."""
    key = normalise(text)
    if key in _INDEX:
        return key
    if key in SYNONYMS:
        return SYNONYMS[key]
    if key.endswith("s") and key[:-1] in _INDEX:  # plurals: "chairs"
        return key[:-1]
    return None


def closest(text: str, count: int = 3) -> list[str]:
    """The vocabulary labels (or synonyms' targets) nearest to ``text`` in spelling."""
    key = normalise(text)
    words = list(_INDEX) + list(SYNONYMS)
    found = difflib.get_close_matches(key, words, n=count * 2, cutoff=0.5)
    names = list(dict.fromkeys(SYNONYMS.get(w, w) for w in found))
    return names[:count]


def parse_labels(node: str, text: str, input_name: str = "labels") -> list[str]:
    """``'floor|wall'`` → canonical labels in the order given, duplicates dropped.
    Unknown labels raise one error listing each with its nearest valid names."""
    parts = [p for p in (normalise(x) for x in text.split("|")) if p]
    if not parts:
        raise MaskForgeError(node, "no labels given; write them separated by '|', e.g. 'floor|wall'", input_name)
    found, unknown = [], []
    for part in parts:
        name = canonical(part)
        if name is None:
            unknown.append(part)
        elif name not in found:
            found.append(name)
    if unknown:
        raise MaskForgeError(node, "; ".join(_unknown_hint(word) for word in unknown), input_name)
    return found


def _unknown_hint(word: str) -> str:
    near = [f"'{n}'" for n in closest(word)]
    if not near:
        return f"unknown label '{word}' — no close match; the README lists the 150 labels"
    options = near[0] if len(near) == 1 else ", ".join(near[:-1]) + " or " + near[-1]
    return f"unknown label '{word}' — did you mean {options}?"


def check_found(node: str, wanted: list[str], present: list[bool], where: str = "the image") -> None:
    """Stops with an error naming the labels of ``wanted`` not ``present`` in an image (``where``)."""
    absent = ", ".join(f"'{label}'" for label, found in zip(wanted, present) if not found)
    if absent:
        raise MaskForgeError(node, f"{absent} not found in {where}; set on_missing to 'empty mask' to get an empty "
                                   "mask instead", "labels")


def index_of(label: str) -> int:
    """ADE20K class index of a canonical label."""
    return _INDEX[label]
