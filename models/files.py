"""Is a model file what it claims to be? Format checks for downloads and loaders.

A download is checked here before it is renamed into place, and a loader checks the files it
reads, so a truncated, foreign or wrong-kind file gives a BadModelFile that names the file and
what to do, instead of a library's raw error (or, worse, a model with random weights).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..errors import MaskForgeError

_HTML = (b"<!doctype html", b"<html", b"<head", b"<?xml")
_PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# torch.save's format before 1.6 (not a zip): a pickle of this magic number comes first.
_LEGACY_TORCH = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")
_REPLACE = "delete it (a model from the list is then downloaded again) or replace it with a complete copy"


class BadModelFile(ValueError):
    """A model file that cannot be used; the message names it and says what to do."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message  # what is wrong, without the file's name or advice


def load_as(node: str, input_name: str, load, path):
    """``load(path)``, a bad model file reported as a MaskForgeError on the node's ``input_name``."""
    try:
        return load(path)
    except BadModelFile as exc:
        raise MaskForgeError(node, str(exc), input_name) from None


def summary(exc: BaseException) -> str:
    """A library error in one line, for a message that names the file and says what to do."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def damaged(path: Path, detail: str) -> BadModelFile:
    return BadModelFile(f"{path} is damaged, incomplete or not the right kind of file ({detail}); {_REPLACE}", detail)


def check_file(path: Path, name: str | None = None) -> None:
    """Raises BadModelFile unless ``path`` parses as what its name (``name``, else its own) says it is:
    safetensors (header and length), JSON (an object), ONNX (a whole model message), a torch
    checkpoint (zip or the legacy format). Any file that is a web page is refused."""
    name = (name or path.name).lower()
    if path.is_dir():
        raise BadModelFile(f"{path} is a folder where a file is expected; {_REPLACE}")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.lstrip().lower().startswith(_HTML):
        raise damaged(path, "it is a web page, e.g. a login or error page saved instead of the file")
    if name.endswith(".safetensors"):
        _check_safetensors(path)
    elif name.endswith(".json"):
        read_json(path)
    elif name.endswith(".onnx"):
        _check_onnx(path)
    elif name.endswith((".pth", ".pt")):
        if not (zipfile.is_zipfile(path) or head.startswith(_LEGACY_TORCH)):
            raise damaged(path, "not a PyTorch checkpoint: no zip directory at its end")
    elif name.endswith(".txt") and b"\0" in head:
        raise damaged(path, "binary data in a text file")


def read_json(path: Path) -> dict:
    """The JSON object in ``path``, or BadModelFile."""
    if path.is_dir():
        raise BadModelFile(f"{path} is a folder where a file is expected; {_REPLACE}")
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise damaged(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise damaged(path, "its JSON is not an object")
    return data


def _check_safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:  # reads the header and checks that its tensors exactly cover the file
        with safe_open(str(path), framework="numpy"):
            pass
    except (SafetensorError, OSError) as exc:
        raise damaged(path, str(exc)) from None


def _varint(fh) -> int | None:
    value, shift = 0, 0
    while byte := fh.read(1):
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            break
    return None


def _check_onnx(path: Path) -> None:
    """Walks the top-level fields of the ONNX ModelProto (protobuf): each must be well formed and end
    within the file, the last exactly at its end, and the graph (field 7) must be there. Reads only
    the field keys, so a 1 GB model costs a few reads."""
    size = path.stat().st_size
    fields = set()
    with open(path, "rb") as fh:
        while fh.tell() < size:
            key = _varint(fh)
            if key is None or key >> 3 == 0:
                raise damaged(path, "not an ONNX model")
            kind = key & 7
            if kind == 0:
                ok = _varint(fh) is not None
            elif kind in (1, 5):
                ok = len(fh.read(8 if kind == 1 else 4)) == (8 if kind == 1 else 4)
            elif kind == 2:
                length = _varint(fh)
                ok = length is not None and fh.tell() + length <= size
                if ok:
                    fh.seek(length, 1)
            else:  # groups (3, 4) are not used by ONNX; 6 and 7 do not exist
                ok = False
            if not ok:
                raise damaged(path, "not an ONNX model, or cut short")
            fields.add(key >> 3)
    if 7 not in fields:
        raise damaged(path, "an ONNX file without a graph")


def load_pretrained(model_class, path: Path, model_type: str | None = None, **kwargs):
    """``model_class.from_pretrained`` on the hub-format folder ``path``: local files, safetensors
    only, no remote code. Every JSON file and weight file is checked first, and the config's
    ``model_type`` when given; weights that leave part of the model uninitialised (another model's
    file) or do not fit its config are refused."""
    weights = _weight_files(path)
    for file in sorted(path.glob("*.json")) + weights:
        check_file(file)
    if model_type is not None and (found := read_json(path / "config.json").get("model_type")) != model_type:
        raise BadModelFile(f"{path.name} is a '{found}' model, not a '{model_type}' model; pick another")
    try:
        model, info = model_class.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                                  trust_remote_code=False, output_loading_info=True, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        if "mismatch" in str(exc).lower():
            raise BadModelFile(f"the weights in {weights[0]} do not fit {path / 'config.json'} (tensor sizes differ): "
                               "the two files come from different models; put the matching files in the folder") from None
        raise BadModelFile(f"{path} cannot be loaded ({summary(exc)}); {_REPLACE}") from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        total = len(model.state_dict())
        raise BadModelFile(f"{weights[0]} does not hold this model's weights ({len(missing)} of {total} missing, "
                           f"e.g. {', '.join(missing[:2])}): it belongs to another model; put the weights that go with "
                           f"{path / 'config.json'} there")
    return model


def _weight_files(path: Path) -> list[Path]:
    """The folder's safetensors files, or BadModelFile saying what is there instead."""
    if not path.is_dir():
        raise BadModelFile(f"{path} is a file; a transformers model is a folder holding config.json and "
                           "model.safetensors")
    if not (path / "config.json").exists():
        raise BadModelFile(f"{path} has no config.json; put the model's config.json and model.safetensors there")
    found = sorted(path.glob("*.safetensors"))
    if found:
        return found
    pickles = sorted(p.name for p in path.iterdir() if p.name.lower().endswith(_PICKLES))
    if pickles:
        raise BadModelFile(f"{path} holds only pickle weights ({', '.join(pickles)}), which MaskForge does not load "
                           "(a pickle can run code): put the model's model.safetensors there")
    raise BadModelFile(f"{path} has no model.safetensors; put the model's weights there")
