"""/concepts in headless Chromium, on a small CNN trained on digits (3 snapshots): opening the
page computes the layer's atlas at every epoch in a background job; clicking a concept colours
the observation projection by that concept's stored strengths; choosing another epoch follows
the concept matched to it (the stored matching)."""

import numpy as np
import pytest

from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import choose, serving
from tests.integration.test_concepts_cli import MODEL, digits_cnn_workspace

pytestmark = pytest.mark.browser

K = 3
TRACES = "(id) => document.querySelector('#' + id + ' .js-plotly-plot').data"


@pytest.fixture(scope="module")
def cnn_workspace(tmp_path_factory):
    return digits_cnn_workspace(tmp_path_factory)



def test_a_click_recolours_the_projection_and_another_epoch_follows_the_matched_concept(page, cnn_workspace,
                                                                                          tmp_path):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(cnn_workspace,), job_cache=tmp_path / "jobs", model_allow=(MODEL,))) as base:
        page.goto(f"{base}/concepts?ws=0&layer=conv2&epoch=2&k={K}")
        page.wait_for_selector("#cc-grid .concept-card", timeout=240000)  # computed by the job
        assert page.locator("#cc-grid .concept-card").count() == K
        assert "3 concepts, r2" in page.inner_text("#cc-status")
        analysis = Analysis(Workspace(cnn_workspace))
        atlas = {e: analysis.store.get(keys.concept_atlas(analysis, "conv2", e, K, 0, 2000)) for e in (0, 1, 2)}
        match = analysis.store.get(keys.concept_match(analysis, "conv2", 1, 2, K, 0, 2000))
        assert all(found is not None for found in atlas.values()) and match is not None

        page.locator("#cc-grid .concept-card").nth(1).click()
        page.wait_for_function("() => document.querySelector('#cc-projection .js-plotly-plot') && "
                               "document.querySelector('#cc-projection .js-plotly-plot').data.length == 2",
                               timeout=120_000)
        traces = page.evaluate(TRACES, "cc-projection")
        shown = np.array(traces[1]["marker"]["color"], dtype=float)
        rows = np.array(traces[1]["customdata"])
        order = np.argsort(rows)
        expected = atlas[2]["strength"][:, 1]
        np.testing.assert_allclose(shown[order], expected, rtol=1e-5)
        np.testing.assert_array_equal(rows[order], atlas[2]["observations"])
        assert "concept 1 at epoch 2" in page.inner_text("#cc-selected-caption")
        assert "selected" in page.locator("#cc-grid .concept-card").nth(1).get_attribute("class")

        choose(page, "cc-epoch", "epoch 1")
        partner = int(np.flatnonzero(match["partner"] == 1)[0])  # epoch 1's concept matched to epoch 2's concept 1
        page.wait_for_selector(f"#cc-selected-caption:has-text('concept {partner} at epoch 1, matched to concept 1 "
                               "of epoch 2')", timeout=120_000)
        assert "selected" in page.locator("#cc-grid .concept-card").nth(partner).get_attribute("class")
        page.wait_for_function(f"() => document.querySelector('#cc-projection .js-plotly-plot').layout.title.text "
                               f"== 'strength of concept {partner}'", timeout=120_000)
        traces = page.evaluate(TRACES, "cc-projection")
        shown = np.array(traces[1]["marker"]["color"], dtype=float)
        order = np.argsort(np.array(traces[1]["customdata"]))
        np.testing.assert_allclose(shown[order], atlas[1]["strength"][:, partner], rtol=1e-5)
