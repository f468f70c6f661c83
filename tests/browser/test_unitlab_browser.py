"""The unit lab (/units) and layer lab (/layer-lab) in headless Chromium, on a digits MLP and on
torchvision's resnet18 (random weights) over CIFAR-10 test images; values checked against the
backend and numpy. Also the pages' plain functions where a browser adds nothing."""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from nnvis.deepvis.strip import read_image_file, select_layers, structure_strip
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import map_layers, overlay
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.rules import difference_rule, intersection_rule, max_rule
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import serving

pytestmark = pytest.mark.browser

DIGITS, RESNET = 0, 1


@pytest.fixture(scope="module")
def lab_workspaces(cifar_npz, tmp_path_factory):
    """(digits MLP trained 2 epochs on 300 test observations, resnet18 untrained on 64 CIFAR-10
    test images), prepared and captured: these pages read activations and the model, never
    projections or neuron maps, so `nnvis run`'s projections are not made (a web request never
    captures activations: `nnvis run` or a job does)."""
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig

    root = tmp_path_factory.mktemp("lab")
    digits = Workspace(root / "digits")
    prepare(RunConfig(dataset="digits", model="mlp", epochs=2, subset=300, projection="pca", device="cpu"), digits)
    resnet = Workspace(root / "resnet18")
    prepare(RunConfig(dataset="cifar10", data_dir=str(cifar_npz.parent), model="resnet18", epochs=0, subset=64,
                      layers="layer3,layer4", projection="pca", device="cpu"), resnet)
    for workspace in (digits, resnet):
        analysis = Analysis(workspace)
        for epoch in analysis.epochs:
            analysis.capture_epoch(epoch)
    return digits, resnet


@pytest.fixture(scope="module")
def lab_jobs(tmp_path_factory):
    """The lab server's job cache."""
    return tmp_path_factory.mktemp("lab-jobs")


@pytest.fixture(scope="module")
def lab(lab_workspaces, lab_jobs):
    from nnvis.settings import Settings

    with serving(Settings(workspaces=tuple(w.path for w in lab_workspaces), job_cache=lab_jobs)) as url:
        yield url


@pytest.fixture(autouse=True)
def jobs_ended(request, lab_jobs):
    """After each test, the jobs its pages started on their own (a unit's maps, a strip) have
    ended: one user may run only 2 jobs at once, and every test here is the same user."""
    import time

    from web.job_cache import open_job_cache
    from web.job_manager import alive, registered

    yield
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open_job_cache(lab_jobs) as cache:
            if not any(alive(pid) for pid in registered(cache)):
                return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def digits(lab_workspaces):
    return Analysis(lab_workspaces[0])


@pytest.fixture(scope="module")
def resnet(lab_workspaces):
    return Analysis(lab_workspaces[1])


def pixels(src: str) -> np.ndarray:
    """The pixels of a PNG data URI."""
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def shrunk(picture: np.ndarray, shape: tuple) -> np.ndarray:
    """A picture upscaled by an integer factor with nearest neighbour, back at `shape` (H, W)."""
    scale = picture.shape[0] // shape[0]
    return picture[::scale, ::scale]


def traces(page, graph_id):
    return page.evaluate("id => document.querySelector('#' + id + ' .js-plotly-plot')._fullData.map(t => ({"
                         "name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),"
                         "z: t.z ? Array.from(t.z, r => Array.from(r)) : null}))", graph_id)


def layout_of(page, graph_id):
    return page.evaluate("id => { const l = document.querySelector('#' + id + ' .js-plotly-plot')._fullLayout;"
                         " return {title: l.title.text, annotations: (l.annotations || []).map(a => a.text),"
                         " xcategories: l.xaxis._categories || []}; }", graph_id)


def wait_for_graph(page, graph_id, trace_type):
    page.wait_for_function(f"() => {{ const g = document.querySelector('#{graph_id} .js-plotly-plot');"
                           f" return g && g._fullData && g._fullData.length > 0"
                           f" && g._fullData[0].type === '{trace_type}'; }}", timeout=120_000)


def set_number(page, selector, value):
    """Type into a debounced dcc.Input and commit it (Enter), as a user does."""
    page.fill(selector, str(value))
    page.press(selector, "Enter")


def record_progress(page, prefix):
    """Start recording every text the job indicator's stage shows (in window.stages)."""
    page.evaluate(f"() => {{ window.stages = []; const el = document.querySelector('#{prefix}-stage');"
                  " new MutationObserver(() => window.stages.push(el.innerText))"
                  ".observe(el, {childList: true, characterData: true, subtree: true}); }")


# ---- /units: the unit card, activation maximization, rules

def test_unit_card_shows_top_k_their_mean_and_the_histogram_per_class(page, lab, digits):
    acts = digits.activations("hidden3", 2).astype(np.float64)
    unit = int(acts.var(axis=0).argmax())
    page.goto(f"{lab}/units?ws={DIGITS}&layer=hidden3&epoch=2")  # no unit: the liveliest one
    page.wait_for_function("() => document.querySelectorAll('#ul-topk img').length === 9", timeout=120_000)
    assert page.input_value("#ul-unit") == str(unit)
    best = np.argsort(-acts[:, unit], kind="stable")[:9]
    tiles = page.locator("#ul-topk img")
    assert [tiles.nth(i).get_attribute("alt") for i in range(9)] == [f"observation {i}" for i in best]
    assert all(tiles.nth(i).get_attribute("src").startswith(f"/thumbs/{DIGITS}/") for i in range(9))  # dense unit
    images = digits.subset()["images"]
    mean = pixels(page.get_attribute("#ul-mean-img", "src"))
    np.testing.assert_array_equal(shrunk(mean, (8, 8)), np.round(images[best].astype(np.float64).mean(axis=0)))
    wait_for_graph(page, "ul-histogram", "bar")
    bars = traces(page, "ul-histogram")
    edges = np.histogram_bin_edges(acts[:, unit], bins=20)
    labels = digits.labels
    for bar in bars:
        c = digits.classes.index(bar["name"])
        assert bar["y"] == np.histogram(acts[labels == c, unit], bins=edges)[0].tolist()
    assert sum(sum(bar["y"]) for bar in bars) == 300
    assert page.get_attribute("#ul-colour-link", "href") == \
        f"/?ws={DIGITS}&layer=hidden3&epoch=2&color=neuron&neuron={unit}"
    set_number(page, "#ul-unit", 5000)
    page.wait_for_selector("#ul-message:has-text('unit 5000 is out of range')", timeout=120_000)
    assert page.inner_text("#ul-message") == "unit 5000 is out of range; layer hidden3 has 1000 units (0..999)"
    assert page.locator("#ul-topk img").count() == 0


def test_actmax_runs_as_a_background_job_with_progress_and_cancel(page, lab, digits):
    unit = int(digits.activations("hidden2", 2).astype(np.float64).var(axis=0).argmax())
    page.goto(f"{lab}/units?ws={DIGITS}&layer=hidden2&epoch=2&unit={unit}")
    page.wait_for_selector("#ul-actmax-status:has-text('press Run')", timeout=120_000)
    # a run far too long to finish: cancelled, it stores nothing
    set_number(page, "#ul-am-steps", 10000)
    page.wait_for_selector("#ul-actmax-status:has-text('Not computed yet')", timeout=120_000)
    page.click("#ul-actmax-run")
    page.wait_for_function("() => /actmax \\d+\\/10000/.test(document.querySelector('#ul-actmax-stage').innerText)",
                           timeout=120_000)
    page.click("#ul-actmax-cancel")
    page.wait_for_selector("#ul-actmax-indicator", state="hidden", timeout=120_000)
    assert "Cancelled" in page.inner_text("#ul-actmax-status")
    # a real one: progress shown while it runs, then the stored images
    for selector, value in (("#ul-am-steps", 1500), ("#ul-am-restarts", 3)):
        set_number(page, selector, value)
    page.wait_for_selector("#ul-actmax-status:has-text('Not computed yet')", timeout=120_000)
    record_progress(page, "ul-actmax")
    page.click("#ul-actmax-run")
    page.wait_for_function("() => document.querySelectorAll('#ul-actmax-images img').length === 3", timeout=120_000)
    stages = page.evaluate("() => window.stages")
    # progress reported (mid-run progress was seen above, on the 10,000-step run; a 300-step run
    # could finish between two of Dash's progress polls, so this one runs 1,500 steps)
    assert any(re.match(r"actmax \d+/1500\b", s) for s in stages), stages  # then, maybe, the time left
    from nnvis.unitlab.actmax import ActMaxParams

    stored = unitlab.stored_actmax(digits, "hidden2", 2, unit, ActMaxParams(steps=1500, restarts=3))
    assert stored is not None and stored.steps_done == 1500
    assert unitlab.stored_actmax(digits, "hidden2", 2, unit, ActMaxParams(steps=10000, restarts=4)) is None
    shown = page.locator("#ul-actmax-images img")
    for i in range(3):
        np.testing.assert_array_equal(shrunk(pixels(shown.nth(i).get_attribute("src")), (8, 8)), stored.images[i])
    assert f"{stored.activations[0]:.4g}" in page.locator("#ul-actmax-images .tile-caption").first.inner_text()
    assert stored.activations.min() > np.percentile(digits.activations("hidden2", 2)[:, unit], 50)


def test_rule_selection_lists_unit_cards_that_link_to_the_unit(page, lab, digits):
    acts = digits.activations("hidden4", 2).astype(np.float64)
    zeros = np.flatnonzero(digits.labels == 0)[:3].tolist()  # three 0s share units
    page.goto(f"{lab}/units?ws={DIGITS}&layer=hidden4&epoch=2&unit=0&sel={zeros[0]},{zeros[1]}-{zeros[1]},{zeros[2]}")
    expected = intersection_rule(acts[zeros], 9).tolist()
    assert expected, "three images of one class share none of their top 9 units"
    page.wait_for_selector("#ul-rules .unit-chip", timeout=120_000)

    def chips():
        return [int(text.split()[1]) for text in page.locator("#ul-rules .unit-chip b").all_inner_texts()]
    assert page.input_value("#ul-observations") == f"{zeros[0]},{zeros[1]}-{zeros[1]},{zeros[2]}"
    assert chips() == expected
    page.get_by_label("max (top-n of each)").check()
    page.wait_for_function("() => document.querySelectorAll('#ul-rules .rule-group').length === 3", timeout=120_000)
    assert chips() == [u for o in zeros for u in max_rule(acts[o], 9).tolist()]
    page.get_by_label("difference (first only)").check()
    page.wait_for_selector("#ul-rules .rule-title:has-text('difference rule')", timeout=120_000)
    assert chips() == difference_rule(acts[zeros], 0, 9).tolist()
    set_number(page, "#ul-observations", "3,x")
    page.wait_for_selector("#ul-rules:has-text(\"'x' is not an index\")", timeout=120_000)
    set_number(page, "#ul-observations", f"{zeros[0]},5000")
    page.wait_for_selector("#ul-rules:has-text('observation 5000 is outside the subset; allowed: 0..299')",
                           timeout=120_000)
    page.get_by_label("intersection (in every top-n)").check()
    set_number(page, "#ul-observations", ",".join(map(str, zeros)))
    page.wait_for_selector("#ul-rules .unit-chip", timeout=120_000)
    page.locator("#ul-rules .unit-chip").first.click()  # opens that unit's card
    page.wait_for_function(f"() => document.querySelector('#ul-title') && "
                           f"document.querySelector('#ul-title').innerText.includes('unit {expected[0]} of 1000')",
                           timeout=120_000)
    assert page.url.endswith(f"/units?ws={DIGITS}&layer=hidden4&epoch=2&unit={expected[0]}")


# ---- /layer-lab

def test_layer_lab_cosine_sparsity_and_perturbation(page, lab, digits):
    page.goto(f"{lab}/layer-lab?ws={DIGITS}&layer=hidden3&epoch=2")
    wait_for_graph(page, "ll-cosine", "heatmap")
    matrix = unitlab.class_similarity(digits, "hidden3", 2)
    (heatmap,) = traces(page, "ll-cosine")
    assert np.shape(heatmap["z"]) == (10, 10)
    np.testing.assert_allclose(heatmap["z"], matrix, atol=1e-9)
    notes = layout_of(page, "ll-cosine")["annotations"]
    assert len(notes) == 100 and [notes[11 * i] for i in range(10)] == ["1.00"] * 10
    for i in range(10):
        off = np.where(np.eye(10, dtype=bool)[i], np.nan, matrix[i])
        assert notes[10 * i + int(np.nanargmax(off))] == f"<b>{matrix[i, np.nanargmax(off)]:.2f}</b>"
        assert notes[10 * i + int(np.nanargmin(off))] == f"<i>{matrix[i, np.nanargmin(off)]:.2f}</i>"
    page.get_by_label("clustered order").check()
    order = [str(i) for i in unitlab.cluster_order(matrix)]
    page.wait_for_function("o => document.querySelector('#ll-cosine .js-plotly-plot')._fullLayout.xaxis"
                           "._categories.join() === o.join()", arg=order, timeout=120_000)

    found = unitlab.layer_sparsity(digits, "hidden3", 2, 0.01)
    wait_for_graph(page, "ll-sparsity", "bar")
    assert layout_of(page, "ll-sparsity")["title"].startswith(f"{float(found['near_zero']):.1%} of alphas")
    assert traces(page, "ll-sparsity")[0]["y"] == found["counts"].tolist()
    page.get_by_label("per class").check()
    page.wait_for_function("() => document.querySelector('#ll-sparsity .js-plotly-plot')._fullData.length === 10",
                           timeout=120_000)

    wait_for_graph(page, "ll-perturbation", "scatter")
    noisy = unitlab.perturbation(digits, 2, None, 0.01, on="subset")
    (line,) = traces(page, "ll-perturbation")
    assert line["x"] == digits.layers
    np.testing.assert_allclose(line["y"], noisy["cosine"], rtol=1e-12)
    assert 0.9 < min(line["y"]) <= max(line["y"]) <= 1
    # an MLP has no feature maps: the strip says so instead of drawing
    page.wait_for_function("() => document.querySelector('#ll-strip-message').innerText"
                           ".includes('no layer with (C, H, W) feature maps')")  # its own job answers it


def bias_only(analysis):
    """Top-1 and top-5 accuracy over the subset of logits equal to fc's bias alone."""
    bias = analysis.workspace.load_snapshot(0)["fc.bias"].numpy()
    labels = analysis.labels
    return np.mean(labels == np.argmax(bias)), np.mean(np.isin(labels, np.argsort(-bias)[:5]))


def test_resnet18_ablation_sweep_runs_as_a_job_and_plots_top1_top5(page, lab, resnet):
    page.goto(f"{lab}/layer-lab?ws={RESNET}&layer=layer4&epoch=0")
    page.wait_for_selector("#ll-ablation:has-text('Press Run sweep: 14 accuracy passes')", timeout=120_000)
    page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)  # the page's own jobs (at most 2 per user)
    wait_for_graph(page, "ll-perturbation", "scatter")
    polls = []  # the job's polls (its 14 passes may all end within one poll: progress is checked on actmax's job)
    page.on("request", lambda request: polls.append(request.url) if "job=" in request.url else None)
    page.click("#ll-ablation-run")
    wait_for_graph(page, "ll-ablation", "scatter")
    assert polls  # the sweep ran as a background job, polled by the page
    sweep = unitlab.ablation_sweep(resnet, "layer4", 0, "per-image", on="subset")  # stored by the job
    top1, top5, intact1, intact5 = traces(page, "ll-ablation")
    assert (top1["name"], top5["name"]) == ("top-1", "top-5")
    assert (intact1["y"], intact5["y"]) == ([sweep["baseline_top1"]] * 2, [sweep["baseline_top5"]] * 2)
    np.testing.assert_allclose(top1["x"], sweep["fraction"])
    assert top1["y"] == sweep["top1"].tolist() and top5["y"] == sweep["top5"].tolist()
    assert (top1["y"][-1], top5["y"][-1]) == bias_only(resnet)  # every channel zeroed: fc's bias decides
    assert intact1["name"] == f"intact top-1 {sweep['baseline_top1']:.3f}"


def test_resnet18_unit_card_shows_activation_maps_over_the_top_k(page, lab, resnet):
    page.goto(f"{lab}/units?ws={RESNET}&layer=layer3&epoch=0&unit=17")
    page.wait_for_function("() => document.querySelectorAll('#ul-topk img').length === 9", timeout=120_000)
    page.wait_for_function("() => document.querySelector('#ul-topk img').src.startsWith('data:image/png')",
                           timeout=120_000)  # the maps, computed by a job
    assert "layer3 · unit 17 of 256 (channel, maps 2×2)" in page.inner_text("#ul-title")
    best = unitlab.top_examples(resnet, "layer3", 0, 17, 9)["observations"]
    maps = unitlab.unit_maps(resnet, "layer3", 0, 17, 9)
    images = resnet.subset()["images"]
    first = page.get_attribute("#ul-topk img >> nth=0", "src")
    assert first.startswith("data:image/png")
    np.testing.assert_array_equal(shrunk(pixels(first), (32, 32)), overlay(images[best[0]], maps[0]))
    mean = shrunk(pixels(page.get_attribute("#ul-mean-img", "src")), (32, 32))
    np.testing.assert_array_equal(mean, np.round(images[best].astype(np.float64).mean(axis=0)))


def strip_channels(page):
    return [[int(t) for t in row.locator(".tile-caption").all_inner_texts()]
            for row in page.locator("#ll-strip-grid .strip-row").all()]


def test_resnet18_structure_strip_from_the_data_and_from_uploads(page, lab, resnet, tmp_path):
    page.goto(f"{lab}/layer-lab?ws={RESNET}&layer=layer4&epoch=0")
    page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)
    model, image = resnet.model(0), resnet.subset()["images"][0]
    available = map_layers(model, image.shape)
    layers = select_layers(available, 0, None, -(-len(available) // 6))
    rows = structure_strip(model, image, layers)
    assert [b for b in page.locator("#ll-strip-grid .strip-label b").all_inner_texts()] == layers
    assert page.locator("#ll-strip-grid .map-thumb").count() == 9 * len(layers)
    assert strip_channels(page) == [row.channels.tolist() for row in rows]
    page.locator("#ll-strip-grid .strip-row").nth(1).locator(".map-thumb").nth(2).click()
    page.wait_for_selector("#ll-enlarged-img", timeout=120_000)
    assert f"{layers[1]} · channel {rows[1].channels[2]}" in page.inner_text("#ll-strip-enlarged")
    np.testing.assert_array_equal(shrunk(pixels(page.get_attribute("#ll-enlarged-img", "src")), (32, 32)),
                                  overlay(image, rows[1].maps[2]))

    path = tmp_path / "stripes.png"
    stripes = np.zeros((48, 60, 3), np.uint8)
    stripes[:, ::6] = (250, 40, 10)
    Image.fromarray(stripes).save(path)
    page.set_input_files("#ll-upload input[type=file]", str(path))
    page.wait_for_selector("#ll-strip-input:has-text('stripes.png')", timeout=120_000)
    page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)  # its strip computed by a job
    uploaded = structure_strip(model, read_image_file(path, (32, 32, 3)), layers)
    assert strip_channels(page) == [row.channels.tolist() for row in uploaded]

    text = tmp_path / "notes.png"
    text.write_text("not a picture at all")
    page.set_input_files("#ll-upload input[type=file]", str(text))
    page.wait_for_selector("#ll-strip-message:has-text('notes.png is not an image PIL can read')", timeout=120_000)
    assert page.locator("#ll-strip-grid .strip-row").count() == 0
    set_number(page, "#ll-image", 3)  # back to the data
    page.wait_for_selector("#ll-strip-input:has-text('subset image 3')", timeout=120_000)
    page.wait_for_selector("#ll-strip-grid .strip-row", timeout=120_000)
    assert page.locator("#ll-strip-grid .strip-row").count() == len(layers)


# ---- plain functions behind the pages

def test_upload_limits_and_observation_lists(resnet):
    from callbacks.layerlab_strip import strip_image
    from callbacks.unitlab import parse_observations

    huge = "data:image/png;base64," + "A" * (14 * 2**20)
    with pytest.raises(NNVisError, match=r"^big\.png is larger than 10 MB; allowed: at most 10 MB$"):
        strip_image(resnet, "upload", 0, huge, "big.png")
    with pytest.raises(NNVisError, match="did not arrive as a file"):
        strip_image(resnet, "upload", 0, "data:image/png;base64,@@@", "x.png")
    buffer = io.BytesIO()
    Image.new("RGB", (5000, 10)).save(buffer, format="PNG")
    wide = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    with pytest.raises(NNVisError, match=r"^image wide\.png is 5000x10 pixels; allowed: at most 4096 a side$"):
        strip_image(resnet, "upload", 0, wide, "wide.png")
    with pytest.raises(NNVisError, match=r"^subset image 64 is out of range; allowed: 0\.\.63$"):
        strip_image(resnet, "index", 64, None, None)
    image, caption = strip_image(resnet, "index", 5, wide, "wide.png")   # the data, unless the upload is chosen
    assert (image == resnet.subset()["images"][5]).all() and caption.startswith("subset image 5 (class ")
    assert parse_observations("3, 7-9,3,12") == [3, 7, 8, 9, 12]
    for bad in ("", " , ", "3;4", "-2", "1-"):
        with pytest.raises(NNVisError):
            parse_observations(bad)


def test_explore_links_the_clicked_neuron_and_selection_to_the_unit_lab():
    from callbacks.explore import link_unit_lab

    href, text, layer_lab = link_unit_lab("http://host/?ws=0&layer=hidden3&epoch=2&method=pca&color=neuron"
                                          "&neuron=12&sel=3-7%2C12")
    assert (href, text) == ("/units?ws=0&layer=hidden3&epoch=2&unit=12&sel=3-7%2C12", "open unit card of neuron 12 →")
    assert layer_lab == "/layer-lab?ws=0&layer=hidden3&epoch=2"
    href, text, _ = link_unit_lab("http://host/?ws=1&layer=input&epoch=0&method=pca&color=true")
    assert (href, text) == ("/units?ws=1&epoch=0", "unit lab →")
    assert json.dumps(link_unit_lab(None)) == json.dumps(["/units?", "unit lab →", "/layer-lab?"])
