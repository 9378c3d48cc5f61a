"""Loads the pack into a real ComfyUI and has that ComfyUI validate every example workflow made for its version.

Everything goes into a temporary base folder (``--base-directory``): the pack's tracked files under
``custom_nodes/<name>``, the demo image as ``input/example.png``, and an empty placeholder for each model
file and input video a workflow's core loader names, so that dropdown values validate. ComfyUI's own tree is not
touched.
Each workflow is queued as the frontend queues it (its API prompt); the check is ComfyUI's answer,
which lists every input that does not validate. A queued prompt then runs until a node fails on a
missing weight or placeholder file; the queue is cleared after each one and the server stopped at the end.

    python -m tools.comfyui_check --comfyui /path/to/ComfyUI --python /path/to/its/venv/bin/python

``--stub-torchvision`` puts an empty torchvision on the server's path, for a venv whose torchvision does not
import (ComfyUI imports it at start-up; nothing checked here calls it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tools.demo import sample_scene
from tools.example_workflows import FOLDER, WORKFLOWS
from tools.pack import PACK_DIR, load_pack
from tools.workflow_schema import api_prompt, signatures

# Where core loaders look for the files their dropdowns list.
MODEL_FOLDERS = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoints", ("UNETLoader", "unet_name"): "diffusion_models",
                 ("LoadBackgroundRemovalModel", "bg_removal_name"): "background_removal"}
# Core loaders that read a file of ComfyUI's input folder by name (an empty placeholder validates too).
INPUT_FILES = {"LoadVideo": "file"}
# An importable torchvision whose every submodule and attribute is a do-nothing stand-in.
STUB = """
import importlib.abc, importlib.machinery, sys, types

class Anything:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Anything()

    def __getattr__(self, name):
        return Anything


def __getattr__(name):
    return Anything


class Submodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = __getattr__
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, Submodules())
"""


def prepare(base: Path, pack_name: str, workflows: dict[str, dict]) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=PACK_DIR, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        target = base / "custom_nodes" / pack_name / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACK_DIR / name, target)
    (base / "input").mkdir(parents=True)
    from PIL import Image

    from maskforge.ops import to_uint8

    image, _ = sample_scene()
    Image.fromarray(to_uint8(image[0])).save(base / "input" / "example.png")
    for prompt in workflows.values():
        for node in prompt.values():
            for (kind, widget), folder in MODEL_FOLDERS.items():
                if node["class_type"] == kind:
                    placeholder = base / "models" / folder / node["inputs"][widget]
                    placeholder.parent.mkdir(parents=True, exist_ok=True)
                    placeholder.touch()
            if node["class_type"] in INPUT_FILES:
                (base / "input" / node["inputs"][INPUT_FILES[node["class_type"]]]).touch()


def call(url: str, payload: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
            return reply.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", type=Path, required=True, help="the ComfyUI checkout (its main.py)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs that ComfyUI")
    parser.add_argument("--version", default="0.3.64", help="check the workflows that need this ComfyUI version")
    parser.add_argument("--workflow", action="append", default=[], help="check this workflow instead (repeatable)")
    parser.add_argument("--port", type=int, default=8191)
    parser.add_argument("--pack-name", default="ComfyUI-MaskForge", help="the folder name the pack gets")
    parser.add_argument("--stub-torchvision", action="store_true")
    args = parser.parse_args()

    load_pack()
    names = args.workflow or [n for n, w in WORKFLOWS.items() if w.needs == args.version]
    workflows = {n: api_prompt(json.loads((FOLDER / f"{n}.json").read_text(encoding="utf-8")),
                               signatures(WORKFLOWS[n].core)) for n in names}
    ours = {k for k, sig in signatures().items() if sig.ours}
    with tempfile.TemporaryDirectory(prefix="maskforge-comfyui-") as tmp:
        base = Path(tmp) / "base"
        prepare(base, args.pack_name, workflows)
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        if args.stub_torchvision:
            stub = Path(tmp) / "stub" / "torchvision"
            stub.mkdir(parents=True)
            (stub / "__init__.py").write_text(STUB)
            env["PYTHONPATH"] = str(stub.parent)
        log = open(Path(tmp) / "comfyui.log", "w")
        server = subprocess.Popen([args.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(args.port),
                                   "--base-directory", str(base), "--disable-auto-launch"],
                                  cwd=args.comfyui, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{args.port}"
        failures = 0
        try:
            for _ in range(300):
                try:
                    status, info = call(f"{url}/object_info", timeout=10)
                    break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("ComfyUI stopped at start-up:\n" + (Path(tmp) / "comfyui.log").read_text())
                    time.sleep(1)
            else:
                raise SystemExit("ComfyUI did not answer within 300 s")
            missing = sorted(ours - set(info))
            print(f"ComfyUI lists {len(ours) - len(missing)} of the pack's {len(ours)} nodes" +
                  (f"; missing: {missing}" if missing else ""))
            failures += bool(missing)
            for name, prompt in workflows.items():
                status, reply = call(f"{url}/prompt", {"prompt": prompt, "client_id": "maskforge-check"})
                errors = reply.get("node_errors") or reply.get("error")
                print(f"{name}: {'validates' if status == 200 and not errors else f'HTTP {status}: {errors}'}")
                failures += status != 200 or bool(errors)
                call(f"{url}/interrupt", {})
                call(f"{url}/queue", {"clear": True})
            log_text = (Path(tmp) / "comfyui.log").read_text()
            failures += "IMPORT FAILED" in log_text and args.pack_name in log_text
            print("\n".join(line for line in log_text.splitlines() if args.pack_name in line))
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
