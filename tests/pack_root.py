"""A pytest plugin: the repository root is the ComfyUI package, not a test package.

Collected as a plain folder, pytest never imports its ``__init__.py`` under the folder's name, which fails
for names such as ``ComfyUI-MaskForge`` (tests load the pack by path as ``maskforge`` instead).
"""

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path, parent):
    if path == parent.config.rootpath:
        return pytest.Dir.from_parent(parent, path=path)
    return None
