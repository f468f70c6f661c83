"""No way past the login: every route but /health and static files needs it, whatever the
body says; malformed credentials are a 401, never a 500. Against real gunicorn, 4 workers."""

import base64
import json

import pytest

from tests.hardening_client import callback_body, gunicorn, http

HOVER = {"obs-projection.hoverData": {"points": [{"customdata": 7}]}, "workspace-select.value": 0,
         "layer-select.value": "hidden2", "epoch-select.value": 2, "projection-select.value": "pca"}


def basic(text: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}


@pytest.mark.slow
def test_the_login_cannot_be_bypassed_under_gunicorn(digits_workspace, tmp_path):
    env = {"NNVIS_WORKSPACES": str(digits_workspace.path), "NNVIS_JOB_CACHE": str(tmp_path / "jobs"),
           "NNVIS_USERS": "alice:s3cret"}
    alice = basic("alice:s3cret")
    with gunicorn(env) as base:
        body = callback_body(base, "obs-hover.children", HOVER, "obs-projection.hoverData", alice)
        status, _, answer = http(base + "/_dash-update-component", json.dumps(body).encode(), alice)
        assert status == 200 and "/thumbs/0/7.png" in json.dumps(json.loads(answer))  # the login works

        # the bypass: the first input renamed to look like routing to the open /health
        bypass = json.loads(json.dumps(body))
        bypass["inputs"][0].update({"property": "pathname", "value": "/health"})
        bypass["changedPropIds"] = [f"{bypass['inputs'][0]['id']}.pathname"]
        for attempt in (bypass, body):
            status, headers, answer = http(base + "/_dash-update-component", json.dumps(attempt).encode())
            assert status == 401 and b"thumbs" not in answer, answer[:200]
            assert headers["WWW-Authenticate"].startswith("Basic")
        for path in ("/", "/units", "/_dash-layout", "/_dash-dependencies", "/thumbs/0/7.png", "/nope"):
            assert http(base + path)[0] == 401, path

        malformed = [{"Authorization": "Bearer abc.def"}, {"Authorization": "Basic !!!not-base64"},
                     {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
                     basic("alice-without-colon"), basic("alice:wrong"), {"Authorization": "Basic"},
                     {"Authorization": "Basic " + "A" * 3000}]
        for headers in malformed:
            assert http(base + "/_dash-update-component", json.dumps(body).encode(), headers)[0] == 401, headers

        assert http(base + "/health")[0] == 200  # open for the load balancer
        _, _, page = http(base + "/", headers=alice)
        script = next(part.split('"')[0] for part in page.decode().split('src="')[1:]
                      if "_dash-component-suites" in part)
        assert http(base + script)[0] == 200  # static scripts load before the login prompt


def test_the_bypass_post_and_malformed_credentials_get_401(digits_workspace, tmp_path):
    """The same checks on the app's test client (the default run)."""
    from app import create_app
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path / "jobs", users=(("alice", "pw"),))
    client = create_app(settings).server.test_client()
    body = {"output": "obs-hover.children", "outputs": {"id": "obs-hover", "property": "children"},
            "inputs": [{"id": "obs-projection", "property": "pathname", "value": "/health"}],
            "state": [{"id": "workspace-select", "property": "value", "value": 0},
                      {"id": "layer-select", "property": "value", "value": "hidden2"},
                      {"id": "epoch-select", "property": "value", "value": 2},
                      {"id": "projection-select", "property": "value", "value": "pca"}],
            "changedPropIds": ["obs-projection.pathname"]}
    assert client.post("/_dash-update-component", json=body).status_code == 401
    for headers in ({"Authorization": "Bearer x"}, {"Authorization": "Basic %%%"}, basic("alice")):
        assert client.post("/_dash-update-component", json=body, headers=headers).status_code == 401
    body["inputs"][0].update({"property": "hoverData", "value": {"points": [{"customdata": 7}]}})
    answer = client.post("/_dash-update-component", json=body, headers=basic("alice:pw"))
    assert answer.status_code == 200 and "/thumbs/0/7.png" in json.dumps(answer.get_json())
