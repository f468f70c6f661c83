"""The WebGL point view on the explore page in headless Chromium, driven by the mouse: a server
whose `points_above` is lowered so that the digits workspace's 300 observations take the path a
projection of more than 100,000 takes by default (the same code)."""

import json
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from nnvis.projection.linking import rank_neurons
from nnvis.validation import parse_ranges
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import choose, serving

pytestmark = pytest.mark.browser

VIEW = "?ws=0&layer=hidden2&epoch=2&method=pca"
SCREEN = """n => { const plot = document.getElementById('obs-points').scatterplot;
  const box = document.querySelector('#obs-points canvas').getBoundingClientRect();
  return Array.from({length: n}, (_, i) => { const [x, y] = plot.getScreenPosition(i);
                                             return [box.left + x, box.top + y]; }); }"""
LASSO_LINE_DRAWN = """(() => { const c = document.querySelector('#obs-points .points-lasso');
  return c.width > 0 && c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v > 0); })()"""
VALUES = "() => document.getElementById('obs-points').scatterplot.get('points').map(p => p[2])"
NEURON_PIXEL = """i => { const gd = document.querySelector('#neuron-map .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const t = gd._fullData[0];
  return [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i]), t.customdata[i]]; }"""


@pytest.fixture(scope="module")
def points_dashboard(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"),
                          points_above=100)) as url:
        yield url


def drawn(page, count: int = 1) -> None:
    """Wait for the point view's `count`-th finished draw."""
    page.wait_for_function(f"() => Number((document.getElementById('obs-points') || {{getAttribute: () => 0}})"
                           f".getAttribute('data-drawn')) >= {count}", timeout=120_000)


def open_points(page, url):
    page.goto(url + "/" + VIEW)
    drawn(page)
    page.wait_for_load_state("networkidle")
    return np.array(page.evaluate(SCREEN, 300))


def isolated(screen: np.ndarray, gap: float = 12.0) -> int:
    """An observation whose nearest neighbour on screen is more than `gap` pixels away."""
    distances = np.linalg.norm(screen[:, None] - screen[None], axis=2) + np.eye(len(screen)) * 1e9
    return int(np.argmax(distances.min(axis=1)))


def test_the_large_view_is_drawn_as_webgl_points_in_place_of_the_graph(page, points_dashboard):
    asked = []
    page.on("request", lambda r: asked.append(json.loads(r.post_data or "{}").get("output", ""))
            if "_dash-update-component" in r.url else None)
    open_points(page, points_dashboard)
    # the view drawn with no selection clears no ranking: the neuron map is drawn once
    assert sum("neuron-map.figure" in output for output in asked) == 1
    assert page.is_visible("#obs-points canvas:not(.points-lasso)") and not page.is_visible("#obs-projection")
    assert page.get_attribute("#obs-points", "data-indexed") == "1"
    assert page.get_attribute("#obs-points", "data-renders") == "1"  # the first frame: the points drawn once
    assert len(page.evaluate(VALUES)) == 300
    assert "shift + drag: lasso" in page.inner_text("#points-legend")


def test_hover_shows_the_card_and_a_click_pins_it(page, points_dashboard):
    screen = open_points(page, points_dashboard)
    index = isolated(screen)
    x, y = screen[index]
    page.mouse.move(x - 25, y - 25)
    renders = page.get_attribute("#obs-points", "data-renders")
    page.mouse.move(x, y, steps=5)
    page.wait_for_selector(f"#obs-hover img[alt='observation {index}']", timeout=120_000)
    page.wait_for_function("() => document.querySelector('#obs-hover img').naturalWidth > 0", timeout=120_000)
    # found in the spatial index and marked over the canvas: the points were not drawn again
    assert page.get_attribute("#obs-points", "data-renders") == renders
    mark = page.locator("#obs-points .points-hover-mark").bounding_box()
    assert page.is_visible("#obs-points .points-hover-mark")
    assert abs(mark["x"] + mark["width"] / 2 - x) < 2 and abs(mark["y"] + mark["height"] / 2 - y) < 2
    page.mouse.click(x, y)
    page.wait_for_selector(f"#obs-pinned img[alt='observation {index}']", timeout=120_000)
    assert "top units at hidden2" in page.inner_text("#obs-pinned")


def test_a_lasso_ranks_the_neurons_of_the_points_inside_it(page, points_dashboard, digits_workspace):
    screen = open_points(page, points_dashboard)
    # the lasso begins and closes on an observation, as a careful hand closes its loop: the
    # mouse-up is a click there too, which must not replace the lasso's points by that one
    corner = np.percentile(screen, 20, axis=0)
    low, high = screen[np.argmin(np.linalg.norm(screen - corner, axis=1))], np.percentile(screen, 60, axis=0)
    corners = [(low[0], low[1]), (high[0], low[1]), (high[0], high[1]), (low[0], high[1]), (low[0], low[1])]
    inside = np.flatnonzero(np.all((screen > low + 2) & (screen < high - 2), axis=1))
    border = np.flatnonzero(np.all((screen > low - 2) & (screen < high + 2), axis=1))
    answers = []
    page.on("requestfinished", lambda r: answers.append(r.response().text()) if "selection-ranking.data" in (
        json.loads(r.post_data or "{}").get("output", "") if "_dash-update-component" in r.url else "") else None)
    page.mouse.move(*corners[0])
    renders = page.get_attribute("#obs-points", "data-renders")
    page.keyboard.down("Shift")
    page.mouse.down()
    for start, end in zip(corners, corners[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
    # the drag drew the lasso's line over the points, and the points not once
    page.wait_for_function(f"() => {LASSO_LINE_DRAWN}", timeout=120_000)
    assert page.get_attribute("#obs-points", "data-renders") == renders
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("() => document.querySelector('#neuron-ranking').innerText.includes('Top neurons for')",
                           timeout=120_000)
    text = page.inner_text("#neuron-ranking")
    count = int(text.split("Top neurons for ")[1].split(" selected")[0])
    assert len(inside) <= count <= len(border) and count > 10
    selected = page.evaluate("() => document.getElementById('obs-points').scatterplot.get('selectedPoints')")
    assert len(selected) == count and set(inside) <= set(selected)
    assert int(page.get_attribute("#obs-points", "data-renders")) > int(renders)  # the selection drawn
    assert not page.evaluate(f"() => {LASSO_LINE_DRAWN}")  # the line is gone
    analysis = Analysis(Workspace(digits_workspace.path))
    assert leading_neurons(text) == top_three(analysis, 2, selected)  # the exact ranking's leaders
    # the answer is the ranking alone (the selection is not sent back); the page keeps the
    # selection in its address
    assert answers and all("shared-selection" not in answer and len(answer) < 4000 for answer in answers)
    page.wait_for_function("() => window.location.search.includes('sel=')", timeout=120_000)
    assert parse_ranges(parse_qs(urlsplit(page.url).query)["sel"][0], "sel") == sorted(selected)
    assert page.inner_text("#link-note") == ""
    page.screenshot(path=str(Workspace(digits_workspace.path).path.parent / "pointview-lasso.png"))
    # another epoch's view keeps the selection and ranks it again, at that epoch
    other = next(e for e in (1, 0) if top_three(analysis, e, selected) != top_three(analysis, 2, selected))
    choose(page, "epoch-select", f"epoch {other}" + (" (untrained)" if other == 0 else ""))
    page.wait_for_function(f"() => document.querySelector('#nh-value').innerText.includes('epoch {other}')",
                           timeout=120_000)
    page.wait_for_function("n => { const text = document.querySelector('#neuron-ranking').innerText;"
                           " return text.split('\\n').filter(l => l.startsWith('neuron ')).slice(0, 3)"
                           ".map(l => Number(l.split(' ')[1].replace(':', ''))).join(',') === n; }",
                           arg=",".join(map(str, top_three(analysis, other, selected))), timeout=120_000)
    assert page.evaluate("() => document.getElementById('obs-points').scatterplot.get('selectedPoints')"
                         ".slice().sort((a, b) => a - b)") == sorted(selected)
    assert f"Top neurons for {count} selected" in page.inner_text("#neuron-ranking")


def leading_neurons(ranking_text: str) -> list[int]:
    """The first three neurons of the ranking as the page lists them."""
    lines = [line for line in ranking_text.splitlines() if line.startswith("neuron ")]
    return [int(line.split("neuron ")[1].split(":")[0]) for line in lines[:3]]


def top_three(analysis: Analysis, epoch: int, selected) -> list[int]:
    """The three neurons `rank_neurons` ranks first for the selection at hidden2 (ties further
    down may swap between the exact ranking and the page's)."""
    neurons, _ = rank_neurons(analysis.activations("hidden2", epoch), np.array(selected), top=10)
    return neurons[:3].tolist()


def test_a_selection_too_long_for_an_address_is_left_out_of_the_link_and_said(page, points_dashboard):
    open_points(page, points_dashboard)
    scattered = list(range(0, 4000, 2))  # 2,000 single indices: about 9,000 characters of ranges
    url, note = page.evaluate("ids => window.dash_clientside.nnvis.shareLink(0, 'hidden2', 2, 'pca', 'true', null,"
                              " null, null, null, ids)", scattered)
    assert "sel=" not in url and "ws=0" in url and page.url == url
    assert note.startswith("Link without the selection: its 2000 observations take")
    assert note.endswith("characters (an address carries 3000).")
    url, note = page.evaluate("ids => window.dash_clientside.nnvis.shareLink(0, 'hidden2', 2, 'pca', 'true', null,"
                              " null, null, null, ids)", [0, 1, 2, 7])
    assert "sel=0-2%2C7" in url and note == ""


def test_a_neuron_click_recolours_the_points_without_sending_them_again(page, points_dashboard, digits_workspace):
    open_points(page, points_dashboard)
    page.wait_for_function("() => { const g = document.querySelector('#neuron-map .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length && g._fullData[0].x.length > 0; }",
                           timeout=120_000)
    x, y, neuron = page.evaluate(NEURON_PIXEL, 5)
    renders = int(page.get_attribute("#obs-points", "data-renders"))
    page.mouse.click(x, y)
    page.wait_for_function(f"() => document.querySelector('#points-legend').innerText.includes('neuron {neuron}')",
                           timeout=120_000)
    drawn(page, 2)
    page.wait_for_function("() => !document.getElementById('obs-points').hasAttribute('data-drawing')")
    activations = Analysis(Workspace(digits_workspace.path)).activations("hidden2", 2)[:, neuron].astype(np.float64)
    levels = np.round((activations - activations.min()) / (activations.max() - activations.min()) * 255) / 255
    np.testing.assert_allclose(page.evaluate(VALUES), levels, atol=1.5 / 255)
    assert page.get_attribute("#obs-points", "data-indexed") == "1"  # the spatial index was kept
    # one render of the new values in the new palette (class colours to the neuron's)
    assert int(page.get_attribute("#obs-points", "data-renders")) - renders == 1
    x, y, other = page.evaluate(NEURON_PIXEL, 9)
    renders = int(page.get_attribute("#obs-points", "data-renders"))
    page.mouse.click(x, y)
    page.wait_for_function(f"() => document.querySelector('#points-legend').innerText.includes('neuron {other}')",
                           timeout=120_000)
    drawn(page, 3)
    page.wait_for_function("() => !document.getElementById('obs-points').hasAttribute('data-drawing')")
    assert int(page.get_attribute("#obs-points", "data-renders")) - renders == 1  # the same palette: one render
