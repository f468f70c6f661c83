"""A job beyond the per-user cap waits its turn and says so in its indicator ("queued"), then
computes: the view that waited for it is drawn, and no job-cap message is ever shown. On resnet18
(random weights) over real CIFAR-10 test images, served with one job per user: the layer lab
opens two jobs at once (its views and the structure strip)."""

import pytest

from tests.conftest import copy_workspace, serving

pytestmark = pytest.mark.browser

STAGES = ["#ll-views-stage", "#ll-strip-stage"]


def test_a_job_beyond_the_cap_is_queued_then_drawn_never_refused(page, resnet_workspace, tmp_path):
    from nnvis.settings import Settings

    workspace = copy_workspace(resnet_workspace.path, tmp_path / "ws")   # the jobs write into its store
    settings = Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs", max_jobs_per_user=1)
    with serving(settings) as base:
        page.goto(f"{base}/layer-lab?ws=0&layer=layer1&epoch=0&image=3")  # two jobs: the views and the strip
        page.wait_for_function(  # one of the two waits, and its indicator says so
            "(ids) => ids.some(s => (document.querySelector(s) || {}).textContent?.startsWith('queued'))",
            arg=STAGES, timeout=120000)
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=240000)
        page.wait_for_function("() => !document.querySelector('#ll-cosine').textContent.includes('Computing')"
                               " && document.querySelector('#ll-cosine .xtick')", timeout=240000)
        assert "at most" not in page.inner_text("#error-banner")
        for view in ("#ll-cosine", "#ll-sparsity", "#ll-perturbation"):
            assert "Not computed" not in page.inner_text(view)
