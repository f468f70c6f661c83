import contextlib
import os
import socket
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"
CIFAR_NPZ = SHARED_DATA / "cifar10" / "cifar10_test.npz"

os.environ.setdefault("NNVIS_THREADS", "2")


def copy_workspace(source: Path, target: Path) -> Path:
    """A copy of a workspace folder made by another process (`cp -a`): when this process closes a
    file of the store it read (shutil.copytree does), POSIX drops the locks its open SQLite
    connections hold on that file, and a later write by a job process then shows this process a
    malformed database."""
    import subprocess

    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return Path(target)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (tests expect ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return need(MNIST_DIR)


@pytest.fixture(scope="session")
def cifar_npz() -> Path:
    return need(CIFAR_NPZ)


@pytest.fixture(scope="session")
def blobs():
    """Seeded 3-class Gaussian blobs in 20-D, 150 points, well separated."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(3, 20))
    labels = np.repeat(np.arange(3), 50)
    return (centres[labels] + rng.normal(0, 1, size=(150, 20))).astype(np.float32), labels


def digits_run(path: Path):
    """A small real run on scikit-learn's digits at `path`: MLP, 2 epochs, PCA projections."""
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    config = RunConfig(dataset="digits", model="mlp", epochs=2, subset=300, projection="pca", device="cpu")
    return run(config, path)


@pytest.fixture(scope="session")
def digits_workspace(tmp_path_factory):
    """The session's digits run (`digits_run`); tests add t-SNE and other artifacts to it."""
    return digits_run(tmp_path_factory.mktemp("ws") / "digits")


@pytest.fixture(scope="session")
def mnist_small_workspace(mnist_dir, tmp_path_factory):
    """A real MNIST run for the browser: MLP, 1 epoch, 600 test observations, PCA projections."""
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    path = tmp_path_factory.mktemp("ws") / "mnist"
    config = RunConfig(dataset="mnist", data_dir=str(mnist_dir), model="mlp", epochs=1, subset=600,
                       projection="pca", layers="hidden2,hidden4", device="cpu")
    return run(config, path)


LIVE_PAGES: list = []  # the test's browser pages (the `page` fixture), led away before a server they poll stops


@contextlib.contextmanager
def serving(settings):
    """The real app over `settings`, served by werkzeug on a free loopback port: its URL. Before
    it stops, every live page goes to about:blank, so no callback still in flight (a job's poll,
    a slow view on a loaded machine) fails against the stopped server as a console error."""
    import threading

    from werkzeug.serving import make_server

    from app import create_app

    server = make_server("127.0.0.1", 0, create_app(settings).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        for page in list(LIVE_PAGES):
            with contextlib.suppress(Exception):  # a page already closed
                page.goto("about:blank")
        server.shutdown()


@pytest.fixture(scope="session")
def dashboard(digits_workspace, mnist_small_workspace, tmp_path_factory):
    """The real app over both workspaces."""
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path, mnist_small_workspace.path),
                          job_cache=tmp_path_factory.mktemp("jobs"))) as url:
        yield url


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is not installed: run ./setup.sh (apt-get install chromium chromium-driver)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh 1280x800 page that records console errors in `page.console_errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(120_000)  # a ceiling for waits on what the page shows: a loaded machine is slow
    new_page = context.new_page()
    new_page.console_errors = []
    new_page.on("console", lambda m: new_page.console_errors.append(m.text) if m.type == "error" else None)
    new_page.on("pageerror", lambda e: new_page.console_errors.append(str(e)))
    LIVE_PAGES.append(new_page)
    yield new_page
    LIVE_PAGES.remove(new_page)
    context.close()


def paper_summary(workspace: Path) -> dict:
    """What `nnvis summary --json` prints for `workspace`, run as a user runs it."""
    import json
    import subprocess
    import sys

    summary = subprocess.run([sys.executable, "-m", "nnvis.cli", "summary", "--workspace", str(workspace), "--json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert summary.returncode == 0, summary.stderr
    return json.loads(summary.stdout)


def choose(page, dropdown_id: str, option_text: str) -> None:
    """Pick an option of a dcc.Dropdown by its visible label, as a user does."""
    page.click(f"#{dropdown_id}")
    page.get_by_role("option", name=option_text, exact=True).click()


def drag_lasso(page, graph_id: str, corners: list[tuple[float, float]]) -> None:
    """Draw a lasso with the mouse over the plot area of graph `graph_id`, through `corners`
    given as fractions of the plot's width and height."""
    box = page.evaluate(f"() => {{ const gd = document.querySelector('#{graph_id} .js-plotly-plot');"
                        " const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, b = gd.getBoundingClientRect();"
                        " return [b.left + xa._offset, b.top + ya._offset, xa._length, ya._length]; }")
    left, top, width, height = box
    page.mouse.move(left + corners[0][0] * width - 20, top + corners[0][1] * height - 20)
    page.mouse.move(left + corners[0][0] * width, top + corners[0][1] * height, steps=4)
    page.mouse.down()
    for fx, fy in corners[1:]:
        page.mouse.move(left + fx * width, top + fy * height, steps=8)
    page.mouse.up()


@pytest.fixture(scope="session")
def mnist_paper_workspace(mnist_dir, tmp_path_factory):
    """The paper's MNIST run made by the CLI, exactly as the README gives it: its workspace path."""
    import subprocess
    import sys

    workspace = tmp_path_factory.mktemp("mnist-paper") / "ws"
    run = subprocess.run([sys.executable, "-m", "nnvis.cli", "run", "--dataset", "mnist", "--data-dir", str(mnist_dir),
                          "--model", "mlp", "--epochs", "3", "--subset", "2000", "--device", "cpu",
                          "--workspace", str(workspace)], capture_output=True, text=True, cwd=ROOT, timeout=1500)
    assert run.returncode == 0, run.stderr[-2000:]
    return workspace


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def resnet_workspace(cifar_npz, tmp_path_factory):
    """A workspace of resnet18 with random weights (epoch 0 only) over 40 CIFAR-10 test images."""
    from nnvis.data.datasets import load_dataset
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    cifar = load_dataset("cifar10", cifar_npz.parent)
    pick = np.random.default_rng(0).permutation(len(cifar.test_labels))[:40]  # the file is sorted by class
    folder = tmp_path_factory.mktemp("resnet")
    data = folder / "few-cifar.npz"
    np.savez(data, x_train=cifar.test_images[pick[:30]], y_train=cifar.test_labels[pick[:30]],
             x_test=cifar.test_images[pick[30:]], y_test=cifar.test_labels[pick[30:]], classes=np.array(cifar.classes))
    workspace = Workspace(folder / "ws")
    config = RunConfig(dataset="npz", data_dir=str(data), model="resnet18", epochs=0, subset=10,
                       layers="layer1,layer2", projection="pca", device="cpu")
    prepare(config, workspace)
    Analysis(workspace).capture_epoch(0)  # its activations, as a finished run leaves them (no web request captures)
    return workspace


def forget(workspace: Path, *kinds: str) -> None:
    """Drop every stored artifact of `kinds` from a workspace copy (never the shared original):
    what other tests of the session computed there is not in the copy."""
    import diskcache

    with diskcache.Cache(str(Path(workspace) / "store")) as cache:
        for kind in kinds:
            cache.evict(kind)


def counting(monkeypatch, owner, name: str) -> list:
    """Replace `owner.name` by a wrapper that notes each call in the list returned."""
    calls, original = [], getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)
    monkeypatch.setattr(owner, name, wrapper)
    return calls
