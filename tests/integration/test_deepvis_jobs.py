"""/deepvis computes nothing in a web request (issue 24, item 3): the layer grid, saliency, the
filters and the weighted-sum view are a job's work, written as plain arrays to a folder every
web worker reads; a request draws what is there, else says 'computing…' and asks for the job;
a read-only server says the view is not computed and asks for none; every number box is bounded
and a bad value is said in place; a drawing is bounded and rasterised quickly. On the digits MLP
(2 epochs) and on real MNIST served by gunicorn."""

import json
import threading

import numpy as np
import pytest
from dash import no_update

from nnvis.deepvis.grid import grid_mosaic, layer_grid, model_input, weighted_sum_view
from nnvis.deepvis.saliency import Explainer
from nnvis.errors import NNVisError
from nnvis.workspace.analysis import Analysis
from tests.conftest import counting

GRID, SALIENCY, WEIGHTS = slice(0, 4), slice(4, 6), slice(6, 9)


@pytest.fixture
def dv_app(digits_workspace, tmp_path):
    """A request context of the real app over the digits workspace, its job cache empty and
    nothing in this process's memory: `dv_app(read_only)`."""
    from app import create_app
    from callbacks.deepvis_jobs import RESULTS
    from nnvis.settings import Settings
    from web.uploads import UPLOADS

    def context(read_only=False):
        RESULTS.clear_memory()
        UPLOADS.clear_memory()
        app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs",
                                  read_only=read_only))
        return app.server.test_request_context()
    yield context
    RESULTS.clear_memory()
    UPLOADS.clear_memory()


def files(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "deepvis").rglob("*")) if p.is_file()}


def said(figure) -> str:
    """The message a message figure shows, on one line."""
    return figure.layout.annotations[0].text.replace("<br>", " ")


def heat_z(figure) -> list:
    return [np.array(trace.z, dtype=float) for trace in figure.data if trace.type == "heatmap"]


def test_a_request_computes_nothing_and_the_job_fills_every_view(digits_workspace, dv_app, tmp_path, monkeypatch):
    from callbacks import deepvis
    from callbacks.deepvis_views import COMPUTING

    analysis = Analysis(digits_workspace)
    model, image = analysis.model(2), analysis.subset()["images"][5]
    expected = layer_grid(model, model_input(model, image), "hidden2")
    explainer = Explainer(model)
    unit_map = explainer.unit(model_input(model, image), "hidden2", 3, "gradient").saliency
    class_map = explainer.predicted_class(model_input(model, image), "gradient").saliency
    wsum = weighted_sum_view(model, (8, 8), "hidden2", 3, 4)
    models = counting(monkeypatch, Analysis, "model")
    view = (0, {"observation": 5}, "hidden2", 2, "index", 3, 4, "gradient")
    with dv_app():
        shown = deepvis.render_views(*view)
        request = shown[-1]
        assert models == [] and files(tmp_path / "jobs") == {}  # no model built, nothing written
        assert shown[3] == "observation 5" and said(shown[0]) == COMPUTING
        assert said(shown[4]) == said(shown[7]) == COMPUTING
        assert request == {"ws": 0, "epoch": 2, "layer": "hidden2", "input": {"observation": 5}, "sort": "index",
                           "top_k": 4, "method": "gradient", "unit": 3,
                           "parts": ["grid", "unit:gradient", "class:gradient", "filters", "wsum"]}

        reports = []
        drawn = deepvis.run_views_job(reports.append, request)  # the job (here in-process)
        assert drawn[-1] == {"display": "none"}  # no Retry
        assert len(models) == 1 and reports[-1][2].startswith("done")
        assert drawn[3].startswith("observation 5: predicted") and drawn[6].layout.annotations[0].text.startswith(
            "hidden1")
        np.testing.assert_allclose(heat_z(drawn[0])[0][~np.isnan(heat_z(drawn[0])[0])],
                                   grid_mosaic(expected)[0][~np.isnan(grid_mosaic(expected)[0])], rtol=1e-5)
        saliency = heat_z(drawn[4])
        np.testing.assert_allclose(saliency[0], np.round(unit_map, 5), atol=1e-5)
        np.testing.assert_allclose(saliency[1], np.round(class_map, 5), atol=1e-5)
        assert drawn[8] == f"weighted sum over {' → '.join(wsum.chain)}"
        assert len(drawn[7].data) == 1 + len(wsum.contributors)

    with dv_app():  # another worker (nothing in its memory): every view read from the folder, no model
        before = len(models)
        again = deepvis.render_views(*view)
        assert again[-1] is None and len(models) == before
        assert again[3] == drawn[3] and heat_z(again[4])[0].tolist() == saliency[0].tolist()
        channel = int(grid_mosaic(expected)[1][0, 2])
        _, caption = deepvis.enlarge_hovered({"points": [{"x": 2, "y": 0}]}, *view[:5])
        assert caption == f"unit {channel} of hidden2: {expected.alphas[channel]:.4g}" and len(models) == before
        by_mean = deepvis.render_views(0, {"observation": 5}, "hidden2", 2, "mean", 3, 4, "gradient")
        assert by_mean[-1] is None and by_mean[0].layout.title.text.endswith("by mean activation")

        other_unit = deepvis.render_views(0, {"observation": 5}, "hidden2", 2, "index", 4, 4, "gradient")
        assert other_unit[-1]["parts"] == ["unit:gradient", "wsum"]  # the grid, the class and filters kept


def test_a_read_only_server_says_a_view_is_not_computed_and_starts_no_job(digits_workspace, dv_app, tmp_path,
                                                                          monkeypatch):
    from callbacks import deepvis
    from callbacks.deepvis_views import READ_ONLY

    models = counting(monkeypatch, Analysis, "model")
    with dv_app(read_only=True):
        shown = deepvis.render_views(0, {"observation": 7}, "hidden2", 2, "index", None, 9, "all")
        assert shown[-1] is no_update and models == [] and not (tmp_path / "jobs" / "deepvis").exists()
        assert [said(shown[i]) for i in (0, 4, 6)] == [READ_ONLY] * 3
        refused = deepvis.run_views_job(lambda _: None, {"ws": 0, "epoch": 2, "layer": "hidden2", "sort": "index",
                                                         "input": {"observation": 7}, "parts": ["grid"]})
        assert refused[3].startswith("This server is read-only") and models == []
        assert refused[-1] == {"display": "inline-flex"}  # the Retry button, as for a job that stopped


@pytest.mark.parametrize("top_k", [1000, 1e6, 0, -3, 2.5, float("nan")])
def test_a_top_k_out_of_bounds_is_said_in_place(dv_app, top_k):
    from callbacks import deepvis

    with dv_app():
        shown = deepvis.render_views(0, {"observation": 5}, "hidden2", 2, "index", 3, top_k, "all")
    message = f"top-k {top_k!r} is out of range; allowed: a whole number from 1 to 64"
    assert shown[8] == message and said(shown[6]) == message
    assert shown[3] == "observation 5"  # the other views go on


def test_bad_boxes_and_forged_requests_are_refused(dv_app):
    from callbacks import deepvis
    from callbacks.deepvis_jobs import checked_request

    with dv_app():
        shown = deepvis.render_views(0, {"observation": 5}, "hidden2", 2, "index", 1e7, 9, "all")
        assert "unit 10000000.0 is not a whole number from 0" in shown[3] and shown[-1] is None
        shown = deepvis.render_views(0, {"observation": 5}, "hidden2", 2, "index", None, 9, "sideways")
        assert shown[5] == "saliency method 'sideways' is unknown; allowed: all, gradient, guided, integrated"
    good = {"ws": 0, "epoch": 2, "layer": "hidden2", "input": {"observation": 5}, "sort": "index", "parts": ["grid"]}
    assert checked_request(good)["top_k"] == 9
    for forged, needle in [({"parts": ["train"]}, "computes some of"), ({"top_k": 10**6}, "top-k"),
                           ({"parts": ["wsum"]}, "need a unit"), ({"input": {"path": "/etc"}}, "observation or"),
                           ({"layer": ["x"]}, "needs a layer"), ({"unit": -1, "parts": ["wsum"]}, "unit -1")]:
        with pytest.raises(NNVisError, match=needle):
            checked_request({**good, **forged})


def test_a_drawing_is_bounded_and_rasterised_quickly():
    from callbacks.deepvis_inputs import drawn_strokes
    from nnvis.deepvis.drawing import MAX_POINTS, rasterize_strokes

    rng = np.random.default_rng(0)
    walk = (np.cumsum(rng.normal(0, 0.3, (MAX_POINTS, 2)), axis=0) % 28).round(2)
    path = "M" + "L".join(f"{x},{y}" for x, y in walk)
    strokes = drawn_strokes({"shapes": [{"type": "path", "path": path}]})
    assert len(strokes) == 1 and strokes[0].shape == (MAX_POINTS, 2)
    drawn = rasterize_strokes(strokes, (28, 28))
    assert drawn.dtype == np.uint8 and drawn.shape == (28, 28) and drawn.max() == 255
    for shapes, needle in [([{"path": path + "L1,1"}], f"1 stroke and {MAX_POINTS + 1:,} points"),
                           ([{"path": "M1,1L2,2"}] * 51, "51 strokes and 102 points")]:
        with pytest.raises(NNVisError, match=needle + "; allowed: at most 50 strokes and 60,000 points in all"):
            drawn_strokes({"shapes": shapes})


# ---- served: four saliency posts at once under gunicorn's 4 workers

def views_body(base: str, values: dict, changed: str) -> dict:
    from tests.hardening_client import callback_body

    return callback_body(base, "dv-request.data", values, changed)


SALIENCY_POSTS = [{"dv-ws.value": 0, "dv-input.data": {"observation": obs}, "dv-layer.value": "hidden2",
                   "dv-epoch.value": 2, "dv-sort.value": "index", "dv-unit.value": 3, "dv-topk.value": 9,
                   "dv-method.value": "gradient"} for obs in (1, 2, 3, 4)]


def post_at_once(base: str, bodies: list) -> tuple[list, int]:
    """The answers of `bodies` posted at once, and /health's status while they run."""
    from tests.hardening_client import http

    answers = [None] * len(bodies)

    def post(i):
        answers[i] = http(base + "/_dash-update-component", bodies[i])
    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    health = http(base + "/health", timeout=30)[0]
    for thread in threads:
        thread.join()
    return answers, health


def test_four_saliency_posts_at_once_answer_computing_with_a_job_request(digits_workspace, tmp_path):
    """Four /deepvis saliency posts at once to the served app: each answers at once with
    'computing…' and the job's request, and nothing is computed or written by the server."""
    from nnvis.settings import Settings
    from tests.conftest import serving

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        bodies = [json.dumps(views_body(base, value, "dv-unit.value")).encode() for value in SALIENCY_POSTS]
        answers, health = post_at_once(base, bodies)
    assert health == 200
    for (status, _, answer), value in zip(answers, SALIENCY_POSTS):
        assert status == 200, answer[:300]
        response = json.loads(answer)["response"]
        assert "Computing in the background" in json.dumps(response["dv-saliency"]["figure"])
        assert response["dv-request"]["data"]["parts"] == ["grid", "unit:gradient", "class:gradient", "filters",
                                                           "wsum"]
        assert response["dv-request"]["data"]["input"] == value["dv-input.data"]
    assert not (tmp_path / "jobs" / "deepvis").exists()


@pytest.mark.slow
def test_four_saliency_posts_at_once_compute_nothing_and_the_job_draws_the_maps(digits_workspace, tmp_path):
    """Issue 24's reproduction: four /deepvis saliency posts at once under gunicorn. Each answers
    'computing…' with a job request (no model in the web worker: /health is never held up; its
    timing is benchmarks/bench_deepvis_requests.py's), the job draws the maps, and the same post
    then reads them: the same numbers in every worker, no request for a job."""
    from tests.hardening_client import callback_body, gunicorn, http, run_background

    env = {"NNVIS_WORKSPACES": str(digits_workspace.path), "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}
    values = SALIENCY_POSTS
    with gunicorn(env) as base:
        bodies = [json.dumps(views_body(base, value, "dv-unit.value")).encode() for value in values]
        answers, health = post_at_once(base, bodies)
        assert health == 200
        requests = []
        for (status, _, answer), value in zip(answers, values):
            assert status == 200, answer[:300]
            response = json.loads(answer)["response"]
            assert "Computing in the background" in json.dumps(response["dv-saliency"]["figure"])
            request = response["dv-request"]["data"]
            assert request["parts"][:2] == ["grid", "unit:gradient"] and request["input"] == value["dv-input.data"]
            requests.append(request)
        assert not (tmp_path / "jobs" / "deepvis").exists()  # nothing computed by the web workers

        job = {"dv-request.data": requests[0]}
        answer = run_background(base, callback_body(base, "dv-saliency.figure@", job, "dv-request.data"))
        drawn = answer["response"]["dv-saliency"]["figure"]
        heat = [trace for trace in drawn["data"] if trace["type"] == "heatmap"]
        assert len(heat) == 2 and "unit 3" in drawn["layout"]["annotations"][0]["text"]

        for _ in range(4):  # any worker: drawn from the folder, no job asked for
            status, _, again = http(base + "/_dash-update-component", bodies[0])
            response = json.loads(again)["response"]
            assert response["dv-request"]["data"] is None
            assert [t["z"] for t in response["dv-saliency"]["figure"]["data"] if t["type"] == "heatmap"] == \
                [t["z"] for t in heat]
