"""The dashboard's callbacks as plain functions, figures as pure functions, and the Flask routes."""

import base64
import json

import numpy as np
import plotly
import pytest
from dash import no_update

from nnvis.errors import NNVisError
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


@pytest.fixture
def served(digits_workspace, monkeypatch):
    """The digits workspace as workspace 0 of the server's settings (read from the environment)."""
    monkeypatch.setenv("NNVIS_WORKSPACES", str(digits_workspace.path))
    return Analysis(Workspace(digits_workspace.path))


def test_projection_view_draws_every_observation_once(served):
    from callbacks.views import projection_view

    figure, text, job, grouping = projection_view(0, "hidden4", 2, "pca", "true", [], None)
    traces = [t for t in figure.data if not t.name.startswith("misclassified")]
    assert sorted(i for t in traces for i in t.customdata) == list(range(300))
    assert job is no_update and grouping == "true"  # no background job is started
    assert text.startswith(f"NH {served.neighborhood_hit('hidden4', 2, 'pca'):.4f}")
    ring = figure.data[-1]
    predictions, _ = served.predictions(2)
    assert sorted(ring.customdata) == np.flatnonzero(predictions != served.labels).tolist()


def test_missing_projection_becomes_a_job(served):
    from callbacks.views import projection_view

    figure, text, job, _ = projection_view(0, "hidden1", 0, "umap", "true", [], None)
    assert job == {"ws": 0, "layer": "hidden1", "epoch": 0, "method": "umap"}
    assert text.startswith("Computing UMAP") and not served.has_projection("hidden1", 0, "umap")
    # progressive display: PCA of the same layer and epoch is drawn while UMAP computes
    pca = served.projection("hidden1", 0, "pca")["points"]
    drawn = {i: (x, y) for t in figure.data if not t.name.startswith("misclassified")
             for i, x, y in zip(t.customdata, t.x, t.y)}
    assert len(drawn) == len(pca)
    np.testing.assert_allclose([drawn[i] for i in range(len(pca))], pca, rtol=1e-6)
    assert f"Showing PCA meanwhile: NH {served.neighborhood_hit('hidden1', 0, 'pca'):.4f}" in text


def test_neuron_patch_carries_that_neurons_activations(served):
    from callbacks.views import neuron_colour_patch, projection_view

    figure, *_ = projection_view(0, "hidden3", 1, "pca", "predicted", [], None)
    patch = neuron_colour_patch(0, "hidden3", 1, 7, "predicted").to_plotly_json()
    values = served.activations("hidden3", 1)[:, 7].astype(np.float64)
    markers = {op["location"][1]: op["params"]["value"] for op in patch["operations"] if op["location"][:1] == ["data"]}
    levels = (values - values.min()) / (values.max() - values.min()) * 255  # the colour scale's 0..255
    for number, trace in enumerate(t for t in figure.data if not t.name.startswith("misclassified")):
        colour = markers[number]["color"]
        assert colour["dtype"] == "u1" and markers[number]["cmin"] == 0 and markers[number]["cmax"] == 255
        sent = np.frombuffer(base64.b64decode(colour["bdata"]), np.uint8)
        np.testing.assert_allclose(sent, levels[list(trace.customdata)], atol=0.5)
    ticks = markers[0]["colorbar"]["ticktext"]
    assert float(ticks[0]) == pytest.approx(values.min(), rel=1e-2, abs=1e-3)
    assert float(ticks[-1]) == pytest.approx(values.max(), rel=1e-2)
    assert len(json.dumps(patch, cls=plotly.utils.PlotlyJSONEncoder)) < 300_000


def test_selection_ranking_prefers_neurons_of_the_selection(served):
    from layouts.page_parts import selection_ranking

    selected = np.flatnonzero(served.labels == 3)
    data, _ = selection_ranking(0, "hidden4", 2, selected.tolist())
    acts = served.activations("hidden4", 2).astype(np.float64)
    rest = np.setdiff1d(np.arange(len(acts)), selected)
    assert data["layer"] == "hidden4" and len(data["neurons"]) == 10
    for neuron in data["neurons"]:
        assert acts[selected, neuron].mean() > acts[rest, neuron].mean()


def test_a_links_selection_is_ranked_without_reading_the_whole_layer(served, monkeypatch, tmp_path):
    from layouts.page_parts import selection_ranking
    from nnvis.projection.linking import rank_neurons

    acts = served.activations("hidden4", 2).astype(np.float64)
    selected = [0, 5, 17, 42, 99, 230]
    expected, scores = rank_neurons(acts, np.array(selected), top=10)
    monkeypatch.setenv("NNVIS_JOB_CACHE", str(tmp_path / "jobs"))

    def whole_layer(self, layer, epoch):
        raise AssertionError(f"the whole of {layer} at epoch {epoch} was read")

    monkeypatch.setattr(type(served), "activations", whole_layer)
    data, _ = selection_ranking(0, "hidden4", 2, selected + [5])  # repeats count once
    assert data["neurons"][:3] == expected[:3].tolist()  # ties further down may swap
    np.testing.assert_allclose(data["scores"][:3], scores[:3], rtol=1e-3, atol=1e-3)


def test_export_csv_rows_match_the_projection(served):
    from callbacks.views import export_table

    table = export_table(0, "hidden2", 1, "pca")
    lines = table["content"].splitlines()
    projection = served.projection("hidden2", 1, "pca")
    assert lines[0] == f"# neighborhood_hit_mean={projection['nh'].mean():.6f}"
    assert lines[1].startswith("test_index,x,y,true_class,predicted_class")
    assert len(lines) == 2 + 300
    first = lines[2].split(",")
    assert int(first[0]) == served.subset()["index"][0] and float(first[1]) == pytest.approx(projection["points"][0, 0],
                                                                                              abs=1e-5)


def test_neuron_map_figure_hides_dead_neurons_and_rings_highlights():
    from layouts.figures import neuron_map_figure

    positions = np.array([[0, 0], [np.nan, np.nan], [1, 1], [2, 0]], np.float32)
    scores = np.array([[0.5, 0, 0.1, 0.2], [0.1, 0, 0.6, 0.3]], np.float32)
    figure = neuron_map_figure(positions, scores, ["a", "b"], highlight=[1, 2], selected=3)
    assert list(figure.data[0].customdata) == [0, 2, 3]
    assert list(figure.data[1].customdata) == [2]  # the dead neuron 1 cannot be ringed
    assert list(figure.data[2].customdata) == [3]
    assert "1 neurons never active" in figure.layout.annotations[0].text


def test_thumbnail_route_and_health(digits_workspace, tmp_path):
    from app import create_app
    from nnvis.settings import Settings

    client = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")).server.test_client()
    response = client.get("/thumbs/0/5.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "immutable" in response.headers["Cache-Control"]
    import io

    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(response.data)))
    image = Analysis(Workspace(digits_workspace.path)).subset()["images"][5]
    np.testing.assert_array_equal(picture[::12, ::12], image)  # 8x8 digits upscaled 12x with crisp pixels
    assert client.get("/thumbs/0/300.png").status_code == 404
    assert client.get("/thumbs/7/1.png").status_code == 404
    traversal = client.get("/thumbs/0/..%2F..%2Fetc%2Fpasswd.png")  # not a thumbnail: the page shell at most
    assert traversal.mimetype == "text/html" and b"root:" not in traversal.data
    assert client.get("/health").get_json() == {"status": "ok"}


def test_every_app_answers_every_callback(digits_workspace, tmp_path):
    """dash.callback gives its callbacks to the first app only; each app built here has them all
    and answers one (the hover details of observation 4) through Dash's own endpoint."""
    from app import create_app
    from nnvis.settings import Settings
    from web.registry import DECLARED

    settings = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")
    answered = []
    for _ in range(2):
        client = create_app(settings).server.test_client()
        client.get("/")  # the first request sets the app's server up
        dependencies = client.get("/_dash-dependencies").get_json()
        answered.append(sorted(d["output"] for d in dependencies))
        assert len(dependencies) >= len(DECLARED)  # ours, and dash.pages' own
        hover = next(d for d in dependencies if d["output"] == "obs-hover.children")
        body = {"output": hover["output"], "outputs": {"id": "obs-hover", "property": "children"},
                "inputs": [{"id": "obs-projection", "property": "hoverData",
                            "value": {"points": [{"customdata": 4}]}}],
                "state": [{"id": "workspace-select", "property": "value", "value": 0},
                          {"id": "layer-select", "property": "value", "value": "hidden2"},
                          {"id": "epoch-select", "property": "value", "value": 2},
                          {"id": "projection-select", "property": "value", "value": "pca"}],
                "changedPropIds": ["obs-projection.hoverData"]}
        answer = client.post("/_dash-update-component", json=body)
        assert answer.status_code == 200
        assert "/thumbs/0/4.png" in json.dumps(answer.get_json())
    assert answered[0] == answered[1]


def test_one_units_activations_come_from_the_memory_mapped_copy(served):
    by_unit = served.activations_by_unit("hidden3", 1)
    assert isinstance(by_unit, np.memmap) and by_unit.shape == served.activations("hidden3", 1).T.shape
    np.testing.assert_array_equal(served.unit_activations("hidden3", 1, 7),
                                  served.activations("hidden3", 1)[:, 7].astype(np.float32))
    with pytest.raises(NNVisError, match=f"unit {len(by_unit)} does not exist at layer hidden3; allowed: 0.."):
        served.unit_activations("hidden3", 1, len(by_unit))
    layer = served.mapped_activations("hidden3", 1)  # what the copy is written from, a slice at a time
    assert isinstance(layer, np.memmap) and not layer.flags.writeable
    np.testing.assert_array_equal(layer, served.activations("hidden3", 1))


def test_a_web_request_never_computes_the_test_accuracy_the_projection_job_does(digits_workspace, tmp_path,
                                                                                   monkeypatch):
    """The accuracy in the projection's line is read from the store; where it is missing the view
    says so and asks the projection job, which computes it (it was a forward pass of the whole test
    split inside the request: 923 s for a million-image test split)."""
    import flask

    from callbacks.views import projection_view
    from nnvis.errors import NotCaptured
    from nnvis.jobs import run_job
    from nnvis.workspace import keys
    from tests.conftest import copy_workspace

    path = copy_workspace(digits_workspace.path, tmp_path / "ws")
    monkeypatch.setenv("NNVIS_WORKSPACES", str(path))
    analysis = Analysis(Workspace(path))
    expected = analysis.test_accuracy(1)
    assert analysis.store.cache.delete(keys.accuracy(analysis, 1).digest())
    with flask.Flask("request").test_request_context():
        figure, text, job, _ = projection_view(0, "hidden4", 1, "pca", "true", [], None)
        assert "accuracy not computed yet" in text and len(figure.data) > 1  # the stored projection is drawn
        assert job == {"ws": 0, "layer": "hidden4", "epoch": 1, "method": "pca"}
        from web.context import open_analysis

        with pytest.raises(NotCaptured, match="test accuracy of epoch 1 is not computed"):
            open_analysis(0).test_accuracy(1)
    run_job({"job": "projection", "workspace": str(path), "layer": "hidden4", "epoch": 1, "method": "pca"})
    assert Analysis(Workspace(path)).stored_accuracy(1) == pytest.approx(expected, abs=1e-12)
    with flask.Flask("request").test_request_context():
        _, text, job, _ = projection_view(0, "hidden4", 1, "pca", "true", [], None)
    assert f"accuracy {expected:.4f}" in text and job is no_update
