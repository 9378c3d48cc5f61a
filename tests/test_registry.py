import json

import pytest

from maskforge.models.registry import REGISTRY
from tests.tiny_ade_models import CONFIGS

PUBLISHED = sorted(path for path in CONFIGS.glob("*/*.json"))


def test_there_are_published_configs_and_each_belongs_to_a_hub_model_of_the_registry():
    assert len(PUBLISHED) >= 6
    for path in PUBLISHED:
        spec = REGISTRY.get(path.parent.name)
        assert spec is not None and spec.repo, path


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_published_configs_are_kept_as_transformers_writes_them(path):
    """Byte for byte as published: two-space indents, sorted keys, a final newline (an edit that
    reformats or changes a value fails here or in the tests that load it)."""
    text = path.read_bytes().decode("utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
