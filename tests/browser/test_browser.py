"""The explore page in headless Chromium on real workspaces (digits and an MNIST subset)."""

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import choose, drag_lasso

pytestmark = pytest.mark.browser

# plotly.py sends arrays base64-encoded; plotly.js decodes them into _fullData
GRAPH_DATA = """id => document.querySelector('#' + id + ' .js-plotly-plot')._fullData.map(t => ({
  name: t.name, x: Array.from(t.x), y: Array.from(t.y), customdata: Array.from(t.customdata || []),
  color: (t.marker.color && typeof t.marker.color !== 'string') ? Array.from(t.marker.color) : t.marker.color,
  selectedpoints: t.selectedpoints ? Array.from(t.selectedpoints) : null}))"""
POINT_PIXEL = """([id, trace, i]) => {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const t = gd._fullData[trace];
  return [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i]), t.customdata[i]];
}"""


def TEXT(element_id):
    """JavaScript for an element's text that is '' while the element is not on the page yet."""
    return f"(document.querySelector('#{element_id}') || {{innerText: ''}}).innerText"


def open_view(page, url, query=""):
    page.goto(url + "/" + query)
    wait_for_points(page, "obs-projection")
    wait_for_points(page, "neuron-map")
    page.wait_for_load_state("networkidle")  # every callback of the first render has answered


def wait_for_points(page, graph_id):
    page.wait_for_function(f"() => {{ const g = document.querySelector('#{graph_id} .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length > 0 && g._fullData[0].x"
                           " && g._fullData[0].x.length > 0; }", timeout=120_000)


def observation_traces(page):
    """The projection's traces without the misclassified-ring overlay."""
    return [t for t in page.evaluate(GRAPH_DATA, "obs-projection") if not t["name"].startswith("misclassified (ring)")]


def test_page_shows_one_point_per_observation(page, dashboard, mnist_small_workspace):
    open_view(page, dashboard, "?ws=1")
    traces = observation_traces(page)
    ids = sorted(i for t in traces for i in t["customdata"])
    assert ids == list(range(600))
    nh = Analysis(Workspace(mnist_small_workspace.path)).neighborhood_hit("hidden4", 1, "pca")
    assert f"NH {nh:.4f}" in page.inner_text("#nh-value")


def test_hover_shows_thumbnail_served_by_the_app(page, dashboard):
    open_view(page, dashboard, "?ws=0")
    x, y, index = page.evaluate(POINT_PIXEL, ["obs-projection", 0, 3])
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=6)  # plotly hovers on mouse movement over the plot, as a user's pointer moves
    image = page.wait_for_selector("#obs-hover img", timeout=120_000)
    src = image.get_attribute("src")
    assert src.startswith("/thumbs/0/") and ".png" in src
    response = page.request.get(dashboard + src)
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert "max-age" in response.headers["cache-control"]
    assert page.evaluate("() => document.querySelector('#obs-hover img').naturalWidth") > 0


def test_clicking_a_neuron_colours_observations_by_its_activation(page, dashboard, digits_workspace):
    open_view(page, dashboard, "?ws=0&layer=hidden3&epoch=2")
    x, y, neuron = page.evaluate(POINT_PIXEL, ["neuron-map", 0, 10])
    page.mouse.click(x, y)
    page.wait_for_function("() => typeof document.querySelector('#obs-projection .js-plotly-plot')"
                           "._fullData[0].marker.color !== 'string'", timeout=120_000)
    activations = Analysis(Workspace(digits_workspace.path)).activations("hidden3", 2)[:, neuron].astype(np.float64)
    levels = (activations - activations.min()) / (activations.max() - activations.min()) * 255
    for trace in observation_traces(page):  # 0..255 levels of the neuron's range, decoded by plotly.js
        np.testing.assert_allclose(trace["color"], levels[trace["customdata"]], atol=0.5)
    assert "Neuron activation" in page.inner_text("#color-by")
    # the address follows the view: a colleague opening the copied link, with a selection added,
    # in a fresh browser context finds the same layer, epoch, colouring, neuron and ranking
    link = page.inner_text("#share-url")
    assert page.url == link and f"neuron={neuron}" in link and "color=neuron" in link
    colleague = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    shared = colleague.new_page()
    try:
        shared.goto(link + "&sel=0-9,20")
        wait_for_points(shared, "obs-projection")
        wait_for_points(shared, "neuron-map")
        shared.wait_for_load_state("networkidle")
        assert shared.inner_text("#layer-select").strip() == "hidden3"
        assert shared.inner_text("#epoch-select").strip() == "epoch 2"
        assert "Neuron activation" in shared.inner_text("#color-by")
        for trace in observation_traces(shared):
            np.testing.assert_allclose(trace["color"], levels[trace["customdata"]], atol=0.5)
        chosen = [t for t in shared.evaluate(GRAPH_DATA, "neuron-map") if t["name"] == "selected"]
        assert chosen and chosen[0]["customdata"] == [neuron]
        assert "Top neurons for 11 selected observations" in shared.inner_text("#neuron-ranking")
    finally:
        colleague.close()



def test_changing_layer_and_epoch_changes_projection_and_nh(page, dashboard):
    open_view(page, dashboard, "?ws=0&layer=hidden4&epoch=2")
    before_points = observation_traces(page)[0]["x"]
    before_text = page.inner_text("#nh-value")
    choose(page, "layer-select", "hidden1")
    page.wait_for_function("t => document.querySelector('#nh-value').innerText !== t", arg=before_text, timeout=120_000)
    assert "hidden1, epoch 2" in page.inner_text("#nh-value")
    wait_for_points(page, "obs-projection")
    assert observation_traces(page)[0]["x"] != before_points
    middle_text = page.inner_text("#nh-value")
    choose(page, "epoch-select", "epoch 0 (untrained)")
    page.wait_for_function("t => document.querySelector('#nh-value').innerText !== t", arg=middle_text, timeout=120_000)
    assert "hidden1, epoch 0" in page.inner_text("#nh-value")
    assert page.inner_text("#nh-value").split(" · ")[0] != middle_text.split(" · ")[0]


def test_lasso_ranks_neurons_that_respond_to_the_selection(page, dashboard, digits_workspace):
    open_view(page, dashboard, "?ws=0&layer=hidden4&epoch=2")
    corners = [(0.05, 0.05), (0.5, 0.05), (0.5, 0.5), (0.05, 0.5), (0.05, 0.06)]  # a lasso over the upper-left quarter
    for _attempt in range(3):  # a gesture can land while plotly is still settling in headless Chromium
        drag_lasso(page, "obs-projection", corners)
        try:
            page.wait_for_selector("#neuron-ranking li", timeout=120_000)
            break
        except PlaywrightTimeout:
            continue
    selected = [t["customdata"][i] for t in observation_traces(page) for i in (t.get("selectedpoints") or [])]
    assert selected, "the lasso selected no points"
    ranked = [int(line.split(":")[0].split()[1]) for line in page.locator("#neuron-ranking li").all_inner_texts()]
    activations = Analysis(Workspace(digits_workspace.path)).activations("hidden4", 2).astype(np.float64)
    mask = np.zeros(len(activations), bool)
    mask[selected] = True
    assert len(ranked) == 10
    for neuron in ranked:
        assert activations[mask, neuron].mean() > activations[~mask, neuron].mean()


def test_uncomputed_projection_runs_as_a_background_job(page, dashboard, digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    assert not analysis.has_projection("hidden2", 1, "tsne")
    page.goto(dashboard + "/?ws=0&layer=hidden2&epoch=1&method=tsne")
    page.wait_for_function(f"() => {TEXT('nh-value')}.startsWith('Computing t-SNE')", timeout=120_000)
    # progressive display: the PCA of hidden2 stands in while t-SNE computes
    assert "Showing PCA meanwhile" in page.inner_text("#nh-value")
    pca = analysis.projection("hidden2", 1, "pca")["points"]
    wait_for_points(page, "obs-projection")
    drawn = {i: (x, y) for t in observation_traces(page) for i, x, y in zip(t["customdata"], t["x"], t["y"])}
    np.testing.assert_allclose([drawn[i] for i in range(len(pca))], pca, rtol=1e-5)
    page.wait_for_function(f"() => {TEXT('nh-value')}.startsWith('NH ')", timeout=300_000)
    assert "t-SNE of hidden2, epoch 1" in page.inner_text("#nh-value")
    assert analysis.has_projection("hidden2", 1, "tsne")


def test_evolution_follows_the_workspace_chosen(page, dashboard):
    """Choosing another workspace draws that workspace's trails (they stayed the first one's)."""
    page.goto(dashboard + "/evolution?ws=0&method=pca&at=1")  # epoch 1: the MNIST run has it too
    page.wait_for_function(f"() => {TEXT('evo-status')}.includes('trails ·')", timeout=180000)
    assert trails_count(page) == [300, 300]  # digits: 300 observations
    choose(page, "evo-ws", "mnist: mnist / mlp")
    page.wait_for_function(f"() => {TEXT('evo-status')}.startsWith('600 trails')", timeout=180000)
    assert trails_count(page) == [600, 600]  # the MNIST subset's 600
    assert "ws=1" in page.url and "epoch 1" in page.inner_text("#sequence-anchor")  # the anchor kept
    page.click("#sequence-anchor")  # its choices are the MNIST run's epochs 0-1, not the digits run's 0-2
    page.locator(".dash-dropdown-option").first.wait_for()
    assert page.locator(".dash-dropdown-content .dash-dropdown-option").all_inner_texts() == ["epoch 0", "epoch 1"]


END_POINT_PIXEL = """i => {
  const gd = document.querySelector('#trails-graph .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  for (const t of gd._fullData) {
    const k = t.mode === 'markers' ? Array.from(t.customdata).indexOf(i) : -1;
    if (k >= 0) { return [box.left + xa._offset + xa.l2p(t.x[k]), box.top + ya._offset + ya.l2p(t.y[k])]; }
  }
  return [1e9, 1e9]; }"""
TRAILS_DATA = "() => document.querySelector('#trails-graph .js-plotly-plot')._fullData.map(t => t.mode)"


def trails_count(page):
    """(trails drawn in the first segment's traces, end points drawn) on the trails graph, once
    it is drawn (a stored sequence answers while the page's other callbacks still run)."""
    page.wait_for_function("() => { const g = document.querySelector('#trails-graph .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length > 0; }", timeout=120_000)
    page.wait_for_load_state("networkidle")
    return page.evaluate("""() => {
      const data = document.querySelector('#trails-graph .js-plotly-plot')._fullData;
      let trails = 0, points = 0;
      for (const t of data) {
        if (t.mode === 'lines' && t.name.endsWith('segment 1')) {
          trails += Array.from(t.x).filter(v => v === null || Number.isNaN(v)).length;
        } else if (t.mode === 'markers') { points += t.x.length; }
      }
      return [trails, points]; }""")


def test_evolution_trails_player_and_class_filter(page, dashboard, digits_workspace):
    page.goto(dashboard + "/evolution?ws=0&method=pca")
    page.wait_for_function(f"() => {TEXT('evo-status')}.includes('trails ·')", timeout=180000)
    assert trails_count(page) == [300, 300]
    labels = Analysis(Workspace(digits_workspace.path)).labels
    page.locator("#class-filter input").nth(3).uncheck()
    shown = int((labels != 3).sum())
    page.wait_for_function(f"() => {TEXT('evo-status')}.startsWith('{shown} trails')", timeout=120_000)
    assert trails_count(page) == [shown, shown]
    end_points = [i for i, t in enumerate(page.evaluate(TRAILS_DATA)) if t == "markers"]
    for k in range(5):  # aim at end points until one is not hidden under others' trails
        x, y, index = page.evaluate(POINT_PIXEL, ["trails-graph", end_points[k % len(end_points)], k])
        page.mouse.move(x - 30, y - 30)
        page.mouse.move(x, y, steps=6)
        try:
            page.wait_for_selector("#trails-hover img", timeout=5000)
            break
        except PlaywrightTimeout:
            continue
    alt = page.wait_for_selector("#trails-hover img", timeout=120_000).get_attribute("alt")
    hovered = int(alt.split()[-1])
    # end points overlap: plotly may show a neighbour of the aimed point, within its hover distance
    # (20 px from the marker's edge), never a far one
    hx, hy = page.evaluate(END_POINT_PIXEL, hovered)
    assert hovered == index or np.hypot(hx - x, hy - y) <= 20 + 8
    first_x = "() => document.querySelector('#frame-graph .js-plotly-plot')._fullData[0].x[0]"
    start = page.evaluate(first_x)
    page.click("#play-button")  # the player moves to the next frame: points take their next aligned positions
    page.wait_for_function(f"x => ({first_x})() !== x", arg=start, timeout=120_000)
    assert page.inner_text("#play-button").startswith("❚❚")
