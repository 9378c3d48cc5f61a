import json

import pytest

from maskforge.batch import manifest
from maskforge.batch.files import Storage

pytest.importorskip("pyarrow", reason="the batch command's storage needs pyarrow (requirements-batch.txt)")


def line(name, status="ok", run="r1"):
    return json.dumps({"name": name, "status": status, "run": run})


def test_records_are_journalled_as_they_come_and_folded_into_one_line_per_image(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "FLUSH_SECONDS", 0.0)  # every record flushed at once
    storage = Storage(str(tmp_path))
    first = manifest.Manifest(storage, "20260101T000000Z-aaaaaa")
    first.add("b.jpg", line("b.jpg", "failed"))
    first.add("a.jpg", line("a.jpg"))
    chunks = sorted(p.name for p in (tmp_path / manifest.JOURNAL).iterdir())
    assert chunks == ["20260101T000000Z-aaaaaa-000000.jsonl", "20260101T000000Z-aaaaaa-000001.jsonl"]
    # The run is killed here: no fold. The next run reads the journal and adds its own records.
    second = manifest.Manifest(storage, "20260101T000100Z-bbbbbb")
    second.load()
    assert dict(second.records()) == {"b.jpg": json.loads(line("b.jpg", "failed")), "a.jpg": json.loads(line("a.jpg"))}
    second.add("b.jpg", line("b.jpg", run="r2"))
    second.fold()
    lines = (tmp_path / manifest.MANIFEST).read_text().splitlines()
    assert lines == [line("a.jpg"), line("b.jpg", run="r2")]  # by name, the latest record of each
    assert not (tmp_path / manifest.JOURNAL).exists()


def test_records_wait_for_the_flush_interval_and_a_cut_short_line_is_ignored(tmp_path):
    storage = Storage(str(tmp_path))
    (tmp_path / manifest.MANIFEST).write_text(line("a.jpg") + "\n" + line("b.jpg")[:20] + "\n")
    records = manifest.Manifest(storage, "run")
    records.load()
    assert list(dict(records.records())) == ["a.jpg"]
    records.add("c.jpg", line("c.jpg"))
    assert not (tmp_path / manifest.JOURNAL).exists()  # within FLUSH_SECONDS of the start
    records.flush()
    assert [p.read_text() for p in (tmp_path / manifest.JOURNAL).iterdir()] == [line("c.jpg") + "\n"]
