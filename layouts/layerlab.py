"""The layer lab: Shang et al.'s analyses of one layer (class cosine similarity, low-activation
unit removal, sparsity, input perturbation) and the structure strip of one image."""

from __future__ import annotations

import dash
from dash import dcc, html

from layouts.page_parts import LAYER_LAB_VIEW
from layouts.unit_figures import LAYER_JOBS, number_input, view_controls
from nnvis.deepvis.strip import MAX_FILE_BYTES
from web.components import ALPHA_CAPTION, caption, job_indicator, labelled, nav_link, page_header
from web.view_state import view_query

dash.register_page(__name__, path="/layer-lab", title="nnvis: layer lab")

GRAPH_CONFIG = {"displaylogo": False}


def panel(title: str, head: list, body: list, class_name: str = "panel") -> html.Div:
    return html.Div([html.Div([html.H2(title, className="panel-title"), *head], className="panel-head"), *body],
                    className=class_name)


def radio(element_id: str, options: list[tuple[str, str]], value: str) -> dcc.RadioItems:
    return dcc.RadioItems(id=element_id, options=[{"label": label, "value": v} for label, v in options], value=value,
                          inline=True, className="radio")


def analysis_panels(view: dict) -> list:
    """The four analyses, their controls set from `view` (cluster, by, threshold, variance)."""
    return [
        panel("Class cosine similarity", [dcc.Checklist(id="ll-cluster", options=[{"label": " clustered order",
                                                                                    "value": "on"}],
                                                         value=view["cluster"],
                                                         className="radio")],
              [dcc.Graph(id="ll-cosine", className="graph-square", config=GRAPH_CONFIG)]),
        panel("Low-activation unit removal", [job_indicator("ll-ablation")], [
            html.Div([labelled("Mode", radio("ll-ablation-mode", [("per image", "per-image"), ("global", "global")],
                                             "per-image")),
                      labelled("Images", radio("ll-ablation-on", [("subset", "subset"), ("test split", "test")],
                                               "subset")),
                      html.Button("Run sweep", id="ll-ablation-run", className="button")], className="controls-inline"),
            html.Div(id="ll-ablation-status", className="status-line"),
            dcc.Graph(id="ll-ablation", className="graph-lab", config=GRAPH_CONFIG)]),
        panel("Sparsity", [radio("ll-sparsity-by", [("overall", "overall"), ("per class", "class")],
                                 view["by"]),
                           labelled("Near-zero threshold",
                                    number_input("ll-threshold", view["threshold"], "any"))],
              [caption(ALPHA_CAPTION), dcc.Graph(id="ll-sparsity", className="graph-lab", config=GRAPH_CONFIG)]),
        panel("Input perturbation", [labelled("Noise variance", number_input("ll-variance",
                                                                             view["variance"], "any"))],
              [html.Div("Gaussian noise added to the subset's images; how much each captured layer's activations "
                        "keep their direction.", className="muted"),
               dcc.Graph(id="ll-perturbation", className="graph-lab", config=GRAPH_CONFIG)]),
    ]


def views_job() -> html.Div:
    """The indicator of the job computing the views not stored yet, at the right of the controls."""
    return html.Div(job_indicator("ll-views"), style={"position": "relative", "marginLeft": "auto",
                                                       "minWidth": "420px", "alignSelf": "stretch"})


def strip_panel(image: int) -> html.Div:
    upload = dcc.Upload(id="ll-upload", children=html.Span(["drop a PNG or JPEG here, or ", html.U("choose a file")]),
                        accept="image/png,image/jpeg", multiple=False, className="upload")
    return panel("Structure strip", [html.Span("top 9 feature maps per layer, shallow → deep; click a map to enlarge "
                                               "it over the input", className="muted"), job_indicator("ll-strip")], [
        html.Div([labelled("Subset image", number_input("ll-image", image, 1)),
                  labelled(f"or upload (≤ {MAX_FILE_BYTES // 2**20} MB)", upload),
                  labelled("From layer", number_input("ll-start", None, 1)),
                  labelled("To layer", number_input("ll-stop", None, 1)),
                  labelled("Step", number_input("ll-step", None, 1, 1))], className="controls-inline"),
        html.Div(id="ll-strip-message", className="lab-message"),
        html.Div([html.Div([html.Div(id="ll-strip-input", className="strip-input"),
                            html.Div("Click a map to see it over the input.", id="ll-strip-enlarged",
                                     className="strip-enlarged")], className="strip-side"),
                  html.Div(id="ll-strip-grid", className="strip-grid")], className="strip-body"),
    ], "panel strip-panel")


def layout(**query) -> html.Div:
    """The page for the view in the address (ws, layer, epoch, cluster, by, threshold, variance, image)."""
    view = LAYER_LAB_VIEW.read(query)
    if view is None:
        return html.Div("No workspace is ready yet; create one with `nnvis run`.", className="empty")
    number, analysis, layer, epoch = view["ws"], view["analysis"], view["layer"], view["epoch"]
    return html.Div([
        dcc.Store(id="ll-ablation-request"), dcc.Store(id="ll-strip-source", data={"observation": view["image"]}),
        dcc.Store(id="ll-strip-request"),
        *[dcc.Store(id=f"ll-{job}-request") for job in LAYER_JOBS],
        dcc.Store(id="ll-views-request"),
        LAYER_LAB_VIEW.holder(),
        page_header("layer lab: similarity, unit removal, sparsity, perturbation, structure", [
            nav_link("← projection and neurons", "/" + view_query(number, layer, epoch), "ll-explore-link"),
            nav_link("unit lab →", "/units" + view_query(number, layer, epoch), "ll-unitlab-link")]),
        view_controls("ll", analysis, number, layer, epoch, [views_job()]),
        html.Div(analysis_panels(view), className="lab-grid lab-grid-2x2"),
        strip_panel(view["image"]),
    ], className="page")
