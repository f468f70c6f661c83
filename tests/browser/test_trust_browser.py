"""Issue 27's explanations you can check, in headless Chromium on a small CNN trained on digits:
/deepvis's faithfulness badge for the method and input a person chooses; /units's synthetic vs
natural activations after Run; /concepts's heat-map over the whole image on hovering a crop."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from layouts.deepvis_faithfulness import badge_text
from nnvis.concepts.atlas import Request, heat_maps
from nnvis.deepvis.faithfulness import Faithfulness
from nnvis.models.feature_maps import overlay
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.actmax import ActMaxParams
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving
from tests.integration.test_concepts_cli import MODEL
from tests.integration.test_trust_badges import cnn_workspace  # noqa: F401 (the module's workspace)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(cnn_workspace, tmp_path_factory):  # noqa: F811
    from nnvis.settings import Settings

    settings = Settings(workspaces=(cnn_workspace,), job_cache=tmp_path_factory.mktemp("trust-jobs"),
                        model_allow=(MODEL,))
    with serving(settings) as url:
        yield url


def expected_badge(workspace, observation: int, method: str) -> str:
    analysis = Analysis(Workspace(workspace))
    found = Faithfulness(analysis.model(2), method).measure(analysis.subset()["images"][observation][None])
    return "class · " + badge_text(method, {name: float(values[0]) for name, values in found.items()})


def badge(page, method: str) -> str:
    return page.inner_text(f"#dv-faith .faith-badge[data-target='class'][data-method='{method}']")


def test_the_badge_follows_the_chosen_method_and_input(page, site, cnn_workspace):  # noqa: F811
    page.goto(f"{site}/deepvis?ws=0&layer=conv2&epoch=2&obs=7")
    page.get_by_label("integrated gradients", exact=True).check()
    page.wait_for_function("() => { const b = document.querySelector(\"#dv-faith .faith-badge[data-target='class']\");"
                           " return b && b.dataset.method === 'integrated' && b.innerText.includes('deletion AUC'); }")
    assert badge(page, "integrated") == expected_badge(cnn_workspace, 7, "integrated")
    assert "lower deletion AUC and a higher insertion AUC than a random" in page.inner_text("#dv-faith-caption")
    before = badge(page, "integrated")
    page.fill("#dv-observation", "11")
    page.press("#dv-observation", "Enter")
    page.wait_for_function("(before) => { const b = document.querySelector("
                           "\"#dv-faith .faith-badge[data-target='class']\");"
                           " return b && b.innerText.includes('deletion AUC') && b.innerText !== before; }", arg=before)
    assert badge(page, "integrated") == expected_badge(cnn_workspace, 11, "integrated")


def test_run_shows_synthetic_beside_natural_activations(page, site, cnn_workspace):  # noqa: F811
    page.goto(f"{site}/units?ws=0&layer=conv2&epoch=2&unit=3&k=5")
    page.wait_for_selector("#ul-exemplars-ratio")
    assert "run activation maximization" in page.inner_text("#ul-exemplars-ratio")
    assert page.locator("#ul-exemplars .natural-example").count() == 4  # the natural ones by default
    for selector, value in (("#ul-am-steps", "20"), ("#ul-am-restarts", "2")):
        page.fill(selector, value)
        page.press(selector, "Enter")  # a debounced box commits on Enter, as a person does
    page.wait_for_selector("#ul-actmax-status:has-text('Not computed yet')")
    page.click("#ul-actmax-run")
    page.wait_for_function("() => document.querySelectorAll('#ul-exemplars .synthetic-value').length === 2",
                           timeout=180000)
    analysis = Analysis(Workspace(cnn_workspace))
    stored = unitlab.stored_actmax(analysis, "conv2", 2, 3, ActMaxParams(steps=20, restarts=2))
    natural = unitlab.top_examples(analysis, "conv2", 2, 3, 5)["alpha"]
    shown = page.evaluate("cls => Array.from(document.querySelectorAll('#ul-exemplars .' + cls), e => +e.innerText)",
                          "synthetic-value")
    np.testing.assert_allclose(shown, stored.activations, rtol=1e-3)
    shown = page.evaluate("cls => Array.from(document.querySelectorAll('#ul-exemplars .' + cls), e => +e.innerText)",
                          "natural-value")
    np.testing.assert_allclose(shown, natural, rtol=1e-3)
    ratio = np.mean(stored.activations) / np.mean(natural)
    assert f"ratio synthetic / natural {ratio:.3g}×" in page.inner_text("#ul-exemplars-ratio")
    assert "natural exemplars predict a unit's behaviour better" in page.inner_text("#ul-exemplars-finding").lower()


def test_hovering_an_exemplar_shows_the_heat_map_over_the_whole_image(page, site, cnn_workspace):  # noqa: F811
    page.goto(f"{site}/concepts?ws=0&layer=conv2&epoch=2&k=3")
    page.wait_for_selector("#cc-grid .concept-card .concept-heat-img", state="attached", timeout=240000)
    heat = page.locator("#cc-grid .concept-card").nth(1).locator(".concept-heat-img").nth(2)
    assert not heat.is_visible()
    page.locator("#cc-grid .concept-card").nth(1).locator(".concept-crop").nth(2).hover()
    heat.wait_for(state="visible")
    src = heat.get_attribute("src")
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    analysis = Analysis(Workspace(cnn_workspace))
    request = Request(analysis, "conv2", 2, 3, 0, 2000)
    from nnvis.concepts.atlas import atlas

    row = int(atlas(request)["exemplar_observation"][1][2])
    image = analysis.subset()["images"][row]
    expected = overlay(image, heat_maps(request, image[None])[0, 1])
    scale = shown.shape[0] // expected.shape[0]
    assert np.abs(shown[::scale, ::scale].astype(int) - expected.astype(int)).max() <= 1
