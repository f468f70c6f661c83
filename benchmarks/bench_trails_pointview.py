"""/evolution's trails at 100,000 observations in headless Chromium (software GL, the flags of
tests/conftest.py), one run: the same synthetic trails (10 classes, 4 frames, each observation a
random walk from its class's centre) in two minimal Dash apps, each from navigation to its first
full frame: Plotly, as /evolution draws them below `points_above` (layouts.trail_figures.
trails_figure over bundled paths of 12 points a segment), and the point view, as it draws them
above (callbacks.evolution_views.trail_points: one line an observation through its frames,
regl-scatterplot's point connections). The ratio, and what each sends.

    .venv/bin/python benchmarks/bench_trails_pointview.py [--trails 100000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ROOT, load, write_json  # noqa: E402
from bench_pointview import CHROMIUM_ARGS, PLOTLY_DRAWN, WAIT_MS, drawn_at_least, serve_app  # noqa: E402

sys.path.insert(0, str(ROOT))


def synthetic(n: int, n_frames: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(frames (F, N, 2), labels (N,)): each class's observations start around its own centre
    and walk towards a tighter cluster, frame after frame."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    centres = rng.normal(0, 1, (10, 2))
    frames = [centres[labels] * 0.3 + rng.normal(0, 0.6, (n, 2))]
    for f in range(1, n_frames):
        frames.append(frames[-1] + (centres[labels] - frames[-1]) * (0.35 + 0.1 * f) + rng.normal(0, 0.05, (n, 2)))
    return np.stack(frames).astype(np.float32), labels


def straight_paths(frames: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """Paths (N, S, P, 2) of the shape bundled_trails gives (the Plotly side draws as many points)."""
    t = np.linspace(0, 1, per_segment)[None, None, :, None]
    start, end = frames[:-1].transpose(1, 0, 2)[:, :, None], frames[1:].transpose(1, 0, 2)[:, :, None]
    return (start + (end - start) * t).astype(np.float32)


def apps(frames: np.ndarray, labels: np.ndarray) -> dict:
    from dash import Dash, dcc, html

    from layouts.figures import class_colours
    from layouts.trail_figures import trails_figure
    from nnvis_components import PointView, encode_lines, encode_points, encode_values

    n_frames, n = frames.shape[:2]
    classes = [str(c) for c in range(10)]
    started = time.perf_counter()
    figure = trails_figure(straight_paths(frames), labels, classes, np.arange(n))
    figure.update_layout(width=900, height=700)
    plotly_json = figure.to_json()
    plotly_s = time.perf_counter() - started
    started = time.perf_counter()
    ids, orders = encode_lines(np.repeat(np.arange(n), n_frames), np.tile(np.arange(n_frames), n))
    props = {"coordinates": encode_points(frames.transpose(1, 0, 2).reshape(-1, 2)),
             "values": encode_values(np.repeat(labels, n_frames).astype(np.uint8)), "lineIds": ids,
             "lineOrders": orders}
    points_s = time.perf_counter() - started
    plotly_app, points_app = Dash("plotly_trails"), Dash("point_trails")
    plotly_app.layout = html.Div(dcc.Graph(id="graph", figure=figure))
    points_app.layout = html.Div(PointView(id="obs-points", palette=class_colours(10), performanceMode=True,
                                           pointSize=3, shownOrder=n_frames - 1,
                                           style={"width": "900px", "height": "700px"}, **props))
    sizes = {"plotly_mb": len(plotly_json) / 1e6, "point_view_mb": sum(len(v) for v in props.values()) / 1e6,
             "plotly_figure_s": plotly_s, "point_view_props_s": points_s}
    return {"plotly": plotly_app, "regl-scatterplot": points_app}, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trails", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    before = load()
    frames, labels = synthetic(args.trails)
    built, sizes = apps(frames, labels)
    print(f"server side: {json.dumps(sizes)}", flush=True)
    servers = {library: serve_app(app.server) for library, app in built.items()}
    times = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            for library, (_, url) in servers.items():
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                start = time.perf_counter()
                page.goto(url, timeout=WAIT_MS)
                if library == "plotly":
                    page.wait_for_function(PLOTLY_DRAWN.replace("=== 10", ">= 10"), timeout=WAIT_MS)
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                else:
                    drawn_at_least(page, 1)
                    assert page.get_attribute("#obs-points", "data-lines") == str(args.trails)
                times[library] = time.perf_counter() - start
                print(f"  {library}: {times[library]:.2f} s from navigation to the first frame "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
                page.close()
        finally:
            browser.close()
            for server, _ in servers.values():
                server.shutdown()
    results = {"trails": args.trails, "frames": int(frames.shape[0]), **sizes, "seconds": times,
               "ratio": times["plotly"] / times["regl-scatterplot"], "load_before": before, "load_after": load()}
    print(json.dumps(results, indent=2))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
