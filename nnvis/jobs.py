"""Heavy work as jobs: a job is a JSON request run by `python -m nnvis.jobs REQUEST` in a fresh
interpreter, its result landing in the workspace's store.

Why a fresh interpreter: web servers start background work by forking, and a process forked
from one that already ran OpenMP (torch, scikit-learn, numba) can deadlock in the child. A
clean `exec` of Python has no such state. Requests name a workspace by path, never run code.
"""

from __future__ import annotations

import json
import subprocess
import sys

from nnvis.errors import NNVisError

JOBS = ("projection", "sequence")


def run_job(request: dict) -> None:
    """Compute what `request` asks for into its workspace's store (in this process)."""
    from nnvis.analysis import Analysis
    from nnvis.evolution import bundled_trails
    from nnvis.workspace import Workspace

    kind = request.get("job")
    analysis = Analysis(Workspace(request["workspace"]))
    if kind == "projection":
        analysis.projection(request["layer"], int(request["epoch"]), request["method"])
    elif kind == "sequence":
        bundled_trails(analysis, request["kind"], request["anchor"], request["method"])
    else:
        raise NNVisError(f"unknown job {kind!r}; allowed: {', '.join(JOBS)}")


def launch(request: dict, timeout: float = 3600) -> None:
    """Run `request` in a fresh Python process and wait; NNVisError with its last error line."""
    result = subprocess.run([sys.executable, "-m", "nnvis.jobs", json.dumps(request)], capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        raise NNVisError(f"job {request.get('job')} failed: {lines[-1]}")


def main(argv: list[str]) -> int:
    try:
        run_job(json.loads(argv[0]))
    except NNVisError as error:
        print(f"nnvis job: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
