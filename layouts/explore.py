"""The explore page: linked observation projection and neuron map (Rauber et al. 2016)."""

from __future__ import annotations

import dash
from dash import dcc, html

from callbacks.context import open_analysis, workspace_options
from layouts.components import controls, detail_panel, neuron_panel, projection_panel

dash.register_page(__name__, path="/", title="nnvis")

DEFAULT_STATE = {"ws": 0, "layer": None, "epoch": None, "method": None, "color": "true"}


def initial_state(workspaces: list[dict], query: dict) -> dict:
    """The view to open: query-string values where valid, else the workspace's last layer and epoch."""
    state = {**DEFAULT_STATE, **{k: v for k, v in query.items() if k in DEFAULT_STATE}}
    valid = [option["value"] for option in workspaces]
    state["ws"] = int(state["ws"]) if str(state["ws"]).isdigit() and int(state["ws"]) in valid else valid[0]
    analysis = open_analysis(state["ws"])
    if state["layer"] not in ["input"] + analysis.layers:
        state["layer"] = analysis.layers[-1]
    state["epoch"] = int(state["epoch"]) if str(state["epoch"]).isdigit() and int(state["epoch"]) in analysis.epochs \
        else analysis.epochs[-1]
    state["method"] = state["method"] if state["method"] in ("tsne", "umap", "pca") else analysis.config.projection
    return {**state, "analysis": analysis}


def layout(**query) -> html.Div:
    """The page for the view in `query` (ws, layer, epoch, method, color)."""
    workspaces = workspace_options()
    if not workspaces:
        return html.Div([html.H1("nnvis"), html.P("No workspace is ready yet. Create one with "
                                                  "`nnvis run --dataset digits --model mlp --workspace DIR` "
                                                  "and start the server with `nnvis serve --workspace DIR`.")],
                        className="empty")
    state = initial_state(workspaces, query)
    analysis = state.pop("analysis")
    return html.Div([
        dcc.Store(id="selected-neuron"), dcc.Store(id="selection-ranking"), dcc.Store(id="job-request"),
        dcc.Store(id="drawn-grouping"), dcc.Store(id="drawn-revision"),
        html.Header([html.H1("nnvis"), html.Span("hidden activity of neural networks", className="subtitle"),
                     dcc.Link("evolution: trails across layers and epochs →", href=f"/evolution?ws={state['ws']}",
                              className="nav-link")]),
        controls(state, workspaces, analysis.layers, analysis.epochs, analysis.classes),
        html.Div([projection_panel(), html.Div([neuron_panel(analysis.classes), detail_panel()], className="side")],
                 className="main-grid"),
    ], className="page")
