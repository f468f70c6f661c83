"""Bundling benchmark: 2,000 trails of 4 segments with datashader's hammer_bundle, cold (first
call in the process: numba compiles) and warm, then a cached read from the store; and as a
default-path job runs it, in a fresh interpreter, first with an empty numba cache folder (a
new machine) then with the kernels cached there (every later job).

    .venv/bin/python benchmarks/bench_trails.py [--json OUT]

With --coherence WORKSPACE, instead: the coherence trade-off of the sequence across epochs at the
workspace's last hidden layer (t-SNE), each setting computed afresh (not read from the store):
per step temporal preservation, per frame NH (aligned and independent) and trustworthiness
(k = 7), and the seconds to compute it.

    .venv/bin/python benchmarks/bench_trails.py --coherence WS [--settings independent,chain,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from nnvis.projection.trails import bundle_trails
from nnvis.workspace.store import ArtifactKey, Store


def synthetic_frames(n: int = 2000, frames: int = 5, classes: int = 10, seed: int = 0) -> np.ndarray:
    """Ten drifting Gaussian clusters, `frames` frames of `n` points (trails of frames-1 segments)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(0, 1, (frames, classes, 2))
    return np.stack([centres[f][labels] + rng.normal(0, 0.1, (n, 2)) for f in range(frames)]).astype(np.float32)


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


FRESH_PROCESS = """
import json, sys, time
start = time.perf_counter()
from nnvis.projection.trails import bundle_trails, cached_hammer_bundle
cached_hammer_bundle()
imported = time.perf_counter()
sys.path.insert(0, "benchmarks")
from bench_trails import synthetic_frames
frames = synthetic_frames()
began = time.perf_counter()
bundle_trails(frames)
print(json.dumps({"import_s": imported - start, "bundle_s": time.perf_counter() - began}))
"""


def fresh_process(numba_cache: str) -> dict:
    """Bundle in a new interpreter with NUMBA_CACHE_DIR=`numba_cache`: its import and bundling
    times, and the process's wall time from start to exit."""
    env = {**os.environ, "NUMBA_CACHE_DIR": numba_cache}
    wall, done = timed(lambda: subprocess.run([sys.executable, "-c", FRESH_PROCESS], env=env, check=True,
                                              capture_output=True, text=True))
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": wall}


COHERENCE_SETTINGS = "independent,chain,0.9,damped-0.3,damped-0.5,damped-0.9"


def coherence_tradeoff(workspace: str, settings: list[str]) -> list[dict]:
    """Each setting's sequence across epochs at the last hidden layer (t-SNE) computed as
    `nnvis.compare.evolution.sequence` computes it, but not stored: its measures and seconds."""
    from nnvis.compare.evolution import frame_views, sequence_stability
    from nnvis.projection.metrics import neighborhood_hit
    from nnvis.projection.trails import aligned_frames
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(workspace))
    views = frame_views(analysis, "epochs", analysis.layers[-1])
    xs = [analysis.activations(layer, epoch) for layer, epoch in views]
    independent = [analysis.projection(layer, epoch, "tsne")["points"] for layer, epoch in views]  # stored by `run`
    rows = []
    for setting in settings:
        seconds, frames = timed(lambda s=setting: aligned_frames(xs, "tsne", seed=analysis.config.seed, coherence=s,
                                                       independent=independent))
        nh = np.array([neighborhood_hit(f, analysis.labels).mean() for f in frames])
        measured, stability = timed(lambda f=frames: sequence_stability(analysis, views, f, "tsne"))
        row = {"setting": setting, "temporal": stability["temporal"].tolist(),
               "temporal_mean": float(np.nanmean(stability["temporal"])), "nh": nh.tolist(),
               "nh_independent": stability["nh_independent"].tolist(), "nh_mean": float(nh.mean()),
               "max_nh_gap": float(np.abs(nh - stability["nh_independent"]).max()),
               "trustworthiness": stability["trustworthiness"].tolist(),
               "trustworthiness_mean": float(stability["trustworthiness"].mean()),
               "frames_s": seconds, "stability_s": measured, "load_1min": os.getloadavg()[0]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results-trails.json")
    parser.add_argument("--coherence", metavar="WORKSPACE", help="measure the coherence trade-off of this workspace")
    parser.add_argument("--settings", default=COHERENCE_SETTINGS)
    args = parser.parse_args()
    if args.coherence:
        rows = coherence_tradeoff(args.coherence, args.settings.split(","))
        print("| setting | temporal preservation per step | mean | mean NH | max \\|NH − independent\\| | "
              "mean trustworthiness (k = 7) | s (frames + measures) |")
        for r in rows:
            print(f"| {r['setting']} | {' / '.join(f'{t:.3f}' for t in r['temporal'])} | {r['temporal_mean']:.3f} | "
                  f"{r['nh_mean']:.4f} | {r['max_nh_gap']:.4f} | {r['trustworthiness_mean']:.4f} | "
                  f"{r['frames_s']:.0f} + {r['stability_s']:.0f} |")
        with open(args.json.replace("results-trails", "results-coherence"), "w") as out:
            json.dump(rows, out, indent=2)
        return
    with tempfile.TemporaryDirectory() as numba_cache:
        new_machine = fresh_process(numba_cache)
        later_jobs = [fresh_process(numba_cache) for _ in range(3)]
    later = sorted(later_jobs, key=lambda run: run["wall_s"])[1]
    frames = synthetic_frames()
    cold, _ = timed(lambda: bundle_trails(frames))
    warm = sorted(timed(lambda: bundle_trails(frames))[0] for _ in range(3))
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        key = ArtifactKey("bundled-trails", "synthetic")
        store.put(key, {"paths": bundle_trails(frames)})
        cached = sorted(timed(lambda: store.get(key))[0] for _ in range(10))
    result = {"machine": f"{platform.processor()} {os.cpu_count()} CPUs, no GPU", "trails": 2000, "segments": 4,
              "cold_s": cold, "warm_median_s": warm[1], "cached_median_s": cached[5],
              "warm_over_cached": warm[1] / cached[5], "fresh_process_new_machine": new_machine,
              "fresh_process_kernels_cached_median": later, "load_1min": os.getloadavg()[0]}
    print(f"machine: {result['machine']}, load {result['load_1min']:.2f}")
    print(f"bundle 2000 trails x 4 segments: first call in this process {cold:.2f} s, warm median {warm[1]:.2f} s, "
          f"cached read {cached[5] * 1000:.1f} ms ({result['warm_over_cached']:.0f}x faster than bundling)")
    for name, run in (("new machine (empty numba cache)", new_machine), ("kernels cached (median of 3)", later)):
        print(f"fresh job process, {name}: import {run['import_s']:.2f} s + bundle {run['bundle_s']:.2f} s, "
              f"process wall {run['wall_s']:.2f} s")
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
