"""The WebGL point view (nnvis_components.PointView, regl-scatterplot) at 1,000,000 observations
in headless Chromium (software GL, the flags of tests/conftest.py), one run:

(a) the same 1,000,000 points (10 classes) in two minimal Dash apps, each from navigation to its
    first frame: Plotly's scattergl (one trace a class, as the explore page draws) and the point
    view: the ratio;
(b) through the real app, served as the README serves it (gunicorn, 4 gthread workers), on a
    1,000,000-observation MNIST workspace (bench_scale.click_workspace: MLP, layer hidden4 of
    1000 neurons, PCA): the explore page from navigation to its first full frame; a neuron-click
    recolour (the page's `selected-neuron` and `color-by` set as a neuron click sets them) to its
    frame; a lasso (shift + drag) around about 100,000 points to its neuron ranking on the page
    (the first lasso of a layer also reads the whole layer once for each neuron's moments: both
    lassos reported); hover to its card; and each worker's resident memory (RSS, its anonymous
    and file-backed parts) sampled every 0.5 s throughout;
(c) the server's part of a lasso alone at 1,000,000 x 1000 float16 (a memory-mapped file).

    .venv/bin/python benchmarks/bench_pointview.py [--points 1000000] [--app-points 1000000] [--json OUT]

Needs Debian's chromium (as the browser tests). Takes minutes; the workspace is made once under
/tmp/nnvis-bench (about 10 GB, tens of minutes on 2 loaded CPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ROOT, load, machine, machine_line, write_json  # noqa: E402

sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGETS = {"ratio": 5.0, "first_frame_s": 3.0, "recolour_s": 0.5, "lasso_s": 1.0, "hover_ms": 150.0}
WAIT_MS = 300_000

def comparison_apps(points: np.ndarray, codes: np.ndarray, colours: list[str]) -> dict:
    """Two Dash apps over the same points: Plotly's scattergl (one trace a class, typed arrays, as
    the explore page draws below `points_above`) and the point view."""
    import plotly.graph_objects as go
    from dash import Dash, dcc, html

    from nnvis_components import PointView, encode_points, encode_values

    figure = go.Figure([go.Scattergl(x=points[codes == k, 0].astype(np.float32), y=points[codes == k, 1].astype(
        np.float32), mode="markers", marker=dict(size=2, color=colour)) for k, colour in enumerate(colours)])
    figure.update_layout(width=900, height=700, showlegend=False)
    plotly_app, points_app = Dash("plotly_view"), Dash("point_view")
    plotly_app.layout = html.Div(dcc.Graph(id="graph", figure=figure))
    points_app.layout = html.Div(PointView(id="obs-points", coordinates=encode_points(points),
                                           values=encode_values(codes.astype(np.uint8)), palette=colours,
                                           performanceMode=True, style={"width": "900px", "height": "700px"}))
    return {"plotly": plotly_app, "regl-scatterplot": points_app}


PLOTLY_DRAWN = """() => { const g = document.querySelector('#graph .js-plotly-plot');
  return g && g._fullData && g._fullData.length === 10 && g.querySelector('canvas') && g._fullLayout._glcanvas; }"""


def in_page_ratio(browser, points: np.ndarray, codes: np.ndarray, colours: list[str], repeats: int = 1) -> dict:
    """(a): each app from navigation to its first frame of the points, `repeats` times in turn
    (Plotly, then the point view); the medians and every time."""
    apps = comparison_apps(points, codes, colours)
    servers = {library: serve_app(app.server) for library, app in apps.items()}
    runs: dict[str, list] = {library: [] for library in apps}
    try:
        for _ in range(repeats):
            for library, (_, url) in servers.items():
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                try:
                    start = time.perf_counter()
                    page.goto(url)
                    if library == "plotly":
                        page.wait_for_function(PLOTLY_DRAWN, timeout=WAIT_MS)
                        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                        runs[library].append({"s": time.perf_counter() - start})
                    else:
                        drawn_at_least(page, 1)
                        runs[library].append({"s": time.perf_counter() - start, **parts(page)})
                finally:
                    page.close()
                print(f"  (a) {library}: {runs[library][-1]['s']:.2f} s from navigation to the first frame "
                      f"{runs[library][-1]} (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        for server, _ in servers.values():
            server.shutdown()
    return {**{library: statistics.median(run["s"] for run in runs[library]) for library in runs}, "runs": runs}


def serve_app(flask_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class Gunicorn:
    """The app served as the README serves it (gunicorn, gthread workers) over `workspace`, its
    workers' resident memory sampled every `every` seconds while it runs."""

    def __init__(self, workspace: Path, points_above: int, workers: int = 4, every: float = 0.5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "NNVIS_WORKSPACES": str(workspace), "NNVIS_POINTS_ABOVE": str(points_above),
               "NNVIS_JOB_CACHE": "/tmp/nnvis-bench/.jobs-pointview", "PYTHONPATH": str(ROOT)}
        self.log = open("/tmp/nnvis-bench/pointview-gunicorn.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers",
                                         str(workers), "--threads", "8", "--bind", f"127.0.0.1:{port}", "--timeout",
                                         "600", "app:server"], cwd=ROOT, env=env, stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(1200):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5):
                    break
            except OSError:
                time.sleep(0.25)
        else:
            raise RuntimeError("gunicorn never answered /health")
        self.peak: dict[int, dict[str, int]] = {}
        self.running = True
        self.sampler = threading.Thread(target=self.sample, args=(every,), daemon=True)
        self.sampler.start()

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def sample(self, every: float) -> None:
        while self.running:
            for pid in self.workers():
                try:
                    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
                except (OSError, ValueError):
                    continue
                kib = {name: int(fields.get(name, "0 kB").split()[0]) for name in ("VmRSS", "RssAnon", "RssFile")}
                peak = self.peak.setdefault(pid, {"VmRSS": 0, "RssAnon": 0, "RssFile": 0})
                if kib["VmRSS"] > peak["VmRSS"]:
                    peak.update(kib)
            time.sleep(every)

    def stop(self) -> dict:
        self.running = False
        self.sampler.join()
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        return {str(pid): {name: round(value / 1024, 1) for name, value in peak.items()}  # MiB
                for pid, peak in self.peak.items()}


def drawn_at_least(page, count: int, wait_ms: int = WAIT_MS) -> None:
    page.wait_for_function(f"() => Number((document.getElementById('obs-points') || {{getAttribute: () => 0}})"
                           f".getAttribute('data-drawn')) >= {count}", timeout=wait_ms)


def lasso(page, low, high) -> None:
    """Shift + drag around the screen rectangle (low, high)."""
    corners = [(low[0], low[1]), (high[0], low[1]), (high[0], high[1]), (low[0], high[1]), (low[0], low[1])]
    page.mouse.move(*corners[0])
    page.keyboard.down("Shift")
    page.mouse.down()
    for start, end in zip(corners, corners[1:]):
        for t in np.linspace(0, 1, 6)[1:]:
            page.mouse.move(start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))


def box_around(screen: np.ndarray, centre: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """A square around `centre` holding about `share` of the sampled screen positions."""
    for half in np.linspace(5, 600, 240):
        inside = np.all(np.abs(screen - centre) < half, axis=1).mean()
        if inside >= share:
            return centre - half, centre + half
    return centre - 600, centre + 600


def app_timings(browser, workspace: Path, points: int) -> dict:
    """(b): the explore page of the real app over the workspace."""
    shutil.rmtree("/tmp/nnvis-bench/.jobs-pointview/moments", ignore_errors=True)  # computed afresh, in the background
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    result = {}
    start = time.perf_counter()
    Analysis(Workspace(workspace)).test_accuracy(1)  # the status line's accuracy, computed once for the store
    result["test_accuracy_s"] = time.perf_counter() - start
    served = Gunicorn(workspace, points_above=min(100_000, points - 1))  # smaller workspaces: the same path
    view = served.url + "/?ws=0&layer=hidden4&epoch=1&method=pca&color=true"
    try:
        warm = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        warm.goto(view)
        drawn_at_least(warm, 1, WAIT_MS * 3)
        result["first_frame_cold_s"] = time.perf_counter() - start  # the server's first view also reads the store
        warm.close()
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        page.goto(view)
        drawn_at_least(page, 1)
        result["first_frame_s"] = time.perf_counter() - start
        result["first_frame_parts"] = parts(page)
        print(f"  (b) first full frame: {result['first_frame_s']:.2f} s "
              f"(server's first view {result['first_frame_cold_s']:.2f} s); {result['first_frame_parts']}", flush=True)
        page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        recolours = []
        for neuron in (3, 7, 11, 13):
            if neuron == 7:  # the units x observations copy (a neuron's row read alone), as a neuron click of
                start = time.perf_counter()  # the Plotly views makes it: here made in this process
                by_unit_copy(workspace)
                result["by_unit_copy_s"] = time.perf_counter() - start
            page.wait_for_function("() => !document.getElementById('obs-points').hasAttribute('data-drawing')",
                                   timeout=WAIT_MS)
            drawn = int(page.get_attribute("#obs-points", "data-drawn"))
            start = time.perf_counter()
            page.evaluate("n => { dash_clientside.set_props('selected-neuron', {data: n});"
                          " dash_clientside.set_props('color-by', {value: 'neuron'}); }", neuron)
            drawn_at_least(page, drawn + 1)
            page.wait_for_function(f"() => document.querySelector('#points-legend').innerText"
                                   f".includes('neuron {neuron}')", timeout=WAIT_MS)
            recolours.append(time.perf_counter() - start)
            result.setdefault("recolour_parts", []).append(parts(page))
        result["recolour_s"] = recolours
        result["indexes_built"] = int(page.get_attribute("#obs-points", "data-indexed"))
        print(f"  (b) recolour: {', '.join(f'{s:.2f}' for s in recolours)} s "
              f"(spatial indexes built: {result['indexes_built']}); {result['recolour_parts']}", flush=True)
        sample = np.random.default_rng(0).choice(points, 20_000, replace=False)
        screen = np.array(page.evaluate("ids => { const plot = document.getElementById('obs-points').scatterplot;"
                                        " const box = document.querySelector('#obs-points canvas')"
                                        ".getBoundingClientRect(); return ids.map(i => {"
                                        " const [x, y] = plot.getScreenPosition(i);"
                                        " return [box.left + x, box.top + y]; }); }", sample.tolist()))
        start = time.perf_counter()
        while not list(Path("/tmp/nnvis-bench/.jobs-pointview/moments").glob("*.npz")):
            time.sleep(0.5)  # the layer's moments, computed in the background since the first view
        result["moments_waited_s"] = time.perf_counter() - start
        print(f"  (b) waited {result['moments_waited_s']:.1f} s more for the layer's moments", flush=True)
        lassos = []
        for centre in (np.median(screen, axis=0), np.percentile(screen, 35, axis=0)):
            low, high = box_around(screen, centre, 0.10)
            lasso(page, low, high)
            before = page.inner_text("#neuron-ranking")  # (the page's own DOM is left alone: React keeps it)
            start = time.perf_counter()
            page.mouse.up()
            page.keyboard.up("Shift")
            page.wait_for_function("before => { const text = document.querySelector('#neuron-ranking').innerText;"
                                   " return text.includes('Top neurons for') && text !== before; }", arg=before,
                                   timeout=WAIT_MS)
            seconds = time.perf_counter() - start
            text = page.inner_text("#neuron-ranking")
            shown = page.evaluate("() => document.getElementById('obs-points').scatterplot"
                                  ".get('selectedPoints').length")
            lassos.append({"seconds": seconds, "selected": int(text.split("Top neurons for ")[1].split(" ")[0]),
                           "selected_in_view": shown})
            print(f"  (b) lasso of {lassos[-1]['selected']:,} points to its ranking: {seconds:.2f} s "
                  f"({shown:,} selected in the view)", flush=True)
        result["lassos"] = lassos
        page.keyboard.press("Escape")
        page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        hovers = []
        for k in range(0, 12):
            x, y = screen[k * 997 % len(screen)]
            page.mouse.move(x + 40, y + 40)
            page.wait_for_load_state("networkidle", timeout=WAIT_MS)
            before = page.get_attribute("#obs-hover img", "alt") if page.query_selector("#obs-hover img") else ""
            start = time.perf_counter()
            page.mouse.move(x, y, steps=2)
            try:
                page.wait_for_function(f"() => {{ const i = document.querySelector('#obs-hover img');"
                                       f" return i && i.alt !== {before!r} && i.complete && i.naturalWidth > 0; }}",
                                       timeout=30_000)
            except Exception:  # noqa: BLE001  the pointer landed on the point hovered already: skip it
                continue
            hovers.append(1000 * (time.perf_counter() - start))
        result["hover_ms"] = hovers
        print(f"  (b) hover to its card with the thumbnail loaded: median {statistics.median(hovers):.0f} ms "
              f"over {len(hovers)}", flush=True)
        result["renders"] = int(page.get_attribute("#obs-points", "data-renders"))
        page.screenshot(path="/tmp/nnvis-bench/pointview-1m.png")
        page.close()
    finally:
        result["worker_peak_mib"] = served.stop()
    peaks = [peak["VmRSS"] for peak in result["worker_peak_mib"].values()]
    print(f"  (b) gunicorn workers' peak RSS: {', '.join(f'{p:.0f}' for p in sorted(peaks))} MiB "
          f"({result['worker_peak_mib']})", flush=True)
    return result


def by_unit_copy(workspace: Path) -> None:
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    Analysis(Workspace(workspace)).activations_by_unit("hidden4", 1)


def parts(page) -> dict:
    """The point view's last draw: its renders of the points so far and its parts, in ms from
    navigation: the effect, set-up done, data decoded, drawn, its next frame."""
    return {"renders": page.get_attribute("#obs-points", "data-renders"),
            **json.loads(page.get_attribute("#obs-points", "data-timings") or "{}")}


def server_lasso(points: int, units: int = 1000, selected: int = 100_000) -> dict:
    """(c): the server's part of a lasso at `points` x `units` (float16, memory-mapped as a
    workspace's activations are; filled with a repeated random block, so made in seconds): the
    one pass for each neuron's moments, then the ranking of `selected` scattered rows."""
    from nnvis.projection.selection import rank_selection, unit_moments

    path = Path("/tmp/nnvis-bench/pointview-activations.f16")
    path.parent.mkdir(parents=True, exist_ok=True)
    acts = np.memmap(path, np.float16, "w+", shape=(points, units))
    block = np.random.default_rng(0).gamma(1.0, 1.0, (4096, units)).astype(np.float16)
    for start in range(0, points, len(block)):
        acts[start:start + len(block)] = block[:points - start]
    acts.flush()
    acts = np.memmap(path, np.float16, "r", shape=(points, units))
    start = time.perf_counter()
    moments = unit_moments(acts)
    moments_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    ranks = []
    for _ in range(3):
        chosen = rng.choice(points, selected, replace=False)
        start = time.perf_counter()
        rank_selection(acts, chosen, moments)
        ranks.append(time.perf_counter() - start)
    path.unlink()
    print(f"  (c) server side of a lasso at {points:,} x {units}: moments (once a layer) {moments_s:.2f} s, "
          f"ranking {selected:,} rows {', '.join(f'{r:.2f}' for r in ranks)} s", flush=True)
    return {"moments_s": moments_s, "rank_s": ranks, "units": units, "selected": selected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--app-points", type=int, default=1_000_000,
                        help="observations of the workspace for (b) (at most 1,120,000; below 100,001 the server's "
                             "NNVIS_POINTS_ABOVE is lowered so that the point view draws it)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of (a), in turn (the medians give the ratio)")
    parser.add_argument("--skip-app", action="store_true", help="(a) and (c) only: no workspace is made")
    parser.add_argument("--skip-server-lasso", action="store_true", help="no (c) (b's lassos are the real ones)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results-pointview.json"))
    args = parser.parse_args()
    from bench_scale import click_workspace
    from playwright.sync_api import sync_playwright

    from layouts.figures import class_colours

    info, before = machine(), load()
    print(machine_line(info), flush=True)
    print(f"load before: {before}", flush=True)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 10, args.points)
    points = rng.normal(0, 5, (10, 2))[codes] + rng.normal(0, 1, (args.points, 2))
    results = {"machine": info, "load_before": before, "points": args.points, "targets": TARGETS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            results["in_page"] = in_page_ratio(browser, points, codes, class_colours(10), args.repeats)
            results["ratio"] = results["in_page"]["plotly"] / results["in_page"]["regl-scatterplot"]
            results["load_after_a"] = load()
            print(f"  (a) point view {results['ratio']:.1f}x faster than Plotly's scattergl", flush=True)
            if not args.skip_server_lasso:
                results["server_lasso"] = server_lasso(args.points)
            if not args.skip_app:
                results["app"] = {"points": args.app_points,
                                  **app_timings(browser, click_workspace(args.app_points), args.app_points)}
        finally:
            browser.close()
    results["load_after"] = load()
    print(f"load after: {results['load_after']}", flush=True)
    write_json(Path(args.json), results)


if __name__ == "__main__":
    main()
