"""Layout (issue 26, items 6 and 9), measured in headless Chromium: the legends and the subplot
titles lie clear of Plotly's toolbar (the modebar), NH axes end near 1, the explore header links
every page, and the evolution page explains its coherence choices."""

import pytest

from tests.conftest import serving

BOXES = """([graph, part]) => {
  const plot = document.querySelector('#' + graph + ' .js-plotly-plot');
  const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const bar = plot.querySelector('.modebar');
  return {bar: bar ? box(bar) : null, parts: [...plot.querySelectorAll(part)].map(box)};
}"""


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def clear_of_the_toolbar(page, graph: str, part: str) -> list:
    """The boxes of `part` (a CSS selector inside the graph) that the graph's toolbar covers; the
    toolbar is shown as when the pointer is over the graph."""
    page.wait_for_selector(f"#{graph} {part}", state="attached")
    box = page.locator(f"#{graph} .js-plotly-plot").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the pointer over the graph
    page.wait_for_selector(f"#{graph} .modebar", state="attached")
    found = page.evaluate(BOXES, [graph, part])
    assert found["bar"] and found["parts"], found
    return [box for box in found["parts"] if overlap(box, found["bar"])]


@pytest.fixture(scope="module")
def site(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"))) as url:
        yield url


def test_explore_legends_lie_below_the_toolbar_and_the_header_links_every_page(site, page):
    page.goto(f"{site}/?ws=0&layer=hidden2&epoch=2&method=pca")
    assert clear_of_the_toolbar(page, "obs-projection", ".legend .traces") == []  # the first class, too
    assert clear_of_the_toolbar(page, "neuron-map", ".legend .legendtitletext") == []
    links = page.eval_on_selector_all("header a", "links => links.map(a => new URL(a.href).pathname)")
    assert {"/evolution", "/units", "/layer-lab", "/compare", "/deepvis"} <= set(links)
    page.click("#deepvis-link")
    page.wait_for_selector("#dv-ws")


def test_evolution_explains_coherence_and_its_curves_fit(site, page):
    page.goto(f"{site}/evolution?ws=0&method=pca")
    caption = page.wait_for_selector("#coherence-caption")
    for term in ("Independent", "chained", "tied λ", "damped λ"):
        assert term in caption.inner_text()
    page.wait_for_selector("#nh-curves .annotation-text")
    titles = page.eval_on_selector_all("#nh-curves .annotation-text", "ts => ts.map(t => t.textContent)")
    assert any(t.startswith("per epoch") for t in titles), titles
    assert clear_of_the_toolbar(page, "nh-curves", ".annotation") == []
    top = page.evaluate("() => document.querySelector('#nh-curves .js-plotly-plot')._fullLayout.yaxis.range[1]")
    assert top <= 1.05  # NH lies in [0, 1] (the axis used to run to 1.5)
