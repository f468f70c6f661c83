"""The neuron map's legend and dead neurons, and the unit lab's dead-unit note, in Chromium."""

import numpy as np
import pytest

from nnvis.projection.neurons import live_units
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving
from tests.integration.test_neurons import first_dead_unit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def digits_dashboard(digits_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"))) as url:
        yield url


def test_unit_lab_marks_a_dead_unit_and_does_not_maximize_it(page, digits_dashboard, digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    epoch = analysis.epochs[-1]
    dead = first_dead_unit(analysis, "hidden4", epoch)
    page.goto(f"{digits_dashboard}/units?ws=0&layer=hidden4&epoch={epoch}&unit={dead}")
    page.wait_for_selector("#ul-dead-note", timeout=120_000)
    assert page.inner_text("#ul-dead-note") == ("Dead unit: this unit never fires on the 300 observations of the "
                                                "subset. Its top images would be arbitrary ties, so none are shown.")
    assert page.locator("#ul-topk img").count() == 0 and page.locator("#ul-mean-img").count() == 0
    assert page.inner_text("#ul-title").endswith("· dead")
    page.click("#ul-actmax-run")
    page.wait_for_selector("#ul-actmax-status:has-text('Not run')", timeout=120_000)
    assert page.inner_text("#ul-actmax-status") == (f"Not run: unit {dead} never fires on the 300 observations of "
                                                    "the subset (a dead unit); activation maximization would only "
                                                    "give blank images.")
    assert page.locator("#ul-actmax-images img").count() == 0
    live = int(np.flatnonzero(live_units(analysis.activations("hidden4", epoch)))[0])
    page.fill("#ul-unit", str(live))
    page.press("#ul-unit", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#ul-topk img').length === 9", timeout=120_000)
    assert page.locator("#ul-dead-note").count() == 0 and not page.inner_text("#ul-title").endswith("· dead")


def test_neuron_map_shows_its_legend_and_dead_neurons(page, digits_dashboard, digits_workspace):
    analysis = Analysis(Workspace(digits_workspace.path))
    epoch = analysis.epochs[-1]
    dead = np.flatnonzero(~live_units(analysis.activations("hidden4", epoch)))
    page.goto(f"{digits_dashboard}/?ws=0&layer=hidden4&epoch={epoch}")
    page.wait_for_function("() => { const g = document.querySelector('#neuron-map .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length > 2; }", timeout=120_000)
    shown = page.evaluate("() => { const g = document.querySelector('#neuron-map .js-plotly-plot');"
                          " return {names: g._fullData.map(t => t.name), legend: g._fullLayout.legend.title.text,"
                          " entries: Array.from(document.querySelectorAll('#neuron-map .legend .traces'),"
                          " e => e.textContent), note: g._fullLayout.annotations.map(a => a.text)}; }")
    assert shown["names"] == ["neurons"] + analysis.classes + [f"dead: {len(dead)}"]
    assert shown["entries"] == analysis.classes + [f"dead: {len(dead)}"]  # what the legend shows
    assert shown["legend"] == "colour: best class<br>opacity: AUC vs rest:<br>faint 0.5 to solid 1"
    assert shown["note"] == [f"{len(dead)} neurons never active on the 300 observations (grey ×): no position, "
                             "no class"]
