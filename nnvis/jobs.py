"""Heavy work as jobs: a job is a JSON request naming a workspace by path (never code), its
result landing in the workspace's store.

Where a job runs: in the process of the dashboard's background callback (`launch(...,
in_process=True)`: a fresh interpreter under `web.job_manager`, or a Celery worker's
long-lived process, where compiled code stays warm). `launch` without `in_process` runs it in
a fresh interpreter, `python -m nnvis.jobs REQUEST`, reporting progress as JSON lines on stdout
and dying with its parent (never a fork: a fork of a threaded or OpenMP process can deadlock).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Callable

from nnvis.errors import NNVisError
from nnvis.progress import Progress, no_progress

# each job kind and the fields its request may hold (besides "job" and "workspace"): nothing else
FIELDS = {
    "projection": ("layer", "epoch", "method"),
    "sequence": ("kind", "anchor", "method", "coherence"),
    "compare": ("layer", "epoch", "layer2", "epoch2", "method", "workspace2"),
    "actmax": ("layer", "epoch", "unit", "params"),
    "ablation": ("layer", "epoch", "mode", "on"),
    "cosine": ("layer", "epoch"),
    "sparsity": ("layer", "epoch", "threshold"),
    "perturbation": ("epoch", "variance"),
    "patches": ("layer", "epoch", "method"),  # --tokens patches: a token layer's sampled patch tokens, projected
}
JOBS = tuple(FIELDS)
PR_SET_PDEATHSIG = 1
# the most a served job may ask for: beyond these a job runs for hours (steps=1e9 runs forever)
ACTMAX_BOUNDS = {"steps": (1, 10_000), "restarts": (1, 16), "jitter": (0, 64), "blur_every": (0, 10_000)}
INDEX_FIELDS = ("epoch", "epoch2", "unit", "ws", "ws2")
NAME_FIELDS = ("layer", "layer2", "method", "kind", "anchor", "mode", "on", "workspace", "workspace2")
NUMBER_FIELDS = ("threshold", "variance")  # the layer lab's sparsity threshold and noise variance
NUMBER_LIMIT = 1e6


def check_request(request: dict) -> dict:
    """`request` if it is a job this server runs, with only the fields of its kind, each inside its
    bounds; NNVisError naming the first field that is not (and what is allowed) otherwise."""
    if not isinstance(request, dict):
        raise NNVisError(f"a job request is a JSON object, not {type(request).__name__}")
    kind = request.get("job")
    if kind not in JOBS:
        raise NNVisError(f"unknown job {kind!r}; allowed: {', '.join(JOBS)}")
    check_known(request, kind, ("job", "workspace", *FIELDS[kind]))
    return check_fields(request, kind)


def check_known(request: dict, kind: str, allowed) -> None:
    """NNVisError naming the first field of `request` that a `kind` job does not take."""
    unknown = sorted(str(name) for name in request if name not in allowed)
    if unknown:
        raise NNVisError(f"job {kind}: unknown field {unknown[0][:60]!r}; allowed: {', '.join(allowed)}")


def check_fields(request: dict, kind: str) -> dict:
    """`request` if each of its fields has the type and range a `kind` job allows; NNVisError otherwise."""
    if not isinstance(request, dict):
        raise NNVisError(f"a job request is a JSON object, not {type(request).__name__}")
    for name in INDEX_FIELDS:
        value = request.get(name)
        lowest = 0 if name in ("ws", "ws2") else -1  # -1: the last epoch; a workspace is never counted from the end
        if name in request and (isinstance(value, bool) or not isinstance(value, int) or not lowest <= value < 10**6):
            raise NNVisError(f"job {kind}: {name} must be an integer from {lowest} to 999999, got {value!r}")
    for name in NAME_FIELDS:
        value = request.get(name, "")
        is_epoch = name == "anchor" and isinstance(value, int) and not isinstance(value, bool)  # a layers sequence
        if not is_epoch and not (isinstance(value, str) and len(value) <= (4096 if "workspace" in name else 200)):
            raise NNVisError(f"job {kind}: {name} must be a name of at most 200 characters, got {value!r}")
    for name in NUMBER_FIELDS:
        value = request.get(name)
        if name in request and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not 0 <= value < NUMBER_LIMIT):
            raise NNVisError(f"job {kind}: {name} must be a number from 0 to {NUMBER_LIMIT:g}, got {value!r}")
    coherence = request.get("coherence")
    if coherence is not None and not (isinstance(coherence, str) and len(coherence) <= 200):
        raise NNVisError(f"job {kind}: coherence must be a name of at most 200 characters, got {coherence!r}")
    params = request.get("params", {})
    if not isinstance(params, dict):
        raise NNVisError(f"job {kind}: params must be an object, got {params!r}")
    for name, (low, high) in ACTMAX_BOUNDS.items():
        value = params.get(name, low)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise NNVisError(f"actmax {name} must be {low}..{high} on this server, got {value!r}")
    return request


def run_job(request: dict, progress: Progress = no_progress) -> None:
    """Compute what `request` asks for into its workspace's store (in this process)."""
    from nnvis.compare.evolution import bundled_trails
    from nnvis.unitlab.lab import run_unit_job
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    kind = check_request(request)["job"]
    analysis = Analysis(Workspace(request["workspace"]), progress=progress)
    if kind == "projection":
        analysis.projection(request["layer"], int(request["epoch"]), request["method"])
    elif kind == "patches":
        from nnvis.workspace.patch_tokens import patch_projection

        patch_projection(analysis, request["layer"], int(request["epoch"]), request["method"])
    elif kind == "sequence":
        bundled_trails(analysis, request["kind"], request["anchor"], request["method"], request.get("coherence"))
    elif kind == "compare":
        from nnvis.compare.snapshots import compute_comparison, open_pair

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
        timed_out = threading.Event()
        limit = threading.Timer(timeout, lambda: (timed_out.set(), child.kill()))  # holds while it still writes
        limit.start()
        try:
            for line in child.stdout:
                report_progress(line, on_progress)
            child.wait()
        finally:
            limit.cancel()
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0:
            errors.seek(0)
            lines = errors.read().strip().splitlines() or [f"exit status {child.returncode}"]
            if timed_out.is_set():
                lines = [f"it ran longer than its limit of {timeout:g} s and was stopped"]
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
