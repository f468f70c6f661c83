"""Peak memory of capturing one epoch at a million observations (issue 29): the capture held in
memory and packed into the store (the code before, a git revision) against the capture streamed
to a .npy file and into the store from disk (this code), in one run, each in a fresh process.

The workspace is `bench_scale.click_workspace(points)` (an MLP over shifted MNIST digits, layer
hidden4 of 1000 units, float16: 2 GB at a million); each side captures its epoch 1 into an empty
store of a copy (its manifest and weights). Reported: the process's peak resident memory (VmHWM)
before the capture (the data set and subset loaded) and after it, and the capture's time.

    .venv/bin/python benchmarks/bench_capture_memory.py [--points 1000000] [--base REV]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import ROOT, WORKDIR, machine, machine_line  # noqa: E402
from bench_knn_graph import unpack_base  # noqa: E402
from bench_scale import click_workspace  # noqa: E402

BEFORE_SPILL = "0692731^"  # the commit before capture streamed to disk

MEASURE = """
import json, sys, time
from pathlib import Path
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace

def peak_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

analysis = Analysis(Workspace(sys.argv[1]))
analysis.subset()  # the data set and the subset's images, as both sides need them
before = peak_mib()
start = time.perf_counter()
analysis.capture_epoch(1)
seconds = time.perf_counter() - start
layer = analysis.mapped_activations("hidden4", 1)
print(json.dumps({"peak_before_capture_mib": before, "peak_after_mib": peak_mib(), "capture_s": seconds,
                  "stored_shape": list(layer.shape)}))
"""


def fresh_copy(source: Path, target: Path) -> Path:
    """The workspace's manifest and weights, with an empty store."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(source / "workspace.json", target / "workspace.json")
    shutil.copytree(source / "snapshots", target / "snapshots")
    return target


def measure(code: Path, workspace: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(workspace)], env=env, capture_output=True, text=True,
                          cwd=code, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--base", default=BEFORE_SPILL, help="the code before (a git revision)")
    args = parser.parse_args()
    info = machine()
    print(machine_line(info), flush=True)
    source = click_workspace(args.points)
    old_code = WORKDIR / "capture-base"
    shutil.rmtree(old_code, ignore_errors=True)
    base = unpack_base(old_code, args.base)
    report = {"machine": info, "points": args.points, "base": base}
    for name, code in (("held (before)", old_code), ("streamed (now)", ROOT)):
        workspace = fresh_copy(source, WORKDIR / "capture-memory")
        report[name] = measure(code, workspace)
        print(f"{name}: {report[name]}", flush=True)
        shutil.rmtree(workspace)
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
