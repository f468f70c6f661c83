"""How fast `nnvis` answers (issue 26, item 4): wall-clock time of the entry point, in fresh
interpreters, for `nnvis --help`, a one-line error (`summary --workspace /no/such/folder`,
`run` without --model) and `nnvis summary --json` on a finished workspace; the targets are
1 s, 1 s and 2 s on an idle core. Also which heavy libraries each imported.

    python benchmarks/bench_cli_startup.py --workspace WS [--repeats 5] [--json OUT]

Prints the load average and CPU pressure before and after: on a loaded machine every figure is
an upper bound. The default test run asserts only on what is imported (tests/unit/test_cli_startup.py)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "umap", "pynndescent", "numba", "sklearn", "openTSNE")


def pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"


def once(argv: list[str]) -> tuple[float, int, list[str], float]:
    """(wall seconds, exit status, heavy modules imported, CPU seconds) of `nnvis ARGV` in a fresh
    interpreter. The CPU seconds (user + system of the child) stand for the wall time on an idle
    core: a loaded machine stretches the wall time, hardly the CPU time."""
    script = ("import sys, json\nfrom nnvis.cli.commands import main\n"
              "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
              f"sys.stderr.write('\\nHEAVY ' + json.dumps([m for m in {HEAVY!r} if m in sys.modules]) + '\\n')\n"
              "sys.exit(status)\n")
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (used.ru_utime - cpu.ru_utime) + (used.ru_stime - cpu.ru_stime)
    heavy = json.loads(done.stderr.rsplit("HEAVY ", 1)[1]) if "HEAVY " in done.stderr else ["?"]
    return seconds, done.returncode, heavy, cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a finished workspace for `nnvis summary --json`")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = {"--help": (["--help"], 1.0),
             "summary of no workspace": (["summary", "--workspace", "/no/such/folder"], 1.0),
             "run without --model": (["run", "--dataset", "cifar100"], 1.0),
             "summary --json": (["summary", "--workspace", args.workspace, "--json"], 2.0)}
    before = (os.getloadavg(), pressure())
    rows = {}
    for name, (argv, target) in cases.items():
        once(argv)  # warm-up (file cache), excluded
        runs = [once(argv) for _ in range(args.repeats)]
        times = sorted(r[0] for r in runs)
        rows[name] = {"median_s": round(statistics.median(times), 3), "max_s": round(times[-1], 3),
                      "median_cpu_s": round(statistics.median(r[3] for r in runs), 3),
                      "target_s": target, "status": runs[0][1], "heavy_imports": runs[0][2]}
    after = (os.getloadavg(), pressure())
    print(f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; load before {before[0]}, {before[1]}; "
          f"after {after[0]}, {after[1]}")
    print(f"{'case':26} {'median':>8} {'max':>8} {'CPU':>8} {'target':>7}  status  heavy imports")
    for name, row in rows.items():
        print(f"{name:26} {row['median_s']:>7.3f}s {row['max_s']:>7.3f}s {row['median_cpu_s']:>7.3f}s "
              f"{row['target_s']:>6.1f}s  "
              f"{row['status']:>6}  {', '.join(row['heavy_imports']) or '-'}")
    if args.json:
        args.json.write_text(json.dumps({"load_before": before, "load_after": after, "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
