"""The batch command's engine: Ray Data's batch-inference pattern around the nodes' own code.

A run is one streaming Ray Data pipeline:

1. ``from_items``: the images still to do. The driver lists the input once and leaves out the images
   the manifest records as done with these parameters (files present), so a rerun never reads them.
2. ``read_images`` (tasks): each file's bytes read and decoded; an unreadable file becomes an error row.
3. ``MaskActor`` (actors): the node's model loaded once in ``__init__``, kept on its device; ``__call__``
   masks a batch of images. One actor per GPU when there are GPUs, else CPU slots.
4. ``write_results`` (tasks): each image's PNGs written whole, then its manifest record made.

The driver takes the records as they come (Ray's progress bars run meanwhile), journals them and counts.

Ray's own ``read_images`` / ``write_images`` do not fit here: one unreadable file fails the whole read,
finished images could not be skipped without reading them again, and a write of one column per
dataset cannot put an image's several files (mask, cut-out, blue mask) in place before its record, each
written whole, under names taken from the input's. So reading and writing are per image, in Ray tasks,
through the same pyarrow filesystems Ray uses.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import comfy_adapter
from . import files
from .manifest import MANIFEST, Manifest
from .stages import MaskActor, read_images, write_results
from .tasks import TASKS

PACK_NAME = __package__.rpartition(".")[0]  # the name the pack was imported under
PACK_DIR = Path(__file__).resolve().parents[1]
INSTALL = "the batch command needs Ray Data: run `pip install -r requirements-batch.txt` in the pack's folder"

IO_CPUS = 0.25  # logical CPUs of a read or write task: mostly waiting on storage
IO_RESERVE = 0.5  # logical CPUs that CPU-only actors leave to those tasks, so they can always run
MAX_INPUT_BLOCKS = 10_000


class BatchError(Exception):
    """A run that cannot start, with what to do."""


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (Ray without its [data] extra has no ray.data)
    except ImportError as exc:
        raise BatchError(f"{INSTALL} ({exc})") from None
    return ray


# --- Ray workers load the pack by path, as the driver did ---


def _pack_loader(name: str, folder: str):
    """A worker-process setup hook that makes the pack in ``folder`` importable as ``name`` before any task
    runs, so the stages (pickled by reference to ``name``.batch.stages) can be found. The pack's
    ``__init__`` (the nodes, torch) is not run: a worker imports only what its stage needs. Defined
    inside a function, the hook travels by value: workers need nothing importable to run it."""

    def load_maskforge_pack():
        import importlib.util
        import platform
        import sys
        from pathlib import Path

        init = Path(folder) / "__init__.py"
        if name in sys.modules:
            return
        if not init.is_file():
            raise RuntimeError(f"MaskForge is not in {folder} on {platform.node()}: every Ray node needs the pack "
                               "at the same path (see docs/batch.md)")
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[folder])
        sys.modules[name] = importlib.util.module_from_spec(spec)

    return load_maskforge_pack


def kept_workers(cpus: float) -> int:
    """Idle Ray workers a node keeps for reuse. Ray's default, one per CPU, is fewer than the actors, Ray Data's
    helper actors and the fractional-CPU read and write tasks need at once: each task then starts a new worker
    (loading torch and the pack, about 1.5 s of CPU), which took LabelMask's actor from 2.5 to 3.6 s per image on
    2 cores. Enough are kept for every read or write task that can run at once, with room for the actors; workers
    still start only when a task needs one."""
    return math.ceil(cpus / IO_CPUS) + 8


def start_ray(address: str | None = None, **init_args):
    """Connects to the Ray cluster at ``address`` (or ``RAY_ADDRESS``), else starts one on this machine
    (no dashboard, no usage statistics); either way workers load the pack first."""
    ray = require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None and not os.environ.get("RAY_ADDRESS"):
        init_args.setdefault("include_dashboard", False)
        if "RAY_num_workers_soft_limit" not in os.environ:
            cpus = init_args.get("num_cpus") or os.cpu_count() or 1
            init_args.setdefault("_system_config", {"num_workers_soft_limit": kept_workers(cpus)})
    runtime_env = {"worker_process_setup_hook": _pack_loader(PACK_NAME, str(PACK_DIR))}
    return ray.init(address=address, runtime_env=runtime_env, **init_args)


# --- a run ---


@dataclass
class Job:
    node: str
    params: dict  # the node's widget values (and the task's own options)
    output: str  # folder or URI
    input: str | None = None  # folder or URI …
    names: list[str] | None = None  # … or these names in it (from a list of files)
    cutout: str | None = None  # None, "transparent" or "#RRGGBB"
    blue_threshold: float | None = None  # None: no blue-mask images
    models_dir: str | None = None
    extensions: tuple[str, ...] = files.IMAGE_EXTENSIONS
    max_file_mb: float = 256.0
    actors: int | None = None  # None: one per GPU, else one per node
    gpus_per_actor: float = 1.0
    cpus_per_actor: float | None = None
    batch_size: int = 4
    address: str | None = None


@dataclass
class Summary:
    listed: int = 0
    skipped: int = 0  # done in earlier runs
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)  # the first few (name, error)
    manifest: str = ""

    @property
    def per_second(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds else 0.0


def is_done(record: dict, common: dict, kinds: tuple[str, ...], present: set[str]) -> bool:
    """Whether an image's record says it was masked with these parameters, and its files are still there."""
    if record.get("status") != "ok" or any(record.get(k) != v for k, v in common.items() if k != "run"):
        return False
    return all(record.get("files", {}).get(kind) in present for kind in kinds)


def resources_plan(job: Job, nodes: list[dict]) -> dict:
    """Actors, their resources and torch threads, from the resources of each node of the cluster. With GPUs
    (and a node that may use them): one actor per GPU, ``gpus_per_actor`` each. Without: ``actors`` actors (one
    per node by default) sharing the CPUs, each leaving IO_RESERVE of its node's CPUs to reading and writing."""
    gpus = sum(node.get("GPU", 0) for node in nodes)
    if gpus and not job.params.get("force_cpu") and job.node != "GrowInvertMask":
        actors = job.actors or max(1, int(gpus // job.gpus_per_actor))
        return {"actors": actors, "num_gpus": job.gpus_per_actor, "num_cpus": job.cpus_per_actor or 1, "threads": None}
    cpus = [node.get("CPU", 0) for node in nodes]
    actors = job.actors or max(1, sum(c > 0 for c in cpus))
    share = min((sum(cpus) - IO_RESERVE * len(cpus)) / actors, max(cpus) - IO_RESERVE)  # an actor fits one node
    per_actor = job.cpus_per_actor or max(IO_CPUS, share)
    return {"actors": actors, "num_gpus": 0, "num_cpus": per_actor, "threads": max(1, math.ceil(per_actor))}


def run(job: Job) -> Summary:
    """Masks every image of the job not yet done (the manifest says which), streaming; Ctrl-C stops it
    cleanly, keeping what is done."""
    ray = require_ray()
    task_class = TASKS[job.node]
    if job.models_dir:
        os.environ["MASKFORGE_MODELS_DIR"] = job.models_dir
    task = task_class(job.params)  # checks the parameters and fetches missing weights, once, here
    kinds = ("mask",) + (("cutout",) if job.cutout else ()) + (("blue_mask",) if job.blue_threshold is not None else ())
    if job.cutout and not task_class.CUTOUTS:
        raise BatchError(f"{job.node} has no image to cut out; leave out --cutouts")

    output, source = files.Storage(job.output), files.Storage(job.input)
    try:
        names = sorted(job.names) if job.names is not None else files.list_images(source, job.extensions, skip=output)
    except (ValueError, OSError) as exc:
        raise BatchError(f"cannot list the input {job.input}: {exc}") from None
    if not names:
        raise BatchError(f"no image files ({', '.join(job.extensions)}) in {job.input} or its sub-folders")
    keys = files.output_names(names)

    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    model = {name: task.params[name] for name in task_class.MODELS} or None
    common = {"node": job.node, "model": model, "params": task.params, "cutout": job.cutout,
              "blue_threshold": job.blue_threshold, "run": run_id}
    common = json.loads(json.dumps(common))  # as a record read back holds it (tuples become lists)
    manifest = Manifest(output, run_id)
    present = set(output.files())
    for name in [n for n in present if files.is_temporary(n)]:
        output.delete(name)  # a write cut short by a crash
    manifest.load()
    done = {name for name, record in manifest.records() if name in keys and is_done(record, common, kinds, present)}
    todo = [name for name in names if name not in done]
    summary = Summary(listed=len(names), skipped=len(done), manifest=output.uri(MANIFEST))
    if not todo:
        manifest.fold()
        return summary

    started, start = False, time.perf_counter()
    try:
        if not ray.is_initialized():
            start_ray(job.address)
            started = True
        plan = resources_plan(job, [node["Resources"] for node in ray.nodes() if node["Alive"]])
        rows = [{"name": name, "key": keys[name], "input": source.uri(name)} for name in todo]
        dataset = (
            ray.data.from_items(rows, override_num_blocks=min(MAX_INPUT_BLOCKS, math.ceil(len(rows) / job.batch_size)))
            .map_batches(read_images, batch_size=job.batch_size, num_cpus=IO_CPUS,
                         fn_kwargs={"storage": source, "mode": task_class.IMAGE_MODE,
                                    "max_bytes": int(job.max_file_mb * 1e6)})
            .map_batches(MaskActor, batch_size=job.batch_size, compute=ray.data.ActorPoolStrategy(size=plan["actors"]),
                         num_cpus=plan["num_cpus"], num_gpus=plan["num_gpus"],
                         fn_constructor_kwargs={"node": job.node, "params": task.params, "cutout": job.cutout,
                                                "blue_threshold": job.blue_threshold,
                                                "models_dir": str(comfy_adapter.models_dir()),
                                                "threads": plan["threads"]})
            .map_batches(write_results, batch_size=job.batch_size, num_cpus=IO_CPUS,
                         fn_kwargs={"storage": output, "kinds": kinds, "common": common})
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for name, status, line in zip(batch["name"], batch["status"], batch["record"]):
                manifest.add(str(name), str(line))
                if status == "ok":
                    summary.done += 1
                else:
                    summary.failed += 1
                    if len(summary.failures) < 10:
                        summary.failures.append((str(name), json.loads(line)["error"]))
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - start
        manifest.fold()
        if started:
            ray.shutdown()
    return summary
