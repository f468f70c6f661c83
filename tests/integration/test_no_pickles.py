"""Nothing in a workspace's store or the job cache is ever unpickled: a row rewritten to hold a
pickle (diskcache's `mode = 4`) runs nothing, on a read-only server, a writable one, the CLI and
a job start; it reads as missing (damaged) and `nnvis check` lists it."""

import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

from nnvis.settings import Settings
from tests.conftest import ROOT, copy_workspace, serving
from tests.hardening_client import run_background
from tests.integration.test_hardening_jobs import projection_job

PICKLE_MODE = 4


class Payload:
    """A pickle that creates `path` when it is loaded (harmless, and seen if it ever runs)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def poison(database: Path, marker: Path, where: str = "1") -> int:
    """Rewrite the rows of the diskcache at `database` matching `where` as pickles of a payload."""
    with sqlite3.connect(database) as connection:
        changed = connection.execute(f"UPDATE Cache SET mode = ?, value = ?, filename = NULL WHERE {where}",
                                     (PICKLE_MODE, pickle.dumps(Payload(marker)))).rowcount
    return changed


def poisoned_workspace(digits_workspace, tmp_path) -> tuple[Path, Path]:
    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    marker = tmp_path / "pickle-ran"
    assert poison(workspace / "store" / "cache.db", marker) > 10
    return workspace, marker


def test_a_pickled_store_row_runs_nothing_on_a_read_only_server(digits_workspace, tmp_path):
    from app import create_app

    workspace, marker = poisoned_workspace(digits_workspace, tmp_path)
    app = create_app(Settings(workspaces=(workspace,), read_only=True, job_cache=tmp_path / "jobs"))
    client = app.server.test_client()
    for index in (1, 2, 3):
        assert client.get(f"/thumbs/0/{index}.png").status_code in (200, 404)
    assert client.get("/").status_code == 200
    assert not marker.exists()


def test_a_pickled_store_row_runs_nothing_on_a_writable_server_and_is_recomputed(digits_workspace, tmp_path):
    from app import create_app

    workspace, marker = poisoned_workspace(digits_workspace, tmp_path)
    app = create_app(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs"))
    response = app.server.test_client().get("/thumbs/0/1.png")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")  # drawn again from the data set
    assert not marker.exists()


def nnvis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnvis.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def test_the_cli_reads_no_pickle_and_check_lists_and_repairs_them(digits_workspace, tmp_path):
    workspace, marker = poisoned_workspace(digits_workspace, tmp_path)
    nnvis("summary", "--workspace", str(workspace), "--json")
    assert not marker.exists()
    checked = nnvis("check", "--workspace", str(workspace))
    assert not marker.exists()
    assert "is a pickle, refused unread" in checked.stdout + checked.stderr
    nnvis("check", "--workspace", str(workspace), "--repair")
    with sqlite3.connect(workspace / "store" / "cache.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM Cache WHERE mode = ?", (PICKLE_MODE,)).fetchone()[0] == 0
    assert not marker.exists()


def test_a_pickled_job_cache_row_runs_nothing_at_the_next_job_start(digits_workspace, tmp_path):
    from web.job_cache import open_job_cache
    from web.job_manager import REGISTRY

    jobs = tmp_path / "jobs"
    with open_job_cache(jobs) as cache:
        cache.set(REGISTRY, {})
    marker = tmp_path / "pickle-ran"
    assert poison(jobs / "cache.db", marker, f"key = '{REGISTRY}'") == 1
    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=jobs)) as base:
        reply = run_background(base, projection_job(base, "hidden3", 2, "pca"))
    assert "response" in reply  # the job ran and answered; the refused registry row read as empty
    assert not marker.exists()


def test_job_answers_go_through_the_job_cache_as_json(tmp_path):
    import plotly.graph_objects as go
    from dash import Patch, no_update

    from web.job_cache import open_job_cache

    patch = Patch()
    patch["data"][0]["marker"]["color"] = [1, 2]
    with open_job_cache(tmp_path / "jobs") as cache:
        cache.set("answer", [go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), patch, no_update, "text"])
        figure, patched, unchanged, text = cache.get("answer")
        assert figure["data"][0]["x"] == [1, 2] and figure["data"][0]["type"] == "scatter"
        assert patched["__dash_patch_update"] == "__dash_patch_update"
        assert unchanged == {"_dash_no_update": "_dash_no_update"} and text == "text"
        cache.set("secret", b"\x00bytes")  # Dash's signing secret for job handles: every worker must read it back
        cache.set("long", "x" * 100_000)  # a value kept in a file of its own
        assert cache.get("secret") == b"\x00bytes" and cache.get("long") == "x" * 100_000
    with sqlite3.connect(tmp_path / "jobs" / "cache.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM Cache WHERE mode = ?", (PICKLE_MODE,)).fetchone()[0] == 0


def test_every_worker_signs_job_handles_with_the_secret_kept_in_the_job_cache(tmp_path):
    """Dash keeps the secret signing job handles in the job cache, for every gunicorn worker to read
    the same one; a job cache that could not hold it left each worker its own secret, and a job
    started through one worker could not be polled through another (its page got nothing)."""
    from app import create_app

    first, second = (create_app(Settings(workspaces=(), job_cache=tmp_path / "jobs")) for _ in range(2))
    secret = first._get_signing_secret()
    assert len(secret) >= 32 and second._get_signing_secret() == secret
