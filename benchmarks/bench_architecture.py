"""Before/after timings of the architecture work (issue 15): each case runs against two
checkouts, each served by its own `python app.py` on a free port over its own copy of the same
workspace, and prints the median times and their ratio.

    python benchmarks/bench_architecture.py --before /work/wt-before --after $PWD [--case NAME]

Cases are plain functions `case(base_url, workspace) -> list[float]` (seconds per sample,
warm-up excluded) registered in CASES; add one per view to time. The workspace (MNIST, MLP,
1 epoch, 5,000 test observations, PCA, every layer's projection and neuron map stored) is made
once under /tmp/nnvis-arch by the `--before` checkout (so that both read it) and copied per server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WORKDIR = Path("/tmp/nnvis-arch")
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
LAYERS = ("hidden1", "hidden2", "hidden3", "hidden4")
MAKE_WORKSPACE = f"""
import sys
try:
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig, Workspace
except ImportError:  # the checkout before the backend's wings
    from nnvis.analysis import Analysis
    from nnvis.pipeline import run
    from nnvis.workspace import RunConfig, Workspace
config = RunConfig(dataset="mnist", data_dir={str(MNIST_DIR)!r}, model="mlp", epochs=1, subset=5000,
                   projection="pca", device="cpu")
run(config, sys.argv[1])
analysis = Analysis(Workspace(sys.argv[1]))
for layer in analysis.layers:
    for epoch in analysis.epochs:
        analysis.projection(layer, epoch, "pca")
        analysis.neuron_map(layer, epoch)
        analysis.faithfulness(layer, epoch, "pca")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workspace(before: Path) -> Path:
    """The benchmark's workspace, made once by the `before` checkout."""
    path = WORKDIR / "mnist5k"
    if not (path / "workspace.json").is_file():
        WORKDIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", MAKE_WORKSPACE, str(path)], cwd=before, check=True,
                       env={**os.environ, "PYTHONPATH": str(before), "PYTHONDONTWRITEBYTECODE": "1"})
    return path


@contextlib.contextmanager
def served(checkout: Path, source: Path, name: str):
    """`python app.py` of `checkout` over a fresh copy of the workspace `source`: its base URL."""
    copy = WORKDIR / f"served-{name}" / source.name
    shutil.rmtree(copy.parent, ignore_errors=True)
    shutil.copytree(source, copy)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1", "NNVIS_WORKSPACES": str(copy),
           "NNVIS_PORT": str(port), "NNVIS_HOST": "127.0.0.1", "NNVIS_JOB_CACHE": str(copy.parent / "jobs")}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=checkout, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{checkout}: the server did not start") from None
                time.sleep(0.5)
        yield base, copy
    finally:
        server.terminate()
        server.wait(timeout=30)


def explore_view_change(base: str, _workspace: Path, changes: int = 10) -> list[float]:
    """Select another layer in the explore page's dropdown (everything in the store): per change,
    the longest of the `_dash-update-component` POSTs it causes (they run side by side), from
    Playwright's request timing (request sent to response end)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        finished: list[float] = []

        def record(request):
            if request.method == "POST" and "_dash-update-component" in request.url:
                timing = request.timing
                finished.append((timing["responseEnd"] - timing["requestStart"]) / 1000)
        page.on("requestfinished", record)
        page.goto(f"{base}/?ws=0&layer={LAYERS[-1]}&epoch=1&method=pca")
        page.wait_for_selector("#obs-projection .js-plotly-plot", timeout=120_000)
        page.wait_for_load_state("networkidle")
        samples = []
        for k in range(changes + len(LAYERS)):  # the first pass over the layers warms both servers up
            finished.clear()
            page.click("#layer-select")
            page.get_by_role("option", name=LAYERS[k % len(LAYERS)], exact=True).click()
            page.wait_for_function(f"() => document.querySelector('#nh-value').innerText"
                                   f".includes('of {LAYERS[k % len(LAYERS)]},')", timeout=120_000)
            page.wait_for_load_state("networkidle")
            if k >= len(LAYERS):
                samples.append(max(finished))
        browser.close()
    return samples


CASES = {"explore_view_change": explore_view_change}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, required=True, help="checkout of the new code")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only these (default: all)")
    args = parser.parse_args(argv)
    source = workspace(args.before)
    print(f"workspace {source}; medians in ms; measured on {os.cpu_count()} CPUs (other work may load them)")
    for name in args.case or list(CASES):
        medians = {}
        for label, checkout in (("before", args.before), ("after", args.after)):
            with served(checkout.resolve(), source, label) as (base, copy):
                samples = CASES[name](base, copy)
            medians[label] = statistics.median(samples)
            print(f"  {name} {label}: median {medians[label] * 1000:.1f} ms over {len(samples)} "
                  f"(min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})", flush=True)
        print(f"{name}: before {medians['before'] * 1000:.1f} ms, after {medians['after'] * 1000:.1f} ms, "
              f"{medians['before'] / medians['after']:.2f}x faster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
