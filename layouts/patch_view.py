"""The explore page's patch-token view (issue 25, --tokens patches): for a token layer, a choice
of what the observations are (the images, or each patch token), the projection of a seeded
sample of at most 20,000 patch tokens coloured by its image's class or its cell on the patch
grid, and on hover the image with that patch outlined. Pure functions: arrays in, components out."""

from __future__ import annotations

import numpy as np
from dash import dcc, html

from layouts.figures import NEURON_SCALE, base_layout, class_colours, marker_size
from web.components import caption, job_indicator, labelled

IMAGES, PATCHES = "images", "patches"
COLOURS = {"class": "the image's class", "row": "grid row", "column": "grid column"}
HOVER = "image %{customdata[1]} · patch row %{customdata[2]}, column %{customdata[3]}<extra>%{fullData.name}</extra>"
OUTLINE_COLOUR = "#ffd400"


def patch_controls(observations: str = IMAGES, colour: str = "class") -> html.Div:
    """The choice of observations and of the tokens' colouring (as the link names them); hidden
    until a token layer is shown."""
    return html.Div([
        labelled("Observations", dcc.RadioItems(
            id="patch-observations", value=observations, inline=True, className="radio",
            options=[{"label": " images", "value": IMAGES}, {"label": " patch tokens", "value": PATCHES}])),
        labelled("Colour tokens by", dcc.RadioItems(
            id="patch-colour", value=colour, inline=True, className="radio",
            options=[{"label": f" {name}", "value": value} for value, name in COLOURS.items()])),
    ], id="patch-controls", className="controls", style={"display": "none"})


def patch_panel() -> html.Div:
    """The patch tokens' projection and the hovered token's image; hidden until patch tokens are chosen."""
    return html.Div([
        dcc.Store(id="patch-job"),
        html.Div([html.H2("Patch tokens", className="panel-title"), html.Span(id="patch-status", className="metric"),
                  job_indicator("patch-job")], className="panel-head"),
        caption("Each point is one patch token of the layer (a seeded sample of at most 20,000 over the subset's "
                "images; prefix tokens such as the class token are never among them). Hover a point to see its "
                "image with the patch outlined.", "patch-caption"),
        html.Div([
            dcc.Loading(dcc.Graph(id="patch-projection", className="graph-main",
                                  config={"displaylogo": False, "scrollZoom": True}),
                        type="circle", delay_show=400),
            html.Div(id="patch-hover", className="patch-hover"),
        ], style={"display": "grid", "gridTemplateColumns": "minmax(0, 1fr) 220px", "gap": "12px"}),
    ], id="patch-panel", className="panel", style={"display": "none"})


def patch_figure(points: np.ndarray, image: np.ndarray, labels: np.ndarray, row: np.ndarray, column: np.ndarray,
                 classes: list[str], colour: str, uirevision: str) -> dict:
    """The tokens' projection: one trace per class (`colour` "class"), or one trace coloured by
    the token's grid `row` or `column`. customdata: (token, image, row, column), as plain lists
    (Dash reads an event's customdata from the un-decoded trace data). A figure dict, built
    unvalidated: plotly's validation of 20,000 customdata rows alone takes longer than a request may."""
    data = np.column_stack([np.arange(len(points)), image, row, column]).astype(np.int64)
    xy = np.round(np.asarray(points, dtype=np.float64), 5)
    size = marker_size(len(points))

    def trace(here: np.ndarray, name: str, marker: dict) -> dict:
        return {"type": "scattergl", "mode": "markers", "name": name, "x": xy[here, 0].tolist(),
                "y": xy[here, 1].tolist(), "customdata": data[here].tolist(), "hovertemplate": HOVER,
                "marker": {"size": size, "opacity": 0.8, **marker}}
    if colour == "class":
        hues = class_colours(len(classes))
        traces = [trace(labels == code, name, {"color": hues[code]}) for code, name in enumerate(classes)
                  if (labels == code).any()]
    else:
        values = row if colour == "row" else column
        traces = [trace(np.ones(len(points), bool), COLOURS[colour],
                        {"color": values.tolist(), "colorscale": NEURON_SCALE,
                         "colorbar": {"title": {"text": COLOURS[colour]}, "thickness": 12}})]
    return {"data": traces, "layout": base_layout(uirevision=uirevision, showlegend=colour == "class")}


def outlined_image(src: str, box: tuple[float, float, float, float], title: str) -> html.Div:
    """The image at `src` with a rectangle over `box` (left, top, width, height as fractions)."""
    left, top, width, height = (f"{100 * value:.4f}%" for value in box)
    return html.Div([
        html.Div([
            html.Img(src=src, alt=title, style={"width": "100%", "display": "block", "imageRendering": "pixelated"}),
            html.Div(className="patch-outline", style={
                "position": "absolute", "left": left, "top": top, "width": width, "height": height,
                "boxSizing": "border-box", "border": f"3px solid {OUTLINE_COLOUR}",
                "boxShadow": "0 0 0 1px #000, inset 0 0 0 1px #000"}),
        ], className="patch-image", style={"position": "relative", "width": "192px"}),
        html.P(title, className="muted"),
    ])
