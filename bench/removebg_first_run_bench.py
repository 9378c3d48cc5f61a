"""RemoveBGMask's first run in a fresh ComfyUI process, with numba's cache empty (as on a fresh install).

Run from the repo root: ``.venv/bin/python -m bench.removebg_first_run_bench``
Targets: "model not installed" in < 2 s on a fresh install (rembg is imported only after the model
file is found); numba's compile of pymatting paid once, later processes load it from the cache.

Each step is a new Python process pointed at one empty ``NUMBA_CACHE_DIR`` (numba then caches
there, not beside pymatting's files), in this order:
1. the node asked for a model that is not installed, offline: seconds until its error;
2. ``import rembg`` with the cache still empty: the compile;
3. ``import rembg`` again: loading the compiled code from the cache.
Writes bench/results/removebg_first_run.md and prints it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "removebg_first_run.md"
ROOT = Path(__file__).resolve().parents[1]

MISSING_MODEL = """
import sys, time, torch
from tools.pack import load_pack
load_pack()
from maskforge.nodes.removebg_mask import RemoveBGMask
start = time.perf_counter()
try:
    RemoveBGMask().run(torch.zeros(1, 8, 8, 3), model="isnet-general-use.onnx", alpha_matting=False,
                       alpha_matting_foreground_threshold=240, alpha_matting_background_threshold=20,
                       alpha_matting_erode_size=5, post_process_mask=False, cutout_background="#000000",
                       custom_model_family="u2net", force_cpu=False)
except Exception as exc:
    print(f"{time.perf_counter() - start:.2f} {type(exc).__name__} {'pymatting' in sys.modules}")
"""


def _python(code: str, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, out.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(folder) / "numba"), HF_HUB_OFFLINE="1",
                   MASKFORGE_MODELS_DIR=str(Path(folder) / "models"))
        _, missing = _python(MISSING_MODEL, env)
        seconds, error, matting_imported = missing.split()
        cold, _ = _python("import rembg", env)
        warm, _ = _python("import rembg", env)
    load = os.getloadavg()
    table = "\n".join([
        "| step | seconds |",
        "| --- | ---: |",
        f"| missing model: the node's {error} (pymatting imported: {matting_imported}) | {float(seconds):.2f} |",
        f"| `import rembg`, numba cache empty (process total) | {cold:.1f} |",
        f"| `import rembg`, numba cache filled (process total) | {warm:.1f} |",
    ])
    text = (f"{table}\n\n{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
            f"(1 / 5 / 15 min) when it finished.\n")
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
