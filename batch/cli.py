"""``python -m batch NODE --input FOLDER --output FOLDER [the node's inputs]``.

The node's inputs are offered as options under their own names (``--labels``, ``--grow``, ``--invert``…)
with the node's defaults, ranges and tooltips, read from the node's INPUT_TYPES, so a run means what
the same widgets mean in a workflow.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .. import comfy_adapter, ops
from ..errors import MaskForgeError
from ..nodes import NODE_CLASS_MAPPINGS
from . import files, pipeline
from .manifest import MANIFEST
from .tasks import TASKS

PACK_DIR = Path(__file__).resolve().parents[1]
EXIT_FAILURES, EXIT_SETUP, EXIT_INTERRUPTED = 1, 2, 130


def default_models_dir() -> Path:
    """ComfyUI's models folder when the pack sits in a ComfyUI tree (``custom_nodes/<pack>``), else the
    pack's own default (``$MASKFORGE_MODELS_DIR`` or ``models_local``)."""
    comfyui = PACK_DIR.parent.parent
    if PACK_DIR.parent.name == "custom_nodes" and (comfyui / "folder_paths.py").is_file():
        return comfyui / "models"
    return comfy_adapter.models_dir()


def _bounded(kind, low, high):
    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _cutout(text: str) -> str:
    if text == "transparent":
        return text
    try:
        ops.hex_to_rgb(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; give 'transparent' or #RRGGBB") from None
    return text


def widget_inputs(node_class) -> dict[str, tuple]:
    """The node's widget inputs (numbers, text, switches, lists), by name; connections are left out."""
    spec = node_class.INPUT_TYPES()
    widgets = {}
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind, options = entry[0], entry[1] if len(entry) > 1 else {}
            if isinstance(kind, (list, tuple)) or (kind in ("INT", "FLOAT", "STRING", "BOOLEAN")
                                                   and not options.get("forceInput")):
                widgets[name] = (kind, options)
    return widgets


def _add_widget(group, name: str, kind, options: dict, model: bool) -> None:
    flag = "--" + name.replace("_", "-")
    default = options.get("default", kind[0] if isinstance(kind, (list, tuple)) else None)
    tooltip = options.get("tooltip", "")
    if model:  # the tooltip's model list is long: its first paragraph and the names
        tooltip = tooltip.split("\n")[0] + " Known: " + ", ".join(kind) + "."
    text = tooltip.replace("%", "%%") + " (default: %(default)s)"
    if isinstance(kind, (list, tuple)):
        # Model names are checked where the weights are found (the message says where to put a file).
        extra = {"metavar": "NAME"} if model else {"choices": list(kind)}
        group.add_argument(flag, dest=name, default=default, help=text, **extra)
    elif kind == "BOOLEAN":
        group.add_argument(flag, dest=name, default=default, action=argparse.BooleanOptionalAction, help=text)
    elif kind == "STRING":
        group.add_argument(flag, dest=name, default=default, help=text)
    else:
        number = int if kind == "INT" else float
        group.add_argument(flag, dest=name, default=default, type=_bounded(number, options["min"], options["max"]),
                           metavar=kind, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m batch",
        description="Masks every image of a folder (or a list of files) with one of MaskForge's nodes on Ray Data, "
                    "writing 8-bit PNG masks (optionally cut-outs and blue-mask images) under the output folder with "
                    f"the input's relative names, and {MANIFEST} (one line per image). A rerun skips the images "
                    "already done with the same settings. `python -m batch NODE --help` lists a node's options.")
    nodes = parser.add_subparsers(dest="node", required=True, metavar="NODE")
    for name, task in TASKS.items():
        node_class = NODE_CLASS_MAPPINGS[task.NODE_KEY]
        sub = nodes.add_parser(name, help=re.split(r"(?<=\.)\s+(?=[A-Z])", node_class.DESCRIPTION)[0],
                               description=node_class.DESCRIPTION)
        _add_io_options(sub, task)
        group = sub.add_argument_group(f"{name}'s inputs, as on the node")
        for input_name, (kind, options) in widget_inputs(node_class).items():
            if input_name in task.PARAMS:
                _add_widget(group, input_name, kind, options, input_name in task.MODELS)
        for option, (default, choices, text) in task.OPTIONS.items():
            group.add_argument("--" + option.replace("_", "-"), dest=option, default=default, choices=choices,
                               help=text + " (default: %(default)s)")
        _add_run_options(sub)
    return parser


def _add_io_options(sub, task) -> None:
    where = sub.add_argument_group("input and output")
    source = where.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FOLDER", help="A folder (or s3://, gs://, hdfs:// URI) whose images, "
                        "in all its sub-folders, are masked.")
    source.add_argument("--input-list", metavar="FILE", help="A text file naming the images, one path or URI a "
                        "line; names under the output keep their path below the folder all of them share.")
    where.add_argument("--output", metavar="FOLDER", required=True,
                       help="Where masks/, cutouts/, blue_masks/ and the manifest go (a folder or URI, not the "
                            "input).")
    where.add_argument("--extensions", nargs="+", default=list(files.IMAGE_EXTENSIONS), metavar="EXT",
                       help="File endings taken as images in --input (default: %(default)s).")
    if task.CUTOUTS:
        where.add_argument("--cutouts", nargs="?", const="transparent", type=_cutout, metavar="COLOUR",
                           help="Also write cut-outs: the image with the mask as transparency (PNG with alpha), or on "
                                "a #RRGGBB colour as the node's cutout output.")
    where.add_argument("--blue-masks", action="store_true",
                       help="Also write blue-mask images: #7878CD where the mask is set, black elsewhere, as "
                            "Mask to Blue Mask Image makes them.")
    where.add_argument("--blue-threshold", type=_bounded(float, 0.0, 1.0), default=0.5, metavar="FLOAT",
                       help="Mask values above this are blue in the blue-mask images (default: %(default)s).")


def _add_run_options(sub) -> None:
    run = sub.add_argument_group("how it runs")
    run.add_argument("--models-dir", metavar="FOLDER",
                     help="The models folder (maskforge/, rembg/, sam2/, …); default: ComfyUI's models folder when "
                          "the pack is inside a ComfyUI tree, else $MASKFORGE_MODELS_DIR or the pack's models_local/.")
    run.add_argument("--actors", type=_bounded(int, 1, 10_000), metavar="N",
                     help="Model replicas (default: one per GPU; without GPUs, one per machine).")
    run.add_argument("--gpus-per-actor", type=_bounded(float, 0.01, 64), default=1.0, metavar="G",
                     help="GPUs per replica (0.5 puts two replicas on each GPU; default: %(default)s).")
    run.add_argument("--cpus-per-actor", type=_bounded(float, 0.01, 4096), metavar="C",
                     help="CPUs per replica (default: 1 with GPUs; without, the CPUs shared among the replicas).")
    run.add_argument("--batch-size", type=_bounded(int, 1, 4096), default=4, metavar="N",
                     help="Images per call of a replica (default: %(default)s).")
    run.add_argument("--max-file-mb", type=_bounded(float, 0.001, 1e6), default=256.0, metavar="MB",
                     help="Larger files are recorded as failed, not read (default: %(default)s).")
    run.add_argument("--address", metavar="ADDRESS",
                     help="A running Ray cluster (e.g. auto, or ray://head:10001); default: $RAY_ADDRESS, else Ray "
                          "starts on this machine.")


def _job(args) -> pipeline.Job:
    task = TASKS[args.node]
    params = {name: getattr(args, name) for name in task.PARAMS + tuple(task.OPTIONS)}
    job = pipeline.Job(node=args.node, params=params, output=args.output, input=args.input,
                       cutout=getattr(args, "cutouts", None),
                       blue_threshold=args.blue_threshold if args.blue_masks else None,
                       models_dir=os.environ["MASKFORGE_MODELS_DIR"],
                       extensions=tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in args.extensions),
                       max_file_mb=args.max_file_mb, actors=args.actors, gpus_per_actor=args.gpus_per_actor,
                       cpus_per_actor=args.cpus_per_actor, batch_size=args.batch_size, address=args.address)
    if args.input_list:
        try:
            job.input, job.names = files.list_file(Path(args.input_list).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise pipeline.BatchError(f"--input-list {args.input_list}: {exc}") from None
    return job


def report(node: str, summary: pipeline.Summary) -> str:
    lines = [f"{node}: {summary.listed} images; {summary.done} masked, {summary.failed} failed, {summary.skipped} "
             f"already done; {summary.per_second:.2f} images/s ({summary.seconds:.1f} s)."]
    lines += [f"  failed: {name}: {error}" for name, error in summary.failures]
    if summary.failed > len(summary.failures):
        lines.append(f"  … {summary.failed - len(summary.failures)} more failures in the manifest.")
    lines.append(f"Manifest: {summary.manifest}")
    if summary.interrupted:
        lines.append("Interrupted: run the same command again to do the rest.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # The models folder first: the model options list what is installed there.
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--models-dir")
    known, _ = early.parse_known_args(argv)
    os.environ["MASKFORGE_MODELS_DIR"] = str(known.models_dir or default_models_dir())
    args = build_parser().parse_args(argv)
    try:
        summary = pipeline.run(_job(args))
    except (MaskForgeError, pipeline.BatchError) as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:  # before the images flowed: nothing was done
        print("batch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report(args.node, summary))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if summary.failed else 0
