"""The structure strip's range boxes: a layer index out of range is named as the page names the
box ('from layer'), not by the CLI's flag ('--start'), with the range allowed. On resnet18 (random
weights) over real CIFAR-10 test images."""

import pytest

from nnvis.models.feature_maps import map_layers
from nnvis.workspace.analysis import Analysis
from tests.conftest import serving

pytestmark = pytest.mark.browser


def test_a_from_layer_out_of_range_is_named_by_its_box(page, resnet_workspace, tmp_path):
    from nnvis.settings import Settings

    analysis = Analysis(resnet_workspace)
    count = len(map_layers(analysis.model(0), tuple(analysis.manifest["image_shape"])))
    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        page.goto(f"{base}/layer-lab?ws=0&layer=layer2&epoch=0&image=2")
        page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)
        page.fill("#ll-start", "99")
        page.press("#ll-start", "Enter")
        page.wait_for_selector("#ll-strip-message:has-text('out of range')", timeout=120_000)
        message = page.inner_text("#ll-strip-message")
        assert message.startswith(f"from layer 99 is out of range; allowed: 0..{count - 1} (the {count} layers")
        assert "--start" not in message
        assert page.locator("#ll-strip-grid .strip-row").count() == 0
