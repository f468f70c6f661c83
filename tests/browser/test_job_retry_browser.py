"""A job that dies (killed, out of memory) is said in the page's banner with a Retry button;
pressing Retry asks for the same view again, whose job then runs to its end."""

import os
import signal
import time

import psutil
import pytest

from tests.conftest import digits_run, serving

pytestmark = pytest.mark.browser


def job_processes() -> list:
    """This process's job processes now running (an ended one not reaped yet is a zombie: skipped)."""
    found = []
    for process in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "web.job_process" in " ".join(process.cmdline()):
                found.append(process)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


def test_a_killed_job_is_said_with_a_retry_that_asks_again(page, tmp_path):
    from nnvis.settings import Settings
    from nnvis.workspace.stored import StoredWorkspace

    workspace = digits_run(tmp_path / "digits")  # its own: in the session's run other tests store t-SNE views
    assert not StoredWorkspace(workspace).has_projection("hidden3", 2, "tsne")
    with serving(Settings(workspaces=(workspace.path,), job_cache=tmp_path / "jobs")) as base:
        before = {process.pid for process in job_processes()}  # earlier tests' jobs may still be ending
        page.goto(f"{base}/?ws=0&layer=hidden3&epoch=2&method=tsne")  # not stored: a job computes it
        deadline = time.monotonic() + 120
        while not [p for p in job_processes() if p.pid not in before] and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in job_processes():  # this page's: killed while it starts (its imports take seconds)
            if process.pid not in before:
                process.send_signal(signal.SIGKILL)
        page.wait_for_selector("#error-banner:has-text('The job stopped before it answered')", timeout=120000)
        assert "Computing t-SNE" not in page.inner_text("#nh-value")  # the view says it was not computed
        page.wait_for_selector("#error-retry", state="visible", timeout=120_000)
        page.click("#error-retry")
        page.wait_for_function("() => /NH [0-9.]+/.test((document.querySelector('#nh-value') || {innerText: ''})"
                               ".innerText) && !document.querySelector('#nh-value').innerText.includes('Computing')",
                               timeout=300000)
        assert "t-SNE" in page.inner_text("#nh-value") or "tsne" in page.url
        assert not page.is_visible("#error-retry")
