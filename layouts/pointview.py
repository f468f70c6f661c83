"""The explore page's WebGL point view (nnvis_components.PointView, regl-scatterplot): where the
projection has more than `Settings.points_above` observations it takes the Plotly graph's place
(callbacks/pointview.py shows one of the two), with its own legend."""

from __future__ import annotations

import numpy as np
from dash import dcc, html
from plotly.colors import sample_colorscale, unlabel_rgb

from layouts.figures import NEURON_SCALE
from nnvis_components import PointView

HIDDEN = {"display": "none"}
SHOWN = {"position": "relative"}
NEURON_PALETTE = ["#%02x%02x%02x" % tuple(round(c) for c in unlabel_rgb(colour))  # hex: what the point view reads
                  for colour in sample_colorscale(NEURON_SCALE, list(np.linspace(0, 1, 64)), colortype="rgb")]
HINT = "hover: image · click: pin · shift + drag: lasso (neurons ranked) · double click: clear · wheel: zoom"


def with_point_view(panel: html.Div) -> html.Div:
    """The explore page's projection panel with the point view after its graph (hidden until a
    large projection is shown) and the store of what the point view holds (`points-drawn`)."""
    panel.children.extend([
        html.Div([PointView(id="obs-points", performanceMode=True, pointSize=2,
                            style={"width": "100%", "height": "100%"}),
                  html.Div(id="points-legend", className="points-legend",
                           style={"position": "absolute", "top": "6px", "right": "8px", "fontSize": "12px",
                                  "background": "rgba(255,255,255,0.85)", "padding": "4px 8px",
                                  "pointerEvents": "none"})],
                 id="obs-points-box", className="graph-main", style=HIDDEN),
        dcc.Store(id="points-drawn")])
    return panel


def swatch(colour: str, text: str) -> html.Div:
    return html.Div([html.Span(style={"display": "inline-block", "width": "10px", "height": "10px",
                                      "background": colour, "marginRight": "5px"}), text])


def group_legend(groups: list[tuple[str, str]]) -> list:
    """The legend of a colouring by group: (name, colour) each."""
    return [swatch(colour, name) for name, colour in groups] + [html.Div(HINT, className="muted")]


def neuron_legend(name: str, low: float, high: float) -> list:
    """The colour bar of a colouring by a neuron's activation, from `low` to `high`."""
    gradient = f"linear-gradient(to right, {', '.join(NEURON_PALETTE[::8] + NEURON_PALETTE[-1:])})"
    return [html.Div(name), html.Div([html.Span(f"{low:.3g}"),
                                      html.Span(style={"display": "inline-block", "width": "120px", "height": "10px",
                                                       "margin": "0 6px", "background": gradient}),
                                      html.Span(f"{high:.3g}")]),
            html.Div(HINT, className="muted")]


TRAILS_HINT = "lines: each observation through its frames · points: the player's frame · hover: image · wheel: zoom"


def trail_point_view() -> html.Div:
    """The evolution page's WebGL trails (hidden until trails of more than `Settings.points_above`
    observations are shown; callbacks/evolution.py shows it or the Plotly graph)."""
    return html.Div([PointView(id="trail-points", performanceMode=True, pointSize=3,
                               style={"width": "100%", "height": "100%", "background": "#ffffff"}),
                     html.Div(TRAILS_HINT, className="muted points-legend",
                              style={"position": "absolute", "bottom": "6px", "left": "8px", "fontSize": "12px",
                                     "background": "rgba(255,255,255,0.85)", "padding": "2px 6px",
                                     "pointerEvents": "none"})],
                    id="trail-points-box", className="graph-main", style=HIDDEN)
