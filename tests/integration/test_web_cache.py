"""Per-process caches of the web side (web.context.OPENED, web.memo): a workspace is opened once
per process and again when its workspace.json changes, the allow-list is checked on every open,
nothing is shared with a forked child, and a drawn view is built once and handed out as copies."""

import json
import multiprocessing
import os

import numpy as np
import pytest

from nnvis.errors import NNVisError
from tests.conftest import copy_workspace


@pytest.fixture
def served(digits_workspace, tmp_path):
    """A request context of an app over a copy of the digits workspace (free to edit), caches emptied."""
    from app import create_app
    from nnvis.settings import Settings
    from web.context import OPENED
    from web.memo import FIGURES

    copy = copy_workspace(digits_workspace.path, tmp_path / "digits")
    OPENED.clear()
    FIGURES.clear()
    app = create_app(Settings(workspaces=(copy,), job_cache=tmp_path / "jobs"))
    with app.server.test_request_context("/"):
        yield copy


def test_a_workspace_is_opened_once_per_process_and_again_when_its_manifest_changes(served):
    from web.context import OPENED, open_analysis

    first, second = open_analysis(0), open_analysis(0)
    assert first is not second and first.store is second.store and first.manifest is second.manifest
    assert len(OPENED.kept.entries) == 1
    first.model(2)
    assert 2 in first._models and second._models == {}  # loaded models are never shared between requests
    manifest = json.loads((served / "workspace.json").read_text())
    manifest["epochs"] = manifest["epochs"][:2]
    (served / "workspace.json").write_text(json.dumps(manifest))
    third = open_analysis(0)
    assert third.epochs == [0, 1] and second.epochs == [0, 1, 2] and third.store is not second.store
    assert len(OPENED.kept.entries) == 1  # the older manifest's entry was replaced


def test_the_allow_list_is_checked_on_every_open(served):
    from web.context import open_analysis

    open_analysis(0)
    manifest = json.loads((served / "workspace.json").read_text())
    manifest["config"]["model"] = "os:getcwd"
    (served / "workspace.json").write_text(json.dumps(manifest))
    with pytest.raises(NNVisError, match="os:getcwd"):
        open_analysis(0)


def child_sees(queue, path) -> None:
    from web.context import OPENED, manifest_identity

    queue.put(OPENED.kept.get((str(path), False, manifest_identity(path))) is None)


def test_a_forked_child_starts_with_nothing_opened(served):
    from web.context import OPENED, manifest_identity, open_analysis

    open_analysis(0)
    assert OPENED.kept.get((str(served), False, manifest_identity(served))) is not None
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=child_sees, args=(queue, served))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) is True and child.exitcode == 0 and os.getpid() == OPENED.kept.owner


def test_a_view_is_drawn_once_and_handed_out_as_independent_copies(served):
    from plotly.io.json import to_json_plotly

    from callbacks.views import neuron_map_view, projection_view
    from web.memo import FIGURES

    figure, text, _, _ = projection_view(0, "hidden2", 1, "pca", "true", [], None, [3, 4])
    assert len(FIGURES.entries) == 1
    again, text_again, _, _ = projection_view(0, "hidden2", 1, "pca", "true", [], None)
    assert len(FIGURES.entries) == 1 and text_again == text
    assert all(trace.selectedpoints is None for trace in again.data)  # the first caller's selection stayed its own
    assert any(trace.selectedpoints for trace in figure.data)
    unselected = json.loads(to_json_plotly(figure))
    for trace in unselected["data"]:
        trace.pop("selectedpoints", None)
    assert unselected == json.loads(to_json_plotly(again))
    FIGURES.clear()
    fresh, _, _, _ = projection_view(0, "hidden2", 1, "pca", "true", [], None)
    assert to_json_plotly(fresh) == to_json_plotly(again)  # a copy is the figure as drawn, arrays and all
    assert type(again.data[0].x).__name__ == "ndarray"
    neurons = neuron_map_view(0, "hidden2", 1, "best", None, 5)
    assert to_json_plotly(neuron_map_view(0, "hidden2", 1, "best", None, 5)) == to_json_plotly(neurons)
    assert to_json_plotly(neuron_map_view(0, "hidden2", 1, "best", None, 6)) != to_json_plotly(neurons)
    assert len(FIGURES.entries) == 3


def test_the_caches_are_bounded():
    from web.memo import ProcessLRU

    kept = ProcessLRU(3)
    for key in range(5):
        kept.put(key, str(key))
    kept.get(2)
    kept.put(5, "5")
    assert list(kept.entries) == [4, 2, 5]


@pytest.mark.parametrize("read_only", [False, True])
def test_an_unstored_neuron_map_is_a_job_never_computed_in_the_request(digits_workspace, tmp_path, read_only):
    """Issue 16: the web request answers at once with 'computing…' and the job's request; the
    background job (a fresh interpreter) stores it and draws it. A read-only server says it is not computed."""
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace
    from tests.conftest import serving
    from tests.hardening_client import callback_body, http, run_background

    copy = copy_workspace(digits_workspace.path, tmp_path / "digits")
    analysis = Analysis(Workspace(copy))
    key = analysis.neuron_map_key("hidden2", 1)
    expected = analysis.neuron_map("hidden2", 1)
    assert analysis.store.cache.delete(key.digest())
    view = {"workspace-select.value": 0, "layer-select.value": "hidden2", "epoch-select.value": 1,
            "neuron-colour.value": "best"}
    with serving(Settings(workspaces=(copy,), job_cache=tmp_path / "jobs", read_only=read_only)) as base:
        body = callback_body(base, "neuron-map.figure...neuron-job.data", view, "layer-select.value")
        status, _, answer = http(base + "/_dash-update-component", json.dumps(body).encode())
        assert status == 200
        response = json.loads(answer)["response"]
        message = response["neuron-map"]["figure"]["layout"]["annotations"][0]["text"]
        assert key not in Analysis(Workspace(copy)).store  # nothing computed in the request
        if read_only:
            assert message.startswith("This server is read-only") and "neuron-job" not in response
            return
        request = response["neuron-job"]["data"]
        assert message == "Computing the neuron map of hidden2 at epoch 1…"
        assert request == {"ws": 0, "layer": "hidden2", "epoch": 1}
        job = callback_body(base, "neuron-map.figure@", {**view, "neuron-job.data": request}, "neuron-job.data")
        reply = run_background(base, job)
    figure = reply["response"]["neuron-map"]["figure"]
    stored = Analysis(Workspace(copy)).neuron_map("hidden2", 1)  # read from the store: the job put it there
    for name in ("positions", "scores"):
        np.testing.assert_array_equal(stored[name], expected[name])
    live = np.flatnonzero(~np.isnan(expected["positions"][:, 0])).tolist()
    assert figure["data"][0]["name"] == "neurons" and figure["data"][0]["customdata"] == live
