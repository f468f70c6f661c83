"""A job the server refuses (the per-user cap) is said in the view that waited for it: the view
never keeps saying 'Computing… in the background' for a job that never ran. On resnet18 (random
weights) over real CIFAR-10 test images, served with one job per user."""

import re

import pytest

from tests.conftest import copy_workspace, serving

pytestmark = pytest.mark.browser

WAITING = ["#ll-cosine", "#ll-sparsity", "#ll-perturbation", "#ll-strip-message"]


def texts(page) -> dict:
    """Each view's text without white space (a figure's message is broken into lines)."""
    return {view: re.sub(r"\s+", "", page.inner_text(view)) for view in WAITING}


def bare(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_refused_layer_lab_job_says_so_in_its_views_not_computing_for_ever(page, resnet_workspace, tmp_path):
    from nnvis.settings import Settings

    workspace = copy_workspace(resnet_workspace.path, tmp_path / "ws")   # the jobs write into its store
    settings = Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs", max_jobs_per_user=1)
    with serving(settings) as base:
        page.goto(f"{base}/layer-lab?ws=0&layer=layer1&epoch=0&image=3")  # two jobs: the views and the strip
        page.wait_for_selector("#error-banner:has-text('at most 1 per user')", timeout=60000)
        page.wait_for_function(  # the job that ran finishes; the refused one's views say so
            "() => !['#ll-cosine', '#ll-sparsity', '#ll-perturbation', '#ll-strip-message'].some("
            "s => document.querySelector(s).textContent.includes('Computing'))", timeout=120000)
        shown = texts(page)
        said = bare("Not computed: You run 1 job already (at most 1 per user)")
        refused = [view for view, text in shown.items() if said in text]
        assert refused in (["#ll-cosine", "#ll-sparsity", "#ll-perturbation"], ["#ll-strip-message"]), shown
        again = bare("Reload the page (or change a control) to ask again.")
        assert all(again in shown[view] for view in refused), shown
        if refused == ["#ll-strip-message"]:
            assert "layer1" in shown["#ll-cosine"]  # drawn
        else:
            assert page.locator("#ll-strip-grid .strip-row").count() > 0
        page.reload()  # the user's slot is free again: asking again computes what was refused
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120000)
        page.wait_for_function("() => !document.querySelector('#ll-cosine').textContent.includes('Computing')"
                               " && document.querySelector('#ll-cosine .xtick')", timeout=120000)
