"""Figures of the compare page as pure functions: one side's projection coloured by change or
class, with a highlight trace that the other side's hover moves; NH per class in both."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from layouts.figures import base_layout, class_colours, marker_size

CHANGE_SCALE = [[0.0, "#c9d3dd"], [0.5, "#f2a541"], [1.0, "#c0392b"]]  # kept all -> kept none
HIGHLIGHT_TRACE = 1  # index of the ring that marks the observation hovered in either view


def side_figure(points: np.ndarray, change: np.ndarray, labels: np.ndarray, classes: list[str], *, colour_by: str,
                title: str, show_scale: bool, uirevision: str) -> dict:
    """One side, as the figure's dict: a single WebGL trace (customdata: observation indices)
    coloured by change score (1 - share of the 10 nearest neighbours kept) or true class; then an
    empty ring trace that the linked hover moves. The per-point lists (customdata, class colours)
    go in after plotly has checked the rest: checking 10,000 list items took most of the time
    of drawing both views (0.5 s a view coloured by class)."""
    # movers drawn last, on top of the observations that kept their neighbours; both sides use
    # the same order, so a point number means the same observation in either view
    order = np.arange(len(points)) if colour_by == "class" else np.argsort(change, kind="stable")
    if colour_by == "class":
        palette = class_colours(len(classes))
        marker, colours = {}, [palette[c] for c in labels[order]]
    else:
        marker = dict(color=np.round(change[order], 3), colorscale=CHANGE_SCALE, cmin=0, cmax=1,
                      showscale=show_scale, colorbar=dict(title=dict(text="change", side="right"), thickness=12,
                                                          len=0.7, tickvals=[0, 0.5, 1],
                                                          ticktext=["kept all", "half", "kept none"]))
        colours = None
    figure = go.Figure(go.Scattergl(
        x=points[order, 0], y=points[order, 1], mode="markers", name="observations",
        hoverinfo="none", marker={**marker, "size": marker_size(len(points)), "line": dict(width=0)},
        selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.12))))
    figure.add_trace(go.Scatter(x=[], y=[], mode="markers", name="hovered", hoverinfo="skip", showlegend=False,
                                marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(width=3, color="#111"))))
    figure.update_layout(**base_layout(uirevision=uirevision, showlegend=False,
                                       title=dict(text=title, x=0.02, y=0.98, font=dict(size=13)),
                                       margin=dict(l=10, r=10, t=30, b=10)))
    drawn = figure.to_plotly_json()
    drawn["data"][0]["customdata"] = order.tolist()  # a plain list: Dash's events read it un-decoded
    if colours is not None:
        drawn["data"][0]["marker"]["color"] = colours
    return drawn


def class_nh_figure(classes: list[str], nh_a: np.ndarray, nh_b: np.ndarray, verdicts: list[str]) -> go.Figure:
    """NH per class in both snapshots as paired bars, each class named 'mixed' or 'separated'
    when its NH fell or rose by more than the threshold."""
    names = [f"{c} ({v})" if v != "same" else c for c, v in zip(classes, verdicts)]
    figure = go.Figure([go.Bar(x=names, y=nh_a, name="A", marker_color="#8fa4bd"),
                        go.Bar(x=names, y=nh_b, name="B", marker_color="#3366cc")])
    figure.update_layout(template="plotly_white", barmode="group", height=250, margin=dict(l=45, r=10, t=10, b=40),
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"), font=dict(size=12),
                         yaxis=dict(title="NH (k = 6)", range=[0, 1]))
    return figure
