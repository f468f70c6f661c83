"""One neighbour graph per view (issue 29, item 2): today's path against the shared graph, in one run.

    .venv/bin/python benchmarks/bench_knn_graph.py [--points 70000] [--skip-paper] [--json OUT]

A view is a projection, its neighborhood hit (k = 6, in 2-D) and its trustworthiness and
continuity at k = 7 and 15 (on a seeded sample of 10,000 observations, as on the CPU).

- Today's path (the code before the shared graph): openTSNE, resp. umap-learn, find their own
  neighbours in the layer's 1000 dimensions (openTSNE: Annoy; umap-learn: pynndescent).
- The new path: PCA to 50 dimensions, one exact kNN graph (k = 90) there, t-SNE's affinities
  and UMAP's `precomputed_knn` read it; t-SNE is given the labels, as `Analysis.projection`
  gives them, so its main phase stops once its NH has settled. The UMAP view is timed with the
  graph (as if alone) and the two views together count it once.

Data: the first `--points` MNIST images (test, then train) through a random-weight MLP
(784-1000-1000, ReLU, seed 0); the second hidden layer's activations, float16 as nnvis stores
them. The paper run: the README's `nnvis run` (MLP, 3 epochs, 2,000 observations, CPU) end to
end with the code before the shared graph (main before its merge, unpacked by `git archive`) and with this one,
each into a fresh workspace.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ROOT, WORKDIR, load, machine, machine_line  # noqa: E402

sys.path.insert(0, str(ROOT))
from nnvis.projection.knn import graph_space, knn_graph  # noqa: E402
from nnvis.projection.methods import BH_LIMIT, default_jobs, normalise, project  # noqa: E402
from nnvis.projection.metrics import faithfulness, neighborhood_hit  # noqa: E402


def activations(n: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from nnvis.data.datasets import load_dataset

    data = load_dataset("mnist", ROOT.parent / "shared" / "data" / "mnist")
    images = np.concatenate([data.test_images, data.train_images])[:n].reshape(n, -1)
    labels = np.concatenate([data.test_labels, data.train_labels])[:n]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 1000), torch.nn.ReLU())
    with torch.no_grad():
        x = net(torch.from_numpy(images.astype(np.float32) / 255.0)).numpy().astype(np.float16)
    return x, labels


def old_projection(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """nnvis.projection.methods.project as it was before the shared graph."""
    n_jobs = default_jobs()
    x = np.asarray(x, dtype=np.float32)
    if method == "tsne":
        from openTSNE import TSNE

        gradient = "bh" if len(x) < BH_LIMIT else "fft"
        points = np.asarray(TSNE(perplexity=min(30.0, (len(x) - 1) / 3), negative_gradient_method=gradient,
                                 n_jobs=n_jobs, random_state=seed).fit(x))
    else:
        import umap

        points = umap.UMAP(n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1).fit_transform(x)
    return normalise(points.astype(np.float32))


def measured(x: np.ndarray, labels: np.ndarray, points: np.ndarray) -> tuple[dict, float]:
    start = time.perf_counter()
    nh = float(neighborhood_hit(points, labels).mean())
    found = faithfulness(x, points, seed=0)
    return ({"nh": nh, "trustworthiness": [float(v) for v in found["trustworthiness"]],
             "continuity": [float(v) for v in found["continuity"]]}, time.perf_counter() - start)


def clock(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def views(n: int) -> dict:
    x, labels = activations(n)
    print(f"{n} observations of a {x.shape[1]}-wide layer; load {load()}", flush=True)
    # a tiny warm-up so numba/JIT compilation is not counted in either path
    warm = x[:300].astype(np.float32)
    for method in ("tsne", "umap"):
        old_projection(warm, method)
        project(warm, method)
    result: dict = {"points": n, "width": int(x.shape[1]), "load_start": load()}
    (space, graph), graph_s = clock(lambda: (lambda s: (s, knn_graph(s, n_jobs=default_jobs())))(
        graph_space(x)))
    result["graph_s"] = graph_s
    print(f"shared graph (PCA-50 + exact kNN k=90): {graph_s:.1f} s", flush=True)
    for method in ("tsne", "umap"):
        old_points, old_s = clock(old_projection, x, method)
        old_figures, old_m = measured(x, labels, old_points)
        new_points, new_s = clock(project, space, method, graph=graph, labels=labels)  # as Analysis.projection
        new_figures, new_m = measured(x, labels, new_points)
        row = {"old_projection_s": old_s, "old_measures_s": old_m, "old_view_s": old_s + old_m, "old": old_figures,
               "new_projection_s": new_s, "new_measures_s": new_m, "new_view_s": graph_s + new_s + new_m,
               "new": new_figures, "load": load()}
        row["ratio"] = row["old_view_s"] / row["new_view_s"]
        result[method] = row
        print(f"{method}: today {row['old_view_s']:.1f} s ({old_figures}), shared graph {row['new_view_s']:.1f} s "
              f"({new_figures}): {row['ratio']:.2f}x; load {row['load']}", flush=True)
    both_old = result["tsne"]["old_view_s"] + result["umap"]["old_view_s"]
    both_new = both_old - sum(result[m]["old_view_s"] - result[m]["new_view_s"] for m in ("tsne", "umap")) - graph_s
    result["both_views_ratio"] = both_old / both_new
    print(f"t-SNE and UMAP views together (graph once): {both_old:.1f} s vs {both_new:.1f} s: "
          f"{result['both_views_ratio']:.2f}x", flush=True)
    return result


BEFORE_SHARED_GRAPH = "b33b169^1"  # main just before the shared graph was merged


def unpack_base(target: Path, revision: str = BEFORE_SHARED_GRAPH) -> str:
    """The code before the shared graph (`revision`) unpacked into `target`; its commit."""
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", revision], capture_output=True, text=True,
                          check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "nnvis"], capture_output=True,
                             check=True).stdout
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return base


def paper_run(code: Path, workspace: Path) -> dict:
    import shutil

    shutil.rmtree(workspace, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "nnvis.cli", "run", "--dataset", "mnist", "--data-dir",
               str(ROOT.parent / "shared" / "data" / "mnist"), "--model", "mlp", "--epochs", "3", "--subset", "2000",
               "--device", "cpu", "--workspace", str(workspace)]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=code)
    seconds = time.perf_counter() - start
    summary = subprocess.run([sys.executable, "-m", "nnvis.cli", "summary", "--workspace", str(workspace), "--json"],
                             env=env, check=True, capture_output=True, text=True, cwd=code).stdout
    figures = json.loads(summary)
    return {"seconds": seconds, "nh": figures.get("nh"), "accuracy": figures.get("test_accuracy",
                                                                                 figures.get("accuracy")),
            "load": load()}


def paper(revision: str) -> dict:
    old_code = WORKDIR / "knn-base"
    base = unpack_base(old_code, revision)
    old = paper_run(old_code, WORKDIR / "knn-paper-old")
    print(f"paper run, today's code ({base[:10]}): {old['seconds']:.1f} s, NH {old['nh']}; load {old['load']}",
          flush=True)
    new = paper_run(ROOT, WORKDIR / "knn-paper-new")
    print(f"paper run, shared graph: {new['seconds']:.1f} s, NH {new['nh']}; load {new['load']}", flush=True)
    return {"base": base, "old": old, "new": new, "ratio": old["seconds"] / new["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=70_000)
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-views", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--base", default=BEFORE_SHARED_GRAPH, help="the paper run's code before (a git revision)")
    args = parser.parse_args()
    info = machine()
    print(machine_line(info), flush=True)
    report: dict = {"machine": info}
    if not args.skip_views:
        report["views"] = views(args.points)
    if not args.skip_paper:
        report["paper"] = paper(args.base)
        print(f"paper run ratio {report['paper']['ratio']:.2f}x", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
