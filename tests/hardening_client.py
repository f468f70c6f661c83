"""A plain-HTTP Dash client for the hardening tests: the posts a page makes (callbacks,
background jobs and their polls), and real gunicorn with 4 workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 60):
    """(status, headers, body) of a GET (or a POST of `body`); HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def callback_body(base: str, output_has: str, values: dict, changed: str, headers: dict | None = None) -> dict:
    """The body a page posts for the callback whose output names `output_has`: `values` maps
    'id.property' to the value of each input and state (missing ones are None)."""
    _, _, listing = http(base + "/_dash-dependencies", headers=headers)
    spec = next(c for c in json.loads(listing) if output_has in c["output"])

    def parts(text):
        component, prop = text.rsplit(".", 1) if "@" not in text else text.split("@")[0].rsplit(".", 1)
        return component, prop, text.split("@")[1] if "@" in text else None

    outputs = []
    for text in spec["output"].strip(".").split("..."):
        component, prop, suffix = parts(text)
        outputs.append({"id": component, "property": prop + (f"@{suffix}" if suffix else "")})

    def entries(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]
    return {"output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": entries(spec["inputs"]), "state": entries(spec["state"]), "changedPropIds": [changed]}


def run_background(base: str, body: dict, headers: dict | None = None, timeout: float = 240):
    """Start a background callback and poll it as the page does: its final JSON answer."""
    status, _, answer = http(base + "/_dash-update-component", json.dumps(body).encode(), headers)
    assert status == 200, answer[:300]
    return poll_background(base, json.loads(answer), body, headers, timeout)


def poll_background(base: str, handles: dict, body: dict, headers: dict | None = None, timeout: float = 240):
    """Poll the started background callback `handles` as the page does: its final JSON answer,
    or None when the job ended without one (cancelled)."""
    data = json.dumps(body).encode()
    query = urllib.parse.urlencode({"cacheKey": handles["cacheKey"], "job": handles["job"]})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, answer = http(f"{base}/_dash-update-component?{query}", data, headers)
        if status == 204:
            return None
        reply = json.loads(answer)
        if "response" in reply or "sideUpdate" in reply:
            return reply
        time.sleep(0.3)
    raise AssertionError(f"the job never answered within {timeout} s")


@contextlib.contextmanager
def gunicorn(env: dict, workers: int = 4, timeout: int = 120):
    """Real gunicorn with `workers` workers over this checkout: its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8",
                               "--workers", str(workers), "--bind",
                               f"127.0.0.1:{port}", "--timeout", str(timeout), "app:server"], cwd=ROOT,
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if http(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("gunicorn never answered /health")
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

