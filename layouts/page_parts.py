"""What a page draws on its first render and its callbacks redraw later, in one place below
both: which control holds each part of a page's address, the controls' choices, and panels
built from the workspace."""

from __future__ import annotations

import numpy as np
from dash import html
from torch import nn

from nnvis.models.feature_maps import map_layers
from nnvis.models.layers import list_layers
from nnvis.projection.linking import rank_neurons
from nnvis.projection.trails import COHERENCE, attraction_of, check_coherence
from web.context import open_analysis

# each page's address: query key -> (control id, property); a link reopens the view
EVOLUTION_ADDRESS = {"ws": ("evo-ws", "value"), "kind": ("sequence-kind", "value"), "at": ("sequence-anchor", "value"),
           "method": ("evo-method", "value"), "classes": ("class-filter", "value"), "frame": ("frame-slider", "value"),
           "coherence": ("evo-coherence", "value")}
LAYER_LAB_ADDRESS = {"ws": ("ll-ws", "value"), "layer": ("ll-layer", "value"), "epoch": ("ll-epoch", "value"),
           "cluster": ("ll-cluster", "value"), "by": ("ll-sparsity-by", "value"),
           "threshold": ("ll-threshold", "value"), "variance": ("ll-variance", "value"), "image": ("ll-image", "value")}
UNIT_LAB_ADDRESS = {"ws": ("ul-ws", "value"), "layer": ("ul-layer", "value"), "epoch": ("ul-epoch", "value"),
           "unit": ("ul-unit", "value"), "k": ("ul-k", "value"), "rule": ("ul-rule", "value"),
           "sel": ("ul-observations", "value"), "n": ("ul-n", "value")}

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


def coherence_options(method: str) -> list[dict]:
    """The coherence control's choices: independent, chained, and for t-SNE the attractions."""
    tied = [{"label": attraction_label(a), "value": a, "disabled": method != "tsne"} for a in ATTRACTIONS]
    return [{"label": "independent", "value": "independent"}, {"label": "chained", "value": "chain"}] + tied


def selection_ranking(ws, layer: str, epoch: int, indices: list[int]):
    """(ranking data, list component) of the neurons responding most to the selected observations."""
    acts = open_analysis(ws).activations(layer, epoch)
    order, scores = rank_neurons(acts, np.unique(indices), top=10)
    selected = np.zeros(len(acts), bool)
    selected[np.unique(indices)] = True
    rows = [html.Li(f"neuron {n}: {s:+.2f} σ (mean {acts[selected, n].astype(float).mean():.3f} vs "
                    f"{acts[~selected, n].astype(float).mean():.3f})") for n, s in zip(order, scores)]
    data = {"layer": layer, "epoch": epoch, "neurons": order.tolist(), "scores": np.round(scores, 4).tolist()}
    return data, [html.Div(f"Top neurons for {int(selected.sum())} selected observations", className="muted"),
                  html.Ol(rows)]
