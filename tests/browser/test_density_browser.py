"""The density view in headless Chromium: a server so configured that the digits workspace's
300 observations are drawn as a datashader image (as 1,000,000 would be by default)."""

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

IMAGE_TRACE = """() => { const g = document.querySelector('#obs-projection .js-plotly-plot');
  const t = g && g._fullData && g._fullData[0];
  return t && t.type === 'image' ? {x0: t.x0, y0: t.y0, dx: t.dx, dy: t.dy, source: t.source.length} : null; }"""
DATA_PIXEL = """([x, y]) => { const gd = document.querySelector('#obs-projection .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)]; }"""


@pytest.fixture(scope="module")
def dense_dashboard(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"),
                          density_above=100)) as url:
        yield url


def open_density(page, url):
    page.goto(url + "/?ws=0&layer=hidden2&epoch=2&method=pca")
    page.wait_for_function(IMAGE_TRACE, timeout=120_000)
    page.wait_for_load_state("networkidle")


def isolated_observation(points: np.ndarray, pixel_size: float) -> int:
    """An observation whose nearest neighbour is more than 8 image pixels away."""
    gaps = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(len(points)) * 1e9
    return int(np.argmax(gaps.min(axis=1) > 8 * pixel_size))


def test_hover_on_the_density_image_shows_the_nearest_observation(page, dense_dashboard, digits_workspace):
    open_density(page, dense_dashboard)
    image = page.evaluate(IMAGE_TRACE)
    points = Analysis(Workspace(digits_workspace.path)).projection("hidden2", 2, "pca")["points"]
    index = isolated_observation(points, image["dx"])
    x, y = page.evaluate(DATA_PIXEL, [float(points[index, 0]), float(points[index, 1])])
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)
    card = page.wait_for_selector("#obs-hover img", timeout=120_000)
    assert card.get_attribute("alt") == f"observation {index}"
    page.wait_for_function("() => document.querySelector('#obs-hover img').naturalWidth > 0",
                           timeout=120_000)  # the thumbnail loads after the card appears


def test_zoom_redraws_the_image_over_the_new_range(page, dense_dashboard):
    open_density(page, dense_dashboard)
    before = page.evaluate(IMAGE_TRACE)
    low_x = before["x0"] + 100 * before["dx"]
    low_y = before["y0"] + 100 * before["dy"]
    redrawn = f"() => {{ const t = ({IMAGE_TRACE})(); return t && t.x0 !== {before['x0']}; }}"
    for attempt in range(6):  # a zoom made while the page still settles (its first redraw) can be drawn over:
        page.evaluate("""([x, y, w]) => Plotly.relayout(document.querySelector('#obs-projection .js-plotly-plot'),
                         {'xaxis.range': [x, x + w], 'yaxis.range': [y, y + w]})""",
                      [low_x, low_y, 200 * before["dx"]])  # the same zoom again (180 s in all under load)
        try:
            page.wait_for_function(redrawn, timeout=30_000)
            break
        except PlaywrightTimeout:
            if attempt == 5:
                raise
    after = page.evaluate(IMAGE_TRACE)
    assert after["x0"] == pytest.approx(low_x + after["dx"] / 2)
    assert after["dx"] == pytest.approx(200 * before["dx"] / 900)  # the same 900 pixels over a smaller range
