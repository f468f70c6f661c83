"""Speed and scale, in one run: nnvis's projections against openTSNE and umap-learn on the same
data (ratios from one process), the neuron-click callback at 10,000 and 100,000 points, and the
cold start of `python app.py`.

    .venv/bin/python benchmarks/bench_scale.py [--points 10000] [--skip-clicks] [--json OUT]

Projection data: ten Gaussian clusters in 512 dimensions (the issue's comparison data). nnvis
projects on the GPU (torchdr) when there is one; on a CPU machine its t-SNE is openTSNE and
its UMAP umap-learn, so the ratios there are about 1 by construction. The click workspaces
(MLP on MNIST test + train digits, PCA) are made once under /tmp/nnvis-bench. Capture
throughput: bench_capture.py; cache hit vs miss and cold vs cached runs: bench_core.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ROOT, WORKDIR, machine, machine_line, print_table, timed, write_json  # noqa: E402

CLICK_TARGET_MS, CLICK_TARGET_BYTES = 150.0, 1_000_000


def clusters(n: int, dims: int = 512, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    return (rng.normal(0, 5, (classes, dims))[labels] + rng.normal(0, 1, (n, dims))).astype(np.float32), labels


def bench_projections(n: int, device: str) -> list[dict]:
    """nnvis.project vs the library a user would call directly, same data, same process."""
    import umap
    from openTSNE import TSNE

    from nnvis.metrics import neighborhood_hit
    from nnvis.projections import default_jobs, project

    x, labels = clusters(n)
    runs = {"nnvis t-SNE": lambda data=x: project(data, "tsne", device=device),
            "openTSNE": lambda data=x: np.asarray(TSNE(n_jobs=default_jobs(), random_state=0).fit(data)),
            "nnvis UMAP": lambda data=x: project(data, "umap", device=device),
            "umap-learn": lambda data=x: umap.UMAP(random_state=0, n_jobs=1).fit_transform(data)}
    for run in runs.values():  # warm-up on 5,000 points (NN-descent's paths too): numba's JIT, imports
        run(x[:5000])
    results = []
    for name, run in runs.items():
        seconds, points = timed(run)
        results.append({"name": name, "points": n, "seconds": seconds,
                        "nh": float(neighborhood_hit(np.asarray(points), labels).mean())})
        print(f"  {name}: {seconds:.2f} s, NH {results[-1]['nh']:.3f}", flush=True)
    return results


def mnist_100k(folder: Path) -> Path:
    """MNIST test + train + 30,000 train digits shifted by a pixel: 100,000 images as an .npz."""
    from nnvis.datasets import load_dataset

    path = folder / "mnist100k.npz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        data = load_dataset("mnist", str(ROOT.parent / "shared" / "data" / "mnist"))
        x = np.concatenate([data.test_images, data.train_images, np.roll(data.train_images[:30000], 1, axis=2)])
        y = np.concatenate([data.test_labels, data.train_labels, data.train_labels[:30000]])
        np.savez(path, x_train=data.train_images[:20000], y_train=data.train_labels[:20000], x_test=x, y_test=y,
                 classes=np.array([str(c) for c in range(10)]))
    return path


def click_workspace(points: int) -> Path:
    from nnvis.pipeline import run
    from nnvis.workspace import RunConfig, Workspace

    path = WORKDIR / f"scale-mlp-{points}"
    if not Workspace(path).exists():
        print(f"  making {path} (minutes)", flush=True)
        run(RunConfig(dataset="npz", data_dir=str(mnist_100k(WORKDIR / "mnist100k")), model="mlp", epochs=1,
                      subset=points, layers="hidden4", projection="pca", device="cpu"), path)
    return path


def bench_clicks(points: int, clicks: int = 10) -> dict:
    """The neuron-click callback (Patch) and its JSON at `points` observations, through the app."""
    import plotly

    from app import create_app
    from callbacks.views import neuron_colour_patch, projection_view
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(click_workspace(points),)))
    with app.server.app_context():
        projection_view(0, "hidden4", 1, "pca", "true", [], None)
        neuron_colour_patch(0, "hidden4", 1, 0, "true")  # warm-up
        times, sizes = [], []
        for neuron in range(1, clicks + 1):
            start = time.perf_counter()
            text = plotly.io.json.to_json_plotly(neuron_colour_patch(0, "hidden4", 1, neuron, "true"))
            times.append(time.perf_counter() - start)
            sizes.append(len(text))
    result = {"points": points, "median_ms": 1000 * float(np.median(times)),
              "p95_ms": 1000 * float(np.sort(times)[int(np.ceil(0.95 * len(times))) - 1]), "max_bytes": max(sizes)}
    print(f"  click at {points:,}: median {result['median_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
          f"{result['max_bytes']:,} B", flush=True)
    return result


def bench_cold_start() -> float:
    """Seconds from `python app.py` to its /health answering (default workspace already made)."""
    import os
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "NNVIS_PORT": str(port)}
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 300:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("app.py did not answer /health within 300 s")
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-clicks", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results-scale.json"))
    args = parser.parse_args()
    results = {"machine": machine(), "device": args.device}
    print(f"machine: {machine_line(results['machine'])}; projections on {args.device}", flush=True)
    results["projections"] = bench_projections(args.points, args.device)
    if not args.skip_clicks:
        results["clicks"] = [bench_clicks(points) for points in (10_000, 100_000)]
    results["cold_start_s"] = bench_cold_start()
    by_name = {r["name"]: r for r in results["projections"]}
    rows = [(name, f"{r['points']:,}", f"{r['seconds']:.2f}", f"{r['nh']:.3f}") for name, r in by_name.items()]
    print_table("projections (same data, one process)", [("", "points", "seconds", "NH")] + rows)
    for ours, theirs in (("nnvis t-SNE", "openTSNE"), ("nnvis UMAP", "umap-learn")):
        print(f"{ours} / {theirs} time: {by_name[ours]['seconds'] / by_name[theirs]['seconds']:.2f}x, "
              f"NH difference {by_name[ours]['nh'] - by_name[theirs]['nh']:+.3f}")
    for click in results.get("clicks", []):
        print(f"neuron click at {click['points']:,} points: p95 {click['p95_ms']:.0f} ms "
              f"(target < {CLICK_TARGET_MS:.0f}), {click['max_bytes']:,} B (target < {CLICK_TARGET_BYTES:,})")
    print(f"cold start of python app.py to /health: {results['cold_start_s']:.1f} s")
    write_json(Path(args.json), results)


if __name__ == "__main__":
    main()
