"""The evolution page: trails across layers or epochs, the frame player and NH curves."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import EVOLUTION_VIEW, class_options, coherence_options
from layouts.pointview import trail_point_view
from web.components import (
    COHERENCE_CAPTION,
    NH_CAPTION,
    PROJECTION_OPTIONS,
    anchor_options,
    caption,
    job_indicator,
    labelled,
    nav_link,
    page_header,
)
from web.context import workspace_options

dash.register_page(__name__, path="/evolution", title="nnvis: evolution")


def layout(**query) -> html.Div:
    """The page for the view in the address (ws, kind, at, method, classes, frame, coherence); by
    default the paper's first sequence: the hidden layers after training."""
    view = EVOLUTION_VIEW.read(query)
    if view is None:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    number, analysis, kind, method = view["ws"], view["analysis"], view["kind"], view["method"]
    workspaces = workspace_options()
    return html.Div([
        dcc.Store(id="evo-job"), dcc.Store(id="trail-selection"), dcc.Location(id="evo-location", refresh=True),
        EVOLUTION_VIEW.holder(),
        page_header("evolution: trails across layers and epochs", [nav_link("← projection and neurons",
                                                                            f"/?ws={number}")]),
        html.Div([
            labelled("Workspace", dcc.Dropdown(id="evo-ws", options=workspaces, value=number, clearable=False),
                     "240px"),
            labelled("Sequence", dcc.RadioItems(id="sequence-kind", inline=True, className="radio", value=kind,
                                                options=[{"label": "across layers", "value": "layers"},
                                                         {"label": "across epochs", "value": "epochs"}])),
            labelled("At", dcc.Dropdown(id="sequence-anchor", options=anchor_options(analysis, kind), value=view["at"],
                                        clearable=False), "160px"),
            labelled("Projection", dcc.RadioItems(id="evo-method", options=PROJECTION_OPTIONS, inline=True,
                                                  className="radio",
                                                  value=method)),
            html.Div(labelled("Coherence", dcc.RadioItems(id="evo-coherence", options=coherence_options(method),
                                                          inline=True, className="radio", value=view["coherence"])),
                     title=COHERENCE_CAPTION),
            labelled("Classes", dcc.Checklist(id="class-filter", options=class_options(analysis.classes), inline=True,
                                              className="radio", value=view["classes"])),
        ], className="controls"),
        caption(COHERENCE_CAPTION, "coherence-caption"),
        html.Div([
            html.Div([html.Div([html.H2("Trails", className="panel-title"), job_indicator("evo-job")],
                               className="panel-head"),
                      # the status on its own line: the job's progress (at the head's right) never covers it
                      html.Div(id="evo-status", className="metric"),
                      dcc.Loading(dcc.Graph(id="trails-graph", className="graph-main",
                                            config={"displaylogo": False, "scrollZoom": True}), delay_show=400),
                      trail_point_view()],
                     className="panel panel-main"),
            html.Div([
                html.Div([html.Div([html.H2("Player", className="panel-title"),
                                    html.Button("▶ play", id="play-button", className="button")],
                                   className="panel-head"),
                          dcc.Graph(id="frame-graph", className="graph-side", animate=True,
                                    config={"displaylogo": False}),
                          dcc.Slider(id="frame-slider", min=0, max=1, step=1, value=view["frame"], marks=None),
                          html.Div("Lasso points here to keep only their trails.", className="muted"),
                          dcc.Interval(id="player-interval", interval=1200, disabled=True)], className="panel"),
                html.Div([html.H3("Hovered trail"), html.Div("Hover a trail's end point to see its image.",
                                                             id="trails-hover", className="card")], className="detail"),
                html.Div([html.H2("Neighborhood hit", className="panel-title"), caption(NH_CAPTION),
                          dcc.Graph(id="nh-curves", config={"displaylogo": False})], className="panel"),
                stability_panel(),
            ], className="side"),
        ], className="main-grid"),
    ], className="page")


def stability_panel() -> html.Div:
    """The sequence's stability (per frame and per step) and the coherence trade-off."""
    return html.Div([
        html.H2("Stability", className="panel-title"),
        html.Div("Temporal preservation: does a point move in the picture as much as its neighbours change in "
                 "activation space (Spearman, 1 = always)? Tying frames raises it; NH and trustworthiness say what "
                 "the frames give up against independent projections.", className="muted"),
        dcc.Graph(id="stability-curves", config={"displaylogo": False}),
        html.H3("Coherence trade-off (settings computed so far; choose another to add it)"),
        dcc.Graph(id="coherence-tradeoff", config={"displaylogo": False}),
    ], className="panel")
