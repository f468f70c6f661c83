"""The concept atlas page: a layer's concepts at an epoch (nnvis.concepts) as a grid of exemplar
crops; a click on a concept colours the observation projection by its strength and shows its
importance per class; a class ranks its concepts; another epoch follows the matched concept.

The address holds the view (?ws=&layer=&epoch=&k=)."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.concept_figures import DEFAULT_K
from layouts.figures import message_figure
from web.components import caption, epoch_options, job_indicator, labelled, nav_link, page_header
from web.context import open_analysis, workspace_options
from web.view_state import view_query

dash.register_page(__name__, path="/concepts", title="nnvis: concepts")

GRAPH_CONFIG = {"displaylogo": False}
CONCEPTS_CAPTION = ("A concept: a direction in the layer's activation space that recurs over many images, found by "
                    "non-negative matrix factorisation of the activations at every spatial position (CRAFT, Fel et "
                    "al. 2023). Share: the part of the layer's reconstructed activation it makes. Importance for a "
                    "class: how much the class's logit drops when the concept is removed from the layer and the "
                    "rest of the network runs on (causal, not a correlation). Another epoch shows the concept "
                    "matched to it by its strengths over the same images (Hungarian assignment). Hover an "
                    "exemplar's crop to see the concept's heat-map over its whole image.")


def whole(raw, default: int | None) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else default


def read_view(query: dict) -> dict | None:
    """The view of the address, each part checked against the workspace (a bad part: its default)."""
    choices = workspace_options()
    if not choices:
        return None
    numbers = [option["value"] for option in choices]
    ws = whole(query.get("ws"), numbers[0])
    ws = ws if ws in numbers else numbers[0]
    analysis = open_analysis(ws)
    layer = query.get("layer") if query.get("layer") in analysis.layers else analysis.layers[0]
    epoch = whole(query.get("epoch"), analysis.epochs[-1])
    return {"ws": ws, "analysis": analysis, "choices": choices, "layer": layer,
            "epoch": epoch if epoch in analysis.epochs else analysis.epochs[-1], "k": whole(query.get("k"), DEFAULT_K)}


def layout(**query) -> html.Div:
    view = read_view(query)
    if view is None:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    analysis, number, layer, epoch = view["analysis"], view["ws"], view["layer"], view["epoch"]
    controls = html.Div([
        labelled("Workspace", dcc.Dropdown(id="cc-ws", options=view["choices"], value=number, clearable=False),
                 "280px"),
        labelled("Layer", dcc.Dropdown(id="cc-layer", options=analysis.layers, value=layer, clearable=False),
                 "200px"),
        labelled("Epoch", dcc.Dropdown(id="cc-epoch", options=epoch_options(analysis.epochs), value=epoch,
                                       clearable=False), "200px"),
        labelled("Concepts (K)", dcc.Input(id="cc-k", type="number", value=view["k"], min=1, step=1, debounce=True,
                                           style={"width": "80px"})),
        labelled("Rank the concepts of class", dcc.Dropdown(id="cc-class", options=[
            {"label": name, "value": i} for i, name in enumerate(analysis.classes)], value=None), "200px"),
        html.Div(job_indicator("cc"), style={"position": "relative", "minWidth": "380px"}),
    ], className="controls")
    return html.Div([
        dcc.Store(id="cc-request"), dcc.Store(id="cc-selected"), dcc.Store(id="cc-done"),
        page_header("concepts: what a layer has learned, and when", [
            nav_link("← projection and neurons", "/" + view_query(number, layer, epoch), "cc-explore-link"),
            nav_link("unit lab →", "/units" + view_query(number, layer, epoch), "cc-unitlab-link")]),
        controls,
        caption(CONCEPTS_CAPTION, "cc-caption"),
        html.Div(id="cc-status", className="status-line"),
        html.Div(id="cc-grid", className="concept-grid", style={"display": "flex", "flexWrap": "wrap", "gap": "8px"}),
        html.Div([
            html.Div([html.H2("Observations coloured by the concept's strength", className="panel-title"),
                      dcc.Graph(id="cc-projection", figure=message_figure("Click a concept."), config=GRAPH_CONFIG)],
                     className="panel"),
            html.Div([html.H2("Importance per class", className="panel-title"),
                      html.Div(id="cc-selected-caption", className="muted"),
                      dcc.Graph(id="cc-importance", figure=message_figure("Click a concept."), config=GRAPH_CONFIG),
                      html.Div(id="cc-ranking", className="ranking")], className="panel"),
        ], className="lab-grid", style={"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "12px"}),
    ], className="page")
