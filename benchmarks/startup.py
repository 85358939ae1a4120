"""Start-up time of the app: process start to a shown window, to the docks built (torch and the
modules of the panes on screen imported on the worker, menus and docks made), and to an
interactive window with a model loaded (the panes on screen built and filled), for the installed
console script or a PyInstaller bundle.

The window shows before torch is imported (the inference worker imports it, the panes' modules and
the model while the window is on screen), so "window shown" measures Qt alone and "interactive"
the whole start. Panes tabbed behind others are built when first shown.

Each run launches ``circuitloupe --model MODEL --screenshot ...`` (under Xvfb when available,
else Qt's offscreen platform), reads the app's own log lines ("window shown X s after start",
"docks built Y s after start", "ready: ... interactive Z s after start", measured from the
process's start time) and the wall clock from launch to the "ready" line, then lets the app quit.
After each run it times ``python -c "import torch"`` alone, the floor under "interactive": the
difference is the app's own share, which a busy moment on a shared machine moves far less.

    python benchmarks/startup.py [--model bundled] [--runs 5] [--app PATH_TO_EXECUTABLE]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOWN = re.compile(r"window shown ([0-9.]+) s after start")
DOCKS = re.compile(r"docks built ([0-9.]+) s after start")
READY = re.compile(r"ready: \S+ loaded and interactive ([0-9.]+) s after start")


def one_run(app: str, model: str, weights: list[str], data_dir: str) -> dict[str, float]:
    """Launch once; returns seconds to window shown, docks built, ready (app's clock) and ready (wall)."""
    env = dict(os.environ, CIRCUITLOUPE_DATA_DIR=data_dir)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed app has its bytecode; the warm-up run writes it
    command = [app, "--model", model, *weights, "--screenshot", str(Path(data_dir) / "shot.png"),
               "--screenshot-delay", "0"]
    xvfb = shutil.which("xvfb-run")
    if xvfb:
        env.pop("QT_QPA_PLATFORM", None)
        command = [xvfb, "-a", "-s", "-screen 0 1400x900x24", *command]
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    result: dict[str, float] = {}
    for line in process.stderr:
        if (match := SHOWN.search(line)) is not None:
            result["shown"] = float(match.group(1))
        if (match := DOCKS.search(line)) is not None:
            result["docks"] = float(match.group(1))
        if (match := READY.search(line)) is not None:
            result["ready"] = float(match.group(1))
            result["ready_wall"] = time.perf_counter() - started
    process.wait(timeout=120)
    if "ready" not in result:
        raise SystemExit(f"the app never reported ready (exit status {process.returncode})")
    return result


def torch_import_seconds(app: str) -> float:
    """Wall seconds for ``python -c "import torch"`` with the app's interpreter: the floor under
    "interactive" (the worker imports torch before anything can show a model)."""
    python = Path(app).with_name("python")
    started = time.perf_counter()
    subprocess.run([str(python if python.exists() else sys.executable), "-c", "import torch"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--weights", help="e.g. random:0")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app", default=shutil.which("circuitloupe") or "circuitloupe",
                        help="the executable: the console script (default) or dist/circuitloupe/circuitloupe")
    args = parser.parse_args()
    weights = ["--weights", args.weights] if args.weights else []
    runs = []
    with tempfile.TemporaryDirectory() as data_dir:
        one_run(args.app, args.model, weights, data_dir)  # warm the file cache once, not counted
        for _ in range(args.runs):  # side by side, so that a busy moment slows both alike
            runs.append(one_run(args.app, args.model, weights, data_dir))
            runs[-1]["torch"] = torch_import_seconds(args.app)
    for key, label in (("shown", "window shown"), ("docks", "docks built (torch imported)"),
                       ("ready", "interactive, model loaded"),
                       ("ready_wall", "interactive (wall clock from launch)"),
                       ("torch", "python -c 'import torch' alone")):
        values = [r[key] for r in runs if key in r]
        if not values:  # an app that does not log this step
            continue
        print(f"{label:40s} median {statistics.median(values):5.2f} s  (min {min(values):.2f}, "
              f"max {max(values):.2f}, {len(values)} runs)")
    app_share = statistics.median(r["ready"] - r["torch"] for r in runs)
    print(f"{'interactive minus import torch':40s} median {app_share:5.2f} s  (the app's own share)")
    print(f"app: {args.app}  model: {args.model}  python: {sys.version.split()[0]}  cpus: {os.cpu_count()}  "
          f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
