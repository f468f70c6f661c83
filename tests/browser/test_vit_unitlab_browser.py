"""The unit lab (/units) and the layer lab's ablation on a tiny ViT workspace (tests/vit_models.py)
in headless Chromium: a person picks a block layer and a unit; the top-k tiles are the unit's
patch grid over each image with the patch where it fires most outlined; the ablation sweep of the
block (each hidden unit zeroed in every token) plots its accuracies. Values checked against the
backend."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from layouts.unit_figures import firing_patch, patch_outlined
from nnvis.models.feature_maps import overlay
from nnvis.models.hooks import collected_outputs
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.actmax import ActMaxParams
from nnvis.workspace.analysis import Analysis
from tests.conftest import choose, serving
from tests.vit_models import BLOCK, vit_workspace

pytestmark = pytest.mark.browser

UNIT = 5
JOB_WAIT = 400_000  # a job process starts (imports torch) on a machine other runs may load heavily


@pytest.fixture(scope="module")
def vit(cifar_npz, tmp_path_factory):
    return Analysis(vit_workspace(cifar_npz, tmp_path_factory.mktemp("vit-lab")))


@pytest.fixture(scope="module")
def lab(vit, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(vit.workspace.path,), job_cache=tmp_path_factory.mktemp("jobs"),
                          model_allow=("tests.vit_models:vit_with_a_head",))) as url:
        yield url


def pixels(src: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))



def test_a_block_units_top_k_show_their_firing_patch_outlined(page, lab, vit, tmp_path):
    page.goto(f"{lab}/units?ws=0")
    page.wait_for_function("() => document.querySelectorAll('#ul-topk img').length === 9")
    choose(page, "ul-layer", BLOCK)
    page.fill("#ul-unit", str(UNIT))
    page.press("#ul-unit", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#ul-topk .firing-patch').length === 9",
                           timeout=JOB_WAIT)  # the maps: a job's
    title = page.inner_text("#ul-title")
    assert title == (f"{BLOCK} · unit {UNIT} of 64 (hidden unit, patch grid 8×8; α: the unit's value at the class "
                     "token) · epoch 0")
    best = unitlab.top_examples(vit, BLOCK, 0, UNIT, 9)["observations"]
    maps = unitlab.unit_maps(vit, BLOCK, 0, UNIT, 9)
    images = vit.subset()["images"]
    tiles = page.locator("#ul-topk img")
    for rank in range(9):
        cell = firing_patch(maps[rank])
        assert tiles.nth(rank).get_attribute("alt") == \
            f"observation {best[rank]}, patch row {cell[0]} column {cell[1]} outlined"
        shown = pixels(tiles.nth(rank).get_attribute("src"))
        np.testing.assert_array_equal(shown, patch_outlined(overlay(images[best[rank]], maps[rank]), (8, 8), cell))
    captions = page.locator("#ul-topk .firing-patch").all_inner_texts()
    assert [c.strip() for c in captions] == [f"· patch {firing_patch(m)}" for m in maps]
    page.locator(".lab-grid").screenshot(path=str(tmp_path / "vit-unit-card.png"))
    # activation maximization of the unit: its class-token value, with the model's preprocessing
    for selector, value in (("#ul-am-steps", 30), ("#ul-am-restarts", 2)):
        page.fill(selector, str(value))
        page.press(selector, "Enter")
    page.wait_for_selector("#ul-actmax-status:has-text('Not computed yet for unit 5')")
    page.click("#ul-actmax-run")
    page.wait_for_function("() => document.querySelectorAll('#ul-actmax-images img').length === 2", timeout=JOB_WAIT)
    assert page.inner_text("#ul-actmax-status") == \
        "unit 5: 2 restarts, 30 steps; maximized: the unit's value at the class token"
    stored = unitlab.stored_actmax(vit, BLOCK, 0, UNIT, ActMaxParams(steps=30, restarts=2))
    model = vit.model(0)
    with torch.no_grad(), collected_outputs(model.module, [BLOCK]) as outputs:
        model.module(model.input_tensor(stored.images))
    np.testing.assert_allclose(stored.activations, outputs[BLOCK][0][:, 0, UNIT].numpy(), atol=1e-5)
    assert f"{stored.activations[0]:.4g}" in page.locator("#ul-actmax-images .tile-caption").first.inner_text()
    assert stored.activations.min() > np.median(unitlab.activations(vit, BLOCK, 0)[:, UNIT])


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_the_block_ablation_sweep_gives_accuracies(page, lab, vit):
    page.goto(f"{lab}/layer-lab?ws=0")
    choose(page, "ll-layer", BLOCK)
    page.wait_for_selector("#ll-ablation:has-text('Press Run sweep: 14 accuracy passes')")
    page.click("#ll-ablation-run")
    page.wait_for_function("() => { const g = document.querySelector('#ll-ablation .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length === 4; }", timeout=JOB_WAIT)
    shown = page.evaluate("() => document.querySelector('#ll-ablation .js-plotly-plot')._fullData"
                          ".map(t => ({name: t.name, y: Array.from(t.y)}))")
    on = page.locator("#ll-ablation-on input:checked").get_attribute("value")
    mode = page.locator("#ll-ablation-mode input:checked").get_attribute("value")
    sweep = unitlab.ablation_sweep(vit, BLOCK, 0, mode, on=on)  # what the job stored
    assert len(sweep["count"]) == 13 and sweep["count"][-1] == 64
    assert shown[0]["name"] == "top-1" and shown[0]["y"] == sweep["top1"].tolist()
    assert shown[1]["name"] == "top-5" and shown[1]["y"] == sweep["top5"].tolist()
    assert shown[2]["name"] == f"intact top-1 {sweep['baseline_top1']:.3f}"
    assert all(0 <= y <= 1 for y in shown[0]["y"]) and len(set(shown[0]["y"])) > 1  # zeroing units changes it
