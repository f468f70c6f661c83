"""The explore page: linked observation projection and neuron map (Rauber et al. 2016)."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import selection_ranking
from nnvis.errors import NNVisError
from web.components import COLOR_BY, controls, detail_panel, neuron_panel, projection_panel
from web.context import open_analysis, workspace_options
from web.view_state import choice, parse_selection, whole_number

dash.register_page(__name__, path="/", title="nnvis")

DEFAULT_STATE = {"ws": 0, "layer": None, "epoch": None, "method": None, "color": "true", "neuron": None, "sel": None}


def initial_state(workspaces: list[dict], query: dict) -> dict:
    """The view to open: query-string values where valid, else the workspace's last layer and epoch."""
    state = {**DEFAULT_STATE, **{k: v for k, v in query.items() if k in DEFAULT_STATE}}
    valid = [option["value"] for option in workspaces]
    state["ws"] = choice(state["ws"], valid, valid[0])
    analysis = open_analysis(state["ws"])
    state["layer"] = choice(state["layer"], ["input"] + analysis.layers, analysis.layers[-1])
    state["epoch"] = choice(state["epoch"], analysis.epochs, analysis.epochs[-1])
    state["method"] = choice(state["method"], ("tsne", "umap", "pca"), analysis.config.projection)
    state["neuron"] = whole_number(state["neuron"]) if state["layer"] != "input" else None
    if state["color"] not in [option["value"] for option in COLOR_BY] or \
            (state["color"] == "neuron" and state["neuron"] is None):
        state["color"] = "true"
    state["sel"] = parse_selection(state["sel"], analysis.config.subset) if state["layer"] != "input" else []
    return {**state, "analysis": analysis}


def shared_ranking(state: dict) -> tuple:
    """The neuron ranking of a link's selection (None, None without one)."""
    if not state["sel"]:
        return None, None
    try:
        return selection_ranking(state["ws"], state["layer"], state["epoch"], state["sel"])
    except NNVisError:
        return None, None


def layout(**query) -> html.Div:
    """The page for the view in `query` (ws, layer, epoch, method, color, neuron, sel): what a
    copied link holds, so that it reopens the same view."""
    workspaces = workspace_options()
    if not workspaces:
        return html.Div([html.H1("nnvis"), html.P("No workspace is ready yet. Create one with "
                                                  "`nnvis run --dataset digits --model mlp --workspace DIR` "
                                                  "and start the server with `nnvis serve --workspace DIR`.")],
                        className="empty")
    state = initial_state(workspaces, query)
    analysis = state.pop("analysis")
    ranking, ranking_list = shared_ranking(state)
    return html.Div([
        dcc.Store(id="selected-neuron", data=state["neuron"]), dcc.Store(id="selection-ranking", data=ranking),
        dcc.Store(id="shared-selection", data=state["sel"]),
        dcc.Store(id="job-request"),
        dcc.Store(id="drawn-grouping"), dcc.Store(id="drawn-revision"),
        html.Header([html.H1("nnvis"), html.Span("hidden activity of neural networks", className="subtitle"),
                     dcc.Link("evolution: trails across layers and epochs →", id="evolution-link",
                              href=f"/evolution?ws={state['ws']}", className="nav-link"),
                     dcc.Link("unit lab →", id="unit-card-link", href=f"/units?ws={state['ws']}", className="nav-link"),
                     dcc.Link("layer lab →", id="layer-lab-link", href=f"/layer-lab?ws={state['ws']}",
                              className="nav-link"),
                     dcc.Link("compare →", href=f"/compare?ws={state['ws']}", className="nav-link")]),
        controls(state, workspaces, analysis.layers, analysis.epochs, analysis.classes),
        html.Div([projection_panel(), html.Div([neuron_panel(analysis.classes, ranking_list), detail_panel()],
                                               className="side")],
                 className="main-grid"),
    ], className="page")
