"""`nnvis serve` starts the dashboard through the web side's own entry point (app.py), from any
folder, with its workspaces passed as settings: the backend never imports the web layer."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import ROOT, free_port


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def test_serve_runs_the_dashboard_on_the_named_workspace(digits_workspace, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NNVIS_WORKSPACES", None)
    env.pop("NNVIS_JOB_CACHE", None)  # the job cache goes to the user's cache folder, not the current one
    process = subprocess.Popen([sys.executable, "-m", "nnvis.cli", "serve", "--workspace", str(digits_workspace.path),
                                "--port", str(port)], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/health", process)
        thumbnail = wait_for(f"http://127.0.0.1:{port}/thumbs/0/0.png", process)
        assert thumbnail.startswith(b"\x89PNG")  # workspace 0 is the one named on the command line
        page = wait_for(f"http://127.0.0.1:{port}/", process).decode()
        assert "<title>nnvis</title>" in page
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert not (tmp_path / "nnvis-workspace").exists()  # neither the embedded default nor its .jobs
    assert (tmp_path / "cache" / "nnvis" / "jobs").is_dir()


def test_serve_without_the_dashboard_says_where_it_is(tmp_path):
    code = ("import importlib.util, sys\n"
            "importlib.util.find_spec = lambda name, *a: None\n"
            "from nnvis.cli.commands import main\n"
            "sys.exit(main(['serve', '--workspace', 'w']))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "cannot find the dashboard (app.py)" in result.stderr
    assert "Traceback" not in result.stderr
