"""Benchmarks of nnvis's caching: a cold `nnvis run` against the same run again (every
artifact already in the store), and one projection artifact computed (store miss) against
read back (store hit).

    python benchmarks/bench_core.py            # MNIST, MLP, 3 epochs, 2000 points
    python benchmarks/bench_core.py --quick    # scikit-learn digits, 2 epochs, 540 points

On a busy 2-CPU machine without a GPU the full benchmark took 7.5 min (cold run 5.4 min)
and the quick one 4-7 min: most of a cold run is the t-SNE projections and neuron maps,
not training, and t-SNE slows down sharply when another process takes a core.

Prints a table and writes the figures as JSON (`--json OUT`). Times are wall-clock
(`time.perf_counter`); ratios are taken within one run of this script, absolute times only
mean something on the machine printed with them. The helpers at the top (machine, stats,
table, JSON) are shared with bench_dashboard.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = "/work/shared/data/mnist"
WORKDIR = Path("/tmp/nnvis-bench")

COLD_TARGET = 20.0  # a cached run should be at least this many times faster than the cold one


# ---- shared helpers ------------------------------------------------------------------------

def machine() -> dict:
    """What the absolute times were measured on."""
    import torch

    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return {"processor": platform.processor() or platform.machine(), "cpu_model": model,
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "gpu": gpu, "nnvis_threads": os.environ.get("NNVIS_THREADS", f"unset: {os.cpu_count()}"),
            "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "source": source_digest()}


def source_digest() -> str:
    """A short sha256 of the code under test (app.py, nnvis/, callbacks/, layouts/): which
    version of the code the figures belong to, without asking git."""
    import hashlib

    files = [ROOT / "app.py", *sorted(p for d in ("nnvis", "callbacks", "layouts") for p in (ROOT / d).glob("*.py"))]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_line(info: dict) -> str:
    return (f"{info['processor']} ({info['cpu_model'] or 'unknown model'}), {info['cpu_count']} CPUs, "
            f"torch {info['torch']} ({info['torch_threads']} threads), {info['gpu']}, "
            f"projection threads (NNVIS_THREADS) {info['nnvis_threads']}, Python {info['python']}, "
            f"{info['date']}, code {info['source']}")


def load() -> dict:
    """How busy the machine is, since other work slows every figure: the 1/5/15-minute load
    averages and, where the kernel has it, CPU pressure (/proc/pressure/cpu 'some': the share
    of the last 10 and 60 s in which some runnable task waited for a CPU)."""
    state = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        fields = dict(item.split("=") for item in some[1:])
        state["cpu_pressure_pct"] = [float(fields["avg10"]), float(fields["avg60"])]
    except (OSError, IndexError, KeyError, ValueError):
        pass
    return state


def load_text(before: dict, after: dict) -> str:
    """'load average before/after ...; CPU pressure ...' for the report."""
    text = f"load average before/after: {before['loadavg']} / {after['loadavg']}"
    if "cpu_pressure_pct" in before and "cpu_pressure_pct" in after:
        text += (f"; CPU pressure (10 s, 60 s) before/after: {before['cpu_pressure_pct']}% / "
                 f"{after['cpu_pressure_pct']}%")
    return text


def stats(samples_s: list[float]) -> dict:
    """Median, p95, min and max of timings (seconds in, milliseconds out)."""
    ms = sorted(s * 1000 for s in samples_s)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]  # nearest-rank
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": p95, "min_ms": ms[0], "max_ms": ms[-1]}


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def print_table(title: str, rows: list[tuple]) -> None:
    """A plain two-or-more-column table."""
    print(f"\n{title}")
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
        if number == 0:
            print("  " + "  ".join("-" * width for width in widths))


def write_json(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path}")


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


# ---- (a) cold vs cached `nnvis run` ----------------------------------------------------------

def run_command(quick: bool, workspace: Path) -> list[str]:
    """The `nnvis run` command line timed by this benchmark."""
    # digits has 540 test observations: --subset is left at its default (all of them)
    data = ["--dataset", "digits", "--epochs", "2"] if quick else \
        ["--dataset", "mnist", "--data-dir", MNIST_DIR, "--epochs", "3", "--subset", "2000"]
    return [sys.executable, "-m", "nnvis.cli", "run", *data, "--model", "mlp", "--device", "cpu",
            "--workspace", str(workspace)]


def run_once(command: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of one `nnvis run` subprocess; exits on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def store_state(workspace: Path) -> tuple[int, dict[str, float]]:
    """(artifacts in the store, snapshot mtimes): a cached run must change neither."""
    import diskcache

    with diskcache.Cache(str(workspace / "store")) as cache:
        count = len(cache)
    snapshots = {p.name: p.stat().st_mtime for p in sorted((workspace / "snapshots").glob("*.pt"))}
    return count, snapshots


def bench_run(quick: bool, workspace: Path, repeats: int) -> dict:
    """One cold run into an empty workspace, one cached warm-up run (excluded), then
    `repeats` cached runs (median). Checks the cached runs recompute and rewrite nothing."""
    if workspace.exists():
        shutil.rmtree(workspace)
    command = run_command(quick, workspace)
    print("command:", " ".join(command[1:]), flush=True)
    load_before = load()
    cold, cold_out = run_once(command)
    print(f"cold run: {cold:.1f} s", flush=True)
    before = store_state(workspace)
    _, warm_out = run_once(command)  # warm-up, excluded
    cached = []
    for _ in range(repeats):
        seconds, out = run_once(command)
        cached.append(seconds)
        if out != cold_out:
            sys.exit("a cached run printed different figures from the cold run")
    unchanged = store_state(workspace) == before and warm_out == cold_out
    cached_median = statistics.median(cached)
    return {"command": " ".join(["python"] + command[1:]), "cold_s": cold, "cached_s": cached,
            "cached_median_s": cached_median, "speedup": cold / cached_median, "target_speedup": COLD_TARGET,
            "meets_target": cold / cached_median >= COLD_TARGET, "cached_recomputed_nothing": unchanged,
            "artifacts": before[0], "warmup_runs_excluded": 1, "load_before": load_before, "load_after": load(),
            "summary": cold_out.strip().splitlines()}


# ---- (b) store miss vs hit for one projection ------------------------------------------------

def bench_store(workspace: Path, method: str, misses: int, hits: int) -> dict:
    """Time `Analysis.projection(layer, epoch, method)` with its key deleted (computed and
    stored: a miss) and then read back (a hit). The activations it projects stay in the
    store, so a miss is the projection + neighborhood hit + write, not a forward pass.
    One miss and one hit warm-up each are excluded (imports, page cache)."""
    import numpy as np

    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(workspace))
    layer, epoch = analysis.layers[0], analysis.epochs[-1]
    digest = analysis.projection_key(layer, epoch, method).digest()

    def miss() -> float:
        analysis.store.cache.delete(digest)
        assert not analysis.has_projection(layer, epoch, method)
        seconds, _ = timed(analysis.projection, layer, epoch, method)
        return seconds

    load_before = load()
    miss()  # warm-up
    miss_times = [miss() for _ in range(misses)]
    computed = analysis.projection(layer, epoch, method)  # now a hit: the value the last miss stored
    hit_times = [timed(analysis.projection, layer, epoch, method)[0] for _ in range(hits + 1)][1:]
    read = analysis.projection(layer, epoch, method)
    same = all(np.array_equal(computed[k], read[k]) for k in computed)
    blob = analysis.store.cache.get(digest)
    miss_stats, hit_stats = stats(miss_times), stats(hit_times)
    return {"layer": layer, "epoch": epoch, "method": method, "points": len(read["points"]),
            "artifact_bytes": len(blob), "miss": miss_stats, "hit": hit_stats,
            "speedup": miss_stats["median_ms"] / hit_stats["median_ms"], "hit_equals_computed": same,
            "warmup_excluded": "1 miss, 1 hit", "load_before": load_before, "load_after": load()}


# ---- report ---------------------------------------------------------------------------------

def report(results: dict) -> None:
    info, run, store = results["machine"], results["run"], results["store"]
    print(f"\nmachine: {machine_line(info)}")
    print(f"mode: {results['mode']}")
    print_table(f"(a) nnvis run: cold vs cached (cached: median of {len(run['cached_s'])}, 1 warm-up excluded)", [
        ("", "seconds"),
        ("cold run (empty workspace)", f"{run['cold_s']:.2f}"),
        ("cached run (same command again)", f"{run['cached_median_s']:.2f}"),
        ("cold / cached", f"{run['speedup']:.1f}x  ({verdict(run['meets_target'])} >= {COLD_TARGET:.0f}x)"),
        ("cached runs recomputed nothing", str(run["cached_recomputed_nothing"])),
    ])
    print(f"  {load_text(run['load_before'], run['load_after'])}")
    print_table(f"(b) store: projection {store['method']} of {store['layer']} at epoch {store['epoch']}, "
                f"{store['points']} points ({store['artifact_bytes']:,} bytes stored)", [
        ("", "n", "median ms", "p95 ms", "min ms"),
        *[(name, s["n"], f"{s['median_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['min_ms']:.2f}")
          for name, s in (("miss (compute + store)", store["miss"]), ("hit (read back)", store["hit"]))],
        ("miss / hit", "", f"{store['speedup']:.0f}x", "", ""),
    ])
    print(f"  hit returns the computed arrays: {store['hit_equals_computed']}; "
          f"{load_text(store['load_before'], store['load_after'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs instead of MNIST, 3 epochs")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help=f"scratch folder (default {WORKDIR})")
    parser.add_argument("--repeats", type=int, default=3, help="cached runs timed (default 3)")
    parser.add_argument("--misses", type=int, default=3, help="projection misses timed (default 3)")
    parser.add_argument("--hits", type=int, default=30, help="projection hits timed (default 30)")
    parser.add_argument("--json", type=Path, help="where to write the results (default benchmarks/results-core.json)")
    args = parser.parse_args(argv)
    # on SIGTERM (e.g. from `timeout`) exit through Python, so that subprocess.run kills the running `nnvis run`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    mode = "quick" if args.quick else "full"
    workspace = args.workdir / f"core-{mode}"
    results = {"benchmark": "core", "mode": mode, "machine": machine()}
    print(f"machine: {machine_line(results['machine'])}", flush=True)
    results["run"] = bench_run(args.quick, workspace, args.repeats)
    results["store"] = bench_store(workspace, "tsne", args.misses, args.hits)
    report(results)
    write_json(args.json or ROOT / "benchmarks" / f"results-core{'-quick' if args.quick else ''}.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
