"""The batch command end to end on a local Ray (2 CPUs), started once for this module: Ray's start-up is
slow. Outputs are checked against the nodes run in this process on the same files."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import maskforge
from maskforge import ops
from maskforge.batch import cli, files, manifest, pipeline
from maskforge.labels import ADE20K_LABELS
from maskforge.models import segmentation
from tests.tiny_ade_models import SEGFORMER, install

ray = pytest.importorskip("ray", reason="the batch command needs Ray (requirements-batch.txt)")
NODES = maskforge.NODE_CLASS_MAPPINGS


# --- without Ray ---


COMMON = {"node": "GrowInvertMask", "model": None, "params": {"grow": 1}, "cutout": None, "blue_threshold": 0.5}


def record(**changes):
    return {"name": "a.png", "status": "ok", "files": {"mask": "masks/a.png", "blue_mask": "blue_masks/a.png"},
            **COMMON, "run": "earlier", **changes}


def test_an_image_is_done_when_its_record_has_these_settings_and_its_files_are_there():
    present = {"masks/a.png", "blue_masks/a.png"}
    kinds = ("mask", "blue_mask")
    assert pipeline.is_done(record(), COMMON, kinds, present)
    assert pipeline.is_done(record(), COMMON, ("mask",), present)  # more files than asked for
    assert not pipeline.is_done(record(status="failed"), COMMON, kinds, present)
    assert not pipeline.is_done(record(params={"grow": 2}), COMMON, kinds, present)
    assert not pipeline.is_done(record(blue_threshold=0.6), COMMON, kinds, present)
    assert not pipeline.is_done(record(), COMMON, kinds, {"masks/a.png"})  # a file deleted since
    assert not pipeline.is_done(record(files={"mask": "masks/a.png"}), COMMON, kinds, present)


def test_actors_take_one_gpu_each_or_share_the_cpus_leaving_room_for_reading_and_writing():
    job = pipeline.Job(node="LabelMask", params={"force_cpu": False}, output="out")
    gpu_nodes = [{"CPU": 32, "GPU": 4}, {"CPU": 32, "GPU": 4}]
    assert pipeline.resources_plan(job, gpu_nodes) == {"actors": 8, "num_gpus": 1.0, "num_cpus": 1, "threads": None}
    job.gpus_per_actor = 0.5
    assert pipeline.resources_plan(job, gpu_nodes)["actors"] == 16
    job.params["force_cpu"] = True
    assert pipeline.resources_plan(job, [{"CPU": 2, "GPU": 1}]) == {"actors": 1, "num_gpus": 0, "num_cpus": 1.5,
                                                                    "threads": 2}
    job.actors = 2
    assert pipeline.resources_plan(job, [{"CPU": 2}]) == {"actors": 2, "num_gpus": 0, "num_cpus": 0.75, "threads": 1}
    job.actors = None  # a CPU cluster: one actor per node, each fitting its node
    assert pipeline.resources_plan(job, [{"CPU": 16}] * 3) == {"actors": 3, "num_gpus": 0, "num_cpus": 15.5,
                                                               "threads": 16}
    job.actors = 1
    assert pipeline.resources_plan(job, [{"CPU": 16}] * 3)["num_cpus"] == 15.5


def test_a_local_ray_keeps_idle_workers_for_every_read_and_write_task(monkeypatch):
    """Ray's default keeps one idle worker per CPU; beyond that each short task started a new worker."""
    calls = []
    monkeypatch.setattr(pipeline, "require_ray", lambda: type("Ray", (), {"init": staticmethod(
        lambda **kwargs: calls.append(kwargs))}))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_num_workers_soft_limit", raising=False)
    pipeline.start_ray(num_cpus=2)
    assert calls[-1]["_system_config"]["num_workers_soft_limit"] >= 2 / pipeline.IO_CPUS + 2
    pipeline.start_ray("ray://head:10001")  # a cluster's own settings are its own
    assert "_system_config" not in calls[-1]
    monkeypatch.setenv("RAY_num_workers_soft_limit", "3")  # nor is a limit the user set
    pipeline.start_ray(num_cpus=2)
    assert "_system_config" not in calls[-1]


def test_ray_workers_import_the_pack_by_path_without_running_its_init():
    hook = pipeline._pack_loader("maskforge_in_a_worker", str(pipeline.PACK_DIR))
    try:
        hook()
        import maskforge_in_a_worker.batch.files as worker_files

        assert worker_files.__file__ == files.__file__
        assert not hasattr(__import__("maskforge_in_a_worker"), "NODE_CLASS_MAPPINGS")  # nodes not imported
    finally:
        for key in [k for k in list(__import__("sys").modules) if k.startswith("maskforge_in_a_worker")]:
            del __import__("sys").modules[key]
    with pytest.raises(RuntimeError, match="every Ray node needs the pack at the same path"):
        pipeline._pack_loader("maskforge_elsewhere", "/nowhere/MaskForge")()


# --- on Ray ---


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine only: 2 CPUs, no dashboard, no usage statistics, its files in a folder of its own."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        pipeline.start_ray(num_cpus=2, object_store_memory=128 << 20, _node_ip_address="127.0.0.1", _temp_dir=temp)
        try:
            yield
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
    assert not _processes_mentioning(temp), "Ray processes left running"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended meanwhile
            continue
    return found


def photo(seed: int, height: int = 40, width: int = 56) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    return np.clip(blocks + rng.normal(0, 20, blocks.shape), 0, 255).astype(np.uint8)


def loaded(path: Path, mode: str = "RGB") -> torch.Tensor:
    return torch.from_numpy(files.decode(path.read_bytes(), mode)).float() / 255.0


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def manifest_records(out: Path) -> dict:
    return {r["name"]: r for r in map(json.loads, (out / manifest.MANIFEST).read_text().splitlines())}


def test_a_folder_is_masked_as_the_node_masks_each_image_and_a_rerun_skips_everything(local_ray, models_dir,
                                                                                       tmp_path, capsys):
    install(models_dir, SEGFORMER)
    folder, out = tmp_path / "photos", tmp_path / "out"
    names = ["p0.jpg", "living/p1.jpg", "living/p2.png", "p3.webp"]
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(i)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    module, pre = segmentation.load("LabelMask", models_dir / "maskforge" / SEGFORMER)
    counts = segmentation.segment(module, pre, loaded(folder / names[0]), 64).flatten().bincount(minlength=150)
    labels = "|".join(ADE20K_LABELS[i] for i in counts.argsort(descending=True)[:2].tolist())  # labels it finds
    argv = ["LabelMask", "--input", str(folder), "--output", str(out), "--models-dir", str(models_dir),
            "--model", SEGFORMER, "--labels", labels, "--grow", "1", "--resolution", "64", "--force-cpu",
            "--cutouts", "#00FF00", "--blue-masks", "--batch-size", "2"]

    assert cli.main(argv) == 0
    assert "4 images; 4 masked, 0 failed, 0 already done" in capsys.readouterr().out
    records = manifest_records(out)
    assert sorted(records) == sorted(names)
    for name in names:
        image = loaded(folder / name)
        mask = NODES["MaskForgeLabelMask"]().run(image[None], SEGFORMER, labels, "empty mask", 1, False, 64, False,
                                                 True)[0][0]
        stem = Path(name).with_suffix(".png").as_posix()
        assert np.array_equal(png(out / "masks" / stem), ops.to_uint8(mask))
        assert np.array_equal(png(out / "cutouts" / stem), ops.to_uint8(ops.cutout(image, mask, (0.0, 1.0, 0.0))[0]))
        (blue,) = NODES["MaskForgeMaskToBlueMask"]().run(mask[None], 0.5, "blue #7878CD")
        assert np.array_equal(png(out / "blue_masks" / stem), ops.to_uint8(blue[0]))
        r = records[name]
        assert r["status"] == "ok" and r["error"] is None and r["input"] == f"{folder}/{name}"
        assert r["files"] == {"mask": f"masks/{stem}", "cutout": f"cutouts/{stem}", "blue_mask": f"blue_masks/{stem}"}
        assert r["coverage"] == pytest.approx(float(mask.mean()), abs=1e-6) and 0 < r["coverage"] < 1
        assert r["found"]["labels"].keys() == set(labels.split("|")) and (r["width"], r["height"]) == (56, 40)
        assert r["node"] == "LabelMask" and r["model"] == {"model": SEGFORMER}
        assert r["params"] == {"model": SEGFORMER, "labels": labels, "on_missing": "empty mask", "grow": 1,
                               "invert": False, "resolution": 64, "tiled": False, "force_cpu": True}
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}

    assert cli.main(argv) == 0
    assert "4 images; 0 masked, 0 failed, 4 already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == written  # nothing read or written again


def test_unreadable_files_fail_alone_and_an_interrupted_run_resumes(local_ray, tmp_path, monkeypatch):
    folder, out = tmp_path / "masks", tmp_path / "out"
    folder.mkdir()
    rng = np.random.default_rng(0)
    good = [f"m{i}.png" for i in range(6)]
    for name in good:
        Image.fromarray((rng.random((24, 32)) > 0.6).astype(np.uint8) * 255).save(folder / name)
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "cut.png").write_bytes((folder / "m0.png").read_bytes()[:50])
    params = dict(threshold=0.5, fill_holes=True, min_region_px=2, grow=1, corners="round", feather=1,
                  feather_inside=False, invert=False, mask_channel="luminance")
    job = pipeline.Job(node="GrowInvertMask", params=params, output=str(out), input=str(folder), batch_size=2)

    added, real_add = [], manifest.Manifest.add

    def ctrl_c_after_two(self, name, line):  # Ctrl-C reaches the driver while later images are in flight
        if len(added) == 2:
            raise KeyboardInterrupt
        added.append(name)
        real_add(self, name, line)

    monkeypatch.setattr(manifest.Manifest, "add", ctrl_c_after_two)
    first = pipeline.run(job)
    assert first.interrupted and first.done + first.failed == 2
    assert sorted(manifest_records(out)) == sorted(added)
    # What a killed run can leave: a write's temporary file, and a file of an image with no record yet.
    todo = sorted(set(good) - set(added))[0]
    (out / "masks" / f".{todo}.0badc0de.part").write_bytes(b"half")
    (out / "masks" / todo).write_bytes(b"half")
    monkeypatch.setattr(manifest.Manifest, "add", real_add)

    second = pipeline.run(job)
    assert not second.interrupted
    assert second.skipped == sum(name in good for name in added)
    assert second.skipped + second.done + second.failed == 8 and second.failed == 2
    records = manifest_records(out)
    assert sorted(records) == sorted(good + ["broken.png", "cut.png"])
    for name in ("broken.png", "cut.png"):
        assert records[name]["status"] == "failed" and "not a readable image" in records[name]["error"]
        assert records[name]["files"] == {}
    for name in good:
        mask = ops.image_to_mask(loaded(folder / name, "RGBA"), "luminance")
        node_params = {k: v for k, v in params.items() if k != "mask_channel"}
        expected = NODES["MaskForgeGrowInvertMask"]().run(mask, **node_params)[0]
        assert np.array_equal(png(out / "masks" / name), ops.to_uint8(expected[0])), name
        assert records[name]["status"] == "ok"
    assert not [p for p in out.rglob("*") if p.is_file() and p.name.endswith(".part")]
    assert not (out / manifest.JOURNAL).exists()
