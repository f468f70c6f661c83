"""Heavy work as jobs: a job is a JSON request naming a workspace by path (never code), its
result landing in the workspace's store.

Where a job runs:
- under the web server (Dash's diskcache manager), `launch` runs it in a fresh interpreter,
  `python -m nnvis.jobs REQUEST`: web servers start background work by forking, and a
  process forked from one that already ran OpenMP (torch, scikit-learn, numba) can deadlock.
  The child reports progress as JSON lines on stdout and dies with its parent (cancel).
- in a Celery worker (REDIS_URL set), `launch(..., in_process=True)` runs it in the worker's
  own long-lived process, so compiled code (numba's bundling) stays warm between jobs.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Callable

from nnvis.errors import NNVisError
from nnvis.progress import Progress, no_progress

JOBS = ("projection", "sequence", "actmax", "ablation", "compare")
PR_SET_PDEATHSIG = 1


def run_job(request: dict, progress: Progress = no_progress) -> None:
    """Compute what `request` asks for into its workspace's store (in this process)."""
    from nnvis.analysis import Analysis
    from nnvis.evolution import bundled_trails
    from nnvis.unitlab import run_unit_job
    from nnvis.workspace import Workspace

    kind = request.get("job")
    if kind not in JOBS:
        raise NNVisError(f"unknown job {kind!r}; allowed: {', '.join(JOBS)}")
    analysis = Analysis(Workspace(request["workspace"]), progress=progress)
    if kind == "projection":
        analysis.projection(request["layer"], int(request["epoch"]), request["method"])
    elif kind == "sequence":
        bundled_trails(analysis, request["kind"], request["anchor"], request["method"], request.get("coherence"))
    elif kind == "compare":
        from nnvis.compare import compute_comparison, open_pair

        pair = open_pair([request["workspace"], request["workspace2"]], [request["layer"], request["layer2"]],
                         [int(request["epoch"]), int(request["epoch2"])], progress=progress)
        compute_comparison(*pair, request["method"])
    else:
        run_unit_job(analysis, request, progress)


def launch(request: dict, on_progress: Progress = no_progress, *, in_process: bool = False,
           timeout: float = 3600) -> None:
    """Run `request` and wait: here when `in_process`, else in a fresh Python process whose
    progress lines reach `on_progress`. NNVisError with the job's last error line on failure."""
    if in_process:
        run_job(request, on_progress)
        return
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen([sys.executable, "-m", "nnvis.jobs", json.dumps(request), str(os.getpid())],
                                 stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            for line in child.stdout:
                report_progress(line, on_progress)
            child.wait(timeout=timeout)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0:
            errors.seek(0)
            lines = errors.read().strip().splitlines() or [f"exit status {child.returncode}"]
            raise NNVisError(f"job {request.get('job')} failed: {lines[-1]}")


def report_progress(line: str, on_progress: Progress) -> None:
    """Pass one `{"stage", "done", "total"}` line from a job process to `on_progress`."""
    try:
        update = json.loads(line)
        on_progress(str(update["stage"]), int(update["done"]), int(update["total"]))
    except (ValueError, KeyError, TypeError):
        pass  # not a progress line (a library printing to stdout)


def print_progress(stage: str, done: int, total: int) -> None:
    """The job process's progress hook: one JSON line per update on stdout."""
    print(json.dumps({"stage": stage, "done": done, "total": total}), flush=True)


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when `parent` ends (a cancelled job must not live on)."""
    libc: Callable | None = getattr(ctypes.CDLL(None), "prctl", None)
    if libc is not None:
        libc(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request took effect
        sys.exit(1)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        die_with_parent(int(argv[1]))
    try:
        run_job(json.loads(argv[0]), print_progress)
    except NNVisError as error:
        print(f"nnvis job: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
