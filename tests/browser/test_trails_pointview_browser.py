"""/evolution's trails drawn by the WebGL point view (regl-scatterplot's point connections) in
headless Chromium, driven by the mouse: a server whose `points_above` is lowered so that the
digits workspace's 300 observations take the path trails of more than 100,000 take by default."""

import numpy as np
import pytest

from nnvis.compare.evolution import bundled_trails, sequence
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

VIEW = "/evolution?ws=0&kind=layers&at=2&method=pca"
SCREEN = """() => { const plot = document.getElementById('trail-points').scatterplot;
  const box = document.querySelector('#trail-points canvas').getBoundingClientRect();
  return plot.get('points').flatMap((p, i) => { if (p[3] !== 1) return [];  // shown: the player's frame
    const [x, y] = plot.getScreenPosition(i); return [[i, box.left + x, box.top + y]]; }); }"""


@pytest.fixture(scope="module")
def trails_dashboard(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    bundled_trails(Analysis(Workspace(digits_workspace.path)), "layers", 2, "pca")  # in the store: no job
    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"),
                          points_above=100)) as url:
        yield url


def attribute(page, name: str) -> int:
    return int(page.get_attribute("#trail-points", name) or 0)


def drawn(page, count: int) -> None:
    page.wait_for_function(f"() => {{ const e = document.getElementById('trail-points');"
                           f" return e && Number(e.getAttribute('data-drawn')) >= {count}"
                           f" && !e.hasAttribute('data-drawing'); }}", timeout=180_000)


def test_trails_are_drawn_as_point_connections_filtered_by_class_and_hovered(page, trails_dashboard,
                                                                            digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    frames = np.asarray(sequence(analysis, "layers", 2, "pca")["frames"])
    n_frames = len(frames)
    page.goto(trails_dashboard + VIEW)
    drawn(page, 1)
    page.wait_for_load_state("networkidle")
    assert page.is_visible("#trail-points canvas:not(.points-lasso)") and not page.is_visible("#trails-graph")
    # one line an observation through its frames: 300 trails of n_frames points, drawn as curves
    assert attribute(page, "data-lines") == 300 and attribute(page, "data-points") == 300 * n_frames
    assert attribute(page, "data-connection-draws") >= 1
    assert page.evaluate("() => document.getElementById('trail-points').scatterplot.get('showPointConnections')")
    # the player's frame (the first): its 300 points shown, one a trail
    assert attribute(page, "data-shown") == 300
    points = page.evaluate("() => document.getElementById('trail-points').scatterplot.get('points')")
    assert {int(points[int(i)][5]) for i, _, _ in page.evaluate(SCREEN)} == {0}

    # the class filter, by the mouse: class 3's trails go, the others stay
    page.locator("#class-filter label").nth(3).click()
    drawn(page, 2)
    page.wait_for_function("() => document.getElementById('trail-points').getAttribute('data-lines') !== '300'",
                           timeout=180_000)
    kept = int((analysis.labels != 3).sum())
    assert attribute(page, "data-lines") == kept and attribute(page, "data-points") == kept * n_frames
    ids = page.evaluate("() => [...new Set(document.getElementById('trail-points').scatterplot.get('points')"
                        ".map(p => p[4]))]")
    assert sorted(ids) == np.flatnonzero(analysis.labels != 3).tolist()

    # the frame player: the slider's thumb dragged to its end shows the last frame's points, every trail kept
    thumb = page.locator("#frame-slider [role=slider], [id='frame-slider'] ~ * [role=slider]").first.bounding_box()
    page.mouse.move(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
    page.mouse.down()
    page.mouse.move(thumb["x"] + 600, thumb["y"] + thumb["height"] / 2, steps=10)
    page.mouse.up()
    page.wait_for_function(f"() => {{ const p = document.getElementById('trail-points').scatterplot.get('points');"
                           f" const f = p.filter(q => q[3] === 1); return f.length === {kept}"
                           f" && f.every(q => q[5] === {n_frames - 1}); }}", timeout=180_000)
    page.wait_for_function("() => !document.getElementById('trail-points').hasAttribute('data-drawing')")
    assert attribute(page, "data-shown") == kept and attribute(page, "data-lines") == kept

    # hover a trail's shown point: its observation's card, as /evolution's Plotly trails show it
    screen = np.array(page.evaluate(SCREEN))
    xy = screen[:, 1:]
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    row = int(np.argmax(gaps.min(axis=1)))
    index, x, y = int(screen[row, 0]), screen[row, 1], screen[row, 2]
    observation = int(page.evaluate(
        f"() => document.getElementById('trail-points').scatterplot.get('points')[{index}][4]"))
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    page.wait_for_selector(f"#trails-hover img[alt='observation {observation}']", timeout=120_000)
    assert analysis.labels[observation] != 3
    page.screenshot(path=str(Workspace(digits_workspace.path).path.parent / "trails-pointview.png"))


@pytest.fixture(scope="module")
def hairpin_trails():
    """A minimal Dash app: 12 trails that run out from the centre and turn straight back (a
    hairpin, as an observation that moves and returns across frames), drawn by the point view on
    a 400 x 400 canvas, and 4 lone points that fix the corners of the view."""
    import threading

    from dash import Dash, html
    from werkzeug.serving import make_server

    from nnvis_components import PointView, encode_lines, encode_points, encode_values

    angles = np.arange(12) * np.pi / 6
    out = 0.3 * np.column_stack([np.cos(angles), np.sin(angles)])
    back = 0.004 * np.column_stack([-np.sin(angles), np.cos(angles)])  # returns beside where it started
    trails = np.stack([np.zeros_like(out), out, back], axis=1).reshape(-1, 2)
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], float)
    points = np.vstack([trails, corners])
    ids, orders = encode_lines(np.r_[np.repeat(np.arange(12), 3), 12 + np.arange(4)], np.r_[np.tile([0, 1, 2], 12),
                                                                                             np.zeros(4, int)])
    app = Dash("hairpins")
    app.layout = html.Div(PointView(id="trail-points", palette=["#000000"], pointSize=2, shownOrder=2,
                                    coordinates=encode_points(points), values=encode_values(np.zeros(40, np.uint8)),
                                    lineIds=ids, lineOrders=orders, style={"width": "400px", "height": "400px"}))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_a_trail_that_turns_back_draws_no_spike_beyond_its_points(page, hairpin_trails):
    """regl-line's miter joins grow without bound where a line turns back: a trail whose
    observation returns drew a straight spike across the view (the patch in
    components/pointview/patches/ turns miter joins off for trails). Nothing may be drawn in the
    ring between the trails' reach (0.3 of the view's half-width, 0.285 once scaled) and the
    corner points."""
    import io

    from PIL import Image

    page.goto(hairpin_trails)
    drawn(page, 1)
    page.wait_for_function("() => Number(document.getElementById('trail-points')"
                           ".getAttribute('data-connection-draws')) >= 1")  # the lines are drawn
    assert attribute(page, "data-lines") == 16
    shot = page.locator("#trail-points canvas:not(.points-lasso)").screenshot()
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), float)
    height, width = image.shape
    y, x = np.mgrid[0:height, 0:width]
    radius = np.hypot((x - width / 2) / (width / 2), (y - height / 2) / (height / 2))  # 1: the view's edge
    background = np.median(image[radius > 1.2]) if (radius > 1.2).any() else image[0, 0]
    inner = image[radius < 0.25]
    assert (inner < background - 40).sum() > 50  # the trails themselves are drawn
    ring = image[(radius > 0.45) & (radius < 0.85)]
    assert (ring < background - 40).sum() == 0, "a line is drawn beyond the trails' own points"
