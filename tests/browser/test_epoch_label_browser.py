"""The labs' epoch dropdowns show 'epoch 0 (untrained)' whole, not cut to 'epoch 0 (untrain…'
(a run's first snapshot is its untrained model). On resnet18 over real CIFAR-10 test images."""

import pytest

from tests.conftest import serving

pytestmark = pytest.mark.browser

UNCUT = """(id) => { const value = document.querySelector('#' + id + ' .dash-dropdown-value');
    const text = value.querySelector('.dash-dropdown-value-item span');
    return [text.textContent, text.getBoundingClientRect().width, value.getBoundingClientRect().width]; }"""


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_the_labs_epoch_dropdowns_show_the_untrained_label_whole(page, resnet_workspace, tmp_path):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(resnet_workspace.path,), job_cache=tmp_path / "jobs")) as base:
        for path, dropdown in (("/units", "ul-epoch"), ("/layer-lab", "ll-epoch"), ("/deepvis", "dv-epoch")):
            page.goto(f"{base}{path}?ws=0&layer=layer2&epoch=0", wait_until="networkidle")  # none left in flight
            page.wait_for_selector(f"#{dropdown} .dash-dropdown-value-item")
            text, needed, shown = page.evaluate(UNCUT, dropdown)
            assert text == "epoch 0 (untrained)"
            assert needed <= shown, (path, needed, shown)
