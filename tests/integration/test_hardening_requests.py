"""Requests that match nothing: a negative workspace number is not Python's index from the end,
an unknown script path is a 404 and a callback output no callback has is a 400, each said in a
line and none logged as a server error with a traceback."""

import logging

import pytest

from nnvis.errors import NNVisError
from nnvis.settings import Settings


@pytest.fixture
def served(tmp_path):
    from app import create_app

    app = create_app(Settings(workspaces=(tmp_path / "first", tmp_path / "second"), job_cache=tmp_path / "jobs"))
    return app


@pytest.mark.parametrize("ws", [-1, "-1", -2, 2, "1.0", True, None, "x"])
def test_a_workspace_number_outside_the_list_is_refused(served, ws):
    from web.context import workspace_path

    refused = r"unknown workspace .*\(allowed: 0 to 1\)"
    with served.server.test_request_context(), pytest.raises(NNVisError, match=refused):
        workspace_path(ws)


def test_workspace_numbers_inside_the_list_are_the_listed_folders(served, tmp_path):
    from web.context import workspace_path

    with served.server.test_request_context():
        assert workspace_path(0) == tmp_path / "first" == workspace_path("0")
        assert workspace_path(1) == tmp_path / "second"


def test_unknown_scripts_and_outputs_are_refused_without_a_traceback(served, caplog):
    client = served.server.test_client()
    with caplog.at_level(logging.ERROR):
        assert client.get("/_dash-component-suites/dash/nope.js").status_code == 404
        assert client.get("/_dash-component-suites/nopkg/x.js").status_code == 404
        body = {"output": "nothing.children", "outputs": {"id": "nothing", "property": "children"},
                "inputs": [{"id": "upload", "property": "contents", "value": "data:,"}],
                "changedPropIds": ["upload.contents"]}
        refused = client.post("/_dash-update-component", json=body)
        assert refused.status_code == 400
        assert b"no callback of this app has the output 'nothing.children'" in refused.data
        assert client.get("/_dash-component-suites/dash/deps/polyfill@7.12.1.min.js").status_code == 200
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_known_callback_still_answers(served):
    client = served.server.test_client()
    assert client.get("/").status_code == 200  # Dash moves the pages' callbacks into its map on the first request
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    outputs = [spec["output"] for spec in client.get("/_dash-dependencies").get_json()]
    assert outputs and all(output in served.callback_map for output in outputs)
