"""The layer lab's class cosine similarity, sparsity and input perturbation are jobs (issue 16):
the page's request computes nothing (the store is unchanged right after it) and asks for a job,
the job stores the result, and the view then draws it from the store."""

import json

import numpy as np
import pytest
from dash import no_update

from tests.conftest import copy_workspace, forget


def store_entries(workspace):
    """The store's keys and its files besides the SQLite database (arrays, lock files): what a
    computation adds (the database's bytes change when SQLite merges its log on opening)."""
    import diskcache

    with diskcache.Cache(str(workspace / "store")) as cache:
        keys = set(cache.iterkeys())
    return keys, {str(p) for p in (workspace / "store").rglob("*") if p.is_file() and "cache.db" not in p.name}


@pytest.fixture
def fresh_copy(digits_workspace, tmp_path):
    """A copy of the digits workspace (MLP, epochs 0-2, 300 observations), in a request context of the app."""
    from app import create_app
    from nnvis.settings import Settings

    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    forget(workspace, "class_cosine", "sparsity", "perturbation")
    app = create_app(Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs"))
    with app.server.test_request_context():
        yield workspace


def test_cosine_sparsity_and_perturbation_views_ask_for_a_job_which_stores_them(fresh_copy):
    from callbacks import layerlab
    from nnvis.unitlab.perturbation import perturbation
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    before = store_entries(fresh_copy)
    asked = {"cosine": layerlab.render_cosine(0, "hidden2", 2, []),
             "sparsity": layerlab.render_sparsity(0, "hidden2", 2, "overall", 0.25),
             "perturbation": layerlab.render_perturbation(0, 2, 0.37)}
    assert store_entries(fresh_copy) == before  # nothing computed, nothing written
    requests = {kind: request for kind, (_, request) in asked.items()}
    assert requests == {"cosine": {"ws": 0, "layer": "hidden2", "epoch": 2},
                        "sparsity": {"ws": 0, "layer": "hidden2", "epoch": 2, "threshold": 0.25},
                        "perturbation": {"ws": 0, "epoch": 2, "variance": 0.37}}
    for figure, _ in asked.values():
        assert "in the background" in json.dumps(figure.to_plotly_json(), default=str)

    reports = []
    shown = layerlab.run_view_jobs(lambda report: reports.append(report), requests, 0, "hidden2", 2, [], "overall",
                                   0.25, 0.37)
    assert reports[-1] == ("1", "1", "perturbation 1/1")
    assert store_entries(fresh_copy) != before

    analysis = Analysis(Workspace(fresh_copy))
    acts, labels = analysis.activations("hidden2", 2).astype(np.float64), analysis.labels
    means = np.stack([acts[labels == c].mean(axis=0) for c in range(10)])
    unit = means / np.linalg.norm(means, axis=1, keepdims=True)
    for figure in (shown[0], layerlab.render_cosine(0, "hidden2", 2, [])[0]):  # the job's answer, then the page's
        np.testing.assert_allclose(np.array(figure.data[0].z), unit @ unit.T, atol=1e-6)
    assert layerlab.render_cosine(0, "hidden2", 2, [])[1] is no_update  # stored: no job asked

    for figure in (shown[1], layerlab.render_sparsity(0, "hidden2", 2, "overall", 0.25)[0]):
        assert f"{np.mean(np.abs(acts) <= 0.25):.1%} of alphas" in figure.layout.title.text

    subset = analysis.subset()
    expected = perturbation(analysis.model(2), subset["images"], subset["labels"], analysis.layers, variance=0.37)
    stored = analysis.store.get(analysis.key("perturbation", epoch=2, method="gaussian", layers=",".join(
        analysis.layers), variance=0.37, seed=0, on="subset"))
    figure, request = layerlab.render_perturbation(0, 2, 0.37)
    assert request is no_update and stored is not None
    np.testing.assert_allclose(shown[2].data[0].y, expected["cosine"], atol=1e-6)
    np.testing.assert_allclose(figure.data[0].y, expected["cosine"], atol=1e-6)
    assert sorted(stored) == sorted(expected)
    for name, value in expected.items():
        if np.asarray(value).dtype.kind in "fiu":
            np.testing.assert_allclose(stored[name], value, atol=1e-6)
        else:
            assert np.asarray(stored[name]).tolist() == np.asarray(value).tolist()


def test_a_finished_job_is_not_asked_again_and_bad_values_ask_for_nothing(fresh_copy):
    from callbacks import layerlab

    figure, again = layerlab.cosine_view(0, "hidden1", 1, True, ran=True)  # after its job, yet not stored: no loop
    assert again is no_update and "is not in the store" in json.dumps(figure.to_plotly_json(), default=str)
    before = store_entries(fresh_copy)
    for shown in (layerlab.render_sparsity(0, "hidden1", 1, "class", -1), layerlab.render_perturbation(0, 1, None),
                  layerlab.render_perturbation(0, 1, float("inf")), layerlab.render_cosine(0, "nope", 1, [])):
        figure, asked = shown
        assert asked is no_update and "allowed" in json.dumps(figure.to_plotly_json(), default=str)
    assert store_entries(fresh_copy) == before


def test_job_requests_are_bounded_before_any_work():
    from nnvis.errors import NNVisError
    from nnvis.jobs import check_request

    for kind, field, value in (("sparsity", "threshold", -1), ("sparsity", "threshold", 1e9),
                               ("perturbation", "variance", "0.1"), ("perturbation", "variance", True)):
        with pytest.raises(NNVisError, match=f"job {kind}: {field} must be a number from 0 to 1e"):
            check_request({"job": kind, "workspace": "w", "layer": "hidden1", "epoch": 1, field: value}
                          if kind == "sparsity" else {"job": kind, "workspace": "w", "epoch": 1, field: value})
    with pytest.raises(NNVisError, match="job sparsity: unknown field 'variance'"):  # each kind takes its own fields
        check_request({"job": "sparsity", "workspace": "w", "layer": "hidden1", "epoch": 1, "variance": 0.1})
    assert check_request({"job": "perturbation", "workspace": "w", "epoch": 1, "variance": 0.5})["variance"] == 0.5
