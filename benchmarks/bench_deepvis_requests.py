"""/health and /deepvis requests while four people ask for saliency at once (issue 24, item 3).

Real gunicorn with 4 workers over one workspace (the README's command). Each round posts four
/deepvis view callbacks at once (saliency by gradient of unit 3 of a layer, four observations,
a new observation each round so nothing is computed yet) while `/health` is timed; the answers
must each be 'computing…' with a job request (the request builds no model: the job does). The
last round's four jobs are then run as the pages run them and waited for.

    python benchmarks/bench_deepvis_requests.py --workspace WS [--layer hidden2] [--rounds 10] [--json OUT]

Prints p50/p95/max of `/health` and of the view callbacks, the jobs' wall time, and the
machine's load before and after. Exits 1 when a callback computed in the request (no job
request in its answer) or `/health` took 0.5 s or more."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import load  # noqa: E402
from tests.hardening_client import callback_body, gunicorn, http, run_background  # noqa: E402


def values(layer: str, observation: int) -> dict:
    return {"dv-ws.value": 0, "dv-input.data": {"observation": observation}, "dv-layer.value": layer,
            "dv-epoch.value": None, "dv-sort.value": "index", "dv-unit.value": 3, "dv-topk.value": 9,
            "dv-method.value": "gradient"}


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def summary(seconds: list[float]) -> dict:
    found = np.array(seconds) * 1000
    return {"n": len(found), "p50_ms": round(float(np.percentile(found, 50)), 1),
            "p95_ms": round(float(np.percentile(found, 95, method="inverted_cdf")), 1),
            "max_ms": round(float(found.max()), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--layer", default="hidden2")
    parser.add_argument("--epoch", type=int, default=None, help="default: the last snapshot")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--job-timeout", type=float, default=600)
    parser.add_argument("--json")
    args = parser.parse_args()
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    epoch = args.epoch if args.epoch is not None else Analysis(Workspace(args.workspace)).epochs[-1]
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"nnvis-bench-dv-{os.getpid()}"
    env = {"NNVIS_WORKSPACES": args.workspace, "NNVIS_JOB_CACHE": str(cache), "NNVIS_MAX_JOBS": "4",
           "NNVIS_MAX_JOBS_PER_USER": "4"}
    before, health, posts, problems = load(), [], [], []
    with gunicorn(env) as base:
        requests = []
        for round_ in range(args.rounds):
            bodies = [callback_body(base, "dv-request.data", {**values(args.layer, 4 * round_ + i),
                                                              "dv-epoch.value": epoch}, "dv-unit.value")
                      for i in range(4)]
            answers = [None] * 4

            def post(i, bodies=bodies, answers=answers):
                answers[i] = timed(lambda: http(base + "/_dash-update-component", json.dumps(bodies[i]).encode()))
            threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                health.append(timed(lambda: http(base + "/health", timeout=30))[0])
                time.sleep(0.02)
            for thread in threads:
                thread.join()
            requests = []
            for seconds, (status, _, answer) in answers:
                posts.append(seconds)
                request = json.loads(answer)["response"]["dv-request"]["data"] if status == 200 else None
                if not request:
                    problems.append(f"a view answered {status} without a job request: {answer[:200]!r}")
                requests.append(request)
        posted = len(health)
        print(json.dumps({"health_during_posts": summary(health), "view_posts": summary(posts),
                          "problems": problems}), flush=True)
        jobs = [None] * 4

        def run(i):
            body = callback_body(base, "dv-saliency.figure@", {"dv-request.data": requests[i]}, "dv-request.data")
            try:
                jobs[i] = timed(lambda: run_background(base, body, timeout=args.job_timeout))
            except Exception as error:  # noqa: BLE001 (not answered in time, e.g. starved at the jobs' low priority)
                jobs[i] = (args.job_timeout, f"{type(error).__name__}: {error}")
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            health.append(timed(lambda: http(base + "/health", timeout=30))[0])
            time.sleep(0.05)
        drawn = sum("heatmap" in json.dumps(answer) for _, answer in jobs)
    after = load()
    result = {"health_during_posts": summary(health[:posted]), "health_during_jobs": summary(health[posted:]),
              "view_posts": summary(posts), "jobs_s": [round(s, 1) for s, _ in jobs],
              "jobs_drawn": drawn, "load_before": before, "load_after": after, "cpus": os.cpu_count(),
              "problems": problems}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    slow = max(result["health_during_posts"]["max_ms"], result["health_during_jobs"]["max_ms"]) >= 500
    return 1 if problems or slow or drawn != 4 else 0


if __name__ == "__main__":
    sys.exit(main())
