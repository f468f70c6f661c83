"""Bundling benchmark: 2,000 trails of 4 segments with datashader's hammer_bundle, cold (first
call in the process: numba compiles) and warm, then a cached read from the store; and as a
default-path job runs it, in a fresh interpreter, first with an empty numba cache folder (a
new machine) then with the kernels cached there (every later job).

    .venv/bin/python benchmarks/bench_trails.py [--json OUT]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results-trails.json")
    args = parser.parse_args()
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
