"""Before/after timings of two gestures on an uploaded image (issue 15): hovering a cell of the
/deepvis layer grid, and clicking a map of the layer lab's structure strip to enlarge it.

    python benchmarks/bench_architecture_labs.py --before /work/wt-before --after .

Each checkout is served by its own `python app.py` (cwd and PYTHONPATH the checkout) on a free
port, over the same copy of one workspace: resnet18 (random weights, epoch 0) over 100 CIFAR-10
test images, made once under /tmp/nnvis-bench with the --before checkout's CLI. Headless Chromium
(Playwright) uploads the same PNG on both and times each `_dash-update-component` POST the
gesture triggers, from `page.on("requestfinished")` and `request.timing` (request start to
response end, ms). Prints the medians (warm-up gestures excluded), the before/after ratios and
the machine's load: other work on the machine slows every figure, ratios come from one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

CIFAR = Path("/work/shared/data/cifar10/cifar10_test.npz")
WORKDIR = Path("/tmp/nnvis-bench")
WORKSPACE = WORKDIR / "labs-resnet18-cifar"
UPLOAD_SIDE = 1024  # the uploaded photo: 1024x1024 RGB PNG (a few MB, as a phone picture)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CELLS = """() => { const gd = document.querySelector('#dv-grid .js-plotly-plot');
  const z = gd._fullData.filter(t => t.type === 'heatmap')[0].z, xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect(), cells = [];
  for (let r = 0; r < z.length; r += 3) { for (let c = 0; c < z[r].length; c += 3) {
    if (z[r][c] !== null && !Number.isNaN(z[r][c])) {
      cells.push([box.left + xa._offset + xa.l2p(c), box.top + ya._offset + ya.l2p(r)]); } } }
  return cells; }"""


# ---- the workspace, the upload and the servers

def prepare_workspace(before: Path) -> Path:
    """resnet18 over 100 CIFAR-10 test images (epoch 0), made once with the --before CLI."""
    if (WORKSPACE / "workspace.json").exists():
        return WORKSPACE
    WORKDIR.mkdir(parents=True, exist_ok=True)
    found = np.load(CIFAR, allow_pickle=False)
    pick = np.random.default_rng(0).permutation(len(found["y"]))[:300]  # the file is sorted by class
    data = WORKDIR / "labs-cifar.npz"
    np.savez(data, x_train=found["x"][pick[:200]], y_train=found["y"][pick[:200]], x_test=found["x"][pick[200:]],
             y_test=found["y"][pick[200:]], classes=found["classes"])
    subprocess.run([sys.executable, "-m", "nnvis.cli", "run", "--dataset", "npz", "--data-dir", str(data),
                    "--model", "resnet18", "--epochs", "0", "--subset", "100", "--layers", "layer1,layer2",
                    "--projection", "pca", "--device", "cpu", "--workspace", str(WORKSPACE)],
                   cwd=before, env={**os.environ, "PYTHONPATH": str(before)}, check=True)
    return WORKSPACE


def upload_png(folder: Path) -> Path:
    """A CIFAR-10 image enlarged to UPLOAD_SIDE pixels with a little noise (so PNG cannot shrink it)."""
    from PIL import Image

    image = np.load(CIFAR, allow_pickle=False)["x"][7]
    big = np.kron(image, np.ones((UPLOAD_SIDE // 32, UPLOAD_SIDE // 32, 1), np.uint8)).astype(np.int16)
    big += np.random.default_rng(0).integers(-6, 7, big.shape, dtype=np.int16)
    path = folder / "photo.png"
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(checkout: Path, workspace: Path, jobs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`python app.py` of `checkout` over `workspace`, once /health answers: (process, URL)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout), "NNVIS_WORKSPACES": str(workspace), "NNVIS_PORT": str(port),
           "NNVIS_JOB_CACHE": str(jobs)}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=checkout, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{checkout}: app.py exited; see {log}") from None
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{checkout}: app.py did not answer in 300 s; see {log}")


# ---- timing the POSTs of a gesture

def timed_gesture(page, gesture, output_id: str) -> float:
    """Run `gesture()` and return the ms (request start to response end) of the callback POST
    whose outputs name `output_id`."""
    def wanted(request) -> bool:
        return "/_dash-update-component" in request.url and output_id in (request.post_data or "")
    with page.expect_event("requestfinished", predicate=wanted, timeout=120000) as finished:
        gesture()
    return float(finished.value.timing["responseEnd"])


def deepvis_hover(page, url: str, photo: Path, samples: int) -> list[float]:
    """Hover grid cells of /deepvis (layer1, 64 maps of 8x8) with the uploaded photo as input."""
    page.goto(f"{url}/deepvis?ws=0&layer=layer1&epoch=0")
    page.wait_for_selector("#dv-grid .js-plotly-plot .heatmaplayer", timeout=180000)
    page.wait_for_load_state("networkidle", timeout=180000)
    page.set_input_files("#dv-upload input[type=file]", str(photo))
    page.wait_for_function("() => document.querySelector('#dv-grid-status').innerText.startsWith('photo.png')",
                           timeout=180000)
    page.wait_for_load_state("networkidle", timeout=180000)
    cells = page.evaluate(CELLS)
    times = []
    for i in range(samples):
        x, y = cells[(i * 7) % len(cells)]
        times.append(timed_gesture(page, lambda x=x, y=y: page.mouse.move(x, y, steps=2), "dv-enlarged"))
        page.mouse.move(5, 5)  # off the grid: the next hover is a new one
        page.wait_for_timeout(150)
    return times


def layerlab_enlarge(page, url: str, photo: Path, samples: int) -> list[float]:
    """Click maps of the layer lab's structure strip with the uploaded photo as input."""
    page.goto(f"{url}/layer-lab?ws=0&layer=layer2&epoch=0")
    page.wait_for_selector("#ll-strip-grid .map-thumb", timeout=180000)
    page.set_input_files("#ll-upload input[type=file]", str(photo))
    page.wait_for_selector("#ll-strip-input:has-text('photo.png')", timeout=180000)
    page.wait_for_load_state("networkidle", timeout=180000)
    maps = page.locator("#ll-strip-grid .map-thumb")
    count = maps.count()
    return [timed_gesture(page, lambda i=i: maps.nth((i * 5) % count).click(), "ll-strip-enlarged")
            for i in range(samples)]


CASES = {"deepvis grid hover (uploaded image)": deepvis_hover,
         "layer-lab map enlarge (uploaded image)": layerlab_enlarge}


def run_checkout(checkout: Path, workspace: Path, photo: Path, folder: Path, samples: int) -> dict[str, list]:
    from playwright.sync_api import sync_playwright

    process, url = serve(checkout, workspace, folder / f"jobs-{checkout.name}", folder / f"{checkout.name}.log")
    try:
        with sync_playwright() as playwright:
            executable = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            found = {name: case(page, url, photo, samples) for name, case in CASES.items()}
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=Path("/work/wt-before"))
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--samples", type=int, default=12, help="gestures per case (the first 2 are warm-up)")
    args = parser.parse_args(argv)
    workspace = prepare_workspace(args.before.resolve())
    with tempfile.TemporaryDirectory(prefix="nnvis-bench-labs-") as scratch:
        folder = Path(scratch)
        copy = folder / "workspace"
        shutil.copytree(workspace, copy)
        photo = upload_png(folder)
        print(f"upload {photo.stat().st_size / 2**20:.1f} MB PNG; load before: {os.getloadavg()}", flush=True)
        results = {side: run_checkout(path.resolve(), copy, photo, folder, args.samples)
                   for side, path in (("before", args.before), ("after", args.after))}
    print(f"load after: {os.getloadavg()} (1/5/15-minute averages, {os.cpu_count()} CPUs)")
    print(f"{'case':42} {'before ms':>10} {'after ms':>10} {'ratio':>7}")
    for name in CASES:
        before, after = (statistics.median(results[side][name][2:]) for side in ("before", "after"))
        print(f"{name:42} {before:10.1f} {after:10.1f} {before / after:6.1f}x")
    for side in ("before", "after"):
        for name in CASES:
            print(f"  {side} {name}: " + ", ".join(f"{t:.0f}" for t in results[side][name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
