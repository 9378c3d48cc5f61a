"""Loads the pack as ComfyUI does: by the path of its ``__init__.py``, under a name that is not its folder's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[1]


def load_pack(name: str = "maskforge", folder: Path = PACK_DIR):
    """Imports the pack in ``folder`` as module ``name`` (ComfyUI uses the folder's path)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
