"""The compare page: two snapshots of the same observations side by side (two epochs of one
workspace, or two workspaces), linked hover and selection, the movers and NH per class."""

from __future__ import annotations

import dash
from dash import dcc, html

from web.components import PROJECTION_OPTIONS, epoch_options, job_indicator, labelled, layer_options
from web.context import open_analysis, workspace_options

dash.register_page(__name__, path="/compare", title="nnvis: compare")

COLOUR_OPTIONS = [{"label": "change", "value": "change"}, {"label": "true class", "value": "class"}]


def pick(value, allowed: list, default):
    """`value` (from a link, so a string) when it is one of `allowed`, else `default`."""
    for option in allowed:
        if str(value) == str(option):
            return option
    return default


def initial_view(workspaces: list[dict], query: dict) -> dict:
    """The view a link names (ws, ws2, layer, layer2, epoch, epoch2, method, color), each value
    checked; by default the first and last epoch of one workspace at its last layer."""
    numbers = [option["value"] for option in workspaces]
    ws = pick(query.get("ws"), numbers, numbers[0])
    ws2 = pick(query.get("ws2"), numbers, ws)
    first, second = open_analysis(ws), open_analysis(ws2)
    layer = pick(query.get("layer"), ["input"] + first.layers, first.layers[-1])
    layer2 = pick(query.get("layer2"), ["input"] + second.layers, layer if layer in second.layers
                  else second.layers[-1])
    epoch = pick(query.get("epoch"), first.epochs, first.epochs[0] if ws == ws2 else first.epochs[-1])
    epoch2 = pick(query.get("epoch2"), second.epochs, second.epochs[-1])
    method = pick(query.get("method"), ["tsne", "umap", "pca"], first.config.projection)
    colour = pick(query.get("color"), ["change", "class"], "change")
    return {"ws": ws, "ws2": ws2, "layer": layer, "layer2": layer2, "epoch": epoch, "epoch2": epoch2,
            "method": method, "color": colour, "first": first, "second": second}


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
        html.Header([html.H1("nnvis"), html.Span("compare two snapshots", className="subtitle"),
                     dcc.Link("← projection and neurons", href=f"/?ws={view['ws']}", className="nav-link")]),
        html.Div([
            *side_controls("", view, view["first"], workspaces),
            *side_controls("2", view, view["second"], workspaces),
            labelled("Projection", dcc.RadioItems(id="compare-method", options=PROJECTION_OPTIONS, inline=True,
                                                  value=view["method"], className="radio")),
            labelled("Colour by", dcc.RadioItems(id="compare-color", options=COLOUR_OPTIONS, inline=True,
                                                 value=view["color"], className="radio")),
            html.Div([html.Span([dcc.Clipboard(target_id="compare-share", title="copy a link to this view"),
                                 " Copy link"], className="button share-button"),
                      html.Span(id="compare-share", hidden=True)], className="control control-end"),
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
