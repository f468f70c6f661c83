"""The compare page: two snapshots of the same observations side by side (two epochs of one
workspace, or two workspaces), linked hover and selection, the movers and NH per class."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import COMPARE_VIEW
from web.components import (
    PROJECTION_OPTIONS,
    epoch_options,
    job_indicator,
    labelled,
    layer_options,
    nav_link,
    page_header,
)
from web.context import open_analysis, workspace_options

dash.register_page(__name__, path="/compare", title="nnvis: compare")

COLOUR_OPTIONS = [{"label": "change", "value": "change"}, {"label": "true class", "value": "class"}]


def initial_view(workspaces: list[dict], query: dict) -> dict:
    """The view a link names (ws, ws2, layer, layer2, epoch, epoch2, method, color), each value
    checked; by default the first and last epoch of one workspace at its last layer."""
    view = COMPARE_VIEW.read(query)
    return {**{key: view[key] for key in COMPARE_VIEW.keys}, "first": view["analysis"],
            "second": open_analysis(view["ws2"])}


def side_controls(suffix: str, view: dict, analysis, workspaces: list[dict]) -> list:
    """Workspace, layer and epoch of one side (suffix '' for A, '2' for B)."""
    name = "A" if not suffix else "B"
    return [labelled(f"Workspace {name}", dcc.Dropdown(id=f"compare-ws{suffix}", options=workspaces,
                                                       value=view[f"ws{suffix}"], clearable=False), "220px"),
            labelled(f"Layer {name}", dcc.Dropdown(id=f"compare-layer{suffix}", options=layer_options(analysis.layers),
                                                   value=view[f"layer{suffix}"], clearable=False), "150px"),
            labelled(f"Epoch {name}", dcc.Dropdown(id=f"compare-epoch{suffix}", options=epoch_options(analysis.epochs),
                                                   value=view[f"epoch{suffix}"], clearable=False), "150px")]


def layout(**query) -> html.Div:
    """The page for the view in `query`: what a copied link holds, so that it reopens the view."""
    workspaces = workspace_options()
    if not workspaces:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    view = initial_view(workspaces, query)
    graph_config = {"displaylogo": False, "scrollZoom": True}
    return html.Div([
        dcc.Store(id="compare-job"),
        page_header("compare two snapshots", [nav_link("← projection and neurons", f"/?ws={view['ws']}")]),
        html.Div([
            *side_controls("", view, view["first"], workspaces),
            *side_controls("2", view, view["second"], workspaces),
            labelled("Projection", dcc.RadioItems(id="compare-method", options=PROJECTION_OPTIONS, inline=True,
                                                  value=view["method"], className="radio")),
            labelled("Colour by", dcc.RadioItems(id="compare-color", options=COLOUR_OPTIONS, inline=True,
                                                 value=view["color"], className="radio")),
            html.Div([html.Span([dcc.Clipboard(target_id="compare-share", title="copy a link to this view"),
                                 " Copy link"], className="button share-button"),
                      COMPARE_VIEW.holder()], className="control control-end"),
        ], className="controls"),
        html.Div([html.Span(id="compare-status", className="metric"), job_indicator("compare-job")],
                 className="panel-head compare-status"),
        html.Div([
            html.Div(dcc.Loading(dcc.Graph(id="compare-a", className="compare-graph", config=graph_config),
                                 delay_show=400), className="panel"),
            html.Div(dcc.Loading(dcc.Graph(id="compare-b", className="compare-graph", config=graph_config),
                                 delay_show=400), className="panel"),
        ], className="compare-grid"),
        html.Div([
            html.Div([html.H3("Hovered", className="lab-h3"),
                      html.Div("Hover a point in either view: the same observation is ringed in the other.",
                               id="compare-hover", className="card"),
                      html.Div(id="compare-selection", className="muted"),
                      html.H3("NH per class: which classes mixed or separated", className="lab-h3"),
                      dcc.Graph(id="compare-class-nh", config={"displaylogo": False})], className="panel"),
            html.Div([html.H3("Movers: the observations that kept fewest of their 10 nearest neighbours",
                              className="lab-h3"),
                      html.Div(id="compare-movers", className="mover-grid")], className="panel"),
        ], className="compare-lower"),
    ], className="page")
