"""Faults said in place: a job killed mid-way answers that it stopped (not a silent nothing), and
a full disk (a real tmpfs filled up) is said by the thumbnails and a job request; once space is
freed the same requests work again."""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nnvis.errors import DISK_FULL
from nnvis.settings import Settings
from tests.conftest import copy_workspace, forget, serving
from tests.hardening_client import http, poll_background, run_background
from tests.integration.test_hardening_jobs import actmax_job, job_pid, projection_job, start
from web.job_manager import alive


def test_a_killed_job_says_it_stopped(digits_workspace, tmp_path):
    workspace = copy_workspace(digits_workspace.path, tmp_path / "ws")
    with serving(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs")) as base:
        body = actmax_job(base, unit=3, steps=10000)
        handles = start(base, body)
        pid = int(job_pid(handles))
        deadline = time.monotonic() + 120
        while not alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        reply = poll_background(base, handles, body)
    assert reply is not None and "The job stopped before it answered (killed or crashed" in json.dumps(reply)


@contextlib.contextmanager
def small_disk(folder: Path, megabytes: int):
    """A tmpfs of `megabytes` mounted at `folder` (root only; skipped elsewhere)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
    return filler


def test_a_full_disk_is_said_by_thumbnails_and_jobs_and_forgotten_once_freed(digits_workspace, tmp_path):
    with small_disk(tmp_path / "disk", 64) as disk:
        workspace = copy_workspace(digits_workspace.path, disk / "ws")
        forget(workspace, "thumbnail")  # other tests may have stored some in the shared original
        settings = Settings(workspaces=(workspace,), job_cache=disk / "jobs")
        with serving(settings) as base:
            assert http(base + "/thumbs/0/1.png")[0] == 200
            filler = fill(disk)
            status, _, text = http(base + "/thumbs/0/7.png")  # not stored yet: storing it fails
            assert status == 507 and text.decode() == DISK_FULL
            reply = run_background(base, projection_job(base, "hidden2", 1, "tsne"))
            assert "The disk holding the workspace (or the job cache) is full" in json.dumps(reply)
            filler.unlink()
            assert http(base + "/thumbs/0/7.png")[0] == 200
            reply = run_background(base, projection_job(base, "hidden2", 1, "pca"))
            assert "response" in reply
