"""The deep-visualization page (Yosinski et al. 2015): every channel of a layer for one input,
live, with the class probabilities; saliency of a unit and of the predicted class; first-layer
filters and a unit's weighted-sum view.

The address holds the view (?ws=&layer=&epoch=&unit=&obs=), so a link reopens it."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.deepvis_attention import attention_panel
from layouts.deepvis_faithfulness import faithfulness_panel
from layouts.deepvis_figures import MAX_TOP_K, MAX_UNIT, METHOD_CHOICES, METHOD_NAMES, canvas_figure
from layouts.figures import message_figure
from layouts.page_parts import DEEPVIS_VIEW, HOVER_HINT, is_drawable
from nnvis.deepvis.strip import MAX_FILE_BYTES
from web.components import EPOCH_WIDTH, epoch_options, job_indicator, labelled, nav_link, page_header
from web.context import workspace_options

dash.register_page(__name__, path="/deepvis", title="nnvis: deep visualization")

GRAPH_CONFIG = {"displaylogo": False}


def input_panel(analysis, observation: int) -> html.Div:
    """The input: an observation index, an uploaded file, or (grey images) a drawing."""
    shape = tuple(analysis.manifest["image_shape"])
    drawing = []
    if is_drawable(analysis):
        drawing = [html.H3("Or draw", className="dv-h3"),
                   dcc.Graph(id="dv-canvas", className="dv-canvas", figure=canvas_figure(shape[:2]),
                             config={**GRAPH_CONFIG, "displayModeBar": False}),
                   html.Button("Clear drawing", id="dv-clear", className="button button-small")]
    return html.Div([
        html.Div([html.H2("Input", className="panel-title")], className="panel-head"),
        dcc.Graph(id="dv-input-view", className="dv-input-view", config={**GRAPH_CONFIG, "displayModeBar": False}),
        labelled(f"Observation (0–{analysis.config.subset - 1})",
                 dcc.Input(id="dv-observation", type="number", min=0, max=analysis.config.subset - 1, step=1,
                           value=observation, debounce=True, className="number-input", style={"width": "90px"})),
        dcc.Upload(id="dv-upload", className="upload dv-upload", accept="image/png,image/jpeg",
                   max_size=MAX_FILE_BYTES, children=html.Div(["Drop or ", html.A("choose"), " a PNG/JPEG"])),
        *drawing,
        html.Div(id="dv-input-status", className="lab-message"),
    ], className="panel dv-input")


def saliency_panel() -> html.Div:
    """Saliency of the chosen unit and of the predicted class, by the methods chosen."""
    methods = [{"label": label, "value": value} for value, label in
               (("all", "all three"), *((m, METHOD_NAMES[m]) for m in METHOD_CHOICES[1:]))]
    return html.Div([html.Div([html.H2("Saliency", className="panel-title"),
                               dcc.RadioItems(id="dv-method", options=methods, value="all", inline=True,
                                              className="radio"),
                               html.Span(id="dv-saliency-status", className="muted")], className="panel-head"),
                     dcc.Graph(id="dv-saliency", className="dv-saliency", config=GRAPH_CONFIG),
                     faithfulness_panel()], className="panel")  # layouts.deepvis_faithfulness


def weights_panel() -> html.Div:
    """The first-layer filters and the chosen unit's weighted-sum view."""
    return html.Div([html.Div([html.H2("Weights", className="panel-title"),
                               html.Span(id="dv-weights-status", className="muted")], className="panel-head"),
                     dcc.Graph(id="dv-filters", className="dv-filters", config=GRAPH_CONFIG),
                     dcc.Graph(id="dv-wsum", className="dv-wsum", config=GRAPH_CONFIG),
                     html.Div("Each picture is scaled by its own largest |weight|: grey-image models red "
                              "positive, blue negative, white zero; colour models mid-grey zero.", className="muted")],
                    className="panel")


def layout(**query) -> html.Div:
    """The page for the view in the address (ws, layer, epoch, unit, obs)."""
    view = DEEPVIS_VIEW.read(query)
    if view is None:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    ws_number, analysis, epoch, layer = view["ws"], view["analysis"], view["epoch"], view["layer"]
    layers, observation, workspaces = view["grid_layers"], view["obs"], workspace_options()
    return html.Div([
        dcc.Store(id="dv-input", data={"observation": observation}), dcc.Location(id="dv-location", refresh=True),
        dcc.Store(id="dv-request"),  # the parts of the views a job computes (callbacks.deepvis)
        page_header("deep visualization: every channel, saliency, weights",
                    [nav_link("← projection and neurons", f"/?ws={ws_number}")]),
        html.Div([
            labelled("Workspace", dcc.Dropdown(id="dv-ws", options=workspaces, value=ws_number, clearable=False),
                     "240px"),
            labelled("Layer", dcc.Dropdown(id="dv-layer", options=layers, value=layer, clearable=False), "200px"),
            labelled("Epoch", dcc.Dropdown(id="dv-epoch", options=epoch_options(analysis.epochs), value=epoch,
                                           clearable=False), EPOCH_WIDTH),
            labelled("Sort cells by", dcc.RadioItems(id="dv-sort", inline=True, className="radio", value="index",
                                                     options=[{"label": "index", "value": "index"},
                                                              {"label": "mean activation", "value": "mean"}])),
            labelled("Unit", dcc.Input(id="dv-unit", type="number", min=0, max=MAX_UNIT, step=1, debounce=True,
                                       value=view["unit"], className="number-input",
                                       style={"width": "80px"})),
            labelled(f"Top-k (1–{MAX_TOP_K})", dcc.Input(id="dv-topk", type="number", min=1, max=MAX_TOP_K, step=1,
                                                        value=9, debounce=True, className="number-input",
                                                        style={"width": "64px"})),
            html.Span(id="dv-share-url", hidden=True),
        ], className="controls"),
        html.Div([
            input_panel(analysis, observation),
            html.Div([html.Div([html.H2("Layer grid", className="panel-title"),
                                html.Span(id="dv-grid-status", className="metric"), job_indicator("dv-job"),
                                html.Button("Retry", id="dv-retry", className="button button-small",
                                            style={"display": "none"})],  # shown when the job did not answer
                               className="panel-head"),
                      html.Div("Hover a cell to enlarge it over the input; click it to choose that unit.",
                               className="muted"),
                      dcc.Graph(id="dv-grid", className="dv-grid", config=GRAPH_CONFIG)], className="panel"),
            html.Div([html.H2("Enlarged", className="panel-title"),
                      dcc.Graph(id="dv-enlarged", className="dv-enlarged", config=GRAPH_CONFIG,
                                figure=message_figure(HOVER_HINT)),
                      html.Div(id="dv-enlarged-caption", className="muted"),
                      html.H2("Class probabilities", className="panel-title"),
                      dcc.Graph(id="dv-probs", className="dv-probs", config={**GRAPH_CONFIG, "displayModeBar": False})],
                     className="panel dv-side"),
        ], className="dv-top"),
        html.Div([saliency_panel(), weights_panel()], className="dv-bottom"),
        attention_panel(),  # layouts.deepvis_attention: a transformer's attention and rollout
    ], className="page")
