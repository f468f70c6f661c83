"""Benchmarks of the dashboard's server side on a 10,000-point MNIST workspace: the
neuron-click callback (a Patch recolouring the projection), thumbnail serving (Flask test
client and real HTTP) and, for reference, the full projection view.

    python benchmarks/bench_dashboard.py

The workspace (MNIST, MLP, 1 epoch, 10,000 test observations, PCA) is made once under
/tmp/nnvis-bench and reused; making it takes a few minutes on 2 CPU cores. Prints a table
and writes the figures as JSON (`--json OUT`). Times are wall-clock (`time.perf_counter`),
medians and p95 over the samples shown, warm-up calls excluded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import urllib.request
from dataclasses import asdict
from pathlib import Path

sys.dont_write_bytecode = True  # importing the sibling script leaves no __pycache__ in benchmarks/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (  # noqa: E402
    MNIST_DIR,
    ROOT,
    WORKDIR,
    load,
    load_text,
    machine,
    machine_line,
    print_table,
    stats,
    timed,
    verdict,
    write_json,
)

sys.path.insert(0, str(ROOT))  # app.py and callbacks/ when run from a checkout

LAYER, EPOCH, GROUPING = "hidden4", 1, "true"
CLICK_TARGET_MS, CLICK_TARGET_BYTES = 100.0, 300 * 1024
THUMB_TARGET_MS = 20.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(figure_or_patch) -> str:
    """The JSON Dash sends for a callback output (plotly's encoder, as Dash uses)."""
    from plotly.io.json import to_json_plotly

    return to_json_plotly(figure_or_patch.to_plotly_json())


def versions() -> dict:
    """The web stack's versions (plotly decides how arrays are encoded, hence JSON sizes)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("dash", "plotly", "flask", "werkzeug", "diskcache", "numpy")}


# ---- the workspace --------------------------------------------------------------------------

def ensure_workspace(path: Path) -> dict:
    """Make the 10k-point workspace unless it is complete already (`run` then only checks
    the store); returns how long that took and whether it existed."""
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig, Workspace

    config = RunConfig(dataset="mnist", data_dir=MNIST_DIR, model="mlp", epochs=1, subset=10000,
                       projection="pca", device="cpu")
    existed = Workspace(path).exists()
    if existed:  # any complete workspace will do (e.g. the 100,000-point one of bench_scale.py)
        config = Workspace(path).config()
        print(f"using workspace {path} ({config.subset} points)", flush=True)
        return {"path": str(path), "existed": True, "prepare_s": 0.0, "config": asdict(config)}
    print(f"creating workspace {path} (takes minutes)", flush=True)
    seconds, _ = timed(run, config, path)
    return {"path": str(path), "existed": existed, "prepare_s": seconds, "config": asdict(config)}


# ---- (a) neuron click ---------------------------------------------------------------------

def bench_neuron_click(n_neurons: int) -> dict:
    """`neuron_colour_patch` for `n_neurons` different neurons of hidden4 (one call each,
    as a user clicking around the neuron map), then the patch's JSON encoding and size.
    One warm-up call on another neuron is excluded."""
    import numpy as np

    from callbacks.views import neuron_colour_patch
    from web.context import open_analysis

    width = open_analysis(0).activations(LAYER, EPOCH).shape[1]
    neurons = np.random.default_rng(0).choice(np.arange(1, width), size=n_neurons, replace=False)
    neuron_colour_patch(0, LAYER, EPOCH, 0, GROUPING)  # warm-up: neuron 0 is not among the timed ones
    callback, encoding, total, sizes = [], [], [], []
    for neuron in neurons:
        seconds, patch = timed(neuron_colour_patch, 0, LAYER, EPOCH, int(neuron), GROUPING)
        encode_s, text = timed(encode, patch)
        callback.append(seconds)
        encoding.append(encode_s)
        total.append(seconds + encode_s)
        sizes.append(len(text.encode()))
    result = {"layer": LAYER, "epoch": EPOCH, "grouping": GROUPING, "neurons": neurons.tolist(),
              "callback": stats(callback), "encode": stats(encoding), "callback_plus_encode": stats(total),
              "json_bytes": {"median": int(np.median(sizes)), "max": max(sizes)}, "warmup_excluded": 1}
    result["meets_time_target"] = result["callback_plus_encode"]["p95_ms"] < CLICK_TARGET_MS
    result["meets_size_target"] = max(sizes) < CLICK_TARGET_BYTES
    return result


# ---- (b) thumbnails ---------------------------------------------------------------------------

def make_app(workspace: Path):
    from app import create_app
    from nnvis.settings import Settings

    return create_app(Settings(workspaces=(workspace,), job_cache=WORKDIR / "jobs"))


def forget_thumbnails(indices) -> None:
    """Delete the stored PNGs of `indices` so that the first pass is a real miss."""
    from web.context import open_analysis

    analysis = open_analysis(0)
    for index in indices:
        analysis.store.cache.delete(analysis.key("thumbnail", index=int(index), size=96).digest())


def get_thumbnail(client, index: int) -> tuple[float, bytes]:
    """(seconds, body) of GET /thumbs/0/<index>.png through the Flask test client; checks the response."""
    seconds, response = timed(client.get, f"/thumbs/0/{index}.png")
    body = response.get_data()
    if response.status_code != 200 or response.mimetype != "image/png" or not body.startswith(PNG_SIGNATURE):
        sys.exit(f"bad thumbnail response for {index}: {response.status} {response.content_type}")
    return seconds, body


def bench_thumbnails_client(app, indices) -> dict:
    """Two passes of GET over `indices` with the Flask test client: the first encodes and
    stores each PNG (miss), the second reads it from the store (hit). One warm-up request
    on an index outside `indices` is excluded."""
    forget_thumbnails(indices)
    client = app.server.test_client()
    get_thumbnail(client, int(indices.max()) + 1)  # warm-up
    first = [get_thumbnail(client, int(i)) for i in indices]
    second = [get_thumbnail(client, int(i)) for i in indices]
    same = all(a[1] == b[1] for a, b in zip(first, second))
    cached = stats([s for s, _ in second])
    return {"n": len(indices), "miss": stats([s for s, _ in first]), "cached": cached,
            "png_bytes_median": sorted(len(b) for _, b in second)[len(second) // 2],
            "status_200_png": True,  # get_thumbnail exits on any other response
            "cached_equals_first": same, "warmup_excluded": 1,
            "meets_target": cached["p95_ms"] < THUMB_TARGET_MS}


def bench_thumbnails_http(app, indices) -> dict:
    """GET the (already cached) thumbnails over real HTTP: werkzeug's threaded server on
    127.0.0.1 in a thread of this process, urllib as the client (a new connection each)."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access-log line per request
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def get(index: int) -> float:
        def fetch():
            with urllib.request.urlopen(f"{base}/thumbs/0/{index}.png", timeout=30) as response:
                body = response.read()
                if response.status != 200 or response.headers.get_content_type() != "image/png" \
                        or not body.startswith(PNG_SIGNATURE):
                    sys.exit(f"bad HTTP thumbnail response for {index}")
        return timed(fetch)[0]

    try:
        get(int(indices[0]))  # warm-up
        samples = [get(int(i)) for i in indices]
    finally:
        server.shutdown()
        thread.join()
    cached = stats(samples)
    return {"n": len(samples), "cached": cached, "warmup_excluded": 1,
            "meets_target": cached["p95_ms"] < THUMB_TARGET_MS}


# ---- (c) projection view ----------------------------------------------------------------------

def bench_projection_view(repeats: int) -> dict:
    """The whole `projection_view` callback (store reads, figure building) on the 10k points,
    plus its figure's JSON encoding; one warm-up call excluded."""
    from callbacks.views import projection_view

    def view():
        figure, text, job, _ = projection_view(0, LAYER, EPOCH, "pca", GROUPING, [], None)
        if job is not None:
            sys.exit(f"projection not in the store: {text}")
        return figure

    view()  # warm-up
    callback, encoding, size = [], [], 0
    for _ in range(repeats):
        seconds, figure = timed(view)
        encode_s, text = timed(encode, figure)
        callback.append(seconds)
        encoding.append(encode_s)
        size = len(text.encode())
    return {"layer": LAYER, "epoch": EPOCH, "method": "pca", "grouping": GROUPING, "callback": stats(callback),
            "encode": stats(encoding), "json_bytes": size, "warmup_excluded": 1}


# ---- report -------------------------------------------------------------------------------------

def timing_row(name: str, s: dict) -> tuple:
    return (name, s["n"], f"{s['median_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['max_ms']:.2f}")


def report(results: dict) -> None:
    click, thumbs, http, view = results["click"], results["thumbs"], results["http"], results["view"]
    header = ("", "n", "median ms", "p95 ms", "max ms")
    print(f"\nmachine: {machine_line(results['machine'])}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(f"workspace: {results['workspace']['path']} (10,000 points; "
          f"{'reused' if results['workspace']['existed'] else 'created'} in {results['workspace']['prepare_s']:.1f} s)")
    print_table(f"(a) neuron click: neuron_colour_patch({LAYER}, epoch {EPOCH}), one call per neuron, "
                f"{click['callback']['n']} neurons", [
        header, timing_row("callback", click["callback"]), timing_row("JSON encode", click["encode"]),
        timing_row("callback + encode", click["callback_plus_encode"]),
        ("JSON size", "", f"{click['json_bytes']['median']:,} B", "", f"{click['json_bytes']['max']:,} B"),
    ])
    print(f"  time: {verdict(click['meets_time_target'])} (p95 of callback + encode < {CLICK_TARGET_MS:.0f} ms); "
          f"size: {verdict(click['meets_size_target'])} (< {CLICK_TARGET_BYTES // 1024} KB)")
    print_table(f"(b) thumbnails GET /thumbs/0/<i>.png, {thumbs['n']} indices "
                f"(PNG ~{thumbs['png_bytes_median']} B)", [
        header, timing_row("test client, first (encode + store)", thumbs["miss"]),
        timing_row("test client, cached", thumbs["cached"]), timing_row("real HTTP (urllib), cached", http["cached"]),
    ])
    print(f"  every response 200 image/png: {thumbs['status_200_png']}; "
          f"cached bytes equal first: {thumbs['cached_equals_first']}; "
          f"test client: {verdict(thumbs['meets_target'])}, HTTP: {verdict(http['meets_target'])} "
          f"(p95 < {THUMB_TARGET_MS:.0f} ms)")
    print_table(f"(c) projection_view({LAYER}, epoch {EPOCH}, pca), 10,000 points, for reference", [
        header, timing_row("callback", view["callback"]), timing_row("JSON encode", view["encode"]),
        ("figure JSON size", "", f"{view['json_bytes']:,} B", "", ""),
    ])
    print(f"\n{load_text(results['load_before'], results['load_after'])}")


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=WORKDIR / "mnist-mlp-10k",
                        help="where the 10k-point workspace is made once and reused")
    parser.add_argument("--neurons", type=int, default=20, help="neurons clicked (default 20)")
    parser.add_argument("--thumbnails", type=int, default=200, help="thumbnail indices (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="projection_view calls timed (default 5)")
    parser.add_argument("--json", type=Path,
                        help="where to write the results (default benchmarks/results-dashboard.json)")
    args = parser.parse_args(argv)

    results = {"benchmark": "dashboard", "machine": machine(), "versions": versions()}
    print(f"machine: {machine_line(results['machine'])}", flush=True)
    results["workspace"] = ensure_workspace(args.workspace)
    app = make_app(args.workspace)  # also points NNVIS_WORKSPACES (read outside a request) at it
    assert os.environ["NNVIS_WORKSPACES"] == str(args.workspace)
    results["load_before"] = load()
    results["click"] = bench_neuron_click(args.neurons)
    # below 9000, so that the warm-up index (largest + 1) is in the subset and not among them
    indices = np.sort(np.random.default_rng(1).choice(9000, size=args.thumbnails, replace=False))
    results["thumbs"] = bench_thumbnails_client(app, indices)
    results["http"] = bench_thumbnails_http(app, indices)
    results["view"] = bench_projection_view(args.repeats)
    results["load_after"] = load()
    report(results)
    write_json(args.json or ROOT / "benchmarks" / "results-dashboard.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
