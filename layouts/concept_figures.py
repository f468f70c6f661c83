"""What the concept atlas page draws (layouts/concepts.py on first render, callbacks/concepts.py
later): a concept's card, the projection coloured by its strength, its importance per class."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import html

DEFAULT_K = 10


def exemplar_crop(j: int, i: int, crop: str, whole: str | None) -> html.Div:
    """An exemplar's receptive-field crop; hovering it shows the concept's heat-map over the whole
    image (`whole`, a PNG data URL; none while it is not computed)."""
    shown = [html.Img(src=crop, width=40, height=40, style={"imageRendering": "pixelated"},
                      alt=f"concept {j} exemplar {i}")]
    if whole is not None:
        shown.append(html.Img(src=whole, className="concept-heat-img", alt=f"concept {j} over exemplar {i}'s image"))
    return html.Div(shown, className="concept-crop")


def concept_card(j: int, share: float, crops: list[tuple[str, str | None]], selected: bool) -> html.Button:
    """One concept of the grid: its id, share and exemplar crops (PNG data URLs: the crop, and the
    heat-map over the whole image shown on hover); a button to select it."""
    return html.Button([html.Div([html.B(f"concept {j}"), f" · share {share:.1%}"], className="concept-title"),
                        html.Div([exemplar_crop(j, i, crop, whole) for i, (crop, whole) in enumerate(crops)],
                                 style={"display": "flex", "gap": "2px"})],
                       id={"type": "cc-concept", "index": j}, n_clicks=0,
                       className="concept-card selected" if selected else "concept-card",
                       style={"border": "3px solid #d64545" if selected else "1px solid #cbd2d9",
                              "background": "white", "padding": "4px", "cursor": "pointer"})


def projection_figure(points: np.ndarray, colour: np.ndarray, title: str) -> go.Figure:
    """The projection's points, those of the atlas's images coloured by strength, the others grey."""
    measured = ~np.isnan(colour)
    figure = go.Figure([
        go.Scattergl(x=points[~measured, 0].tolist(), y=points[~measured, 1].tolist(), mode="markers",
                     name="not in the sample",
                     marker={"color": "#d9dde3", "size": 4}, hoverinfo="skip"),
        go.Scattergl(x=points[measured, 0].tolist(), y=points[measured, 1].tolist(), mode="markers",
                     name="strength", customdata=np.flatnonzero(measured).tolist(),
                     marker={"color": colour[measured].tolist(), "colorscale": "Viridis", "size": 5, "showscale": True,
                             "colorbar": {"title": "strength"}})])
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False,
                         xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="white")
    return figure


def importance_figure(importance: np.ndarray, classes: list[str], title: str) -> go.Figure:
    figure = go.Figure(go.Bar(x=list(classes), y=np.asarray(importance, dtype=float).tolist(),
                              marker={"color": np.where(importance >= 0, "#2f80ed", "#d64545").tolist()}))
    figure.update_layout(title=title, yaxis={"title": "logit drop when removed"}, margin={"l": 50, "r": 10, "t": 40,
                                                                                          "b": 40})
    return figure
