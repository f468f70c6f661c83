"""Load against real gunicorn with 4 workers: the load test in short (benchmarks/load_test.py:
browsing users and job-starting users together; no error, every job answers, /health stays
fast), and exports of unstored projections and oversized bodies that must not tie up a worker."""

import json
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.conftest import copy_workspace
from tests.hardening_client import callback_body, gunicorn, http

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_browsing_and_job_users_together_keep_health_under_a_second(digits_workspace, tmp_path):
    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    figures_file = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, "benchmarks/load_test.py", "--users", "10", "--job-users", "2",
                          "--seconds", "20", "--workspace", str(workspace), "--json", str(figures_file)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    kinds = figures["kinds"]
    assert figures["errors"] == 0, kinds
    assert kinds["/health"]["count"] >= 40 and kinds["/health"]["max_ms"] < 1000, kinds["/health"]
    assert kinds["hover callback"]["count"] > 0 and kinds["thumbnail"]["count"] > 0
    # the job users' jobs ran in the background and each answered with its view
    jobs = sum(row["count"] for kind, row in kinds.items() if kind.endswith(" job"))
    assert jobs >= 2 and kinds["job poll"]["count"] > 0
    assert figures["memory"]["workers"] == 4 and figures["memory"]["workers_mb_max"] > 0


def declared_body_status(base: str, size: int) -> int:
    """The status of a callback POST declaring a `size`-byte body, of which the first megabyte is
    sent (a server that refuses early closes the connection: the rest would not go through)."""
    address = urllib.parse.urlsplit(base)
    connection = HTTPConnection(address.hostname, address.port, timeout=60)
    connection.putrequest("POST", "/_dash-update-component")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    try:
        connection.send(b"[" * min(size, 2**20))
    except OSError:
        pass  # refused before reading it
    try:
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
def test_unstored_umap_exports_and_a_50_mb_body_leave_health_fast_under_gunicorn(digits_workspace, tmp_path):
    """Finding 3 and 5 against real gunicorn: rounds of 4 concurrent CSV exports of UMAPs not in
    the store answer at once that they are not computed (nothing is computed in a web worker, so
    nothing is stored), a 50 MB body is a 413, and /health stays under a second throughout."""
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    layers = ("hidden1", "hidden2", "hidden3", "hidden4")
    env = {"NNVIS_WORKSPACES": str(workspace), "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}

    def timed_health(base):
        started = time.monotonic()
        return http(base + "/health")[0], time.monotonic() - started
    with gunicorn(env) as base:
        bodies = [json.dumps(callback_body(base, "csv-download.data", {
            "export-csv.n_clicks": 1, "workspace-select.value": 0, "layer-select.value": layer,
            "epoch-select.value": 1, "projection-select.value": "umap"}, "export-csv.n_clicks")).encode()
            for layer in layers]
        answers, health = [], []
        with ThreadPoolExecutor(5) as pool:
            for _ in range(5):  # 5 rounds of 4 exports at once, with a /health request among them
                exports = [pool.submit(http, base + "/_dash-update-component", body) for body in bodies]
                health.append(pool.submit(timed_health, base).result())
                answers += [export.result() for export in exports]
            big = pool.submit(declared_body_status, base, 50 * 2**20)
            health.append(timed_health(base))
            too_big = big.result()
    for (status, _, answer), layer in zip(answers, layers * 5):
        assert status == 200 and f"The UMAP of {layer} at epoch 1 is not computed yet".encode() in answer, answer[:300]
    assert too_big == 413
    assert [status for status, _ in health] == [200] * 6
    assert max(seconds for _, seconds in health) < 1.0, health
    analysis = Analysis(Workspace(workspace))
    assert not any(analysis.has_projection(layer, 1, "umap") for layer in layers)
