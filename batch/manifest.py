"""The manifest: one JSON line per image (status, mask coverage, what was found, files, node, model,
parameters), in ``manifest.jsonl`` under the output folder.

Records reach the driver as images finish. Every ``FLUSH_SECONDS`` the new ones are written as one
journal chunk (``.journal/<run>-<n>.jsonl``, each written whole), so a crash loses only the last
seconds of records (and those images are done again). When a run ends, finished or interrupted, the
manifest and every chunk are folded into ``manifest.jsonl`` (the latest record of each image, written
whole) and the chunks removed. An image's record is made only after all of its files are in place, so
an 'ok' record names complete files.
"""

from __future__ import annotations

import json
import time

from .files import Storage, is_temporary

MANIFEST = "manifest.jsonl"
JOURNAL = ".journal"
FLUSH_SECONDS = 2.0


class Manifest:
    def __init__(self, storage: Storage, run: str):
        self.storage = storage
        self.run = run
        self.lines: dict[str, str] = {}  # image name → its latest record, as written
        self._chunks: list[str] = []  # journal chunks read or written, removed once folded
        self._pending: list[str] = []
        self._written = 0
        self._flushed = time.monotonic()

    def load(self) -> None:
        """Reads the manifest and, after it, the journal chunks of earlier runs that did not end cleanly."""
        self._take(self.storage.read_text(MANIFEST) or "")
        for chunk in sorted(self.storage.files(JOURNAL)):
            if chunk.endswith(".jsonl") and not is_temporary(chunk):
                self._chunks.append(chunk)
                self._take(self.storage.read(chunk).decode("utf-8"))

    def _take(self, text: str) -> None:
        for line in text.splitlines():
            try:
                self.lines[json.loads(line)["name"]] = line
            except (ValueError, KeyError, TypeError):
                continue  # not a record (a line cut short when a file was edited by hand)

    def records(self):
        """(name, record) for every image with a record."""
        for name, line in self.lines.items():
            yield name, json.loads(line)

    def add(self, name: str, line: str) -> None:
        self.lines[name] = line
        self._pending.append(line)
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Writes the records not yet written as one journal chunk."""
        if self._pending:
            chunk = f"{JOURNAL}/{self.run}-{self._written:06d}.jsonl"
            self.storage.write(chunk, "".join(line + "\n" for line in self._pending).encode("utf-8"))
            self._chunks.append(chunk)
            self._written += 1
            self._pending = []
        self._flushed = time.monotonic()

    def fold(self) -> None:
        """Writes ``manifest.jsonl`` (every image's latest record, by name) and removes the journal chunks."""
        self.flush()
        text = "".join(self.lines[name] + "\n" for name in sorted(self.lines))
        self.storage.write(MANIFEST, text.encode("utf-8"))
        for chunk in self._chunks:
            self.storage.delete(chunk)
        self._chunks = []
        self.storage.prune(JOURNAL)
