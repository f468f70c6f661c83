"""What a newcomer found broken (issue 17), driven as a person does in headless Chromium over
the digits MLP and a small CNN on CIFAR-10 colour images: each view shows what its controls
say, and every page keeps its view in the address, so that a link opened elsewhere shows it."""

import io

import numpy as np
import pytest
from PIL import Image

from nnvis.compare.evolution import sequence
from nnvis.unitlab.lab import class_similarity, cluster_order
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.browser.test_browser import POINT_PIXEL, TEXT, choose, observation_traces, wait_for_points
from tests.browser.test_deepvis_browser import FIRST_Z, wait_for_heatmaps
from tests.conftest import drag_lasso, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cifar_workspace(cifar_npz, tmp_path_factory):
    """The paper's CNN (random weights, epoch 0) over 100 CIFAR-10 test images; fc2 captured, PCA."""
    from nnvis.data.datasets import load_dataset
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    cifar = load_dataset("cifar10", cifar_npz.parent)
    pick = np.random.default_rng(0).permutation(len(cifar.test_labels))[:200]  # the file is sorted by class
    folder = tmp_path_factory.mktemp("cifar-cnn")
    data = folder / "cifar200.npz"
    np.savez(data, x_train=cifar.test_images[pick[:100]], y_train=cifar.test_labels[pick[:100]],
             x_test=cifar.test_images[pick[100:]], y_test=cifar.test_labels[pick[100:]],
             classes=np.array(cifar.classes))
    config = RunConfig(dataset="npz", data_dir=str(data), model="cnn", epochs=0, subset=100, layers="fc2",
                       projection="pca", device="cpu")
    return run(config, folder / "ws", neuron_maps="last")


@pytest.fixture(scope="module")
def server(digits_workspace, cifar_workspace, tmp_path_factory):
    """The real app over workspace 0, digits (MLP, 2 epochs), and 1, the CNN on CIFAR-10."""
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path, cifar_workspace.path),
                        job_cache=tmp_path_factory.mktemp("views-jobs"))
    with serving(settings) as url:
        yield url


def wait_text(page, element_id, text, timeout=300_000):
    page.wait_for_function(f"t => {TEXT(element_id)}.includes(t)", arg=text, timeout=timeout)


def fresh_page(page):
    """A page in a new browser context (no shared state): a colleague opening a link."""
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    return context.new_page()


def query_of(url):
    from urllib.parse import parse_qs, urlsplit

    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# ---- /evolution (items 1 and 9)

def test_sequence_toggle_redraws_the_trails_and_the_link_reopens_them(page, server, digits_workspace):
    from nnvis.compare.evolution import bundled_trails

    analysis = Analysis(Workspace(digits_workspace.path))
    for kind, anchor in (("layers", 2), ("epochs", "hidden4")):  # in the store: no job, only the toggle is tested
        bundled_trails(analysis, kind, anchor, "pca")
    page.goto(server + "/evolution?ws=0&method=pca")
    wait_text(page, "evo-status", "trails · hidden layers at epoch 2")
    page.get_by_label("across epochs").check()
    wait_text(page, "evo-status", "trails · hidden4 across epochs")
    nh = sequence(analysis, "epochs", "hidden4", "pca")["nh"]
    assert page.inner_text("#evo-status").endswith(" → ".join(f"{v:.3f}" for v in nh))
    page.wait_for_function("() => { const t = document.querySelector('#frame-graph .gtitle');"
                           " return t && t.textContent.startsWith('epoch 0 · NH'); }")  # the player's first frame
    page.wait_for_function("() => window.location.search.includes('kind=epochs')")
    assert query_of(page.url) | {"ws": "0", "kind": "epochs", "at": "hidden4", "method": "pca"} == query_of(page.url)
    page.locator("#class-filter input").nth(3).uncheck()
    page.wait_for_function("() => window.location.search.includes('classes=0%2C1%2C2%2C4')")
    wait_text(page, "evo-status", f"{int((analysis.labels != 3).sum())} trails · hidden4 across epochs")
    status = page.inner_text("#evo-status")
    colleague = fresh_page(page)
    try:
        colleague.goto(page.url)
        colleague.wait_for_function(f"t => {TEXT('evo-status')} === t", arg=status)
        assert colleague.locator("#sequence-kind input[value=epochs]").is_checked()
        assert not colleague.locator("#class-filter input").nth(3).is_checked()
        assert colleague.inner_text("#sequence-anchor").strip() == "hidden4"
    finally:
        colleague.context.close()


# ---- /deepvis (items 2, 7 and 9)

def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_colour_images_take_a_typed_observation_and_an_upload(page, server, cifar_workspace):
    page.goto(server + "/deepvis?ws=1&layer=conv1&epoch=0")
    wait_for_heatmaps(page, "dv-grid")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#dv-grid-status").startswith("observation 0")
    first = page.evaluate(FIRST_Z, "dv-grid")
    page.fill("#dv-observation", "7")
    page.press("#dv-observation", "Enter")
    wait_text(page, "dv-grid-status", "observation 7: predicted")
    wait_for_heatmaps(page, "dv-grid", previous=first)
    assert query_of(page.url)["obs"] == "7"
    image = Analysis(cifar_workspace).subset()["images"][3]
    page.set_input_files("#dv-upload input[type=file]", files=[{"name": "plane.png", "mimeType": "image/png",
                                                               "buffer": png_bytes(image)}])
    wait_text(page, "dv-grid-status", "plane.png: predicted")


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_deepvis_forgets_the_enlarged_cell_and_the_unit_of_another_view(page, server):
    page.goto(server + "/deepvis?ws=0&layer=hidden2&epoch=2&unit=40")
    wait_for_heatmaps(page, "dv-grid")
    wait_for_heatmaps(page, "dv-saliency", 6)
    page.wait_for_load_state("networkidle")
    gd = "document.querySelector('#dv-grid .js-plotly-plot')"
    x, y = page.evaluate(f"() => {{ const gd = {gd}, xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis,"
                         " b = gd.getBoundingClientRect(); return [b.left + xa._offset + xa.l2p(1),"
                         " b.top + ya._offset + ya.l2p(0)]; }")
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)
    wait_text(page, "dv-enlarged-caption", "of hidden2")
    page.fill("#dv-observation", "5")
    page.press("#dv-observation", "Enter")
    wait_text(page, "dv-grid-status", "observation 5")
    page.wait_for_function("() => document.querySelector('#dv-enlarged-caption').innerText === '' &&"
                           " document.querySelector('#dv-enlarged .annotation-text').textContent"
                           ".startsWith('Hover a cell')")  # the old input's cell is gone
    choose(page, "dv-layer", "output")  # 10 units: unit 40 means nothing there
    wait_text(page, "dv-grid-status", "observation 5")
    page.wait_for_function("() => document.querySelector('#dv-unit').value === ''")
    page.wait_for_load_state("networkidle")
    assert "out of range" not in page.inner_text("body")
    assert "unit" not in query_of(page.url) and query_of(page.url)["layer"] == "output"
    # a unit that does not exist: its error once, in full, not also in the figure
    page.fill("#dv-unit", "99")
    page.press("#dv-unit", "Enter")
    wait_text(page, "dv-weights-status", "out of range")
    message = page.inner_text("#dv-weights-status")
    annotations = page.evaluate("() => (document.querySelector('#dv-wsum .js-plotly-plot')._fullLayout"
                                ".annotations || []).map(a => a.text).join(' ')")
    assert message not in annotations
    assert page.locator("#dv-weights-status").bounding_box()["width"] < 1280
    link = page.url
    assert query_of(link) | {"ws": "0", "layer": "output", "epoch": "2", "obs": "5"} == query_of(link)
    colleague = fresh_page(page)
    try:
        colleague.goto(link)
        wait_text(colleague, "dv-grid-status", "observation 5: predicted")
        assert colleague.inner_text("#dv-layer").strip() == "output"
    finally:
        colleague.context.close()


# ---- /layer-lab (items 3 and 9)

CELLS = """() => {
  const gd = document.querySelector('#ll-cosine .js-plotly-plot');
  const centre = el => { const b = el.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; };
  const ticks = sel => Array.from(gd.querySelectorAll(sel)).map(t => [t.textContent, ...centre(t)]);
  return {x: ticks('.xtick text'), y: ticks('.ytick text'),
          cells: Array.from(gd.querySelectorAll('.annotation')).map(a => [a.textContent, ...centre(a)])}; }"""


def shown_cells(page):
    """{(row class, column class): text} as the user reads the heatmap: each number under the
    nearest column label and beside the nearest row label."""
    found = page.evaluate(CELLS)
    cells = {}
    for text, x, y in found["cells"]:
        column = min(found["x"], key=lambda t: abs(t[1] - x))[0]
        row = min(found["y"], key=lambda t: abs(t[2] - y))[0]
        cells[(row, column)] = text
    return cells


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_clustered_cosine_matrix_keeps_each_number_in_its_cell(page, server, digits_workspace):
    page.goto(server + "/layer-lab?ws=0&layer=hidden4&epoch=2")
    page.wait_for_function("() => document.querySelectorAll('#ll-cosine .annotation').length === 100",
                           timeout=300_000)
    analysis = Analysis(Workspace(digits_workspace.path))
    matrix = class_similarity(analysis, "hidden4", 2)
    names = analysis.classes
    expected = {(names[i], names[j]): f"{matrix[i, j]:.2f}" for i in range(10) for j in range(10)}
    assert shown_cells(page) == expected
    order = cluster_order(matrix)
    assert list(order) != list(range(10))
    page.get_by_label("clustered order").check()
    page.wait_for_function("() => document.querySelector('#ll-cosine .gtitle').textContent.includes('clustered')")
    assert page.locator("#ll-cosine .xtick text").all_text_contents() == [names[i] for i in order]
    assert shown_cells(page) == expected
    page.wait_for_function("() => window.location.search.includes('cluster=on')")
    choose(page, "ll-layer", "hidden2")
    page.wait_for_function("() => window.location.search.includes('layer=hidden2')")
    colleague = fresh_page(page)
    try:
        colleague.goto(page.url)
        colleague.wait_for_function("() => { const t = document.querySelector('#ll-cosine .gtitle');"
                                    " return t && t.textContent.includes('hidden2') &&"
                                    " t.textContent.includes('clustered'); }", timeout=300_000)
        assert colleague.locator("#ll-cluster input").is_checked()
    finally:
        colleague.context.close()


# ---- /units (item 9)

def test_unit_lab_address_follows_the_unit_and_reopens_it(page, server):
    page.goto(server + "/units?ws=0&layer=hidden3&epoch=2&unit=4")
    wait_text(page, "ul-title", "hidden3 · unit 4 of")
    page.fill("#ul-unit", "11")
    page.press("#ul-unit", "Enter")
    wait_text(page, "ul-title", "hidden3 · unit 11 of")
    page.wait_for_function("() => window.location.search.includes('unit=11')")
    page.fill("#ul-observations", "3,7")
    page.press("#ul-observations", "Enter")
    page.wait_for_function("() => window.location.search.includes('sel=3%2C7')")
    choose(page, "ul-epoch", "epoch 1")
    page.wait_for_function("() => window.location.search.includes('epoch=1')")
    wait_text(page, "ul-title", "hidden3 · unit 11 of 1000 (dense unit) · epoch 1")
    title = page.inner_text("#ul-title")
    colleague = fresh_page(page)
    try:
        colleague.goto(page.url)
        colleague.wait_for_function(f"t => {TEXT('ul-title')} === t", arg=title, timeout=300_000)
        assert colleague.input_value("#ul-observations") == "3,7"
    finally:
        colleague.context.close()


# ---- / (items 4, 5, 6, 8 and 9)

def open_explore(page, address):
    page.goto(address)
    wait_for_points(page, "obs-projection")
    wait_for_points(page, "neuron-map")
    page.wait_for_load_state("networkidle")


def test_evolution_link_follows_the_workspace(page, server):
    open_explore(page, server + "/?ws=0")
    assert "ws=0" in page.get_attribute("text=evolution: trails across layers and epochs →", "href")
    choose(page, "workspace-select", "ws: npz / cnn")
    page.wait_for_function("() => document.querySelector('#layer-select').innerText.includes('fc2')")
    link = page.locator("text=evolution: trails across layers and epochs →")
    page.wait_for_function("() => document.querySelector('a[href^=\"/evolution\"]').href.includes('ws=1')")
    link.click()
    page.wait_for_url("**/evolution?ws=1**")
    page.wait_for_function("() => document.querySelector('#evo-ws') &&"
                           " document.querySelector('#evo-ws').innerText.includes('npz / cnn')")


def test_copy_link_copies_from_its_text_and_from_the_keyboard(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        open_explore(page, server + "/?ws=0&layer=hidden3&epoch=1")
        page.get_by_role("button", name="Copy link").click()
        page.wait_for_function("u => navigator.clipboard.readText().then(t => t === u)", arg=page.url)
        assert query_of(page.url) | {"layer": "hidden3", "epoch": "1"} == query_of(page.url)
        choose(page, "layer-select", "hidden2")
        page.wait_for_function("() => window.location.search.includes('layer=hidden2')")
        page.focus("#export-csv")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.innerText").strip().endswith("Copy link")
        page.keyboard.press("Enter")
        page.wait_for_function("u => navigator.clipboard.readText().then(t => t === u)", arg=page.url)
    finally:
        context.close()


def test_neuron_colouring_without_a_neuron_says_what_to_do(page, server, digits_workspace):
    open_explore(page, server + "/?ws=0&layer=hidden4&epoch=2")
    choose(page, "color-by", "Neuron activation (click a neuron)")
    wait_text(page, "neuron-hint", "click a neuron on the neuron map")
    page.wait_for_function("() => { const gd = document.querySelector('#obs-projection .js-plotly-plot');"
                           " const shown = gd._fullData.filter(t => !t.name.startsWith('misclassified'));"
                           " return !gd._fullLayout.showlegend && shown.every(t => t.marker.color === '#9aa5b1'); }")
    traces = observation_traces(page)  # no class colours: one neutral colour until a neuron is chosen
    assert {t["color"] for t in traces} == {"#9aa5b1"} and sum(len(t["customdata"]) for t in traces) == 300
    x, y, neuron = page.evaluate(POINT_PIXEL, ["neuron-map", 0, 5])
    page.mouse.click(x, y)
    page.wait_for_function("() => typeof document.querySelector('#obs-projection .js-plotly-plot')"
                           "._fullData[0].marker.color !== 'string'", timeout=120_000)
    page.wait_for_function(f"() => {TEXT('neuron-hint')} === ''")


POINT_CENTRES = """() => {
  const gd = document.querySelector('#obs-projection .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const px = x => box.left + window.scrollX + xa._offset + xa.l2p(x),
        py = y => box.top + window.scrollY + ya._offset + ya.l2p(y);  // page pixels
  const insets = (gd._fullLayout.images || []).map(i => [px(i.x - i.sizex / 2), px(i.x + i.sizex / 2),
                                                         py(i.y + i.sizey / 2), py(i.y - i.sizey / 2)]);
  const points = [];
  for (const t of gd._fullData) {
    if (t.name.startsWith('misclassified (ring)')) { continue; }
    for (let k = 0; k < t.x.length; k++) {
      const x = px(t.x[k]), y = py(t.y[k]);
      if (!insets.some(([l, r, top, bottom]) => x > l - 4 && x < r + 4 && y > top - 4 && y < bottom + 4)) {
        points.push([t.customdata[k], Math.round(x), Math.round(y)]);
      }
    }
  }
  return points; }"""


def unfilled_points(page):
    """Observations whose centre pixel is blank on screen (an empty ring, not a filled point),
    leaving out those under an inset thumbnail."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    picture = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")).astype(int)
    return [index for index, x, y in page.evaluate(POINT_CENTRES) if (picture[y, x] > 240).all()]


def test_neuron_colouring_with_insets_fills_every_point(page, server, digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    predictions, _ = analysis.predictions(2)
    assert (predictions != analysis.labels).any()
    open_explore(page, server + "/?ws=0&layer=hidden4&epoch=2&color=correct")
    x, y, neuron = page.evaluate(POINT_PIXEL, ["neuron-map", 0, 5])
    page.mouse.click(x, y)
    page.wait_for_function("() => typeof document.querySelector('#obs-projection .js-plotly-plot')"
                           "._fullData[0].marker.color !== 'string'", timeout=120_000)
    page.get_by_label("thumbnails").check()
    page.wait_for_function("() => (document.querySelector('#obs-projection .js-plotly-plot')._fullLayout.images"
                           " || []).length > 0", timeout=120_000)
    page.wait_for_load_state("networkidle")
    shown = page.evaluate("() => document.querySelector('#obs-projection .js-plotly-plot')"
                          "._fullData[0].marker.colorbar.title.text")
    # the neuron the page names: the one aimed at, or a neighbour drawn over it when the map moved under a loaded
    # machine's slow first render (the click itself is tested in test_browser.py)
    assert shown.startswith("neuron ")
    neuron = int(shown.split()[-1])
    levels = analysis.activations("hidden4", 2)[:, neuron].astype(np.float64)
    levels = (levels - levels.min()) / (levels.max() - levels.min()) * 255
    drawn = {}
    for trace in observation_traces(page):
        assert not isinstance(trace["color"], str), f"trace {trace['name']} is not coloured by the neuron"
        assert len(trace["color"]) == len(trace["customdata"])
        drawn.update(zip(trace["customdata"], trace["color"]))
    assert sorted(drawn) == list(range(len(levels)))
    np.testing.assert_allclose([drawn[i] for i in range(len(levels))], levels, atol=0.5)
    assert unfilled_points(page) == []  # every observation drawn filled, misclassified ones too


def lasso(page, graph_id):
    drag_lasso(page, graph_id, [(0.05, 0.05), (0.6, 0.05), (0.6, 0.6), (0.05, 0.6), (0.05, 0.06)])


def selected_observations(page):
    return sorted(t["customdata"][i] for t in observation_traces(page) for i in (t.get("selectedpoints") or []))


def test_shared_lasso_link_restores_the_highlighted_points(page, server):
    open_explore(page, server + "/?ws=0&layer=hidden4&epoch=2")
    lasso(page, "obs-projection")
    page.wait_for_selector("#neuron-ranking li", timeout=120_000)
    selected = selected_observations(page)
    assert selected
    page.wait_for_function("() => window.location.search.includes('sel=')")
    colleague = fresh_page(page)
    try:
        open_explore(colleague, page.url)
        assert selected_observations(colleague) == selected
        assert f"Top neurons for {len(selected)} selected observations" in colleague.inner_text("#neuron-ranking")
    finally:
        colleague.context.close()

