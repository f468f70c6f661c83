"""One ViewState per page (web.view_state, layouts.page_parts): a link's query read into the
page's controls, wrong values falling back to defaults; the header built in one place."""

import json

import pytest

from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


@pytest.fixture(scope="module")
def app_context(digits_workspace, tmp_path_factory):
    from app import create_app
    from nnvis.settings import Settings

    app = create_app(Settings(workspaces=(digits_workspace.path,), job_cache=tmp_path_factory.mktemp("jobs")))
    with app.server.test_request_context("/"):
        yield app


@pytest.fixture(scope="module")
def digits(digits_workspace):
    return Analysis(Workspace(digits_workspace.path))


def controls_of(page) -> dict:
    """id -> value (or data) of every control in a rendered page."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                for prop in ("value", "data"):
                    if prop in props:
                        found[props["id"]] = props[prop]
            for value in (props.values() if isinstance(props, dict) else []):
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(json.loads(json.dumps(page.to_plotly_json(), default=lambda o: o.to_plotly_json())))
    return found


def test_every_page_reads_a_full_link_into_its_controls(app_context, digits):
    from layouts import compare, deepvis, evolution, explore, layerlab, unitlab

    assert digits.layers == ["hidden1", "hidden2", "hidden3", "hidden4"] and digits.epochs == [0, 1, 2]
    page = controls_of(explore.layout(ws="0", layer="hidden2", epoch="1", method="pca", color="neuron", neuron="7",
                                      sel="3-5,9"))
    assert [page[i] for i in ("workspace-select", "layer-select", "epoch-select", "projection-select", "color-by",
                              "selected-neuron", "shared-selection")] == [0, "hidden2", 1, "pca", "neuron", 7,
                                                                          [3, 4, 5, 9]]
    page = controls_of(evolution.layout(ws="0", kind="epochs", at="hidden3", method="umap", classes="1,3,x,99",
                                        frame="2", coherence="0.3"))
    assert [page[i] for i in ("evo-ws", "sequence-kind", "sequence-anchor", "evo-method", "class-filter",
                              "frame-slider", "evo-coherence")] == [0, "epochs", "hidden3", "umap", [1, 3], 2, "chain"]
    page = controls_of(compare.layout(ws="0", ws2="0", layer="hidden3", layer2="input", epoch="1", epoch2="2",
                                      method="tsne", color="class"))
    assert [page[i] for i in ("compare-ws", "compare-ws2", "compare-layer", "compare-layer2", "compare-epoch",
                              "compare-epoch2", "compare-method", "compare-color")] == [0, 0, "hidden3", "input", 1, 2,
                                                                                        "tsne", "class"]
    page = controls_of(unitlab.layout(ws="0", layer="hidden3", epoch="2", unit="4", k="5", sel="1-3", n="2"))
    assert [page[i] for i in ("ul-ws", "ul-layer", "ul-epoch", "ul-unit", "ul-k", "ul-rule", "ul-observations",
                              "ul-n")] == [0, "hidden3", 2, 4, 5, "intersection", "1-3", 2]
    assert page["ul-address-keys"] == {"keys": ["ws", "layer", "epoch", "unit", "k", "rule", "sel", "n"],
                                       "quiet": {"rule": "intersection"}}
    page = controls_of(layerlab.layout(ws="0", layer="hidden1", epoch="0", cluster="on", by="class",
                                       threshold="0.2", variance="0.5", image="12"))
    assert [page[i] for i in ("ll-ws", "ll-layer", "ll-epoch", "ll-cluster", "ll-sparsity-by", "ll-threshold",
                              "ll-variance", "ll-image")] == [0, "hidden1", 0, ["on"], "class", 0.2, 0.5, 12]
    page = controls_of(deepvis.layout(ws="0", layer="hidden2", epoch="1", unit="3", obs="17"))
    assert [page[i] for i in ("dv-ws", "dv-layer", "dv-epoch", "dv-unit", "dv-observation")] == \
        [0, "hidden2", 1, 3, 17]


def test_wrong_values_in_a_link_fall_back_to_each_pages_defaults(app_context, digits):
    from layouts import compare, deepvis, evolution, layerlab, unitlab

    bad = {"ws": "5", "layer": "../x", "epoch": "-1", "method": "evil", "kind": "x", "at": "9", "frame": "-3",
           "coherence": "0.3", "color": "<b>", "unit": "x", "k": "0", "n": "a", "rule": "nope", "by": "z",
           "threshold": "-1", "variance": "inf", "image": "300", "obs": "300", "ws2": "[1]", "layer2": "{}",
           "epoch2": "1.5"}
    page = controls_of(evolution.layout(**bad))
    assert [page[i] for i in ("evo-ws", "sequence-kind", "sequence-anchor", "evo-method", "class-filter",
                              "frame-slider", "evo-coherence")] == [0, "layers", 2, "pca", list(range(10)), 0,
                                                                    "chain"]
    page = controls_of(compare.layout(**bad))
    assert [page[i] for i in ("compare-ws", "compare-ws2", "compare-layer", "compare-layer2", "compare-epoch",
                              "compare-epoch2", "compare-method", "compare-color")] == \
        [0, 0, "hidden4", "hidden4", 0, 2, "pca", "change"]
    by_unit = digits.activations("hidden4", 2)
    page = controls_of(unitlab.layout(**bad))
    assert [page[i] for i in ("ul-ws", "ul-layer", "ul-epoch", "ul-unit", "ul-k", "ul-rule", "ul-observations",
                              "ul-n")] == [0, "hidden4", 2, int(by_unit.var(axis=0).argmax()), 9, "max", "0,1,2", 9]
    page = controls_of(layerlab.layout(**bad))
    assert [page[i] for i in ("ll-layer", "ll-epoch", "ll-cluster", "ll-sparsity-by", "ll-threshold", "ll-variance",
                              "ll-image")] == ["hidden4", 2, [], "overall", 0.01, 0.01, 0]
    page = controls_of(deepvis.layout(**bad))
    assert [page[i] for i in ("dv-layer", "dv-epoch", "dv-unit", "dv-observation")] == ["hidden1", 2, 0, 0]


def test_every_page_has_the_one_header_with_its_links(app_context):
    from layouts import compare, deepvis, evolution, explore, layerlab, unitlab

    for module, subtitle in ((explore, "hidden activity of neural networks"),
                             (evolution, "evolution: trails across layers and epochs"),
                             (compare, "compare two snapshots"),
                             (deepvis, "deep visualization: every channel, saliency, weights"),
                             (unitlab, "unit lab: one unit's examples, histogram and preferred input"),
                             (layerlab, "layer lab: similarity, unit removal, sparsity, perturbation, structure")):
        header = module.layout(ws="0").children[[type(c).__name__ for c in module.layout(ws="0").children]
                                                .index("Header")]
        assert header.children[0].children == "nnvis" and header.children[1].children == subtitle
        assert all(link.className == "nav-link" for link in header.children[2:]) and len(header.children) > 2
    header = next(c for c in explore.layout(ws="0").children if type(c).__name__ == "Header")
    assert [(getattr(link, "id", None), link.href) for link in header.children[2:]] == [
        ("evolution-link", "/evolution?ws=0"), ("unit-card-link", "/units?ws=0"),
        ("layer-lab-link", "/layer-lab?ws=0"), ("concepts-link", "/concepts?ws=0"), ("compare-link", "/compare?ws=0"),
        ("deepvis-link", "/deepvis?ws=0")]  # every page, /deepvis and /concepts included
