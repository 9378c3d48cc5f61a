"""The label picker's copy of the vocabulary (web/label_vocabulary.js) and its rules match labels.py."""

import json
import shutil
import subprocess

import pytest

from maskforge import labels
from tools import web_labels

WORDS = [
    *labels.ADE20K_LABELS,
    *labels.SYNONYMS,
    *(label + "s" for label in labels.ADE20K_LABELS),
    "  Coffee   Table ", "CHEST_OF_DRAWERS", "Couches", "sofaz", "chiar", "windws", "tabel", "qqqq", "",
    "bed ", "Trash Can", "toString", "café",
]


def test_web_vocabulary_is_generated_from_labels_py():
    assert web_labels.TARGET.read_text(encoding="utf-8") == web_labels.render(), (
        "web/label_vocabulary.js differs from labels.py; run: python -m tools.web_labels"
    )


def test_rendered_module_holds_the_labels_in_index_order():
    text = web_labels.render()
    found = json.loads(text.split("export const LABELS = ", 1)[1].split(";", 1)[0])
    assert found == list(labels.ADE20K_LABELS)
    assert [labels.index_of(name) for name in found] == list(range(150))


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_picker_logic_agrees_with_labels_py():
    script = (
        "import('./web/label_logic.js').then(m => {"
        "  const words = JSON.parse(process.argv[1]);"
        "  console.log(JSON.stringify(words.map(w => [m.canonical(w), m.closest(w)])));"
        "})"
    )
    out = subprocess.run(
        ["node", "-e", script, json.dumps(WORDS)],
        cwd=web_labels.PACK_DIR, capture_output=True, text=True, timeout=60, check=True,
    )
    expected = [[labels.canonical(w), labels.closest(w)] for w in WORDS]
    assert json.loads(out.stdout) == expected
