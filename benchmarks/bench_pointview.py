"""The WebGL point view (nnvis_components.PointView, regl-scatterplot) at 1,000,000 observations
in headless Chromium (software GL, the flags of tests/conftest.py), one run:

(a) the same 1,000,000 points (10 classes) in two minimal Dash apps, each from navigation to its
    first frame: Plotly's scattergl (one trace a class, as the explore page draws) and the point
    view: the ratio;
(b) through the real app (werkzeug in this process) on a 1,000,000-observation MNIST workspace
    (bench_scale.click_workspace: MLP, layer hidden4 of 1000 neurons, PCA): the explore page from
    navigation to its first full frame; a neuron-click recolour (the page's `selected-neuron`
    and `color-by` set as a neuron click sets them) to its frame; a lasso (shift + drag) around
    about 100,000 points to its neuron ranking on the page (the first lasso of a layer also reads
    the whole layer once for each neuron's moments: both lassos reported); hover to its card;
(c) the server's part of a lasso alone at 1,000,000 x 1000 float16 (a memory-mapped file).

    .venv/bin/python benchmarks/bench_pointview.py [--points 1000000] [--app-points 1000000] [--json OUT]

Needs Debian's chromium (as the browser tests). Takes minutes; the workspace is made once under
/tmp/nnvis-bench (about 10 GB, tens of minutes on 2 loaded CPUs).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
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


def in_page_ratio(browser, points: np.ndarray, codes: np.ndarray, colours: list[str]) -> dict:
    """(a): each app from navigation to its first frame of the points."""
    times = {}
    for library, app in comparison_apps(points, codes, colours).items():
        server, url = serve_app(app.server)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            start = time.perf_counter()
            page.goto(url)
            if library == "plotly":
                page.wait_for_function(PLOTLY_DRAWN, timeout=WAIT_MS)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            else:
                drawn_at_least(page, 1)
            times[library] = time.perf_counter() - start
        finally:
            page.close()
            server.shutdown()
        print(f"  (a) {library}: {times[library]:.2f} s from navigation to the first frame", flush=True)
    return times


def serve_app(flask_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def serve(settings):
    from app import create_app

    return serve_app(create_app(settings).server)


def drawn_at_least(page, count: int) -> None:
    page.wait_for_function(f"() => Number((document.getElementById('obs-points') || {{getAttribute: () => 0}})"
                           f".getAttribute('data-drawn')) >= {count}", timeout=WAIT_MS)


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
    from nnvis.settings import Settings

    server, url = serve(Settings(workspaces=(workspace,), job_cache=Path("/tmp/nnvis-bench/.jobs-pointview"),
                                 points_above=min(100_000, points - 1)))  # smaller workspaces: the same path
    view = url + "/?ws=0&layer=hidden4&epoch=1&method=pca&color=true"
    result = {}
    try:
        warm = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        warm.goto(view)
        drawn_at_least(warm, 1)
        result["first_frame_cold_s"] = time.perf_counter() - start  # the server's first view also reads the store
        warm.close()
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        start = time.perf_counter()
        page.goto(view)
        drawn_at_least(page, 1)
        result["first_frame_s"] = time.perf_counter() - start
        print(f"  (b) first full frame: {result['first_frame_s']:.2f} s "
              f"(server's first view {result['first_frame_cold_s']:.2f} s)", flush=True)
        page.wait_for_load_state("networkidle", timeout=WAIT_MS)
        recolours = []
        for neuron in (3, 7, 11):
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
        result["recolour_s"] = recolours
        result["indexes_built"] = int(page.get_attribute("#obs-points", "data-indexed"))
        print(f"  (b) recolour: {', '.join(f'{s:.2f}' for s in recolours)} s "
              f"(spatial indexes built: {result['indexes_built']})", flush=True)
        sample = np.random.default_rng(0).choice(points, 20_000, replace=False)
        screen = np.array(page.evaluate("ids => { const plot = document.getElementById('obs-points').scatterplot;"
                                        " const box = document.querySelector('#obs-points canvas')"
                                        ".getBoundingClientRect(); return ids.map(i => {"
                                        " const [x, y] = plot.getScreenPosition(i);"
                                        " return [box.left + x, box.top + y]; }); }", sample.tolist()))
        lassos = []
        for centre in (np.median(screen, axis=0), np.percentile(screen, 35, axis=0)):
            low, high = box_around(screen, centre, 0.10)
            lasso(page, low, high)
            page.evaluate("() => { document.querySelector('#neuron-ranking').innerHTML = ''; }")
            start = time.perf_counter()
            page.mouse.up()
            page.keyboard.up("Shift")
            page.wait_for_function("() => document.querySelector('#neuron-ranking').innerText"
                                   ".includes('Top neurons for')", timeout=WAIT_MS)
            seconds = time.perf_counter() - start
            text = page.inner_text("#neuron-ranking")
            lassos.append({"seconds": seconds, "selected": int(text.split("Top neurons for ")[1].split(" ")[0])})
            print(f"  (b) lasso of {lassos[-1]['selected']:,} points to its ranking: {seconds:.2f} s", flush=True)
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
        page.screenshot(path="/tmp/nnvis-bench/pointview-1m.png")
        page.close()
    finally:
        server.shutdown()
    return result


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
    parser.add_argument("--skip-app", action="store_true", help="(a) and (c) only: no workspace is made")
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
            results["in_page"] = in_page_ratio(browser, points, codes, class_colours(10))
            results["ratio"] = results["in_page"]["plotly"] / results["in_page"]["regl-scatterplot"]
            print(f"  (a) point view {results['ratio']:.1f}x faster than Plotly's scattergl", flush=True)
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
