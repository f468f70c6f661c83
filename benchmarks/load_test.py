"""Load test on loopback: N simulated users (threads) for T seconds against real gunicorn with
4 workers, each user browsing as people do: open the page, hover points (callback + thumbnail),
click neurons (the recolouring callback), change layer (projection and neuron map callbacks).

    python benchmarks/load_test.py [--users 50] [--seconds 60] [--workspace nnvis-workspace/digits-mlp]

Prints requests, errors, and p50/p95/max latency per kind of request. Every response must be
a 200 with a body (204 for a callback with nothing to update) and no callback error message;
anything else counts as an error. Exits 1 when there was any error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


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


def user(dashboard: Dashboard, until: float, subset: int, neurons: int, layers: list, record) -> None:
    rng = random.Random(threading.get_ident())

    def timed(kind: str, url: str, body: bytes | None = None) -> None:
        start = time.perf_counter()
        try:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = response.read()
                # a failing callback answers 200 with the page's error banner: that is an error too
                ok = response.status == 204 or (response.status == 200 and len(answer) > 0
                                                and b"error-banner" not in answer)
        except (urllib.error.URLError, OSError) as error:
            ok = getattr(error, "code", None) == 204
        record(kind, time.perf_counter() - start, ok)

    base = dashboard.base
    projection_out = dashboard.output_of("obs-projection.figure", "layer-select.value")
    neuron_map_out = dashboard.output_of("neuron-map.figure", "layer-select.value")
    recolour_out = dashboard.output_of("obs-projection.figure", "selected-neuron.data")
    timed("page", base + "/")
    while time.monotonic() < until:
        action = rng.random()
        if action < 0.6:
            index = rng.randrange(subset)
            timed("hover callback", base + "/_dash-update-component",
                  dashboard.body("obs-hover.children", "obs-projection.hoverData",
                                 **{"obs-projection.hoverData": {"points": [{"customdata": index}]}}))
            timed("thumbnail", f"{base}/thumbs/0/{index}.png")
        elif action < 0.9:
            neuron = rng.randrange(neurons)
            timed("neuron click callback", base + "/_dash-update-component",
                  dashboard.body(recolour_out, "selected-neuron.data",
                                 **{"selected-neuron.data": neuron, "color-by.value": "neuron"}))
        else:
            layer = rng.choice(layers)
            timed("projection callback", base + "/_dash-update-component",
                  dashboard.body(projection_out, "layer-select.value", **{"layer-select.value": layer}))
            timed("neuron map callback", base + "/_dash-update-component",
                  dashboard.body(neuron_map_out, "layer-select.value", **{"layer-select.value": layer}))
        time.sleep(rng.uniform(0.2, 1.0))  # a person's pause between gestures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workspace", default=str(ROOT / "nnvis-workspace" / "digits-mlp"))
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(args.workspace))
    epoch, layers = analysis.epochs[-1], [layer for layer in analysis.layers
                                          if analysis.neuron_map_key(layer, analysis.epochs[-1]) in analysis.store]
    for layer in layers:  # the views users browse are computed (the load test measures serving)
        analysis.projection(layer, epoch)
    port = free_port()
    env = {**os.environ, "NNVIS_WORKSPACES": args.workspace, "NNVIS_JOB_CACHE": "/tmp/nnvis-load-jobs"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}",
                               "--timeout", "120", "app:server"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        urllib.request.urlopen(base + "/", timeout=60)
        dashboard = Dashboard(base, {"workspace-select.value": 0, "layer-select.value": layers[-1],
                                     "epoch-select.value": epoch, "projection-select.value": analysis.config.projection,
                                     "color-by.value": "true", "insets-toggle.value": [], "neuron-colour.value": "best",
                                     "drawn-grouping.data": "true"})
        samples: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        lock = threading.Lock()

        def record(kind: str, seconds: float, ok: bool) -> None:
            with lock:
                samples[kind].append(seconds)
                errors[kind] += 0 if ok else 1
        until = time.monotonic() + args.seconds
        neurons = analysis.activations(layers[-1], epoch).shape[1]
        users = [threading.Thread(target=user, args=(dashboard, until, len(analysis.labels), neurons, layers, record))
                 for _ in range(args.users)]
        for thread in users:
            thread.start()
        for thread in users:
            thread.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    total = sum(len(v) for v in samples.values())
    print(f"{args.users} users, {args.seconds:.0f} s, gunicorn 4 workers, {os.cpu_count()} CPUs: "
          f"{total} requests, {sum(errors.values())} errors")
    print(f"{'request':<24}{'count':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for kind, times in sorted(samples.items()):
        ms = np.array(times) * 1000
        print(f"{kind:<24}{len(ms):>7}{errors[kind]:>8}{np.percentile(ms, 50):>9.0f}{np.percentile(ms, 95):>9.0f}"
              f"{ms.max():>9.0f}")
    callbacks = np.concatenate([np.array(t) for k, t in samples.items() if "callback" in k]) * 1000
    print(f"all callbacks: p95 {np.percentile(callbacks, 95):.0f} ms")
    return 1 if sum(errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
