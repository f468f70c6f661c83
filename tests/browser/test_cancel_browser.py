"""Cancel on the explore page: the heading says the projection was cancelled, no longer that it
is computing. The server runs no job at once (max_jobs 0), so the job waits in the queue and
its indicator says so until Cancel is pressed: nothing here races the job's end."""

import pytest

from tests.conftest import serving

pytestmark = pytest.mark.browser


def test_a_cancelled_projection_says_cancelled_not_computing(page, digits_workspace, tmp_path):
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs", max_jobs=0)
    with serving(settings) as base:
        page.goto(f"{base}/?ws=0&layer=hidden3&epoch=2&method=tsne")  # not stored: a job is asked for
        page.wait_for_selector("#job-stage:has-text('queued: next, waiting for a free slot')", timeout=120000)
        assert page.inner_text("#nh-value").startswith("Computing t-SNE")
        page.click("#job-cancel")
        page.wait_for_selector("#nh-value:has-text('Cancelled: this projection was not computed')", timeout=120_000)
        page.wait_for_selector("#job-indicator", state="hidden", timeout=120_000)
        assert "Computing" not in page.inner_text("#nh-value")
