"""A small vision transformer in headless Chromium (issue 25): on the explore page, a token layer
offers its patch tokens as the observations (their projection computed by a job, coloured by
class or grid cell; hovering a token outlines its patch on its image); on /deepvis, an image
uploaded as a person does gets the class token's attention and the rollout drawn over it.

One server over one workspace: the 32x32 ViT of tests/tiny_models.py (4x4 patches: an 8x8 grid
and a class token) with random weights, over 40 real CIFAR-10 test images."""

import io

import numpy as np
import pytest
from PIL import Image

from nnvis.deepvis.attention import attention_maps
from nnvis.models.feature_maps import normalise, upsample
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.patch_tokens import patch_projection
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

BLOCK = "encoder.layers.encoder_layer_3"
TRACES = """() => { const gd = document.querySelector('#patch-projection .js-plotly-plot');
  if (!gd || !gd._fullData || !gd._fullData.length || gd._fullData[0].type !== 'scattergl') { return null; }
  return gd._fullData.map(t => ({name: t.name, n: t.x.length, color: Array.isArray(t.marker.color) ||
    ArrayBuffer.isView(t.marker.color) ? Array.from(t.marker.color) : t.marker.color,
    data: Array.from(t.customdata, d => Array.from(d))})); }"""
POINT = """([trace, i]) => { const gd = document.querySelector('#patch-projection .js-plotly-plot');
  const t = gd._fullData[trace], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, b = gd.getBoundingClientRect();
  return [b.left + xa._offset + xa.l2p(t.x[i]), b.top + ya._offset + ya.l2p(t.y[i])]; }"""
BOXES = """() => { const img = document.querySelector('#patch-hover .patch-image img').getBoundingClientRect();
  const box = document.querySelector('#patch-hover .patch-outline').getBoundingClientRect();
  return [img.left, img.top, img.width, img.height, box.left, box.top, box.width, box.height,
          document.querySelector('#patch-hover .patch-image img').naturalWidth]; }"""


@pytest.fixture(scope="module")
def vit_workspace(cifar_npz, tmp_path_factory) -> Workspace:
    """small_vit, random weights (epoch 0), PCA views of 40 CIFAR-10 test images."""
    from nnvis.data.datasets import load_dataset
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig

    cifar = load_dataset("cifar10", cifar_npz.parent)
    pick = np.random.default_rng(0).permutation(len(cifar.test_labels))[:70]  # the file is sorted by class
    folder = tmp_path_factory.mktemp("vit-browser")
    np.savez(folder / "few.npz", x_train=cifar.test_images[pick[:30]], y_train=cifar.test_labels[pick[:30]],
             x_test=cifar.test_images[pick[30:]], y_test=cifar.test_labels[pick[30:]], classes=np.array(cifar.classes))
    config = RunConfig(dataset="npz", data_dir=str(folder / "few.npz"), model="tests.tiny_models:small_vit", epochs=0,
                       subset=40, layers=f"{BLOCK},heads.head:input", projection="pca", device="cpu")
    return run(config, folder / "ws", neuron_maps="last")


@pytest.fixture(scope="module")
def server(vit_workspace, tmp_path_factory):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=(vit_workspace.path,), job_cache=tmp_path_factory.mktemp("vit-jobs"),
                          model_allow=("tests.tiny_models:small_vit",))) as url:
        yield url


def wait_for_tokens(page, previous_colour=None):
    """The patch projection's traces once drawn (and coloured otherwise than `previous_colour`)."""
    page.wait_for_function(f"previous => {{ const t = ({TRACES})(); return t !== null && "
                           "JSON.stringify(t[0].color) !== JSON.stringify(previous); }",
                           arg=previous_colour, timeout=180_000)
    return page.evaluate(TRACES)


def test_patch_tokens_as_observations_with_their_patch_outlined(page, server, vit_workspace):
    page.goto(f"{server}/?ws=0&layer=heads.head:input&epoch=0&method=pca")
    page.wait_for_selector("#obs-projection")
    page.wait_for_load_state("networkidle")
    assert not page.is_visible("#patch-controls")  # the head's input is one vector per image: no patch tokens
    page.goto(f"{server}/?ws=0&layer={BLOCK}&epoch=0&method=pca")
    page.wait_for_selector("#patch-controls", state="visible")
    assert not page.is_visible("#patch-panel")
    page.get_by_text("patch tokens", exact=True).click()
    traces = wait_for_tokens(page)  # a job samples and projects them
    # 40 images x 64 patch tokens (under 20,000: every one), one trace per class, each its class's tokens
    analysis = Analysis(Workspace(vit_workspace.path))
    found = patch_projection(analysis, BLOCK, 0, "pca")
    assert sum(t["n"] for t in traces) == 40 * 64 == len(found["points"])
    for trace in traces:
        labels = {int(analysis.labels[image]) for _, image, _, _ in trace["data"]}
        assert labels == {analysis.classes.index(trace["name"])}, trace["name"]
    status = page.inner_text("#patch-status")
    assert "2,560 patch tokens of 40 images" in status and "8x8 grid" in status
    assert f"NH {float(found['nh'].mean()):.4f}" in status

    # coloured by the token's grid row: one trace, each point's colour its row
    page.get_by_text("grid row", exact=True).click()
    traces = wait_for_tokens(page, previous_colour=traces[0]["color"])
    assert len(traces) == 1 and traces[0]["n"] == 2560
    assert traces[0]["color"] == [row for _, _, row, _ in traces[0]["data"]]
    assert sorted(set(traces[0]["color"])) == list(range(8))

    # hovering a token (one of patch (2, 5), with no other point within 6 px) shows its image, that patch outlined
    pixels = [page.evaluate(POINT, [0, k]) for k in range(len(traces[0]["data"]))]
    gaps = np.sort(np.linalg.norm(np.array(pixels)[:, None] - np.array(pixels)[None], axis=2), axis=1)[:, 1]
    i = next(k for k, (_, _, row, column) in enumerate(traces[0]["data"]) if (row, column) == (2, 5) and gaps[k] > 6)
    token, image, row, column = traces[0]["data"][i]
    expected = f"image {image} ({analysis.classes[int(analysis.labels[image])]}) · patch row 2, column 5"
    x, y = pixels[i]
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    page.wait_for_function("text => { const shown = document.querySelector('#patch-hover');"
                           " return shown && shown.innerText.trim() === text; }", arg=expected, timeout=120_000)
    page.wait_for_selector("#patch-hover .patch-outline", state="visible")
    page.wait_for_function("() => document.querySelector('#patch-hover .patch-image img').complete")
    assert (int(found["image"][token]), int(found["row"][token]), int(found["column"][token])) == (image, row, column)
    left, top, width, height, box_left, box_top, box_width, box_height, natural = page.evaluate(BOXES)
    assert natural == 96 and width == pytest.approx(192, abs=1)  # the 32x32 image, upscaled for sight
    # patch (2, 5) of 8x8 covers x 5/8..6/8 and y 2/8..3/8 of the image
    assert ((box_left - left) / width, (box_top - top) / height) == (pytest.approx(5 / 8, abs=0.01),
                                                                      pytest.approx(2 / 8, abs=0.01))
    assert (box_width / width, box_height / height) == (pytest.approx(1 / 8, abs=0.01), pytest.approx(1 / 8, abs=0.01))
    page.screenshot(path=str(vit_workspace.path / "patch-tokens.png"))

    # the link names the patch-token view, and opening it shows that view again
    page.wait_for_function("() => window.location.search.includes('obs=patches')")
    link = page.url
    assert "tokens=row" in link
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_selector("#patch-panel", state="visible")
    assert page.is_checked("#patch-observations input[value='patches']")
    assert page.is_checked("#patch-colour input[value='row']")
    traces = wait_for_tokens(page)
    assert len(traces) == 1 and traces[0]["n"] == 2560  # by grid row, as linked


def wait_for_status(page, start):
    page.wait_for_function("start => { const status = document.querySelector('#dv-attention-status');"
                           " return status !== null && status.innerText.startsWith(start); }", arg=start,
                           timeout=120_000)


def test_an_uploaded_image_gets_its_attention_and_rollout_drawn(page, server, vit_workspace):
    page.goto(f"{server}/deepvis?ws=0&layer={BLOCK}&epoch=0")
    wait_for_status(page, "observation 0")
    rng = np.random.default_rng(7)
    picture = np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))  # 32x32
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    page.set_input_files("#dv-upload input[type=file]",
                         files=[{"name": "blocks.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    wait_for_status(page, "blocks.png")
    assert "4 layers (mean of the heads" in page.inner_text("#dv-attention-status")
    titles = page.evaluate("() => document.querySelector('#dv-attention .js-plotly-plot')._fullLayout.annotations"
                           ".map(a => a.text)")
    assert titles == ["rollout"] + [f"encoder_layer_{i}" for i in range(4)]
    shown = page.evaluate("""() => document.querySelector('#dv-attention .js-plotly-plot')._fullData
      .filter(t => t.type === 'heatmap').map(t => Array.from(t.z, r => Array.from(r)))""")
    model = Analysis(Workspace(vit_workspace.path)).model(0)
    found = attention_maps(model.module, model.input_tensor(picture[None]))
    assert len(shown) == 5
    np.testing.assert_allclose(shown[0], normalise(upsample(found.rollout, (32, 32))), atol=2e-5)
    last = found.maps[found.layers[-1]].mean(axis=0)
    np.testing.assert_allclose(shown[4], normalise(upsample(last, (32, 32))), atol=2e-5)
    assert np.ptp(np.array(shown[0])) > 0.5  # a map, not a flat field
    page.locator("#dv-attention-panel").screenshot(path=str(vit_workspace.path / "attention.png"))
