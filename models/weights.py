"""Where model weights are: ComfyUI's model folders, the Hugging Face cache, or a download.

Resolution order for a registry model: a copy already in one of ComfyUI's folders for its kind
(used as it is, even when its checksum differs) → the Hugging Face hub cache (local files only)
→ a download into the default folder (``download.fetch``: proxies, deadlines, Cancel, and the
length, checksum and format checked before the file is renamed into place; an existing file is
never overwritten). Hub models (transformers) are a directory ``<folder>/<name>/``;
single-file models (Meta ``.pth``, rembg ``.onnx``) are ``<folder>/<name>``. Hub files are
fetched by repo and pinned revision, safetensors only.

Offline (``HF_HUB_OFFLINE=1`` or no route to the host) nothing waits on the network for more
than ``download.CONNECT_TIMEOUT``: the error names each missing file, its size and the folder to put it in.
Nothing here opens a connection unless a file is missing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import urllib.parse
from pathlib import Path

from .. import comfy_adapter
from ..errors import MaskForgeError
from . import download
from .download import ALGORITHM_NAMES
from .registry import REGISTRY, ModelFile, ModelSpec, specs

log = logging.getLogger(__name__)

# ComfyUI model sub-folders; each is also the folder "kind" registered with ComfyUI. The first
# four are shared with other packs; "maskforge" holds everything else (SegFormer, Mask2Former).
FOLDERS = ("sams", "sam2", "grounding-dino", "rembg", "maskforge")

# Where each backend family's own files go, for families with no registry row yet.
FAMILY_FOLDERS = {
    "segformer": "maskforge", "mask2former": "maskforge", "grounding-dino": "grounding-dino",
    "sam": "sams", "sam2": "sam2", "rembg": "rembg",
}

# Single files a dropdown lists. Pickles from the hub are refused, but a user's own Meta .pth
# is listed: loaders read those with torch.load(weights_only=True).
MODEL_EXTENSIONS = (".safetensors", ".pth", ".pt", ".onnx")
_PICKLE_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

_CHUNK = 1 << 20

def disable_telemetry() -> None:
    """Turns off Hugging Face telemetry (huggingface_hub and transformers) unless the user chose otherwise."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    constants = sys.modules.get("huggingface_hub.constants")  # already imported by ComfyUI or another pack
    if constants is not None and os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1":
        constants.HF_HUB_DISABLE_TELEMETRY = True


def register_folders() -> None:
    """Adds ``models/<folder>`` to ComfyUI's search paths for each folder, keeping existing entries."""
    for folder in FOLDERS:
        comfy_adapter.add_model_folder(folder, folder)


# --- dropdowns ---


def choices(*families: str, extensions: tuple[str, ...] = MODEL_EXTENSIONS) -> list[str]:
    """Dropdown entries: the registry names of ``families`` (in registry order, so each section's
    default comes first), then models already installed in their folders under other names —
    hub-format directories (holding ``config.json``) and files ending in ``extensions``."""
    rows = [s for family in families for s in specs(family)]
    names = [s.name for s in rows]
    folders = dict.fromkeys([s.folder for s in rows] + [FAMILY_FOLDERS[f] for f in families if f in FAMILY_FOLDERS])
    installed = sorted({entry for folder in folders for entry in _installed(folder, extensions)} - set(names))
    return names + installed


def _installed(folder: str, extensions: tuple[str, ...]) -> list[str]:
    found = []
    for base in comfy_adapter.model_folders(folder, folder):
        if not base.is_dir():
            continue
        for root, dirs, files in os.walk(base, followlinks=True):
            root_path = Path(root)
            rel = root_path.relative_to(base)
            if rel != Path(".") and (root_path / "config.json").is_file():
                found.append(rel.as_posix())  # a hub-format model: list the directory, not its files
                dirs.clear()
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [(rel / f).as_posix() for f in files if not f.startswith(".") and f.lower().endswith(extensions)]
    return found


# --- resolution ---


def resolve(node: str, name: str, extensions: tuple[str, ...] = MODEL_EXTENSIONS, *,
            folders: tuple[str, ...] = FOLDERS, input_name: str = "model") -> Path:
    """The model ``name`` on disk, ready to load: a directory for hub-format models, else a file.

    A registry name is found in ComfyUI's folders, the hub cache, or downloaded. Any other name is
    the user's own file or directory in ``folders`` (a file must end in one of ``extensions``).
    Raises MaskForgeError (naming ``node`` and ``input_name``) when it cannot be had.
    """
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise MaskForgeError(node, f"'{name}' is not a model name; pick one from the list", input_name)
    spec = REGISTRY.get(name)
    if spec is None:
        return _user_model(node, name, extensions, folders, input_name)
    _refuse_hub_pickles(spec)
    location, missing = _find_local(spec)
    if not missing:
        _verify_placed(spec, location)
        return location
    cached = _hub_cache(spec)
    if cached is not None:
        return cached
    _download(node, spec, location, missing, input_name)
    return location


def _user_model(node: str, name: str, extensions, folders, input_name: str) -> Path:
    searched = []
    for folder in folders:
        for base in comfy_adapter.model_folders(folder, folder):
            path = base / name
            searched.append(str(base))
            if path.is_dir() or (path.is_file() and path.name.lower().endswith(extensions)):
                return path
    where = "\n  ".join(dict.fromkeys(searched))
    raise MaskForgeError(
        node,
        f"'{name}' is not a model MaskForge knows and is not in any of its model folders:\n  {where}\n"
        "Pick a model from the list, or place the file there and refresh the page.",
        input_name,
    )


def _refuse_hub_pickles(spec: ModelSpec) -> None:
    for f in spec.files:
        if f.url is None and f.path.lower().endswith(_PICKLE_EXTENSIONS):
            raise ValueError(f"registry row {spec.name}: hub file {f.path} is a pickle; list its safetensors file")


def _location(spec: ModelSpec, base: Path) -> Path:
    return base / spec.name


def _file_path(spec: ModelSpec, base: Path, f: ModelFile) -> Path:
    """A hub model's files sit in its directory; a single-file model's one file is ``<base>/<name>``."""
    return base / spec.name if _single_file(spec) else base / spec.name / f.path


def _single_file(spec: ModelSpec) -> bool:
    return len(spec.files) == 1 and spec.files[0].path == spec.name


def _find_local(spec: ModelSpec) -> tuple[Path, list[ModelFile]]:
    """The first folder holding the model completely (nothing missing), else the first holding part
    of it (its missing files are added there), else the default folder (everything missing)."""
    bases = comfy_adapter.model_folders(spec.folder, spec.folder)
    partial = None
    for base in bases:
        missing = [f for f in spec.files if not _file_path(spec, base, f).exists()]
        if not missing:
            return _location(spec, base), []
        if partial is None and len(missing) < len(spec.files):
            partial = (_location(spec, base), missing)
    return partial or (_location(spec, bases[0]), list(spec.files))


_verified: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime) → checksum matched; one hash per process


def _verify_placed(spec: ModelSpec, location: Path) -> None:
    """Warns (once per file and process) where a hand-placed file's checksum differs; it is still used."""
    for f in spec.files:
        check = _checksum(f)
        if check is None:
            continue
        path = location if _single_file(spec) else location / f.path
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _verified:
            _verified[key] = _digest(path, check[0]) == check[1]
            if not _verified[key]:
                log.warning("MaskForge: %s does not match the %s of %s (%s); using it as it is",
                            path, ALGORITHM_NAMES[check[0]], spec.name, _source(spec, f))


def _checksum(f: ModelFile) -> tuple[str, str] | None:
    """(hashlib algorithm, expected hex digest): SHA-256 where published, else MD5, else None."""
    if f.sha256:
        return "sha256", f.sha256.lower()
    if f.md5:
        return "md5", f.md5.lower()
    return None


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_cache(spec: ModelSpec) -> Path | None:
    """The model's snapshot directory in the Hugging Face cache when every file is there (no network)."""
    if spec.repo is None or _single_file(spec) or any(f.url for f in spec.files):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    roots = set()
    for f in spec.files:
        cached = try_to_load_from_cache(spec.repo, f.path, revision=spec.revision)
        if not isinstance(cached, str):
            return None
        root = Path(cached)
        for _ in Path(f.path).parts:
            root = root.parent
        roots.add(root)
    return roots.pop() if len(roots) == 1 else None


# --- download ---


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT.rstrip("/")
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _source(spec: ModelSpec, f: ModelFile) -> str:
    if f.url:
        return f.url
    revision = urllib.parse.quote(spec.revision or "main", safe="")  # "refs/pr/2" → "refs%2Fpr%2F2", as the hub wants
    return f"{_hub_endpoint()}/{spec.repo}/resolve/{revision}/{f.path}"


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def missing_message(spec: ModelSpec, location: Path, missing: list[ModelFile], reason: str) -> str:
    """The text of the offline error: each missing file with its size and source, and where it goes."""
    target = location.parent if _single_file(spec) else location
    lines = [f"model '{spec.name}' is not installed and cannot be downloaded ({reason}).",
             f"Place {'this file' if len(missing) == 1 else 'these files'} in {target}{os.sep}:"]
    lines += [f"  {Path(f.path).name if _single_file(spec) else f.path} ({_size(f.size)}) from {_source(spec, f)}"
              for f in missing]
    return "\n".join(lines)


def _download(node: str, spec: ModelSpec, location: Path, missing: list[ModelFile], input_name: str) -> None:
    if offline():
        raise MaskForgeError(node, missing_message(spec, location, missing, "HF_HUB_OFFLINE is set"), input_name)
    base = location.parent
    for f in missing:
        target = _file_path(spec, base, f)
        token = _hf_token() if f.url is None else None  # gated hub repos; never for other hosts
        try:
            if download.fetch(_source(spec, f), target, checksum=_checksum(f), size=f.size, token=token):
                stat = target.stat()  # checked while streaming: no second hash on the next run
                _verified[(str(target), stat.st_size, stat.st_mtime_ns)] = True
        except (OSError, ValueError) as exc:
            reason = str(exc) if str(exc).startswith("cannot reach") else f"download of {f.path} failed: {exc}"
            still = [m for m in missing if not _file_path(spec, base, m).exists()]
            raise MaskForgeError(node, missing_message(spec, location, still, reason), input_name) from exc
    log.info("MaskForge: %s downloaded to %s", spec.name, location)


def _hf_token() -> str | None:
    try:
        from huggingface_hub import get_token
    except ImportError:
        return os.environ.get("HF_TOKEN")
    return get_token()


disable_telemetry()
