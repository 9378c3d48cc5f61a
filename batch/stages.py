"""The pipeline's stages, run in Ray workers (see pipeline.py): reading, masking, writing.

Each takes a batch (a dict of equal-length numpy columns, one row per image) and returns one. An
image's failure (unreadable file, a model error, a write that fails) stays in its row's ``error``; the
other images go on. Only the actor imports torch and the models: a worker that reads or writes
imports neither.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from ..errors import MaskForgeError
from . import files

OUTPUT_FOLDERS = {"mask": "masks", "cutout": "cutouts", "blue_mask": "blue_masks"}


def describe(exc: BaseException) -> str:
    """An image's failure as one line for the manifest."""
    if isinstance(exc, (MaskForgeError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _objects(items: list) -> np.ndarray:
    """A column of arrays of differing shapes (Ray Data keeps it as a variable-shaped tensor column)."""
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return column


def read_images(batch: dict, storage: files.Storage, mode: str, max_bytes: int) -> dict:
    """Adds ``image`` (uint8, H×W×channels) and ``error`` ('' when read) to a batch of ``name`` rows."""
    images, errors = [], []
    empty = np.zeros((0, 0, len(mode)), np.uint8)
    for name in batch["name"]:
        try:
            images.append(files.decode(storage.read(name, max_bytes), mode))
            errors.append("")
        except Exception as exc:  # one bad file is that image's failure, never the run's
            images.append(empty)
            errors.append(describe(exc))
    return {**batch, "image": _objects(images), "error": np.array(errors, dtype=object)}


class MaskActor:
    """One replica of the node's model: built once, then a batch of images at a time."""

    def __init__(self, node: str, params: dict, cutout: str | None, blue_threshold: float | None, models_dir: str,
                 threads: int | None):
        import torch

        from .tasks import TASKS

        os.environ["MASKFORGE_MODELS_DIR"] = models_dir
        os.environ["HF_HUB_OFFLINE"] = "1"  # the driver fetched the weights: replicas never download
        if threads:
            torch.set_num_threads(threads)
        self.cutout, self.blue_threshold = cutout, blue_threshold
        self.task = TASKS[node](params)
        self.task.load()

    def __call__(self, batch: dict) -> dict:
        import torch

        from .tasks import render

        out = {key: [] for key in ("mask", "cutout", "blue_mask", "width", "height", "coverage", "found", "seconds")}
        errors = list(batch["error"])
        for i, image in enumerate(batch["image"]):
            pixels, found, coverage, seconds = {}, {}, 0.0, 0.0
            if not errors[i]:
                start = time.perf_counter()
                try:
                    result = self.task(torch.from_numpy(np.array(image)).float() / 255.0)
                    pixels = render(result, self.cutout, self.blue_threshold)
                    found, coverage = result.found, float(result.mask.float().mean())
                except Exception as exc:  # an image the model cannot take fails alone
                    errors[i] = describe(exc)
                seconds = time.perf_counter() - start
            for kind, channels in (("mask", ()), ("cutout", (4 if self.cutout == "transparent" else 3,)),
                                   ("blue_mask", (3,))):
                out[kind].append(pixels.get(kind, np.zeros((0, 0, *channels), np.uint8)))
            out["width"].append(image.shape[1])
            out["height"].append(image.shape[0])
            out["coverage"].append(coverage)
            out["found"].append(json.dumps(found))
            out["seconds"].append(seconds)
        keep = {k: v for k, v in batch.items() if k != "image"}
        columns = {k: _objects(v) if k in ("mask", "cutout", "blue_mask") else np.array(v) for k, v in out.items()}
        return {**keep, **columns, "error": np.array(errors, dtype=object)}


def write_results(batch: dict, storage: files.Storage, kinds: tuple[str, ...], common: dict) -> dict:
    """Writes each image's files, then makes its record (``common`` holds what all records share)."""
    records, statuses = [], []
    for i, name in enumerate(batch["name"]):
        error = batch["error"][i]
        written = {}
        if not error:
            try:
                for kind in kinds:
                    target = f"{OUTPUT_FOLDERS[kind]}/{batch['key'][i]}"
                    level = files.PHOTO_COMPRESSION if kind == "cutout" else files.PNG_COMPRESSION
                    storage.write(target, files.png(np.asarray(batch[kind][i]), level))
                    written[kind] = target
            except Exception as exc:  # a write that fails is that image's failure
                error = describe(exc)
        status = "failed" if error else "ok"
        record = {"name": str(name), "input": str(batch["input"][i]), "status": status, "error": error or None,
                  "width": int(batch["width"][i]), "height": int(batch["height"][i]),
                  "coverage": round(float(batch["coverage"][i]), 6) if not error else None,
                  "found": json.loads(batch["found"][i]) if not error else None,
                  "files": written, "seconds": round(float(batch["seconds"][i]), 4), **common,
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        records.append(json.dumps(record))
        statuses.append(status)
    return {"name": batch["name"], "status": np.array(statuses, dtype=object),
            "record": np.array(records, dtype=object)}
