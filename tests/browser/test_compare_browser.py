"""/compare in headless Chromium over the digits workspace (epochs 0 and 2): hover linked
across both views, lasso selection linked, the movers gallery, a copied link reopening the view,
a comparison computed by a background job, and a refused comparison shown as a message."""

import pytest

from nnvis.compare.snapshots import compute_comparison, mover_order, neighbourhood_change, open_pair

pytestmark = pytest.mark.browser

LAYER = "hidden4"
VIEW = f"/compare?ws=0&ws2=0&layer={LAYER}&layer2={LAYER}&epoch=0&epoch2=2&method=pca"
RING = """(id) => { const gd = document.querySelector(id + ' .js-plotly-plot');
  const ring = gd && gd._fullData.length > 1 ? gd._fullData[1] : null;
  return ring && ring.x && ring.x.length ? [ring.x[0], ring.y[0]] : null; }"""
POINT_PIXEL = """([id, n]) => { const gd = document.querySelector(id + ' .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const t = gd._fullData[0];
  n = n < 0 ? t.x.length + n : n;
  return [box.left + xa._offset + xa.l2p(t.x[n]), box.top + ya._offset + ya.l2p(t.y[n])]; }"""
POSITION_OF = """([id, index]) => { const t = document.querySelector(id + ' .js-plotly-plot')._fullData[0];
  const n = t.customdata.indexOf(index); return [t.x[n], t.y[n]]; }"""
RINGED = f"""([id, index]) => {{ const ring = ({RING})(id), at = ({POSITION_OF})([id, index]);
  return ring !== null && Math.abs(ring[0] - at[0]) < 1e-6 && Math.abs(ring[1] - at[1]) < 1e-6; }}"""
SELECTED = """(id) => { const t = document.querySelector(id + ' .js-plotly-plot').data[0];
  return t.selectedpoints || []; }"""


@pytest.fixture(scope="module")
def computed(digits_workspace):
    """The comparison of the view, computed into the workspace's store: the movers it must show."""
    a, b = open_pair([digits_workspace.path], [LAYER], [0, 2])
    compute_comparison(a, b, "pca")
    return mover_order(neighbourhood_change(a, b))[:50].tolist()


def open_view(page, url):
    page.goto(url)
    page.wait_for_selector("#compare-movers .mover", timeout=120000)
    page.wait_for_function("() => { const gd = document.querySelector('#compare-b .js-plotly-plot');"
                           " return gd && gd.data && gd.data.length === 2; }", timeout=120_000)


def shown_movers(page) -> list[int]:
    return [int(t.split()[0][1:]) for t in page.locator("#compare-movers .mover div:first-of-type").all_inner_texts()]


def hover(page, view: str, point: int) -> int:
    """Move the mouse onto point number `point` of `view` (from a little off it, as a hand does, so
    it may pass over other points on the way): the observation it shows."""
    x, y = page.evaluate(POINT_PIXEL, [view, point])
    page.mouse.move(x - 15, y - 15)
    page.mouse.move(x, y, steps=4)
    return page.evaluate("([id, n]) => { const t = document.querySelector(id + ' .js-plotly-plot')._fullData[0];"
                         " return t.customdata[n < 0 ? t.customdata.length + n : n]; }", [view, point])


def wait_ringed(page, index: int, timeout: float = 120_000) -> None:
    """Until the hover card names `index` and both views ring it."""
    page.wait_for_function(f"""([index]) => {{ const i = document.querySelector('#compare-hover img');
        return i !== null && Number(i.alt.split(' ').pop()) === index &&
               ({RINGED})(['#compare-a', index]) && ({RINGED})(['#compare-b', index]); }}""", arg=[index],
                           timeout=timeout)


def test_hover_in_one_view_rings_the_same_observation_in_the_other(page, dashboard, computed):
    open_view(page, dashboard + VIEW)
    assert shown_movers(page) == computed
    page.wait_for_function("() => document.querySelector('#compare-movers img').naturalWidth > 0", timeout=120_000)
    seen = set()
    for hovered, point in (("#compare-a", 0), ("#compare-b", -1)):
        # point 0 kept most of its neighbours, the last point is the top mover (points are ordered by change)
        index = hover(page, hovered, point)
        wait_ringed(page, index)  # one hover: the card and both rings settle on the observation under the mouse
        seen.add(index)
        assert f"#{index}" in page.inner_text("#compare-hover")
    assert len(seen) == 2


def test_the_ring_survives_a_full_redraw_of_both_views(page, dashboard, computed):
    open_view(page, dashboard + VIEW)
    index = hover(page, "#compare-b", -1)
    wait_ringed(page, index)
    page.get_by_text("true class").click()  # the colour radio: both views are drawn again, from the server
    page.wait_for_function("() => ['#compare-a', '#compare-b'].every(id => { const c = document.querySelector("
                           "id + ' .js-plotly-plot').data[0].marker.color; return Array.isArray(c) && "
                           "typeof c[0] === 'string'; })", timeout=120_000)
    wait_ringed(page, index)


def test_lasso_in_one_view_selects_the_same_observations_in_the_other(page, dashboard, computed):
    open_view(page, dashboard + VIEW)
    box = page.locator("#compare-a .js-plotly-plot .nsewdrag").bounding_box()
    left, top = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    right, bottom = box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in ((right, top), (right, bottom), (left, bottom), (left, top + 2)):
        page.mouse.move(x, y, steps=6)
    page.mouse.up()
    page.wait_for_function(f"() => ({SELECTED})('#compare-b').length > 0", timeout=120_000)
    chosen = page.evaluate(SELECTED, "#compare-b")
    assert sorted(page.evaluate(SELECTED, "#compare-a")) == sorted(chosen)
    assert f"{len(chosen)} observations selected" in page.inner_text("#compare-selection")


def test_a_copied_link_reopens_the_view(page, browser, dashboard, computed):
    open_view(page, dashboard + VIEW)
    page.get_by_text("true class").click()  # the colour radio
    page.wait_for_function("() => window.location.search.includes('color=class')", timeout=120_000)
    page.wait_for_function("() => { const c = document.querySelector('#compare-a .js-plotly-plot').data[0]"
                           ".marker.color; return Array.isArray(c) && typeof c[0] === 'string'; }", timeout=120_000)
    link = page.evaluate("() => document.querySelector('#compare-share').textContent")
    assert link == page.url
    assert "epoch=0" in link and "epoch2=2" in link and "color=class" in link
    fresh = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = fresh.new_page()
        open_view(other, link)
        assert shown_movers(other) == computed
        assert other.inner_text("#compare-epoch").startswith("epoch 0")
        assert other.inner_text("#compare-epoch2").startswith("epoch 2")
        assert other.locator("#compare-color input[value=class]").is_checked()
    finally:
        fresh.close()


def test_a_missing_comparison_is_computed_by_a_job(page, dashboard, digits_workspace):
    open_view(page, dashboard + "/compare?ws=0&ws2=0&layer=hidden3&layer2=hidden3&epoch=1&epoch2=2&method=pca")
    a, b = open_pair([digits_workspace.path], ["hidden3"], [1, 2])
    assert shown_movers(page) == mover_order(neighbourhood_change(a, b))[:50].tolist()
    assert "keep" in page.inner_text("#compare-status")


def test_a_refused_comparison_says_why(page, dashboard):
    page.goto(dashboard + "/compare?ws=0&ws2=1&layer=hidden4&layer2=hidden4&epoch=2&epoch2=1&method=pca")
    page.wait_for_function("() => { const s = document.querySelector('#compare-status');"
                           " return s && s.innerText.includes('different'); }", timeout=120_000)
    assert "different data sets" in page.inner_text("#compare-status")
    assert page.locator("#compare-movers .mover").count() == 0


def test_the_explore_page_links_to_compare(page, dashboard, computed):
    page.goto(dashboard + "/?ws=0")
    page.get_by_role("link", name="compare →").click()
    page.wait_for_selector("#compare-movers .mover", timeout=120_000)
    assert "/compare?ws=0" in page.url and "epoch=0" in page.url and "epoch2=2" in page.url
    assert shown_movers(page) == computed
