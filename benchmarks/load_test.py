"""Load test on loopback: N simulated users (threads) for T seconds against real gunicorn with
4 workers (the README's command), each user browsing as people do: open the page, hover points
(callback + thumbnail), click neurons (the recolouring callback), change layer (projection and
neuron map callbacks). Beside them, J job users start background jobs one after another, as the
pages do, on a fresh copy of the workspace (served as the second workspace) so that none is in
its store: activation maximizations of one unit with a new step count each, every other one a t-SNE
of a layer and epoch. A job started before the end is waited for (its answer checked); `/health`
is polled 4 times a second and the gunicorn workers' memory sampled until the last job answered
(`/health` after the end of the run is reported apart).

    python benchmarks/load_test.py [--users 50] [--job-users 4] [--seconds 60]
                                   [--workspace nnvis-workspace/digits-mlp] [--json OUT.json]

Prints requests, errors, and p50/p95/max latency per kind of request, the jobs, and the workers'
memory over the run. Every response must be a 200 with a body (204 for a callback with nothing
to update) and no callback error message, and every job must answer with its view; anything
else counts as an error. Exits 1 when there was any error or `/health` took a second or more.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
JOB_WS = 1  # the job users' workspace: the second one served
POLL_S = 0.5  # the pages poll a job twice a second
JOB_ANSWER_S = 300  # a job not answered in this long is an error


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Dashboard:
    """Builds `/_dash-update-component` bodies from the app's own dependency list."""

    def __init__(self, base: str, values: dict):
        self.base = base
        self.values = values
        with urllib.request.urlopen(base + "/_dash-dependencies", timeout=60) as response:
            self.dependencies = {d["output"]: d for d in json.load(response)}

    def body(self, output: str, changed: str, **values) -> bytes:
        dependency = self.dependencies[output]
        known = {**self.values, **values}

        def items(specs):
            return [{"id": s["id"], "property": s["property"], "value": known.get(f"{s['id']}.{s['property']}")}
                    for s in specs]
        outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in output.strip(".").split("...")]
        return json.dumps({"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
                           "inputs": items(dependency["inputs"]), "state": items(dependency["state"]),
                           "changedPropIds": [changed]}).encode()

    def output_of(self, output: str, trigger: str) -> str:
        """The dependency that outputs `output` ('id.property') when `trigger` changes."""
        return next(o for o, d in self.dependencies.items() if output in o
                    and trigger in [f"{i['id']}.{i['property']}" for i in d["inputs"]])


class Recorder:
    """Latencies and errors per kind of request, from many threads."""

    def __init__(self):
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.first_error: dict[str, str] = {}  # per kind: what the first failed answer said
        self.lock = threading.Lock()

    def __call__(self, kind: str, seconds: float, ok: bool, answer: str = "") -> None:
        with self.lock:
            self.samples[kind].append(seconds)
            self.errors[kind] += 0 if ok else 1
            if not ok:
                self.first_error.setdefault(kind, answer[:500])

    def timed(self, kind: str, url: str, body: bytes | None = None) -> bytes | None:
        """Request `url` (POST `body`), record it; the answer (b"" for a 204), None on an error."""
        start = time.perf_counter()
        answer, said = None, ""
        try:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                read = response.read()
                said = f"{response.status}: {read[:500]!r}"
                # a failing callback answers 200 with the page's error banner: that is an error too
                if response.status == 204 or (response.status == 200 and read and b"error-banner" not in read):
                    answer = read
        except (urllib.error.URLError, OSError) as error:
            answer, said = (b"" if getattr(error, "code", None) == 204 else None), repr(error)
        self(kind, time.perf_counter() - start, answer is not None, said)
        return answer


def user(dashboard: Dashboard, until: float, subset: int, neurons: int, layers: list, record: Recorder) -> None:
    rng = random.Random(threading.get_ident())
    base = dashboard.base
    projection_out = dashboard.output_of("obs-projection.figure", "layer-select.value")
    neuron_map_out = dashboard.output_of("neuron-map.figure", "layer-select.value")
    recolour_out = dashboard.output_of("obs-projection.figure", "selected-neuron.data")
    record.timed("page", base + "/")
    while time.monotonic() < until:
        action = rng.random()
        if action < 0.6:
            index = rng.randrange(subset)
            record.timed("hover callback", base + "/_dash-update-component",
                         dashboard.body("obs-hover.children", "obs-projection.hoverData",
                                        **{"obs-projection.hoverData": {"points": [{"customdata": index}]}}))
            record.timed("thumbnail", f"{base}/thumbs/0/{index}.png")
        elif action < 0.9:
            neuron = rng.randrange(neurons)
            record.timed("neuron click callback", base + "/_dash-update-component",
                         dashboard.body(recolour_out, "selected-neuron.data",
                                        **{"selected-neuron.data": neuron, "color-by.value": "neuron"}))
        else:
            layer = rng.choice(layers)
            record.timed("projection callback", base + "/_dash-update-component",
                         dashboard.body(projection_out, "layer-select.value", **{"layer-select.value": layer}))
            record.timed("neuron map callback", base + "/_dash-update-component",
                         dashboard.body(neuron_map_out, "layer-select.value", **{"layer-select.value": layer}))
        time.sleep(rng.uniform(0.2, 1.0))  # a person's pause between gestures


class JobSource:
    """The jobs the job users start, none in the job workspace's store: activation maximizations
    of one unit with a new step count each (never runs out), every other one a t-SNE of a layer and epoch
    while some are not stored."""

    def __init__(self, dashboard: Dashboard, projections: list, unit: tuple):
        self.dashboard = dashboard
        self.projections = list(projections)
        self.counter = itertools.count(1)
        self.unit = unit
        self.lock = threading.Lock()

    def next(self) -> tuple[str, bytes, str]:
        """(kind, body, what its answer shows when it worked) of the next background job request."""
        with self.lock:
            count = next(self.counter)
            projection = self.projections.pop(0) if self.projections and count % 2 == 0 else None
        if projection:
            layer, epoch = projection
            view = {"ws": JOB_WS, "layer": layer, "epoch": epoch, "method": "tsne"}
            output = self.dashboard.output_of("obs-projection.figure", "job-request.data")
            return "projection job", self.dashboard.body(output, "job-request.data", **{
                "job-request.data": view, "workspace-select.value": JOB_WS, "layer-select.value": layer,
                "epoch-select.value": epoch, "projection-select.value": "tsne", "selected-neuron.data": None}), \
                f"t-SNE of {layer}, epoch {epoch}"
        from nnvis.unitlab.actmax import ActMaxParams

        layer, epoch, unit = self.unit
        params = ActMaxParams(steps=100 + count).as_key()  # a setting of the page, new each time
        fields = {"steps": "steps", "lr": "learning_rate", "l2": "l2_decay", "sigma": "blur_sigma",
                  "every": "blur_every", "jitter": "jitter", "restarts": "restarts"}
        output = self.dashboard.output_of("ul-actmax-images.children", "ul-actmax-request.data")
        return "actmax job", self.dashboard.body(output, "ul-actmax-request.data", **{
            "ul-actmax-request.data": {"ws": JOB_WS, "layer": layer, "epoch": epoch, "unit": unit, "params": params},
            "ul-ws.value": JOB_WS, "ul-layer.value": layer, "ul-epoch.value": epoch, "ul-unit.value": unit,
            **{f"ul-am-{suffix}.value": params[field] for suffix, field in fields.items()}}), \
            f"unit {unit}: {params['restarts']} restarts, {params['steps']} steps"


def job_user(base: str, jobs: JobSource, until: float, record: Recorder) -> None:
    """Start a job, poll it as the page does until it answers, start the next; until `until`."""
    url = base + "/_dash-update-component"
    while time.monotonic() < until:
        kind, body, shows = jobs.next()
        started = time.perf_counter()
        answer = record.timed("job start", url, body)
        handles = json.loads(answer) if answer else {}
        ok, said = False, f"no job handle: {answer!r}"
        if "job" in handles:
            query = urllib.parse.urlencode({"cacheKey": handles["cacheKey"], "job": handles["job"]})
            deadline = time.monotonic() + JOB_ANSWER_S
            while time.monotonic() < deadline:
                time.sleep(POLL_S)
                answer = record.timed("job poll", f"{url}?{query}", body)
                reply = json.loads(answer) if answer else {}
                if answer is None or answer == b"" or "response" in reply:
                    said = json.dumps(reply.get("response"), ensure_ascii=False)
                    ok = "response" in reply and shows in said
                    said = f"expected {shows!r} in {said[-400:]}"
                    break
        record(kind, time.perf_counter() - started, ok, said)


def health_poller(base: str, until: float, done: threading.Event, record: Recorder) -> None:
    """GET /health 4 times a second until `done`; after `until` as a kind of its own."""
    while not done.is_set():
        record.timed("/health" if time.monotonic() < until else "/health, jobs finishing", base + "/health")
        time.sleep(0.25)


def memory_sampler(server: subprocess.Popen, done: threading.Event, samples: list) -> None:
    """Every second: (seconds since start, RSS MB of each gunicorn worker, RSS MB of the job processes)."""
    started = time.monotonic()
    while not done.is_set():
        workers, jobs = [], 0.0
        for worker in psutil.Process(server.pid).children():
            try:
                workers.append(worker.memory_info().rss / 2**20)
                jobs += sum(child.memory_info().rss for child in worker.children(recursive=True)) / 2**20
            except psutil.Error:
                pass
        samples.append((round(time.monotonic() - started, 1), workers, jobs))
        time.sleep(1.0)


def prepare(workspace: str, copy_to: Path) -> dict:
    """What the users need to know of `workspace` (its browsed views computed: the load test
    measures serving), and a fresh copy of it for the job users with the t-SNEs not in its store."""
    sys.path.insert(0, str(ROOT))
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    # copied before this process opens a store: closing a copied file would drop its SQLite locks
    shutil.copytree(workspace, copy_to)
    analysis = Analysis(Workspace(workspace))
    epoch = analysis.epochs[-1]
    layers = [layer for layer in analysis.layers if analysis.neuron_map_key(layer, epoch) in analysis.store]
    for layer in layers:
        analysis.projection(layer, epoch)
    copy = Analysis(Workspace(copy_to))
    unstored = [(layer, e) for e in copy.epochs for layer in copy.layers
                if copy.projection_key(layer, e, "tsne") not in copy.store]
    activations = analysis.activations(layers[0], epoch).astype(np.float64)
    return {"epoch": epoch, "layers": layers, "subset": len(analysis.labels), "unstored_tsne": unstored,
            "neurons": analysis.activations(layers[-1], epoch).shape[1], "projection": analysis.config.projection,
            "unit": (layers[0], epoch, int(activations.var(axis=0).argmax()))}


def run_load(workspace: str, users: int, job_users: int, seconds: float) -> dict:
    """Run the load test; its figures as a dict (see `report`)."""
    with tempfile.TemporaryDirectory(prefix="nnvis-load-") as scratch:
        job_workspace = Path(scratch) / "jobs-workspace"
        facts = prepare(workspace, job_workspace)
        port = free_port()
        env = {**os.environ, "NNVIS_WORKSPACES": os.pathsep.join([workspace, str(job_workspace)]),
               "NNVIS_JOB_CACHE": str(Path(scratch) / "job-cache"),
               # every user comes from 127.0.0.1, one 'user' for the per-user cap: let each job user run one
               "NNVIS_MAX_JOBS_PER_USER": str(max(job_users, 1)), "NNVIS_MAX_JOBS": str(max(job_users, 4))}
        command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "4", "--threads", "8",
                   "--bind", f"127.0.0.1:{port}", "app:server"]  # the README's command
        server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        record, memory = Recorder(), []
        load_before = os.getloadavg()
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            urllib.request.urlopen(base + "/", timeout=60)
            dashboard = Dashboard(base, {"workspace-select.value": 0, "layer-select.value": facts["layers"][-1],
                                         "epoch-select.value": facts["epoch"], "color-by.value": "true",
                                         "projection-select.value": facts["projection"], "insets-toggle.value": [],
                                         "neuron-colour.value": "best", "drawn-grouping.data": "true"})
            jobs = JobSource(dashboard, facts["unstored_tsne"], facts["unit"])
            until, done, started = time.monotonic() + seconds, threading.Event(), time.monotonic()
            threads = [threading.Thread(target=user, args=(dashboard, until, facts["subset"], facts["neurons"],
                                                           facts["layers"], record)) for _ in range(users)]
            threads += [threading.Thread(target=job_user, args=(base, jobs, until, record)) for _ in range(job_users)]
            watchers = [threading.Thread(target=health_poller, args=(base, until, done, record)),
                        threading.Thread(target=memory_sampler, args=(server, done, memory))]
            for thread in threads + watchers:
                thread.start()
            for thread in threads:
                thread.join()
            done.set()
            for thread in watchers:
                thread.join()
            wall = time.monotonic() - started
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    return {**report(record, memory, users, job_users, seconds, load_before), "wall_s": wall}


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"count": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max())}


def report(record: Recorder, memory: list, users: int, job_users: int, seconds: float, load_before: tuple) -> dict:
    """The figures: per kind of request, /health, the workers' memory (after a 10 s warm-up, at the
    end of the run, at most), the machine's load."""
    kinds = {kind: {**percentiles(times), "errors": record.errors[kind]} for kind, times in record.samples.items()}
    callbacks = [t for k, t in record.samples.items() if "callback" in k]
    worker_mb = [sum(workers) for _, workers, _ in memory]
    warm = next((mb for (at, _, _), mb in zip(memory, worker_mb) if at >= 10), None)
    end = next((mb for (at, _, _), mb in zip(reversed(memory), reversed(worker_mb)) if at <= seconds), None)
    return {"users": users, "job_users": job_users, "seconds": seconds, "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": os.getloadavg(), "kinds": kinds,
            "requests": sum(len(t) for k, t in record.samples.items() if not k.endswith(" job")),
            "errors": sum(record.errors.values()),
            "callbacks_p95_ms": float(np.percentile(np.concatenate(callbacks) * 1000, 95)) if callbacks else None,
            "health": kinds.get("/health"), "first_errors": record.first_error,
            "memory": {"workers": len(memory[-1][1]) if memory else 0,
                       "workers_mb_after_10s": warm, "workers_mb_at_end": end,
                       "workers_mb_max": max(worker_mb, default=None),
                       "jobs_mb_max": max((jobs for _, _, jobs in memory), default=None),
                       "samples": memory}}


def print_report(figures: dict) -> None:
    print(f"{figures['users']} users + {figures['job_users']} job users, {figures['seconds']:.0f} s (all done after "
          f"{figures['wall_s']:.0f} s: started jobs are waited for), gunicorn 4 "
          f"workers, {figures['cpus']} CPUs (load {figures['load_before'][0]:.2f} before, "
          f"{figures['load_after'][0]:.2f} after): {figures['requests']} requests, {figures['errors']} errors")
    print(f"{'request':<24}{'count':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for kind, row in sorted(figures["kinds"].items()):
        print(f"{kind:<24}{row['count']:>7}{row['errors']:>8}{row['p50_ms']:>9.0f}{row['p95_ms']:>9.0f}"
              f"{row['max_ms']:>9.0f}")
    if figures["callbacks_p95_ms"] is not None:
        print(f"all callbacks: p95 {figures['callbacks_p95_ms']:.0f} ms")
    for kind, said in figures["first_errors"].items():
        print(f"first {kind} error: {said}")
    health = figures["health"]
    if health:
        print(f"/health: p50 {health['p50_ms']:.0f} ms, p95 {health['p95_ms']:.0f} ms, max {health['max_ms']:.0f} ms "
              f"({'under' if health['max_ms'] < 1000 else 'NOT under'} 1 s)")
    memory = figures["memory"]
    if memory["workers_mb_max"] is not None:
        print(f"gunicorn workers' RSS, all {memory['workers']}: {memory['workers_mb_after_10s'] or 0:.0f} MB "
              f"after 10 s, {memory['workers_mb_at_end'] or 0:.0f} MB at {figures['seconds']:.0f} s, max "
              f"{memory['workers_mb_max']:.0f} MB; job processes together at most {memory['jobs_mb_max']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--job-users", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workspace", default=str(ROOT / "nnvis-workspace" / "digits-mlp"))
    parser.add_argument("--json", help="write the figures (with the memory samples) to this file")
    args = parser.parse_args()
    figures = run_load(args.workspace, args.users, args.job_users, args.seconds)
    print_report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    health = figures["health"]
    return 1 if figures["errors"] or (health and health["max_ms"] >= 1000) else 0


if __name__ == "__main__":
    sys.exit(main())
