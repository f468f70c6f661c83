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
    assert page.is_visible("#trail-points canvas") and not page.is_visible("#trails-graph")
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
