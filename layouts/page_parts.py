"""What a page draws on its first render and its callbacks redraw later, in one place below
both: which control holds each part of a page's address, the controls' choices, and panels
built from the workspace."""

from __future__ import annotations

import hashlib

import numpy as np
from dash import html
from torch import nn

from layouts.patch_view import COLOURS as TOKEN_COLOURS
from layouts.patch_view import IMAGES, PATCHES
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import map_layers
from nnvis.models.layers import list_layers
from nnvis.projection.selection import rank_selection
from nnvis.projection.trails import COHERENCE, attraction_of, check_coherence
from nnvis.unitlab import lab as unitlab
from web.components import COLOR_BY
from web.context import open_analysis
from web.moments import layer_moments
from web.view_state import (
    Key,
    ViewState,
    choice,
    decimal,
    epoch_number,
    layer_name,
    one_of,
    parse_selection,
    whole_number,
    workspace_number,
)

METHODS = ("tsne", "umap", "pca")
RULES = ("max", "intersection", "difference")


def with_input_layer(raw, view: dict) -> str:
    return layer_name(raw, view, with_input=True)


def projection_method(raw, view: dict) -> str:
    return choice(raw, METHODS, view["analysis"].config.projection)


# each page's address, declared once: query key -> the control holding it and how a link's value is read
def sequence_anchor(raw, view: dict):
    """An epoch for a sequence across layers, a layer for one across epochs."""
    analysis = view["analysis"]
    return epoch_number(raw, view) if view["kind"] == "layers" else choice(raw, analysis.layers, analysis.layers[-1])


def class_options(classes: list[str]) -> list[dict]:
    """The class filter's ticks: one per class name, valued by its index."""
    return [{"label": f" {name}", "value": i} for i, name in enumerate(classes)]


def class_list(raw, view: dict) -> list[int]:
    """The ticked classes of a link ("1,3"), every class without one."""
    every = range(len(view["analysis"].classes))
    return list(every) if raw is None else sorted({int(c) for c in str(raw).split(",") if c.isdigit()} & set(every))


def sequence_coherence(raw, view: dict) -> str:
    return coherence_for(view["method"], raw if raw in [o["value"] for o in coherence_options(view["method"])]
                         else None)


EVOLUTION_VIEW = ViewState("evo", {
    "ws": Key("evo-ws", workspace_number), "kind": Key("sequence-kind", one_of(("layers", "epochs"), "layers")),
    "at": Key("sequence-anchor", sequence_anchor), "method": Key("evo-method", projection_method),
    "classes": Key("class-filter", class_list), "frame": Key("frame-slider", lambda raw, _: whole_number(raw, 0)),
    "coherence": Key("evo-coherence", sequence_coherence)})

LAYER_LAB_VIEW = ViewState("ll", {
    "ws": Key("ll-ws", workspace_number), "layer": Key("ll-layer", layer_name), "epoch": Key("ll-epoch", epoch_number),
    "cluster": Key("ll-cluster", lambda raw, _: ["on"] if raw == "on" else []),
    "by": Key("ll-sparsity-by", one_of(("overall", "class"), "overall")),
    "threshold": Key("ll-threshold", lambda raw, _: decimal(raw, 0.01)),
    "variance": Key("ll-variance", lambda raw, _: decimal(raw, 0.01)),
    "image": Key("ll-image", one_of(lambda view: range(view["analysis"].config.subset), 0))})


def livest_unit(raw, view: dict) -> int:
    """The link's unit, else the unit whose activation varies most over the subset (a live one);
    unit 0 when the activations are not there to say (the card then says why)."""
    if str(raw).isdigit():
        return int(raw)
    try:
        return int(unitlab.activations(view["analysis"], view["layer"], view["epoch"]).var(axis=0).argmax())
    except NNVisError:
        return 0


def rule_for(raw, view: dict) -> str:
    """The link's rule, else intersection for a link naming several observations, max otherwise."""
    sel = view["query"].get("sel")
    return choice(raw, RULES, "intersection" if sel and ("," in sel or "-" in sel) else "max")


UNIT_LAB_VIEW = ViewState("ul", {
    "ws": Key("ul-ws", workspace_number), "layer": Key("ul-layer", layer_name), "epoch": Key("ul-epoch", epoch_number),
    "unit": Key("ul-unit", livest_unit), "k": Key("ul-k", lambda raw, _: whole_number(raw, 9, low=1)),
    "rule": Key("ul-rule", rule_for), "sel": Key("ul-observations", lambda raw, _: str(raw or "") or "0,1,2"),
    "n": Key("ul-n", lambda raw, _: whole_number(raw, 9, low=1))})


def neuron_of(raw, view: dict) -> int | None:
    return whole_number(raw) if view["layer"] != "input" else None


def colour_of(raw, view: dict) -> str:
    """The link's colouring; by neuron only with a neuron named."""
    colour = choice(raw, [option["value"] for option in COLOR_BY], "true")
    return "true" if colour == "neuron" and view["neuron"] is None else colour


EXPLORE_VIEW = ViewState("explore", {  # written by the page's own share script (with the lasso's selection)
    "ws": Key("workspace-select", workspace_number), "layer": Key("layer-select", with_input_layer),
    "epoch": Key("epoch-select", epoch_number), "method": Key("projection-select", projection_method),
    "neuron": Key("selected-neuron", neuron_of, "data"), "color": Key("color-by", colour_of),
    "sel": Key("shared-selection", lambda raw, view: parse_selection(raw, view["analysis"].config.subset)
               if view["layer"] != "input" else [], "data"),
    "obs": Key("patch-observations", one_of((IMAGES, PATCHES), IMAGES)),  # a token layer's patch tokens
    "tokens": Key("patch-colour", one_of(tuple(TOKEN_COLOURS), "class"))})


def second_layer(raw, view: dict) -> str:
    second = open_analysis(view["ws2"])
    fallback = view["layer"] if view["layer"] in second.layers else second.layers[-1]
    return choice(raw, ["input"] + second.layers, fallback)


COMPARE_VIEW = ViewState("compare", {
    "ws": Key("compare-ws", workspace_number),
    "ws2": Key("compare-ws2", lambda raw, view: choice(raw, view["workspaces"], view["ws"])),
    "layer": Key("compare-layer", with_input_layer), "layer2": Key("compare-layer2", second_layer),
    "epoch": Key("compare-epoch", lambda raw, view: choice(raw, view["analysis"].epochs, view["analysis"].epochs[
        0 if view["ws"] == view["ws2"] else -1])),
    "epoch2": Key("compare-epoch2", lambda raw, view: epoch_number(raw, {"analysis": open_analysis(view["ws2"])})),
    "method": Key("compare-method", projection_method),
    "color": Key("compare-color", one_of(("change", "class"), "change"))},
    address_id="compare-share", follows=("ws", "layer", "epoch", "ws2", "layer2", "epoch2", "method", "color"))


def deepvis_layer(raw, view: dict) -> str:
    """A layer the grid can show (kept in the view as `grid_layers`), else the first captured one."""
    analysis = view["analysis"]
    layers = view["grid_layers"] = grid_layers(analysis, analysis.model(view["epoch"]))
    return raw if raw in layers else (analysis.layers[0] if analysis.layers[0] in layers else layers[0])


DEEPVIS_VIEW = ViewState("dv", {  # written by the page's own script (the observation is in the input store)
    "ws": Key("dv-ws", workspace_number), "epoch": Key("dv-epoch", epoch_number), "layer": Key("dv-layer",
                                                                                             deepvis_layer),
    "unit": Key("dv-unit", lambda raw, _: whole_number(raw, 0)),
    "obs": Key("dv-observation", one_of(lambda view: range(view["analysis"].config.subset), 0))})

HOVER_HINT = "Hover a cell of the grid."
ATTRACTIONS = ("0.3", "0.9", "damped-0.3", "damped-0.5", "damped-0.9")  # the attractions offered on the page (t-SNE)


def grid_layers(analysis, model) -> list[str]:
    """Layers the grid can show, in module order: those with feature maps, the Linear layers
    and the workspace's captured layers."""
    maps = set(map_layers(model, tuple(analysis.manifest["image_shape"])))
    modules = dict(model.module.named_modules())
    return [name for name in list_layers(model.module)
            if name in maps or name in analysis.layers or isinstance(modules[name], nn.Linear)]


def is_drawable(analysis) -> bool:
    """Grey images (MNIST-like) get a drawing canvas."""
    return len(analysis.manifest["image_shape"]) == 2


def coherence_for(method: str, coherence: str | None) -> str:
    """The page's coherence choice for `method`: an attraction only ties t-SNE frames; UMAP and
    PCA frames fall back to their default (chained) while the control catches up."""
    if coherence not in (None, "") and method != "tsne" and coherence not in COHERENCE:
        coherence = None
    return check_coherence(coherence, method)


def attraction_label(setting: str) -> str:
    """'tied λ 0.9' for "0.9", 'damped λ 0.9' for "damped-0.9" (see nnvis.projection.trails)."""
    strength, damped = attraction_of(setting)
    return f"{'damped' if damped else 'tied'} λ {strength:g}"


def coherence_label(setting: str) -> str:
    """A coherence setting as the page names it: 'independent', 'chained', 'tied λ 0.9', 'damped λ 0.5'."""
    return {"independent": "independent", "chain": "chained"}.get(setting) or attraction_label(setting)


def coherence_options(method: str) -> list[dict]:
    """The coherence control's choices: independent, chained, and for t-SNE the attractions."""
    tied = [{"label": coherence_label(a), "value": a, "disabled": method != "tsne"} for a in ATTRACTIONS]
    return [{"label": coherence_label(setting), "value": setting} for setting in COHERENCE] + tied


def selection_digest(indices) -> str:
    """A short name of a set of observations (order and repeats ignored): a ranking made for it
    says which selection it ranks, so that the same selection is not ranked twice."""
    chosen = np.unique(np.asarray(list(indices), dtype=np.int64))
    return hashlib.sha256(chosen.tobytes()).hexdigest()[:16]


def selection_ranking(ws, layer: str, epoch: int, indices: list[int]):
    """(ranking data, list component) of the neurons responding most to the selected observations
    (`rank_selection`'s score, as `rank_neurons` scores them), read from the selected rows of the
    memory-mapped layer and its kept moments (`web.moments`): never the whole layer in memory."""
    analysis = open_analysis(ws)
    chosen = np.unique(np.asarray(indices, dtype=np.int64))
    ranked = rank_selection(analysis.mapped_activations(layer, epoch), chosen, layer_moments(analysis, layer, epoch))
    rows = [html.Li(f"neuron {n}: {s:+.2f} σ (mean {a:.3f} vs {b:.3f})")
            for n, s, a, b in zip(ranked["neurons"], ranked["scores"], ranked["selected_mean"], ranked["rest_mean"])]
    data = {"layer": layer, "epoch": epoch, "neurons": ranked["neurons"].tolist(),
            "scores": np.round(ranked["scores"], 4).tolist(), "selection": selection_digest(chosen)}
    return data, [html.Div(f"Top neurons for {len(chosen)} selected observations", className="muted"),
                  html.Ol(rows)]
