"""What a stranger or a mistaken user sends: traversal attempts on every file route, malformed
callback payloads posted straight to Dash, unknown views. Each gets a clear answer, the server
keeps serving, and the store is left as it was."""

import json

import pytest

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


@pytest.fixture
def client(digits_workspace, tmp_path):
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs"))
    test_client = app.server.test_client()
    test_client.get("/")
    return test_client


def store_listing(workspace) -> dict:
    """Every artifact key in the store with the size of its value."""
    cache = workspace.store.cache
    return {key: len(cache[key]) for key in cache.iterkeys() if key in cache}


TRAVERSALS = ["/thumbs/0/..%2F..%2Fworkspace.json.png", "/thumbs/%2e%2e/1.png",
              "/thumbs/0/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "/assets/../app.py", "/assets/%2e%2e/app.py", "/assets/..%2fapp.py", "/assets//etc/passwd",
              "/assets/%2Fetc%2Fpasswd", "/_dash-component-suites/dash/../../../../etc/passwd",
              "/_dash-component-suites/dash/%2e%2e/%2e%2e/app.py", "//etc/passwd", "/thumbs/0//etc/passwd.png"]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_file_routes_never_serve_files_outside_what_they_serve(client, url):
    response = client.get(url)
    body = response.get_data()
    # (Dash's own component-suite route answers an unknown resource with a 500: nothing served)
    assert response.status_code in (200, 308, 400, 404, 500)
    assert b"root:x:0" not in body and b"def create_app" not in body and b"dataset_id" not in body
    if response.status_code == 200:  # the page shell of the dashboard at most, never a file
        assert response.mimetype == "text/html"


def post_callback(client, body):
    return client.post("/_dash-update-component", data=body if isinstance(body, (str, bytes)) else json.dumps(body),
                       content_type="application/json")


def hover(value, ws=0, epoch=2):
    return {"output": "obs-hover.children", "outputs": {"id": "obs-hover", "property": "children"},
            "inputs": [{"id": "obs-projection", "property": "hoverData", "value": value}],
            "state": [{"id": "workspace-select", "property": "value", "value": ws},
                      {"id": "layer-select", "property": "value", "value": "hidden2"},
                      {"id": "epoch-select", "property": "value", "value": epoch},
                      {"id": "projection-select", "property": "value", "value": "pca"}],
            "changedPropIds": ["obs-projection.hoverData"]}


@pytest.mark.parametrize("value, ws, epoch, message", [
    ({"points": [{"customdata": "abc"}]}, 0, 2, "ValueError"),
    ({"points": [{"customdata": 10**9}]}, 0, 2, "outside the subset"),
    ({"points": [{"customdata": 3}]}, 7, 2, "unknown workspace 7"),
    ({"points": [{"customdata": 3}]}, 0, 99, "no snapshot for epoch 99"),
])
def test_bad_callback_values_get_a_message_in_the_page(client, digits_workspace, value, ws, epoch, message):
    before = store_listing(digits_workspace)
    response = post_callback(client, hover(value, ws, epoch))
    assert response.status_code == 200
    answer = json.dumps(response.get_json())
    assert "error-banner" in answer and message in answer
    assert store_listing(digits_workspace) == before
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("body", ["", "not json", "[]", {"output": "nope.children"},
                                  {"output": "obs-hover.children", "inputs": "x"},
                                  {"output": "obs-hover.children", "outputs": {}, "inputs": [], "state": []}])
def test_malformed_payloads_are_refused_without_harm(client, digits_workspace, body):
    before = store_listing(digits_workspace)
    response = post_callback(client, body)
    assert response.status_code in (200, 204, 400, 404, 500)
    assert store_listing(digits_workspace) == before
    assert client.get("/health").get_json() == {"status": "ok"}


def test_unknown_views_in_a_link_fall_back_to_valid_ones(client, digits_workspace):
    from layouts.explore import initial_state, layout

    query = {"ws": "9", "layer": "../etc", "epoch": "-1", "method": "evil", "color": "<script>", "neuron": "x",
             "sel": "a-b,3-1,299-400"}
    assert client.get("/?" + "&".join(f"{k}={v}" for k, v in query.items())).status_code == 200
    analysis = Analysis(Workspace(digits_workspace.path))
    with client.application.app_context():
        state = initial_state([{"label": "digits", "value": 0}], query)
        page = json.dumps(layout(**query).to_plotly_json(), default=lambda o: o.to_plotly_json())
    assert (state["ws"], state["layer"], state["epoch"]) == (0, analysis.layers[-1], analysis.epochs[-1])
    assert (state["method"], state["color"], state["neuron"]) == (analysis.config.projection, "true", None)
    assert state["sel"] == [299]  # reversed and non-numeric ranges dropped, the rest clipped to the subset
    assert "<script>" not in page
