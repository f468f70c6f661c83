"""The labs' jobs in headless Chromium (issue 16). The structure strip: typing a subset image shows
'computing…' while a background job computes the strip, then its rows; a click enlarges a map
read from the stored strip; a read-only server sharing the job cache shows the strips computed
and says the others are not. The unit card: a conv unit's top images show at once, then its
activation maps over them once a job has stored them. On resnet18 (random weights) over real
CIFAR-10 test images."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from nnvis.deepvis.strip import select_layers, structure_strip
from nnvis.models.feature_maps import map_layers, overlay
from nnvis.workspace.analysis import Analysis
from tests.conftest import serving
from tests.integration.test_strip_jobs import folder_state

pytestmark = pytest.mark.browser


def pixels(src: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def strip_channels(page) -> list:
    return [[int(t) for t in row.locator(".tile-caption").all_inner_texts()]
            for row in page.locator("#ll-strip-grid .strip-row").all()]


def test_a_typed_image_computes_its_strip_in_a_job_and_a_click_enlarges_it(page, resnet_workspace, tmp_path):
    from nnvis.settings import Settings

    analysis = Analysis(resnet_workspace)
    model, image = analysis.model(0), analysis.subset()["images"][7]
    available = map_layers(model, image.shape)
    layers = select_layers(available, 0, None, -(-len(available) // 6))
    rows = structure_strip(model, image, layers)
    jobs = tmp_path / "jobs"
    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=jobs)) as base:
        page.goto(f"{base}/layer-lab?ws=0&layer=layer2&epoch=0&image=5")
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)  # image 5's strip, by a job
        page.fill("#ll-image", "7")
        page.press("#ll-image", "Enter")
        page.wait_for_selector("#ll-strip-message:has-text('Computing the strip in the background…')", timeout=120_000)
        assert page.locator("#ll-strip-grid .strip-row").count() == 0  # the old strip is gone at once
        assert "subset image 7" in page.inner_text("#ll-strip-input")
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)
        assert page.inner_text("#ll-strip-message") == ""
        assert page.locator("#ll-strip-grid .strip-label b").all_inner_texts() == layers
        assert strip_channels(page) == [row.channels.tolist() for row in rows]
        page.locator("#ll-strip-grid .strip-row").nth(2).locator(".map-thumb").nth(4).click()
        page.wait_for_selector("#ll-enlarged-img", timeout=120_000)
        assert f"{layers[2]} · channel {rows[2].channels[4]}" in page.inner_text("#ll-strip-enlarged")
        enlarged = pixels(page.get_attribute("#ll-enlarged-img", "src"))
        np.testing.assert_array_equal(enlarged[::7, ::7], overlay(image, rows[2].maps[4]))  # 224 = 7 x 32
        assert len(list((jobs / "strips").iterdir())) == 2
        assert page.console_errors == []

    before = folder_state(jobs)
    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=jobs, read_only=True)) as base:
        page.goto(f"{base}/layer-lab?ws=0&layer=layer2&epoch=0&image=7")
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)  # computed before: shown
        assert strip_channels(page) == [row.channels.tolist() for row in rows]
        page.fill("#ll-image", "8")
        page.press("#ll-image", "Enter")
        page.wait_for_selector("#ll-strip-message:has-text('not computed; this server is read-only')", timeout=120_000)
        assert page.locator("#ll-strip-grid .strip-row").count() == 0
        assert page.is_hidden("#ll-strip-indicator")  # no job
    assert folder_state(jobs) == before


def test_a_conv_units_card_shows_its_images_at_once_and_the_maps_when_the_job_has_stored_them(page, resnet_workspace,
                                                                                               tmp_path):
    from nnvis.models.feature_maps import feature_maps
    from nnvis.settings import Settings

    analysis = Analysis(resnet_workspace)
    acts = analysis.activations("layer2", 0).astype(np.float32)
    best = np.argsort(-acts[:, 37], kind="stable")[:5]
    images = analysis.subset()["images"]
    maps = feature_maps(analysis.model(0), images[best], "layer2")[:, 37]
    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        page.goto(f"{base}/units?ws=0&layer=layer2&epoch=0&unit=37&k=5")
        page.wait_for_selector("#ul-maps-status:has-text('Computing the activation maps')", timeout=120_000)
        tiles = page.locator("#ul-topk img")
        assert [tiles.nth(i).get_attribute("alt") for i in range(tiles.count())] == [f"observation {i}" for i in best]
        assert all(tiles.nth(i).get_attribute("src").startswith("/thumbs/0/") for i in range(5))  # plain, at once
        assert "(maps computing)" in page.inner_text("#ul-title")
        page.wait_for_function("() => document.querySelector('#ul-topk img').src.startsWith('data:image/png')",
                               timeout=120_000)
        assert "layer2 · unit 37 of 128 (channel, maps 4×4) · epoch 0" in page.inner_text("#ul-title")
        assert page.inner_text("#ul-maps-status") == ""
        for rank in range(5):
            drawn = pixels(page.locator("#ul-topk img").nth(rank).get_attribute("src"))
            np.testing.assert_array_equal(drawn[::3, ::3], overlay(images[best[rank]], maps[rank]))
        assert page.console_errors == []
