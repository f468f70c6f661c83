"""Read-only under real gunicorn with 4 workers, in headless Chromium: every page and export is
visited and its controls changed as a user does; what is not in the store says the server is
read-only, and the workspace folder stays byte-identical: every file keeps its size and hash, and
nothing is added (no lock, .tmp or array file) but what SQLite makes for any reader of a WAL
database where the folder lets it, an empty -wal and the -shm index."""

import hashlib
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import choose, copy_workspace, forget
from tests.hardening_client import gunicorn, http

pytestmark = pytest.mark.browser  # about 30-40 s: gunicorn with 4 workers and six pages

READ_ONLY = "This server is read-only"
NOT_STORED = ("class_cosine", "sparsity", "perturbation", "unit_maps", "actmax", "ablation", "sequence",
              "bundled-trails", "neighbourhood-change", "aligned-pair")


def folder_snapshot(folder: Path) -> dict:
    """Every file under `folder`: relative path -> (size, sha256)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def forget_views(workspace: Path) -> None:
    """Leave in the copy only what `nnvis run` stored (PCA of every view, neuron maps), less the
    neuron map of hidden1 at epoch 1: what other tests of the session computed is not there."""
    import diskcache

    forget(workspace, *NOT_STORED)
    analysis = Analysis(Workspace(workspace, read_only=True))  # the keys only: this process leaves the store closed
    gone = [analysis.neuron_map_key("hidden1", 1)]
    for method in ("tsne", "umap"):
        for layer in ("input", *analysis.layers):
            for epoch in ([-1] if layer == "input" else analysis.epochs):
                gone += [analysis.projection_key(layer, epoch, method), analysis.faithfulness_key(layer, epoch, method)]
    with diskcache.Cache(str(workspace / "store")) as cache:
        for key in gone:
            cache.delete(key.digest())


POINT_PIXEL = """id => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect(), t = gd._fullData[0];
  return [box.left + xa._offset + xa.l2p(t.x[0]), box.top + ya._offset + ya.l2p(t.y[0])]; }"""


WITHIN_GRAPH = """id => { const graph = document.querySelector('#' + id + ' .js-plotly-plot').getBoundingClientRect();
  return Array.from(document.querySelectorAll('#' + id + ' .annotation-text')).every(text => {
    const box = text.getBoundingClientRect(); return box.left >= graph.left && box.right <= graph.right; }); }"""


def text_of(element_id: str) -> str:
    return f"(document.querySelector('#{element_id}') || {{innerText: ''}}).innerText"


def figure_text(element_id: str) -> str:
    """JavaScript for the text a figure's annotations show (line breaks as spaces)."""
    return (f"(() => {{ const gd = document.querySelector('#{element_id} .js-plotly-plot');"
            " const notes = gd && gd._fullLayout ? gd._fullLayout.annotations || [] : [];"
            " return notes.map(a => a.text.replace(/<br>/g, ' ')).join(' '); })()")


def wait_text(page, script: str, needle: str, timeout: float = 180_000) -> None:
    page.wait_for_function(f"n => {script}.includes(n)", arg=needle, timeout=timeout)


def says_read_only(page, *, texts=(), figures=(), timeout: float = 180_000) -> None:
    """Until every element of `texts` (its visible text) and every figure of `figures` (its message) says so."""
    for element in texts:
        wait_text(page, text_of(element), READ_ONLY, timeout)
        assert page.locator(f"#{element}").is_visible()
    for element in figures:
        wait_text(page, figure_text(element), READ_ONLY, timeout)
        assert page.locator(f"#{element} .annotation-text").first.is_visible()
        assert page.evaluate(WITHIN_GRAPH, element), f"the message of {element} is cut at the graph's edges"



def set_number(page, selector: str, value) -> None:
    page.fill(selector, str(value))
    page.press(selector, "Enter")


def explore(page, base: str) -> None:
    page.goto(base + "/?ws=0&layer=hidden2&epoch=2&method=pca")
    wait_text(page, text_of("nh-value"), "PCA of hidden2, epoch 2")  # a stored view is shown as it is
    card = ("() => document.querySelector('#obs-hover img') !== null"
            " && document.querySelector('#obs-hover img').naturalWidth > 0")
    for graph in ("obs-projection", "neuron-map"):  # hover an observation, then click a neuron to colour by it
        page.wait_for_function(f"() => {{ const gd = document.querySelector('#{graph} .js-plotly-plot');"
                               " return gd && gd._fullData && gd._fullData.length && gd._fullData[0].x.length; }")
        for _attempt in range(4 if graph == "obs-projection" else 1):  # a hover over a graph still drawing is lost
            x, y = page.evaluate(POINT_PIXEL, graph)
            page.mouse.move(x - 20, y - 20)
            page.mouse.move(x, y, steps=5)
            if graph == "neuron-map":
                page.mouse.click(x, y)
                break
            try:
                page.wait_for_function(card, timeout=30_000)
                break
            except PlaywrightTimeout:
                continue
    page.wait_for_function(card)
    page.wait_for_function("() => typeof document.querySelector('#obs-projection .js-plotly-plot')"
                           "._fullData[0].marker.color !== 'string'")  # coloured by the neuron's activations
    with page.expect_download() as stored:
        page.click("#export-csv")
    assert stored.value.suggested_filename == "nnvis-hidden2-epoch2-pca.csv"
    assert Path(stored.value.path()).read_text().count("\n") >= 300
    page.locator("#projection-select").get_by_text("UMAP", exact=True).click()  # a method not stored
    says_read_only(page, texts=["nh-value"], figures=["obs-projection"])
    page.click("#export-csv")  # its export says so too
    wait_text(page, text_of("error-banner"), "read-only and the umap projection of hidden2 at epoch 2 is not in")
    choose(page, "layer-select", "hidden1")
    choose(page, "epoch-select", "epoch 1")
    wait_text(page, text_of("nh-value"), READ_ONLY)
    says_read_only(page, figures=["neuron-map"])  # its neuron map was left out of the store
    page.locator("#projection-select").get_by_text("t-SNE", exact=True).click()
    says_read_only(page, texts=["nh-value"], figures=["obs-projection"])
    page.locator("#projection-select").get_by_text("PCA", exact=True).click()
    wait_text(page, text_of("nh-value"), "PCA of hidden1, epoch 1")


def evolution(page, base: str) -> None:
    page.goto(base + "/evolution?ws=0&method=pca")
    says_read_only(page, texts=["evo-status"], figures=["trails-graph", "frame-graph", "stability-curves"])
    page.locator("#evo-coherence").get_by_text("independent", exact=False).first.click()
    says_read_only(page, texts=["evo-status"], figures=["trails-graph"])
    page.locator("#sequence-kind").get_by_text("across epochs").click()
    says_read_only(page, texts=["evo-status"], figures=["trails-graph", "frame-graph", "stability-curves"])
    page.locator("#evo-method").get_by_text("t-SNE", exact=True).click()
    says_read_only(page, texts=["evo-status"], figures=["trails-graph"])


def compare(page, base: str) -> None:
    page.goto(base + "/compare?ws=0&ws2=0&layer=hidden4&layer2=hidden4&epoch=0&epoch2=2&method=pca")
    says_read_only(page, texts=["compare-status"], figures=["compare-a", "compare-b"])
    choose(page, "compare-epoch", "epoch 1")
    page.locator("#compare-method").get_by_text("UMAP", exact=True).click()
    says_read_only(page, texts=["compare-status"], figures=["compare-a", "compare-b"])


def layer_lab(page, base: str) -> None:
    page.goto(base + "/layer-lab?ws=0&layer=hidden2&epoch=2")
    says_read_only(page, figures=["ll-cosine", "ll-sparsity", "ll-perturbation"])
    set_number(page, "#ll-threshold", 0.25)
    set_number(page, "#ll-variance", 0.37)
    page.get_by_label("per class").check()
    says_read_only(page, figures=["ll-sparsity", "ll-perturbation"])
    page.click("#ll-ablation-run")  # the sweep's job is refused, in the banner or in place
    wait_text(page, f"[{text_of('error-banner')}, {text_of('ll-ablation-status')}, {figure_text('ll-ablation')}]"
              ".join(' ')", READ_ONLY)
    choose(page, "ll-layer", "hidden3")
    says_read_only(page, figures=["ll-cosine", "ll-sparsity"])


def unit_lab(page, base: str) -> None:
    page.goto(base + "/units?ws=0&layer=hidden2&epoch=2&unit=3")
    wait_text(page, text_of("ul-title"), "unit 3 of 1000 (dense unit)")  # from the store: `nnvis run` kept its shape
    says_read_only(page, texts=["ul-actmax-status"])  # its activation maximization is not stored
    set_number(page, "#ul-unit", 9)
    wait_text(page, text_of("ul-title"), "unit 9 of 1000 (dense unit)")
    says_read_only(page, texts=["ul-actmax-status"])
    page.click("#ul-actmax-run")
    wait_text(page, f"[{text_of('error-banner')}, {text_of('ul-actmax-status')}].join(' ')", READ_ONLY)


def deepvis(page, base: str) -> None:
    page.goto(base + "/deepvis?ws=0&layer=hidden2&epoch=2&unit=3&obs=5")
    for graph in ("dv-grid", "dv-saliency", "dv-filters", "dv-wsum"):  # computed by jobs: none runs here
        wait_text(page, figure_text(graph), "Not computed: this server is read-only")
    choose(page, "dv-epoch", "epoch 1")
    set_number(page, "#dv-observation", 7)
    wait_text(page, text_of("dv-grid-status"), "observation 7")
    wait_text(page, figure_text("dv-grid"), "Not computed: this server is read-only")
    page.wait_for_load_state("networkidle")


@pytest.mark.slow  # kept out of the default run for its time (15-55 s); run with `pytest -m slow`
def test_read_only_under_gunicorn_leaves_the_workspace_byte_identical_after_every_page(page, digits_workspace,
                                                                                      tmp_path):
    workspace = copy_workspace(digits_workspace.path, tmp_path / "digits")
    forget_views(workspace)
    before = folder_snapshot(workspace)
    env = {"NNVIS_WORKSPACES": str(workspace), "NNVIS_READ_ONLY": "1", "NNVIS_JOB_CACHE": str(tmp_path / "jobs")}
    with gunicorn(env) as base:
        for visit in (explore, evolution, compare, layer_lab, unit_lab, deepvis):
            visit(page, base)
            assert not page.locator("#error-banner").inner_text().startswith("Something went wrong"), visit.__name__
        page.goto("about:blank")  # no callback of the last page in flight when the server stops
        status, headers, png = http(base + "/thumbs/0/5.png")
        assert status == 200 and png[:4] == b"\x89PNG"
    assert_unchanged(before, folder_snapshot(workspace))


def reader_companion(name: str, size: int) -> bool:
    """SQLite's files beside a WAL-mode database that any reader creates when the folder lets it
    (the wal-index `-shm`, an empty `-wal`): no page of the database is written."""
    return name.endswith("-shm") or (name.endswith("-wal") and size == 0)


def assert_unchanged(before: dict, after: dict) -> None:
    """Every file of `before` has the same size and hash in `after`, and nothing was added but a
    reader's SQLite companions (no lock, .tmp, .partial or array file; no page in a -wal)."""
    assert not [name for name in before if name.endswith(("-wal", "-shm"))], "the copy's store was not closed"
    added = {name: size for name, (size, _) in after.items() if name not in before}
    assert not [name for name, size in added.items() if not reader_companion(name, size)], added
    changed = {name: (before[name], after.get(name)) for name in before if after.get(name) != before[name]}
    assert not changed, changed
