"""Jobs run in a fresh interpreter and land in the store."""

import pytest

from nnvis.errors import NNVisError
from nnvis.jobs import launch, run_job
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


def test_projection_job_lands_in_the_store(digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    assert not analysis.has_projection("hidden3", 0, "tsne")
    reports = []
    launch({"job": "projection", "workspace": str(digits_workspace.path), "layer": "hidden3", "epoch": 0,
            "method": "tsne"}, lambda *update: reports.append(update))
    assert analysis.has_projection("hidden3", 0, "tsne")
    # the job process's progress lines reached the caller, in order
    assert reports[0] == ("neighbours of hidden3", 0, 1)  # the shared neighbour graph first (nnvis.projection.knn)
    tsne = [report for report in reports if report[0] == "tsne of hidden3"]
    assert tsne[0] == ("tsne of hidden3", 0, 1) and reports[-1] == tsne[-1] == ("tsne of hidden3", 1, 1)
    iterations = [done for stage, done, total in tsne[1:-1] if total == 750]  # openTSNE's, every 25
    assert iterations and iterations == sorted(iterations) and iterations[-1] == 750


def test_a_job_process_dies_with_its_parent(tmp_path):
    """Cancelling kills the process that launched the job; the job process must not live on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    child_code = "import sys, time; from nnvis.jobs import die_with_parent; die_with_parent(int(sys.argv[1])); " \
                 "print('ready', flush=True); time.sleep(120)"
    parent_code = ("import os, subprocess, sys\n"
                   f"child = subprocess.Popen([sys.executable, '-c', {child_code!r}, str(os.getpid())])\n"
                   "print(child.pid, flush=True)\nchild.wait()\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)  # the child has asked for its death signal
    assert os.path.exists(f"/proc/{child_pid}")
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        state = open(f"/proc/{child_pid}/stat").read().split()[2] if os.path.exists(f"/proc/{child_pid}") else "gone"
        if state in ("gone", "Z"):
            break
        time.sleep(0.1)
    assert state in ("gone", "Z")  # killed (a zombie until init reaps it)


def test_bad_jobs_fail_with_a_message(digits_workspace):
    with pytest.raises(NNVisError, match="unknown job 'train'"):
        run_job({"job": "train", "workspace": str(digits_workspace.path)})
    with pytest.raises(NNVisError, match="job projection failed: .*layer 'nope' was not captured"):
        launch({"job": "projection", "workspace": str(digits_workspace.path), "layer": "nope", "epoch": 0,
                "method": "tsne"})
