"""The deep-visualization page in headless Chromium: the live grid follows the input (an
observation, an uploaded file, a drawing), hovering a cell enlarges it, the saliency overlays
hold the numbers Captum gives, on the digits MLP and on resnet18 over CIFAR-10 images.

One server over the two cheap workspaces (the digits run and resnet18 with random weights), so
that these tests need no MNIST training of their own."""

import io

import numpy as np
import pytest
from PIL import Image

from nnvis.deepvis.grid import grid_mosaic, layer_grid, model_input
from nnvis.deepvis.saliency import METHODS, Explainer
from nnvis.models.feature_maps import normalise, upsample
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

# heat maps as plotly.js decoded them (NaN gaps included), and the subplot titles
HEATMAPS = """id => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  return gd._fullData.filter(t => t.type === 'heatmap').map(t => Array.from(t.z, row => Array.from(row))); }"""
TITLES = """id => (document.querySelector('#' + id + ' .js-plotly-plot')._fullLayout.annotations || [])
  .map(a => a.text)"""
CELL_PIXEL = """([row, col]) => { const gd = document.querySelector('#dv-grid .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(col), box.top + ya._offset + ya.l2p(row)]; }"""


FIRST_Z = """id => JSON.stringify(Array.from(document.querySelector('#' + id + ' .js-plotly-plot')._fullData
  .filter(t => t.type === 'heatmap')[0].z, r => Array.from(r)))"""


@pytest.fixture(scope="module")
def server(digits_workspace, resnet_workspace, tmp_path_factory):
    """The real app over workspace 0, digits (MLP, 2 epochs), and 1, resnet18 on CIFAR-10."""
    from nnvis.settings import Settings

    settings = Settings(workspaces=(digits_workspace.path, resnet_workspace.path),
                        job_cache=tmp_path_factory.mktemp("dv-jobs"))
    with serving(settings) as url:
        yield url


def wait_for_heatmaps(page, graph_id, count=1, previous=None, timeout=120000):
    """Wait until `graph_id` shows `count` heat maps (different from `previous` when given)."""
    page.wait_for_function(
        """([id, count, previous]) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
        if (!gd || !gd._fullData) { return false; }
        const maps = gd._fullData.filter(t => t.type === 'heatmap');
        if (maps.length !== count) { return false; }
        return previous === null || JSON.stringify(Array.from(maps[0].z, r => Array.from(r))) !== previous; }""",
        arg=[graph_id, count, previous], timeout=timeout)  # a job computes it
    return page.evaluate(HEATMAPS, graph_id)


def open_page(page, url, query):
    page.goto(f"{url}/deepvis{query}")
    wait_for_heatmaps(page, "dv-grid")
    wait_for_heatmaps(page, "dv-saliency", 6)
    page.wait_for_load_state("networkidle")


def assert_nan_close(shown, expected, atol):
    shown = np.array(shown, dtype=np.float64)  # null (a NaN gap) arrives as None
    assert shown.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(shown), np.isnan(expected))
    np.testing.assert_allclose(shown[~np.isnan(shown)], expected[~np.isnan(expected)], atol=atol)


def expected_grid(workspace, epoch, image, layer, sort="index"):
    analysis = Analysis(Workspace(workspace.path))
    model = analysis.model(epoch)
    return layer_grid(model, model_input(model, image), layer, sort=sort), analysis, model


def test_grid_follows_the_input_and_hover_enlarges_a_cell(page, server, digits_workspace):
    open_page(page, server, "?ws=0&layer=hidden2&epoch=2&unit=3")
    analysis = Analysis(Workspace(digits_workspace.path))
    images = analysis.subset()["images"]
    grid, _, _ = expected_grid(digits_workspace, 2, images[0], "hidden2")
    first = page.evaluate(HEATMAPS, "dv-grid")[0]
    first_json = page.evaluate(FIRST_Z, "dv-grid")
    assert_nan_close(first, grid_mosaic(grid)[0], atol=1e-5)
    assert page.inner_text("#dv-grid-status").startswith("observation 0: predicted")

    # another observation: the grid shows its activations
    page.fill("#dv-observation", "5")
    page.press("#dv-observation", "Enter")
    changed = wait_for_heatmaps(page, "dv-grid", previous=first_json)[0]
    page.wait_for_function("() => document.querySelector('#dv-grid-status').innerText.startsWith('observation 5')")
    grid5, _, _ = expected_grid(digits_workspace, 2, images[5], "hidden2")
    assert_nan_close(changed, grid_mosaic(grid5)[0], atol=1e-5)
    assert not np.allclose(np.array(changed, float), np.array(first, float), equal_nan=True)
    assert "obs=5" in page.url and "layer=hidden2" in page.url

    # hovering a cell (row 1, column 4 of a 32-column grid: unit 36) enlarges it
    x, y = page.evaluate(CELL_PIXEL, [1, 4])
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y, steps=6)
    page.wait_for_function("() => document.querySelector('#dv-enlarged-caption').innerText.startsWith('unit 36')",
                           timeout=120_000)
    assert f"{grid5.maps[36, 0, 0]:.4g}" in page.inner_text("#dv-enlarged-caption")
    page.mouse.click(x, y)  # clicking chooses that unit
    page.wait_for_function("() => document.querySelector('#dv-unit').value === '36'", timeout=120_000)

    # an uploaded file that is not an image says so; a real PNG becomes the input
    page.set_input_files("#dv-upload input[type=file]",
                         files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
    page.wait_for_function("() => document.querySelector('#dv-input-status').innerText.includes('not an image')",
                           timeout=120_000)
    assert "allowed: PNG, JPEG" in page.inner_text("#dv-input-status")
    buffer = io.BytesIO()
    Image.fromarray(np.kron(images[7], np.ones((4, 4), np.uint8))).save(buffer, format="PNG")  # a 32x32 upscale
    page.set_input_files("#dv-upload input[type=file]",
                         files=[{"name": "seven.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    page.wait_for_function("() => document.querySelector('#dv-grid-status').innerText.startsWith('seven.png')",
                           timeout=120_000)


def test_saliency_overlays_hold_captums_numbers(page, server, digits_workspace):
    open_page(page, server, "?ws=0&layer=hidden1&epoch=2&unit=7&obs=4")
    shown = page.evaluate(HEATMAPS, "dv-saliency")
    analysis = Analysis(Workspace(digits_workspace.path))
    model = analysis.model(2)
    x = model_input(model, analysis.subset()["images"][4])
    explainer = Explainer(model)
    expected = [explainer.unit(x, "hidden1", 7, m).saliency for m in METHODS]
    expected += [explainer.predicted_class(x, m).saliency for m in METHODS]
    for panel, values in zip(shown, expected):
        np.testing.assert_allclose(panel, values, atol=2e-5)
    assert all(np.max(panel) == pytest.approx(1.0) for panel in shown if np.max(panel) > 0)
    titles = page.evaluate(TITLES, "dv-saliency")
    assert titles[0].startswith("gradient · unit 7") and titles[5].startswith("integrated gradients · ")
    predicted = analysis.classes[explainer.predicted_class(x, "gradient").class_index]
    assert f"· {predicted} (" in titles[3]
    assert "hidden1.0: filters 0–63 of 1000" in page.evaluate(TITLES, "dv-filters")[0]
    assert page.evaluate(TITLES, "dv-wsum")[0] == "unit 7 of hidden1"


def test_drawing_on_the_canvas_becomes_the_input(page, server):
    open_page(page, server, "?ws=0&layer=hidden2")
    before = page.evaluate(HEATMAPS, "dv-grid")[0]
    before_json = page.evaluate(FIRST_Z, "dv-grid")
    box = page.locator("#dv-canvas .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8, steps=12)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('#dv-grid-status').innerText.startsWith('drawing')",
                           timeout=120_000)
    after = wait_for_heatmaps(page, "dv-grid", previous=before_json)[0]
    assert not np.allclose(np.array(after, float), np.array(before, float), equal_nan=True)


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_resnet18_on_cifar10_in_the_browser(page, server, resnet_workspace):
    open_page(page, server, "?ws=1&layer=layer1.0.conv1&epoch=0&unit=5&obs=2")
    analysis = Analysis(resnet_workspace)
    image = analysis.subset()["images"][2]
    grid, _, _ = expected_grid(resnet_workspace, 0, image, "layer1.0.conv1")
    mosaic = grid_mosaic(grid)[0]
    assert_nan_close(page.evaluate(HEATMAPS, "dv-grid")[0], mosaic, atol=1e-4)
    # the cell at row 10, column 12 is channel 8 + 1 = 9 of an 8-column grid of 8x8 maps (9 px apart)
    x, y = page.evaluate(CELL_PIXEL, [10, 12])
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y, steps=6)
    page.wait_for_function("() => document.querySelector('#dv-enlarged-caption').innerText"
                           ".startsWith('channel 9 of layer1.0.conv1')", timeout=120_000)
    enlarged = wait_for_heatmaps(page, "dv-enlarged")[0]
    np.testing.assert_allclose(enlarged, normalise(upsample(grid.maps[9], (32, 32))), atol=2e-5)
    saliency = page.evaluate(HEATMAPS, "dv-saliency")
    assert len(saliency) == 6 and all(np.shape(panel) == (32, 32) for panel in saliency)
    assert all(np.max(panel) == pytest.approx(1.0) for panel in saliency)
    assert "conv1: filters 0–63 of 64" in page.evaluate(TITLES, "dv-filters")[0]
