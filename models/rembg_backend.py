"""Background removal with rembg's ONNX models, run from files the pack resolved itself.

rembg's own sessions find their file through ``~/.rembg`` and download it with pooch when it is
missing, and its custom sessions refuse a path outside that folder. So the pack opens the ONNX
Runtime session itself and hands it to rembg's session class for that model, whose ``predict``
does the model's own pre- and post-processing; ``remove()``'s mask steps (post-processing, alpha
matting) are then applied as ``remove()`` applies them. Nothing here can download or write a file.

rembg and ONNX Runtime are imported on first use: a missing one disables only RemoveBGMask.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import comfy_adapter
from ..errors import MaskForgeError
from . import files, management
from .registry import REGISTRY

log = logging.getLogger(__name__)

# rembg's session for a user's own .onnx file, by the family the user picks: each differs in input
# size, normalisation and output activation, which rembg's session classes encode.
CUSTOM_FAMILIES = {
    "u2net": "u2net_custom",  # U²-Net and its variants: 320 px, ImageNet mean/std
    "isnet": "dis_custom",  # ISNet / DIS: 1024 px, mean 0.5
    "ben": "ben_custom",  # BEN: 1024 px, mean 0.5
    "birefnet": "birefnet-general",  # BiRefNet: 1024 px, ImageNet mean/std, sigmoid output
}

# Accelerators in the order they are tried; ONNX Runtime falls back to the CPU node by node.
_ACCELERATORS = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
_CPU = "CPUExecutionProvider"

_INSTALL_RUNTIME = (
    "install ONNX Runtime, one of: `pip install onnxruntime` (CPU; CoreML on macOS) or "
    "`pip install onnxruntime-gpu` (NVIDIA CUDA) — never both, they overwrite each other"
)


class WrongInput(ValueError):
    """The model refused the input its rembg session made: a user's file run with the wrong family."""


def wrong_input(model: str, path: Path, session_name: str, family: str, exc: WrongInput) -> str:
    """What to do when ``path`` refused its input: another model's file under a known name, or a user's file
    run with the wrong ``custom_model_family``."""
    if model in REGISTRY:
        return (f"{path} does not take the input of rembg's '{session_name}' model ({exc}): it is another model's "
                "file; delete it (it is then downloaded again) or replace it with the right one")
    return (f"{path} does not take the input custom_model_family '{family}' gives it ({exc}): set "
            "custom_model_family to the architecture the model was made for")


@dataclass(frozen=True)
class Libraries:
    ort: Any  # onnxruntime
    sessions: dict  # rembg's session classes by name
    bg: Any  # rembg.bg: post_process, alpha_matting_cutout


def libraries(node: str) -> Libraries:
    """ONNX Runtime and rembg, or a MaskForgeError saying what to install.

    rembg's package always imports ``rembg.bg``, and with it pymatting, whose functions numba
    compiles on import (about a minute on a fresh install, then loaded from numba's cache), so
    even a run without alpha matting pays that import once per process. Callers resolve the
    model file first, so a missing model is reported without it."""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise MaskForgeError(node, f"ONNX Runtime is not installed or does not load ({exc}); {_INSTALL_RUNTIME}.") from exc
    numba_cache()
    # rembg exits the interpreter when it finds no ONNX Runtime, so it is imported only after the check above.
    try:
        bg = importlib.import_module("rembg.bg")
        sessions = importlib.import_module("rembg.sessions").sessions
    except ImportError as exc:
        raise MaskForgeError(node, f"rembg is not installed or does not load ({exc}); install it with `pip install rembg`.") from exc
    except AttributeError as exc:  # rembg.sessions.sessions arrived in 2.0.67
        raise MaskForgeError(node, f"the installed rembg is too old ({exc}); `pip install -U \"rembg>=2.0.67\"`.") from exc
    except RuntimeError as exc:  # numba: "cannot cache function ... no locator available"
        raise MaskForgeError(node, f"rembg does not load ({exc}); set NUMBA_CACHE_DIR to a folder you can write to.") from exc
    _warn_two_runtimes()
    return Libraries(ort, sessions, bg)


def numba_cache() -> None:
    """Keeps numba's compiled pymatting on disk where pymatting's own folder is read-only: numba
    then falls back to a per-user cache, or, without a writable one, fails to import. The cache
    goes into ComfyUI's user folder, unless the user set NUMBA_CACHE_DIR or pymatting is already
    imported (by another pack, which paid the compile)."""
    if "NUMBA_CACHE_DIR" in os.environ or "pymatting" in sys.modules:
        return
    spec = importlib.util.find_spec("pymatting")
    if spec is None or spec.origin is None or _writable(Path(spec.origin).parent / "util" / "__pycache__"):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(comfy_adapter.user_dir() / "maskforge" / "numba-cache")
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba, imported by another pack, read its settings then
        config.reload_config()
    log.info("RemoveBGMask: pymatting's folder is read-only; numba caches its compiled code in %s",
             os.environ["NUMBA_CACHE_DIR"])


def _writable(folder: Path) -> bool:
    """Whether numba can cache in ``folder`` (it makes the folder and writes a file there)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def disable_telemetry() -> None:
    """ONNX Runtime sends telemetry unless ORT_DISABLE_TELEMETRY=1 is set before it is imported;
    MaskForge sets it when the pack loads, unless the user set it. Where another pack imported ONNX
    Runtime first, that is too late: its non-essential events are switched off, and the log says
    how to stop the rest."""
    if "ORT_DISABLE_TELEMETRY" in os.environ:
        return
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    ort = sys.modules.get("onnxruntime")
    if ort is not None:
        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()
        log.warning("MaskForge: ONNX Runtime was imported before MaskForge loaded (by another custom node pack), so "
                    "its telemetry stays on in this ComfyUI session; start ComfyUI with ORT_DISABLE_TELEMETRY=1 to "
                    "switch it off")


@functools.cache  # once per process
def _warn_two_runtimes() -> None:
    names = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-silicon")
    installed = [n for n in names if _installed(n)]
    if len(installed) > 1:
        log.warning("RemoveBGMask: %s are installed together and overwrite each other's files; uninstall them all "
                    "and install one (onnxruntime-gpu for NVIDIA GPUs).", " and ".join(installed))


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def session_name(model: str, family: str) -> str:
    """rembg's session for ``model``: a registry model's own (its file is ``<session>.onnx``), else
    the one for the family the user picked."""
    spec = REGISTRY.get(model)
    if spec is not None and spec.family == "rembg":
        return Path(model).stem
    return CUSTOM_FAMILIES[family]


def providers(ort, force_cpu: bool = False, device_index: int = 0) -> list:
    """The first available accelerator (on GPU ``device_index``), then the CPU."""
    available = ort.get_available_providers()
    chosen: list = [] if force_cpu else [p for p in _ACCELERATORS if p in available][:1]
    if chosen and chosen[0] in ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider"):
        chosen[0] = (chosen[0], {"device_id": device_index})
    return chosen + [_CPU]


def open_session(node: str, libs: Libraries, path: Path, name: str, wanted: list):
    """rembg's session class ``name`` around an ONNX Runtime session on ``path``."""
    if path.is_dir():
        raise MaskForgeError(node, f"{path} is a folder; pick an .onnx file", "model")
    options = libs.ort.SessionOptions()
    # Idle ONNX Runtime threads otherwise spin after each run and slow the torch work that follows in the graph.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        inner = libs.ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:  # ONNX Runtime raises its own types for unreadable or invalid files
        detail = f"not a model ONNX Runtime can open: {files.summary(exc)}"
        raise MaskForgeError(node, str(files.damaged(path, detail)), "model") from None
    if name not in libs.sessions:
        raise MaskForgeError(node, f"the installed rembg has no '{name}' model type; `pip install -U rembg`.", "model")
    session_class = libs.sessions[name]
    # BaseSession.__init__ would resolve (and maybe download) the file itself; predict() needs only these two.
    session = session_class.__new__(session_class)
    session.model_name = name
    session.inner_session = inner
    active = inner.get_providers()[0]
    requested = wanted[0][0] if isinstance(wanted[0], tuple) else wanted[0]
    if active != requested:
        log.warning("RemoveBGMask: %s could not use %s (see ONNX Runtime's message above); it runs on %s",
                    path.name, requested, active)
    else:
        log.info("RemoveBGMask: %s runs on %s", path.name, active)
    return session


_current_key: dict[tuple, str] = {}  # (path, session, providers) → cache key of the file's last version


def session(node: str, libs: Libraries, path: Path, name: str, force_cpu: bool = False, device_index: int = 0):
    """The cached session for ``path``; a file replaced on disk (new size or time) is opened again."""
    wanted = providers(libs.ort, force_cpu, device_index)
    stat = path.stat()
    identity = (str(path), name, repr(wanted))
    key = f"rembg|{'|'.join(identity)}|{stat.st_size}|{stat.st_mtime_ns}"
    if _current_key.get(identity, key) != key:
        management.forget(_current_key[identity])
    _current_key[identity] = key
    # A session is not a torch module: the manager only caches it; ONNX Runtime holds its own memory.
    return management.get_model(key, lambda: open_session(node, libs, path, name, wanted), device="cpu").extra


def predict_alpha(libs: Libraries, sess, rgb: np.ndarray, *, post_process: bool = False, alpha_matting: bool = False,
                  foreground_threshold: int = 240, background_threshold: int = 10,
                  erode_size: int = 10) -> tuple[np.ndarray, np.ndarray | None]:
    """The subject's alpha (uint8 ``H×W``) for one ``H×W×3`` uint8 image, as rembg's ``remove()``
    computes it, and with alpha matting the matted foreground colours (uint8 ``H×W×3``), else None."""
    from PIL import Image

    image = Image.fromarray(rgb)
    # rembg stretches each prediction to 0..1 by its min and max; a flat one is 0/0 and becomes 0 (nothing found).
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            mask = sess.predict(image)[0]
        except libs.ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            raise WrongInput(files.summary(exc)) from None
    if post_process:
        mask = Image.fromarray(libs.bg.post_process(np.asarray(mask)))
    if alpha_matting:
        try:
            rgba = np.asarray(libs.bg.alpha_matting_cutout(image, mask, foreground_threshold, background_threshold,
                                                            erode_size))
            return rgba[..., 3], rgba[..., :3]
        except ValueError:
            log.warning("RemoveBGMask: alpha matting found no solution for this image; using the plain mask")
            # remove() then cuts out with the edge colours freed of the background (older rembg: the plain image).
            decontaminate = getattr(libs.bg, "decontaminate_cutout", None)
            if decontaminate is not None and max(rgb.shape[:2]) > 1:  # pymatting divides by zero on one pixel
                return np.asarray(mask), np.asarray(decontaminate(image, mask))[..., :3]
    return np.asarray(mask), None


disable_telemetry()
