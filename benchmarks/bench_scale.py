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
from bench_core import ROOT, WORKDIR, machine, machine_line, print_table, stats, timed, write_json  # noqa: E402

CLICK_TARGET_MS, CLICK_TARGET_BYTES = 150.0, 1_000_000
HOVER_TARGET_MS = 200.0


def clusters(n: int, dims: int = 512, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    return (rng.normal(0, 5, (classes, dims))[labels] + rng.normal(0, 1, (n, dims))).astype(np.float32), labels


def bench_projections(n: int, device: str) -> list[dict]:
    """nnvis.project vs the library a user would call directly, same data, same process."""
    import umap
    from openTSNE import TSNE

    from nnvis.projection.methods import default_jobs, project
    from nnvis.projection.metrics import neighborhood_hit

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


SHIFTS = [(dy, dx) for dy in (0, 1, -1, 2) for dx in (0, 1, -1, 2)]  # 16 variants of each digit


def mnist_shifted(folder: Path, n: int) -> Path:
    """`n` images (at most 1,120,000) as an .npz test split: MNIST test + train, then the same
    digits shifted by a pixel or two (np.roll), one shift after another; 20,000 train digits to train on."""
    from nnvis.data.datasets import load_dataset

    path = folder / f"mnist{n // 1000}k.npz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        data = load_dataset("mnist", str(ROOT.parent / "shared" / "data" / "mnist"))
        images = np.concatenate([data.test_images, data.train_images])
        labels = np.concatenate([data.test_labels, data.train_labels])
        variants = -(-n // len(images))
        x = np.concatenate([np.roll(images, shift, axis=(1, 2)) for shift in SHIFTS[:variants]])[:n]
        y = np.tile(labels, variants)[:n]
        np.savez(path, x_train=data.train_images[:20000], y_train=data.train_labels[:20000], x_test=x, y_test=y,
                 classes=np.array([str(c) for c in range(10)]))
    return path


def click_workspace(points: int) -> Path:
    """An MLP workspace (1 epoch, layer hidden4 only, PCA) over `points` MNIST digits."""
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    path = WORKDIR / f"scale-mlp-{points}"
    if not Workspace(path).exists():
        print(f"  making {path} (minutes)", flush=True)
        size = 100_000 if points <= 100_000 else 1_000_000
        config = RunConfig(dataset="npz", data_dir=str(mnist_shifted(WORKDIR / "mnist-shifted", size)), model="mlp",
                           epochs=1, subset=points, layers="hidden4", projection="pca", device="cpu")
        dataset = prepare(config, Workspace(path))
        Analysis(Workspace(path), dataset=dataset).projection("hidden4", 1, "pca")
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
    timing = stats(times)
    result = {"points": points, "median_ms": timing["median_ms"], "p95_ms": timing["p95_ms"], "max_bytes": max(sizes)}
    print(f"  click at {points:,}: median {result['median_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
          f"{result['max_bytes']:,} B", flush=True)
    return result


def bench_dense_hover(points: int = 1_000_000, hovers: int = 20) -> dict:
    """The density view at `points` observations: first drawing, hover (nearest observation and
    its card, JSON-encoded) at pointer positions near random observations, thumbnail, zoom redraw."""
    import plotly

    from app import create_app
    from callbacks.views import event_observation, observation_details, projection_view, zoomed_density
    from nnvis.settings import Settings
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    path = click_workspace(points)
    app = create_app(Settings(workspaces=(path,)))
    located = Analysis(Workspace(path)).projection("hidden4", 1, "pca")["points"]
    rng = np.random.default_rng(0)
    with app.server.app_context():
        draws = []
        for _ in range(3):  # the first view of a workspace also computes what is stored for later ones
            start = time.perf_counter()
            figure, _, _, _ = projection_view(0, "hidden4", 1, "pca", "true", [], None)
            draws.append(time.perf_counter() - start)
        draw_s, figure_bytes = float(np.median(draws[1:])), len(plotly.io.json.to_json_plotly(figure))
        assert figure.data[0].type == "image", "the view at this size should be a density image"
        times, answered = [], []
        for i in [0, *rng.integers(0, points, hovers)]:  # the first one warms up
            x, y = located[i] + rng.normal(0, 1e-3, 2)
            event = {"points": [{"curveNumber": 0, "x": float(x), "y": float(y), "color": [1, 1, 1, 255]}]}
            start = time.perf_counter()
            index = event_observation(event, 0, "hidden4", 1, "pca")
            plotly.io.json.to_json_plotly(observation_details(0, 1, index))
            times.append(time.perf_counter() - start)
            answered.append(int(np.argmin(np.linalg.norm(located - [x, y], axis=1))) == index)
        zoom = {"xaxis.range": [float(located[:, 0].min()), float(np.median(located[:, 0]))],
                "yaxis.range": [float(located[:, 1].min()), float(np.median(located[:, 1]))]}
        start = time.perf_counter()
        zoomed_density(0, "hidden4", 1, "pca", "true", None, zoom)
        zoom_s = time.perf_counter() - start
    client = app.server.test_client()
    thumbs = []
    for i in rng.integers(0, points, 10):
        start = time.perf_counter()
        assert client.get(f"/thumbs/0/{i}.png").status_code == 200
        thumbs.append(time.perf_counter() - start)
    result = {"points": points, "first_draw_s": draws[0], "draw_s": draw_s, "figure_bytes": figure_bytes,
              "zoom_redraw_s": zoom_s,
              "hover_median_ms": stats(times[1:])["median_ms"], "hover_p95_ms": stats(times[1:])["p95_ms"],
              "hover_nearest_correct": f"{sum(answered[1:])}/{hovers}",
              "first_thumbnail_median_ms": 1000 * float(np.median(thumbs))}
    print(f"  density view at {points:,}: drawn in {draw_s:.2f} s (first time {draws[0]:.1f} s), "
          f"{figure_bytes:,} B, hover median "
          f"{result['hover_median_ms']:.0f} ms, p95 {result['hover_p95_ms']:.0f} ms (nearest right "
          f"{result['hover_nearest_correct']}), zoom redraw {zoom_s:.2f} s", flush=True)
    return result


def bench_full_mnist(method: str = "tsne") -> dict:
    """The whole of MNIST (test + train, 70,000 digits) at the MLP's 1000-wide last hidden layer:
    nnvis's projection through the workspace (stored, then read back) and openTSNE on the same
    activations, with their NH."""
    from openTSNE import TSNE

    from nnvis.projection.methods import default_jobs
    from nnvis.projection.metrics import neighborhood_hit
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    path = WORKDIR / "mnist-all-mlp"
    config = RunConfig(dataset="mnist", data_dir=str(ROOT.parent / "shared" / "data" / "mnist"), model="mlp",
                       epochs=1, observations="all", subset="all", layers="hidden4", projection="pca")
    analysis = Analysis(Workspace(path), dataset=prepare(config, Workspace(path)))
    x = analysis.activations("hidden4", 1)
    analysis.store.cache.delete(analysis.projection_key("hidden4", 1, method).digest())
    seconds, projected = timed(lambda: analysis.projection("hidden4", 1, method))
    cached_s, _ = timed(lambda: analysis.projection("hidden4", 1, method))
    result = {"points": len(x), "width": x.shape[1], "method": method, "device": analysis.device,
              "nnvis_s": seconds, "nnvis_nh": float(projected["nh"].mean()), "cached_s": cached_s}
    if method == "tsne":
        theirs_s, theirs = timed(lambda: np.asarray(TSNE(n_jobs=default_jobs(), random_state=0).fit(
            np.asarray(x, np.float32))))
        result.update(openTSNE_s=theirs_s, openTSNE_nh=float(neighborhood_hit(theirs, analysis.labels).mean()))
    print(f"  full MNIST {len(x):,} x {x.shape[1]}: nnvis {method} {seconds:.1f} s, NH {result['nnvis_nh']:.4f}"
          + (f"; openTSNE {result['openTSNE_s']:.1f} s, NH {result['openTSNE_nh']:.4f}" if "openTSNE_s" in result
             else ""), flush=True)
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
    parser.add_argument("--skip-projections", action="store_true")
    parser.add_argument("--skip-density", action="store_true", help="skip the 1,000,000-point density view")
    parser.add_argument("--full-mnist", action="store_true",
                        help="also t-SNE all 70,000 MNIST digits at a 1000-wide layer (minutes on a CPU)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results-scale.json"))
    args = parser.parse_args()
    results = {"machine": machine(), "device": args.device}
    print(f"machine: {machine_line(results['machine'])}; projections on {args.device}", flush=True)
    results["projections"] = [] if args.skip_projections else bench_projections(args.points, args.device)
    if not args.skip_clicks:
        results["clicks"] = [bench_clicks(points) for points in (10_000, 100_000)]
    if not args.skip_density:
        results["density"] = bench_dense_hover()
    if args.full_mnist:
        results["full_mnist"] = bench_full_mnist()
    results["cold_start_s"] = bench_cold_start()
    by_name = {r["name"]: r for r in results["projections"]}
    rows = [(name, f"{r['points']:,}", f"{r['seconds']:.2f}", f"{r['nh']:.3f}") for name, r in by_name.items()]
    if rows:
        print_table("projections (same data, one process)", [("", "points", "seconds", "NH")] + rows)
    for ours, theirs in [pair for pair in (("nnvis t-SNE", "openTSNE"), ("nnvis UMAP", "umap-learn"))
                         if pair[0] in by_name]:
        print(f"{ours} / {theirs} time: {by_name[ours]['seconds'] / by_name[theirs]['seconds']:.2f}x, "
              f"NH difference {by_name[ours]['nh'] - by_name[theirs]['nh']:+.3f}")
    for click in results.get("clicks", []):
        print(f"neuron click at {click['points']:,} points: p95 {click['p95_ms']:.0f} ms "
              f"(target < {CLICK_TARGET_MS:.0f}), {click['max_bytes']:,} B (target < {CLICK_TARGET_BYTES:,})")
    if "density" in results:
        dense = results["density"]
        print(f"hover on the {dense['points']:,}-point density view: p95 {dense['hover_p95_ms']:.0f} ms "
              f"(target < {HOVER_TARGET_MS:.0f})")
    print(f"cold start of python app.py to /health: {results['cold_start_s']:.1f} s")
    write_json(Path(args.json), results)


if __name__ == "__main__":
    main()
