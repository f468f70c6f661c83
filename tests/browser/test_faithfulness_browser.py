"""The evolution page's coherence knob drives the trails and the stability panel, in Chromium."""

import numpy as np
import pytest

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace

pytestmark = pytest.mark.browser


STABILITY_BARS = """() => {
  const plot = document.querySelector('#stability-curves .js-plotly-plot');
  const bars = plot && plot._fullData.find(t => t.type === 'bar');
  const title = plot && plot._fullLayout.annotations.map(a => a.text).join(' ');
  return bars ? [title, Array.from(bars.y)] : null; }"""


def test_evolution_coherence_knob_drives_trails_and_stability(page, dashboard, digits_workspace):
    from nnvis.compare.evolution import sequence

    page.goto(dashboard + "/evolution?ws=0&method=pca&kind=epochs")
    page.wait_for_function("() => (document.querySelector('#evo-status') || {innerText: ''}).innerText"
                           ".includes('trails ·')", timeout=180000)
    assert page.get_by_label("tied λ 0.9", exact=True).is_disabled()  # an attraction ties t-SNE frames only
    page.get_by_label("independent", exact=True).check()
    page.wait_for_function(f"() => {{ const s = ({STABILITY_BARS})(); return s && s[0].includes('(independent)'); }}",
                           timeout=180000)
    title, bars = page.evaluate(STABILITY_BARS)
    expected = sequence(Analysis(Workspace(digits_workspace.path)), "epochs", "hidden4", "pca", "independent")
    np.testing.assert_allclose(bars, expected["temporal"], atol=1e-6)
    settings = page.evaluate("() => Array.from(document.querySelector('#coherence-tradeoff .js-plotly-plot')"
                             "._fullData[0].text)")
    assert set(settings) == {"independent", "chain"}  # both settings computed for this sequence so far
