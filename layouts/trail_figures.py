"""Figures of the evolution page as pure functions: trails, the frame player, NH curves."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from layouts.figures import base_layout, class_colours, marker_size, rgba


def polylines(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of many polylines (K, P, 2) joined with NaN gaps, for one line trace."""
    gap = np.full((len(paths), 1, 2), np.nan, np.float32)
    joined = np.concatenate([paths, gap], axis=1).reshape(-1, 2)
    return joined[:, 0], joined[:, 1]


def trails_figure(paths: np.ndarray, labels: np.ndarray, classes: list[str], shown: np.ndarray) -> go.Figure:
    """One trail per shown observation: its segments (bundled paths (N, S, P, 2)) in its class
    colour, brighter along the trail (later layer or epoch), its last position a point."""
    colours = class_colours(len(classes))
    n_segments = paths.shape[1]
    figure = go.Figure()
    for c in np.unique(labels[shown]):
        members = shown[labels[shown] == c]
        for s in range(n_segments):
            x, y = polylines(paths[members, s])
            opacity = 0.12 + 0.68 * (s + 1) / n_segments
            figure.add_trace(go.Scattergl(x=x, y=y, mode="lines", hoverinfo="skip", showlegend=False,
                                          name=f"{classes[c]} segment {s + 1}", legendgroup=classes[c],
                                          line=dict(width=1, color=rgba(colours[c], opacity))))
    for c in np.unique(labels[shown]):
        members = shown[labels[shown] == c]
        end = paths[members, -1, -1]
        figure.add_trace(go.Scattergl(x=end[:, 0], y=end[:, 1], mode="markers", name=classes[c],
                                      legendgroup=classes[c], customdata=members.tolist(), hoverinfo="none",
                                      marker=dict(size=marker_size(len(shown)), color=colours[c])))
    figure.update_layout(**base_layout(dragmode="pan", plot_bgcolor="#0f1419", paper_bgcolor="#0f1419",
                                       legend=dict(font=dict(color="#e4e7eb"), bgcolor="rgba(0,0,0,0)")))
    return figure


def frame_figure(frame: np.ndarray, labels: np.ndarray, classes: list[str], shown: np.ndarray,
                 title: str) -> go.Figure:
    """The aligned projection of one frame (SVG scatter, so positions animate between frames)."""
    colours = class_colours(len(classes))
    figure = go.Figure()
    for c in range(len(classes)):
        members = shown[labels[shown] == c]
        figure.add_trace(go.Scatter(x=frame[members, 0], y=frame[members, 1], mode="markers", name=classes[c],
                                    customdata=members.tolist(), hoverinfo="none",
                                    marker=dict(size=5, color=colours[c])))
    limits = [float(np.nanmin(frame)) - 0.05, float(np.nanmax(frame)) + 0.05]
    figure.update_layout(**base_layout(dragmode="lasso", showlegend=False, title=dict(text=title, x=0.02, y=0.98)))
    figure.update_xaxes(range=[-1.1, 1.1] if limits[1] - limits[0] < 2.3 else limits)
    figure.update_yaxes(range=[-1.1, 1.1] if limits[1] - limits[0] < 2.3 else limits)
    return figure


SUBPLOT_TITLE_MARGIN = 52  # px: the subplot titles sit below Plotly's toolbar (22 px at the top)


def nh_curves_figure(layers: list[str], nh_by_layer: list[float | None], epoch: int, epochs: list[int],
                     nh_by_epoch: list[float | None], accuracy: list[float], layer: str) -> go.Figure:
    """NH per layer (at `epoch`) and NH and test accuracy per epoch (at `layer`); points carry
    customdata [layer, epoch] so that a click opens that projection."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                           subplot_titles=(f"per layer (epoch {epoch})", f"per epoch ({layer})"))
    figure.add_trace(go.Scatter(x=layers, y=nh_by_layer, mode="lines+markers", name="NH per layer",
                                customdata=[[name, epoch] for name in layers], line=dict(color="#3366cc")), 1, 1)
    figure.add_trace(go.Scatter(x=epochs, y=nh_by_epoch, mode="lines+markers", name=f"NH of {layer}",
                                customdata=[[layer, e] for e in epochs], line=dict(color="#3366cc")), 1, 2)
    figure.add_trace(go.Scatter(x=epochs, y=accuracy, mode="lines+markers", name="test accuracy",
                                customdata=[[layer, e] for e in epochs], line=dict(color="#e45756", dash="dot")),
                     1, 2)
    figure.update_layout(template="plotly_white", margin=dict(l=50, r=10, t=SUBPLOT_TITLE_MARGIN, b=20), height=280,
                         legend=dict(orientation="h", y=-0.3), font=dict(size=12))
    figure.update_annotations(font_size=12)
    figure.update_yaxes(title_text="NH (k = 6)", row=1, col=1)
    figure.update_yaxes(range=[0, 1.05])  # NH and accuracy lie in [0, 1]; the axis never runs past them
    figure.update_xaxes(title_text="epoch", row=1, col=2, dtick=1)
    return figure


def stability_figure(names: list[str], nh: np.ndarray, nh_independent: np.ndarray, trustworthiness: np.ndarray,
                     temporal: np.ndarray, setting: str) -> go.Figure:
    """Per frame, the aligned frame's NH against its independent projection's and its
    trustworthiness (k = 7); per step, the temporal preservation (Spearman)."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                           subplot_titles=(f"per frame ({setting})", "per step: temporal preservation"))
    figure.add_trace(go.Scatter(x=names, y=nh, mode="lines+markers", name="NH aligned",
                                line=dict(color="#3366cc")), 1, 1)
    figure.add_trace(go.Scatter(x=names, y=nh_independent, mode="lines+markers", name="NH independent",
                                line=dict(color="#3366cc", dash="dot")), 1, 1)
    figure.add_trace(go.Scatter(x=names, y=trustworthiness, mode="lines+markers", name="trustworthiness",
                                line=dict(color="#54a24b")), 1, 1)
    steps = [f"→ {b}" for b in names[1:]]
    figure.add_trace(go.Bar(x=steps, y=np.nan_to_num(temporal, nan=0.0), name="temporal preservation",
                            marker_color="#f58518", text=[f"{v:.2f}" for v in temporal], textposition="auto"), 1, 2)
    figure.update_layout(template="plotly_white", margin=dict(l=50, r=10, t=SUBPLOT_TITLE_MARGIN, b=20), height=310,
                         legend=dict(orientation="h", y=-0.5), font=dict(size=12))  # below the tick labels
    figure.update_annotations(font_size=12)
    lowest = float(np.nanmin(temporal)) if np.isfinite(temporal).any() else 0.0
    figure.update_yaxes(range=[min(-0.2, lowest - 0.15), 1], row=1, col=2, title_text="Spearman")  # room for labels
    return figure


def label_positions(x: list[float]) -> list[str]:
    """Where each point's label goes: from left to right alternately below and above its point
    (neighbours' labels do not overlap), turned inwards at both ends of the x range (a centred
    label there would stick out of the plot and be cut)."""
    rank = {i: r for r, i in enumerate(sorted(range(len(x)), key=lambda i: x[i] if np.isfinite(x[i]) else np.inf))}
    finite = [v for v in x if np.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)

    def side(v) -> str:
        return "center" if low == high or not np.isfinite(v) else "right" if v == low else "left" if v == high \
            else "center"
    return [f"{'bottom' if rank[i] % 2 == 0 else 'top'} {side(v)}" for i, v in enumerate(x)]


def tradeoff_figure(settings: list[str], temporal: list[float], nh: list[float], trustworthiness: list[float],
                    current: str, labels: list[str] | None = None) -> go.Figure:
    """The coherence trade-off of one sequence: per setting measured so far, its mean temporal
    preservation (x) against its frames' mean NH and trustworthiness (y); the chosen one ringed.
    Points carry their setting (`text`) and show its `labels` (as the coherence control names them)."""
    figure = go.Figure()
    labels = list(labels or settings)
    for values, name, colour, mode in ((nh, "NH", "#3366cc", "markers+text"),
                                       (trustworthiness, "trustworthiness", "#54a24b", "markers")):
        figure.add_trace(go.Scatter(x=temporal, y=values, mode=mode, name=name, text=settings, customdata=labels,
                                    texttemplate="%{customdata}", textposition=label_positions(temporal),
                                    hovertemplate=f"%{{customdata}}: {name} %{{y:.4f}}, temporal %{{x:.3f}}"
                                                  "<extra></extra>",
                                    marker=dict(size=[14 if s == current else 8 for s in settings], color=colour,
                                                line=dict(width=[2 if s == current else 0 for s in settings],
                                                          color="#222"))))
    figure.update_layout(template="plotly_white", margin=dict(l=50, r=10, t=20, b=40), height=260,
                         legend=dict(orientation="h", y=-0.3), font=dict(size=12),
                         xaxis_title="temporal preservation (mean Spearman)", yaxis_title="mean over frames")
    values = [v for v in [*nh, *trustworthiness] if np.isfinite(v)]
    if values:  # room around the points for their labels and the ringed marker (it was half cut at the top)
        pad = max(0.02, 0.15 * (max(values) - min(values)))
        figure.update_yaxes(range=[min(values) - pad, max(values) + pad])
    return figure
