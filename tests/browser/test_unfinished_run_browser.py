"""A workspace whose run stopped after training (snapshots and manifest, no activations): the
pages never capture activations inside a web request (a forward pass of the whole subset);
they say what is missing, and explore's projection job captures them in the background."""

import pytest

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

NOT_CAPTURED = "the activations of epoch 1 are not captured"


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A digits MLP trained 1 epoch whose run stopped after `prepare`, served by the real app."""
    from nnvis.settings import Settings
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig

    workspace = Workspace(tmp_path_factory.mktemp("unfinished") / "digits")
    prepare(RunConfig(dataset="digits", model="mlp", epochs=1, subset=200, projection="pca", device="cpu"), workspace)
    with serving(Settings(workspaces=(workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"))) as url:
        yield workspace, url


def test_a_request_never_captures_and_explores_job_does(page, unfinished):
    workspace, url = unfinished
    page.goto(url + "/units?ws=0&layer=hidden2&epoch=1&unit=3")
    page.wait_for_function(f"() => (document.querySelector('#ul-message') || {{innerText: ''}})"
                           f".innerText.includes('{NOT_CAPTURED}')", timeout=120_000)
    assert "nnvis run" in page.inner_text("#ul-message")  # what to do about it
    assert not Analysis(workspace).captured(1)  # the request ran no forward pass

    page.goto(url + "/?ws=0&layer=hidden2&epoch=1&method=tsne")  # a job, which captures the epoch
    page.wait_for_function("() => (document.querySelector('#nh-value') || {innerText: ''}).innerText"
                           ".startsWith('Computing t-SNE of hidden2 at epoch 1')", timeout=120_000)
    assert "PCA meanwhile" not in page.inner_text("#nh-value")  # no stand-in without activations
    page.wait_for_function("() => (document.querySelector('#nh-value') || {innerText: ''}).innerText"
                           ".startsWith('NH ')", timeout=120000)
    assert Analysis(workspace).captured(1)

    page.goto(url + "/units?ws=0&layer=hidden2&epoch=1&unit=3")
    page.wait_for_function("() => (document.querySelector('#ul-title') || {innerText: ''}).innerText"
                           ".startsWith('hidden2 · unit 3 of 1000')", timeout=120_000)
    assert page.inner_text("#ul-message") == ""

