"""Files for the batch command: folders on any filesystem Ray Data reads (local paths, ``s3://``, ``gs://``,
``hdfs://`` through pyarrow), images decoded as ComfyUI's Load Image decodes them, PNGs, and writes that
are never seen half-done."""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import uuid

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
PNG_COMPRESSION = 4  # masks: near-smallest, much faster than 9 (as the remote nodes' uploads)
PHOTO_COMPRESSION = 1  # photographic pixels (cut-outs): half the time of 4 for about 15% more bytes


class Storage:
    """A folder on a filesystem, addressed by names relative to it (``a/b.png``, always with ``/``)."""

    def __init__(self, location: str):
        import pyarrow.fs as pafs

        if "://" not in location:
            location = os.path.abspath(os.path.expanduser(location))
        self.location = location.rstrip("/") or "/"
        self.fs, root = pafs.FileSystem.from_uri(self.location)
        self.root = root.rstrip("/")
        # Object stores write an object whole or not at all; a local file is written beside and renamed.
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"Storage({self.location!r})"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    def uri(self, name: str) -> str:
        return f"{self.location}/{name}"

    def contains(self, other: "Storage") -> bool:
        """Whether ``other`` is this folder or lies inside it."""
        return type(self.fs) is type(other.fs) and (other.root + "/").startswith(self.root + "/")

    def files(self, under: str = "") -> list[str]:
        """Every file below ``under`` (recursively), by relative name; none when there is no such folder."""
        import pyarrow.fs as pafs

        base = self.path(under)
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        return [posixpath.relpath(info.path, self.root) for info in self.fs.get_file_info(selector)
                if info.type == pafs.FileType.File]

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """The file's bytes; a ValueError when it is larger than ``max_bytes``."""
        with self.fs.open_input_file(self.path(name)) as stream:
            if max_bytes is not None and stream.size() > max_bytes:
                size, limit = stream.size() / 1e6, max_bytes / 1e6
                raise ValueError(f"the file is {size:.0f} MB, over the limit of {limit:.0f} MB")
            return stream.read()

    def read_text(self, name: str) -> str | None:
        """The file's text, or None when it does not exist."""
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self.path(name)).type != pafs.FileType.File:
            return None
        return self.read(name).decode("utf-8")

    def write(self, name: str, data: bytes) -> None:
        """Writes ``data`` as ``name`` so that no reader (or a rerun after a crash) ever sees part of it:
        locally through a temporary file beside it, renamed into place; an object store's put is whole."""
        target = self.path(name)
        if not self.local:
            with self.fs.open_output_stream(target) as stream:
                stream.write(data)
            return
        self.fs.create_dir(posixpath.dirname(target), recursive=True)
        temp = posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.{uuid.uuid4().hex[:8]}.part")
        try:
            with self.fs.open_output_stream(temp) as stream:
                stream.write(data)
            self.fs.move(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.delete_file(temp)
            raise

    def delete(self, name: str) -> None:
        self.fs.delete_file(self.path(name))

    def prune(self, name: str) -> None:
        """Removes the folder ``name`` if it is empty (a local one: an object store has no folders to leave)."""
        if self.local:
            with contextlib.suppress(OSError):
                os.rmdir(self.path(name))


def is_temporary(name: str) -> bool:
    """A write's temporary file, left behind when a run was killed mid-write."""
    base = posixpath.basename(name)
    return base.startswith(".") and base.endswith(".part")


def list_images(storage: Storage, extensions=IMAGE_EXTENSIONS, skip: Storage | None = None) -> list[str]:
    """The image files below ``storage`` (relative names, sorted), hidden files and folders and anything
    inside ``skip`` (the output folder, when it lies in the input) left out."""
    prefix = None
    if skip is not None and storage.contains(skip):
        if skip.root == storage.root:
            raise ValueError("the output folder is the input folder; write the results to another folder")
        prefix = posixpath.relpath(skip.root, storage.root) + "/"
    images = []
    for name in storage.files():
        if prefix is not None and (name + "/").startswith(prefix):
            continue
        if any(part.startswith(".") for part in name.split("/")) or not name.lower().endswith(extensions):
            continue
        images.append(name)
    return sorted(images)


def list_file(text: str) -> tuple[str, list[str]]:
    """The folder that holds every path or URI of a list (one per line; blank lines and ``#`` comments
    skipped), and their names relative to it."""
    entries = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not entries:
        raise ValueError("the list names no files")
    split = []
    for entry in entries:
        scheme, sep, rest = entry.partition("://")
        split.append((scheme + sep, rest) if sep else ("", os.path.abspath(os.path.expanduser(entry))))
    schemes = {scheme for scheme, _ in split}
    if len(schemes) > 1:
        raise ValueError(f"the list mixes filesystems ({', '.join(sorted(s or 'local' for s in schemes))}); "
                         "list the files of one filesystem")
    scheme = schemes.pop()
    root = posixpath.commonpath([posixpath.dirname(rest) for _, rest in split])
    names = [posixpath.relpath(rest, root) for _, rest in split]
    return scheme + root, names


def output_names(names: list[str]) -> dict[str, str]:
    """Each input's output name: its relative name with ``.png`` for its extension; two inputs that
    would meet (``a.jpg`` and ``a.png``) keep their extension before ``.png`` instead."""
    stems = {}
    for name in names:
        stem = posixpath.splitext(name)[0]
        stems.setdefault(stem.lower(), []).append(name)
    out = {}
    for stem_names in stems.values():
        for name in stem_names:
            out[name] = (posixpath.splitext(name)[0] if len(stem_names) == 1 else name) + ".png"
    return out


def decode(data: bytes, mode: str = "RGB") -> np.ndarray:
    """An image file's first frame as uint8 ``H×W×3`` (``RGB``) or ``H×W×4`` (``RGBA``), turned upright by
    its EXIF orientation and with 32-bit integer pixels scaled by 1/255, as ComfyUI's Load Image reads it.
    Raises ValueError for data that is not a readable image."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode == "I":
                image = image.point(lambda v: v * (1 / 255))
            return np.array(image.convert(mode))
    except Exception as exc:  # PIL raises many types for damaged files (OSError, SyntaxError, EOFError, …)
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def png(pixels: np.ndarray, compression: int = PNG_COMPRESSION) -> bytes:
    """uint8 pixels (``H×W`` grey, ``H×W×3`` RGB or ``H×W×4`` RGBA) as PNG bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=compression)
    return out.getvalue()
