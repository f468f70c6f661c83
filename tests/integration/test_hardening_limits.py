"""Request limits: a 50 MB body is a 413, a 100,000-deep nesting and over-long lists and
drawing paths are 400s, and the 10 MB upload still fits."""

import base64
import json

import pytest


@pytest.fixture(scope="module")
def client(digits_workspace, tmp_path_factory):
    from app import create_app
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"))
    return create_app(settings).server.test_client()


def hover(value) -> dict:
    return {"output": "obs-hover.children", "outputs": {"id": "obs-hover", "property": "children"},
            "inputs": [{"id": "obs-projection", "property": "hoverData", "value": value}],
            "state": [{"id": "workspace-select", "property": "value", "value": 0},
                      {"id": "layer-select", "property": "value", "value": "hidden2"},
                      {"id": "epoch-select", "property": "value", "value": 2},
                      {"id": "projection-select", "property": "value", "value": "pca"}],
            "changedPropIds": ["obs-projection.hoverData"]}


def post(client, data: bytes):
    return client.post("/_dash-update-component", data=data, content_type="application/json")


def test_oversized_deep_and_long_bodies_are_refused(client):
    assert post(client, b"[" * (50 * 2**20)).status_code == 413
    deep = post(client, json.dumps(hover({"points": [{"customdata": 7}]})).replace(
        '"value": {"points"', '"value": ' + "[" * 100_000 + "1" + "]" * 100_000 + ', "x": {"points"', 1).encode())
    assert deep.status_code == 400 and b"nests" in deep.data
    long_list = post(client, json.dumps(hover({"points": [{"customdata": 7}], "extra": [0] * 300_000})).encode())
    assert long_list.status_code == 400 and b"list of 300000 items" in long_list.data
    path = "M 1,1 " + "L 2,2 " * 400_000
    refused = post(client, json.dumps(choose_input("dv-canvas.relayoutData", {"shapes": [{"path": path}]})).encode())
    assert refused.status_code == 400 and b"characters" in refused.data
    fine = post(client, json.dumps(hover({"points": [{"customdata": 7}]})).encode())
    assert fine.status_code == 200 and "/thumbs/0/7.png" in json.dumps(fine.get_json())


def choose_input(changed: str, value) -> dict:
    """The deep-vis page's body for a new input: an upload's contents (the input callback) or the
    canvas's drawing (the drawing callback)."""
    values = {"dv-observation.value": 0, "dv-upload.contents": None, "dv-canvas.relayoutData": None,
              "dv-upload.filename": "big.png", "dv-ws.value": 0, changed: value}
    drawing = changed == "dv-canvas.relayoutData"
    ids = ["dv-canvas.relayoutData"] if drawing else ["dv-observation.value", "dv-upload.contents"]
    states = ["dv-ws.value"] if drawing else ["dv-upload.filename", "dv-ws.value"]
    outputs = [{"id": "dv-input", "property": "data"}] + ([] if drawing else [
        {"id": "dv-input-status", "property": "children"}])
    return {"output": "..dv-input.data...dv-input-status.children..", "outputs": outputs,
            "inputs": [{"id": i.split(".")[0], "property": i.split(".")[1], "value": values[i]} for i in ids],
            "state": [{"id": i.split(".")[0], "property": i.split(".")[1], "value": values[i]} for i in states],
            "changedPropIds": [changed]}


def test_a_ten_megabyte_upload_still_fits(client):
    upload = "data:image/png;base64," + base64.b64encode(b"\0" * 10 * 2**20).decode()
    answer = post(client, json.dumps(choose_input("dv-upload.contents", upload)).encode())
    assert answer.status_code == 200  # it reaches the callback, which judges the file itself:
    assert "big.png is not an image PIL can read" in json.dumps(answer.get_json())
