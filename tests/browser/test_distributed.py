"""The distributed path: a real redis-server and a real Celery worker run the dashboard's
background jobs; a worker killed mid-job leaves the store consistent and a re-run completes."""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace, free_port

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server on 127.0.0.1, started here and stopped afterwards."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: run ./setup.sh (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen([executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                              stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("redis-server did not answer PING")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def workspace(mnist_small_workspace, tmp_path_factory):
    """A private copy of the MNIST workspace (this test's jobs write into its store)."""
    path = tmp_path_factory.mktemp("distributed") / "mnist"
    copy_workspace(mnist_small_workspace.path, path)
    return Workspace(path)


def start_worker(redis_url: str, workspace: Workspace, log: Path) -> subprocess.Popen:
    """`celery -A app:celery_app worker` as the README gives it, in its own process group."""
    env = {**os.environ, "REDIS_URL": redis_url, "NNVIS_WORKSPACES": str(workspace.path)}
    with open(log, "ab") as output:
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "app:celery_app", "worker", "--concurrency", "1",
                                 "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
                                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def distributed_dashboard(redis_url, workspace, tmp_path_factory):
    """The real app with its background callbacks on Celery through Redis."""
    from nnvis.settings import Settings
    from tests.conftest import serving

    with serving(Settings(workspaces=(workspace.path,), redis_url=redis_url,
                          job_cache=tmp_path_factory.mktemp("jobs"))) as url:
        yield url


def lock_is_held(path: Path) -> bool:
    """Whether some process holds the flock on `path` (the store's 'computing' lock)."""
    if not path.exists():
        return False
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def holders(path: Path) -> list[str]:
    """Command lines of the processes that have `path` open (for a failure message)."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                found.append((fd_dir.parent / "cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
    return found


def wait_for_points(page, count, timeout=180000):
    page.wait_for_function("n => { const g = document.querySelector('#obs-projection .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.filter(t => !t.name.startsWith('misclassified'))"
                           ".reduce((s, t) => s + t.x.length, 0) === n; }", arg=count, timeout=timeout)


def test_projection_job_runs_on_a_celery_worker_and_survives_a_killed_worker(
        page, distributed_dashboard, redis_url, workspace, tmp_path):
    analysis = Analysis(workspace)
    key = analysis.projection_key("hidden2", 1, "tsne")
    lock = workspace.store.directory / "locks" / f"{key.digest()}.lock"
    assert key not in workspace.store
    log = tmp_path / "worker.log"
    worker = start_worker(redis_url, workspace, log)
    try:
        page.goto(distributed_dashboard + "/?layer=hidden2&epoch=1&method=tsne")
        for _ in range(1800):  # the worker takes the job and starts computing the projection
            if lock_is_held(lock):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker never started the job:\n" + log.read_text()[-3000:])
        os.killpg(worker.pid, signal.SIGKILL)  # the whole worker, mid-job
        worker.wait()
        assert key not in workspace.store  # nothing partial is served
        for _ in range(100):  # the pool's processes finish dying
            if not lock_is_held(lock):
                break
            time.sleep(0.1)
        assert not lock_is_held(lock), holders(lock)  # the dead worker's lock went with it

        worker = start_worker(redis_url, workspace, log)
        page.reload()  # the user asks again: a new job on the new worker completes
        # the PCA stand-in drawn meanwhile reads 'Computing t-SNE…' until the job is done
        page.wait_for_function("() => { const e = document.querySelector('#nh-value');"
                               " return e && e.innerText.startsWith('NH '); }", timeout=180000)
        wait_for_points(page, 600)
        assert key in workspace.store
        nh = Analysis(workspace).neighborhood_hit("hidden2", 1, "tsne")
        page.wait_for_function(f"() => document.querySelector('#nh-value').innerText.includes('NH {nh:.4f}')")
        assert "Celery" in log.read_text() or "celery" in log.read_text()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
