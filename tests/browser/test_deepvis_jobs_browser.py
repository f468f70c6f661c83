"""/deepvis computes in a background job (issue 24, item 3), driven as a person does: the page
says 'computing…' in each view and shows the job's progress with a Cancel button, then draws what
the job computed; choosing a saliency method and clicking a grid cell computes that unit's map.
On the digits MLP (2 epochs)."""

import numpy as np
import pytest

from nnvis.deepvis.grid import model_input
from nnvis.deepvis.saliency import Explainer
from nnvis.workspace.analysis import Analysis
from tests.browser.test_deepvis_browser import CELL_PIXEL, HEATMAPS, TITLES, wait_for_heatmaps
from tests.conftest import serving

pytestmark = pytest.mark.browser

SAYS = """([id, text]) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  return !!gd && !!gd._fullLayout && (gd._fullLayout.annotations || []).some(a => a.text.replace(/<br>/g, ' ')
    .includes(text)); }"""


@pytest.fixture(scope="module")
def server(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("dv-jobs"))) as url:
        yield url


def test_saliency_is_computed_by_a_job_after_choosing_the_method_and_clicking_a_cell(page, server,
                                                                                      digits_workspace):
    page.goto(f"{server}/deepvis?ws=0&layer=hidden2&epoch=2&obs=3&unit=1")
    page.wait_for_function(SAYS, arg=["dv-saliency", "Computing in the background"], timeout=120_000)
    page.wait_for_selector("#dv-job-indicator button:has-text('Cancel')", state="visible", timeout=120_000)
    wait_for_heatmaps(page, "dv-grid", timeout=120000)
    wait_for_heatmaps(page, "dv-saliency", 6, timeout=120000)  # unit 1 and the predicted class, three ways

    page.get_by_label("gradient", exact=True).check()  # one method: computed already, drawn at once
    wait_for_heatmaps(page, "dv-saliency", 2, timeout=120_000)
    assert page.evaluate(TITLES, "dv-saliency")[0].startswith("gradient · unit 1")
    x, y = page.evaluate(CELL_PIXEL, [1, 4])  # row 1, column 4 of the 32-column grid: unit 36
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y, steps=6)
    page.wait_for_function("() => document.querySelector('#dv-enlarged-caption').innerText.startsWith('unit 36')",
                           timeout=120_000)  # hovering reads the grid the job computed
    page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('#dv-unit').value === '36'", timeout=120_000)
    page.wait_for_function(SAYS, arg=["dv-saliency", "Computing in the background"], timeout=120_000)
    shown = wait_for_heatmaps(page, "dv-saliency", 2, timeout=120000)
    titles = page.evaluate(TITLES, "dv-saliency")
    assert titles[0].startswith("gradient · unit 36") and titles[1].startswith("gradient · ")

    analysis = Analysis(digits_workspace)
    model = analysis.model(2)
    x = model_input(model, analysis.subset()["images"][3])
    explainer = Explainer(model)
    np.testing.assert_allclose(shown[0], explainer.unit(x, "hidden2", 36, "gradient").saliency, atol=2e-5)
    np.testing.assert_allclose(shown[1], explainer.predicted_class(x, "gradient").saliency, atol=2e-5)
    assert page.evaluate(HEATMAPS, "dv-saliency") == shown


def test_a_top_k_beyond_the_bound_is_said_in_place(page, server):
    page.goto(f"{server}/deepvis?ws=0&layer=hidden2&epoch=2&unit=2")
    wait_for_heatmaps(page, "dv-grid", timeout=120000)
    page.evaluate("() => { const box = document.querySelector('#dv-topk'); box.removeAttribute('max'); }")
    page.fill("#dv-topk", "1000")
    page.press("#dv-topk", "Enter")
    page.wait_for_selector("#dv-weights-status:has-text('top-k 1000 is out of range; allowed: a whole number "
                           "from 1 to 64')", timeout=120_000)
