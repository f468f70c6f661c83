"""Figures of the unit lab and layer lab as pure functions (arrays in, go.Figure or an image
URI out), then the building blocks that both pages share."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from layouts.figures import FONT, class_colours
from nnvis.data.images import to_png
from web.components import EPOCH_WIDTH, epoch_options, labelled
from web.context import workspace_options

ACCURACY_COLOURS = {"top-1": "#3366cc", "top-5": "#e45756"}
LAYER_JOBS = ("cosine", "sparsity", "perturbation")  # layer-lab views a job computes: ll-<job>-request


def png_uri(image: np.ndarray, size: int = 96) -> str:
    """A uint8 image as a PNG data URI, upscaled with crisp pixels to about `size` pixels."""
    return "data:image/png;base64," + base64.b64encode(to_png(image, size)).decode("ascii")


OUTLINE = (0, 229, 255)  # cyan: apart from every colour of the heat scale (black, red, yellow, white)


def patch_outlined(image: np.ndarray, grid: tuple[int, int], cell: tuple[int, int], size: int = 96,
                   width: int = 2) -> np.ndarray:
    """A uint8 RGB image (H,W,3) upscaled with crisp pixels as `png_uri` does (its longer side
    about `size`), with patch `cell` (row, column) of its `grid` (rows, columns) outlined in
    OUTLINE, `width` pixels wide inside the patch."""
    image = np.asarray(image, dtype=np.uint8)
    scale = max(1, round(size / max(image.shape[:2])))
    big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1).copy()
    height, wide = big.shape[:2]
    top, bottom = round(cell[0] * height / grid[0]), round((cell[0] + 1) * height / grid[0])
    left, right = round(cell[1] * wide / grid[1]), round((cell[1] + 1) * wide / grid[1])
    line = max(1, min(width, (bottom - top) // 2, (right - left) // 2))
    across, down = slice(left, right), slice(top, bottom)
    for rows, columns in ((slice(top, top + line), across), (slice(bottom - line, bottom), across),
                          (down, slice(left, left + line)), (down, slice(right - line, right))):
        big[rows, columns] = OUTLINE
    return big


def firing_patch(fmap: np.ndarray) -> tuple[int, int]:
    """(row, column) of the largest value of one map (h,w); ties to the first in row-major order."""
    fmap = np.asarray(fmap)
    row, column = np.unravel_index(int(np.argmax(fmap)), fmap.shape)
    return int(row), int(column)


def plot_layout(title: str, **extra) -> dict:
    """A plain white layout with a small title and tight margins."""
    layout = dict(template="plotly_white", font=FONT, title=dict(text=title, font=dict(size=13), x=0.01, y=0.98),
                  margin=dict(l=50, r=10, t=34, b=40), legend=dict(font=dict(size=11)))
    layout.update(extra)
    return layout


def centres(edges: np.ndarray) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64)
    return (edges[:-1] + edges[1:]) / 2


def class_histogram_figure(edges: np.ndarray, counts: np.ndarray, classes: list[str], title: str,
                           x_title: str) -> go.Figure:
    """Stacked bars of counts per class (classes x bins) over shared bin `edges`; classes
    without counts are left out of the legend."""
    figure = go.Figure()
    colours = class_colours(len(classes))
    width = float(np.diff(edges).mean()) if len(edges) > 1 else 1.0
    for c, name in enumerate(classes):
        if counts[c].sum() == 0:
            continue
        figure.add_trace(go.Bar(x=centres(edges), y=counts[c], width=width, name=name, marker_color=colours[c],
                                marker_line_width=0,
                                hovertemplate=f"class {name}<br>%{{x:.3g}}: %{{y}}<extra></extra>"))
    figure.update_layout(**plot_layout(title, barmode="stack", bargap=0, xaxis_title=x_title,
                                       yaxis_title="observations"))
    return figure


def unit_histogram_figure(edges: np.ndarray, counts: np.ndarray, classes: list[str], unit: int) -> go.Figure:
    """One unit's activation over the subset, stacked by class."""
    return class_histogram_figure(edges, counts, classes, f"activation of unit {unit} per class",
                                  f"activation of unit {unit}")


def sparsity_figure(found: dict, classes: list[str], per_class: bool, threshold: float) -> go.Figure:
    """Histogram of alpha over every (observation, unit) of a layer, overall or stacked by
    class, titled with the fraction near zero."""
    title = f"{float(found['near_zero']):.1%} of alphas have |alpha| ≤ {threshold:g}"
    if per_class:
        names = [name if np.isnan(v) else f"{name} ({v:.0%} ≈ 0)" for name, v in zip(classes, found["class_near_zero"])]
        figure = class_histogram_figure(found["edges"], found["class_counts"], names, title, "alpha")
        figure.update_layout(yaxis_title="(observation, unit) pairs")
        return figure
    edges = found["edges"]
    figure = go.Figure(go.Bar(x=centres(edges), y=found["counts"], width=float(np.diff(edges).mean()),
                              marker_color="#52606d", marker_line_width=0, name="all classes",
                              hovertemplate="%{x:.3g}: %{y}<extra></extra>"))
    figure.update_layout(**plot_layout(title, bargap=0, xaxis_title="alpha",
                                       yaxis=dict(title="(observation, unit) pairs", type="log", dtick=1)))
    return figure


def cell_text(value: float, bold: bool, italic: bool) -> str:
    text = "–" if np.isnan(value) else f"{value:.2f}"
    text = f"<b>{text}</b>" if bold else text
    return f"<i>{text}</i>" if italic else text


def row_extremes(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column of the largest and of the smallest value off the diagonal (-1 when
    the row has no such value): Shang's table marks a class's nearest and farthest classes."""
    off = np.array(matrix, dtype=np.float64)
    np.fill_diagonal(off, np.nan)
    valid = ~np.isnan(off).all(axis=1)
    largest = np.where(valid, np.nanargmax(np.where(valid[:, None], off, 0.0), axis=1), -1)
    smallest = np.where(valid, np.nanargmin(np.where(valid[:, None], off, 0.0), axis=1), -1)
    return largest, smallest


def cosine_figure(matrix: np.ndarray, classes: list[str], order: np.ndarray | None = None,
                  title: str = "") -> go.Figure:
    """The class x class cosine matrix as an annotated heatmap (in `order`, default the class
    order): two decimals per cell, each row's largest off-diagonal value bold, its smallest italic."""
    order = np.arange(len(classes)) if order is None else np.asarray(order)
    shown = np.asarray(matrix, dtype=np.float64)[np.ix_(order, order)]
    names = [str(classes[i]) for i in order]
    largest, smallest = row_extremes(shown)
    low = float(np.nanmin(shown)) if np.isfinite(shown).any() else 0.0
    low = min(low, 0.999)  # the colours span the values shown, so that close similarities still differ
    dark = low + 0.6 * (1 - low)
    # annotations at the cells' positions (0, 1, ...) in the order shown: a class name such as
    # "3" would be read as position 3 by the annotation but as category "3" by the heatmap
    cells = range(len(names))
    annotations = [dict(x=j, y=i, text=cell_text(shown[i, j], j == largest[i], j == smallest[i]),
                        showarrow=False, font=dict(size=11, color="white" if shown[i, j] > dark else "#1f2933"))
                   for i in cells for j in cells]
    figure = go.Figure(go.Heatmap(z=shown, x=names, y=names, zmin=low, zmax=1,
                                  colorscale="Blues", colorbar=dict(thickness=12, title=dict(text="cos", side="right")),
                                  hovertemplate="%{y} vs %{x}: %{z:.4f}<extra></extra>"))
    category = dict(type="category", tickmode="array", tickvals=names, ticktext=names, showgrid=False)
    figure.update_layout(**plot_layout(title, annotations=annotations, xaxis={**category, "side": "bottom"},
                                       yaxis={**category, "autorange": "reversed", "scaleanchor": "x"},
                                       margin=dict(l=80, r=10, t=34, b=60)))
    return figure


def ablation_figure(sweep: dict, title: str) -> go.Figure:
    """Top-1 and top-5 accuracy against the fraction of units zeroed, with the intact model's
    accuracies as dashed lines."""
    figure = go.Figure()
    counts = np.asarray(sweep["count"])
    for name, key in (("top-1", "top1"), ("top-5", "top5")):
        figure.add_trace(go.Scatter(x=sweep["fraction"], y=sweep[key], mode="lines+markers", name=name,
                                    line=dict(color=ACCURACY_COLOURS[name]), customdata=counts,
                                    hovertemplate=f"{name} %{{y:.4f}}<br>%{{customdata}} units zeroed (%{{x:.0%}})"
                                                  "<extra></extra>"))
    for name, key in (("top-1", "top1"), ("top-5", "top5")):
        baseline = float(sweep[f"baseline_{key}"])
        figure.add_trace(go.Scatter(x=[0, 1], y=[baseline, baseline], mode="lines", hoverinfo="skip",
                                    name=f"intact {name} {baseline:.3f}",
                                    line=dict(color=ACCURACY_COLOURS[name], dash="dot", width=1)))
    figure.update_layout(**plot_layout(title, xaxis=dict(title="fraction of units zeroed", tickformat=".0%"),
                                       yaxis=dict(title="accuracy", range=[0, 1.02]),
                                       margin=dict(l=50, r=10, t=58, b=40),
                                       legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom")))
    return figure


def perturbation_figure(found: dict, variance: float) -> go.Figure:
    """Per layer, the mean cosine between clean and noisy activations; accuracy in the title."""
    layers = [str(layer) for layer in found["layers"]]
    cosine = np.asarray(found["cosine"], dtype=np.float64)
    title = (f"noise variance {variance:g}: top-1 {float(found['top1_clean']):.3f} → {float(found['top1_noisy']):.3f}, "
             f"top-5 {float(found['top5_clean']):.3f} → {float(found['top5_noisy']):.3f}")
    figure = go.Figure(go.Scatter(x=layers, y=cosine, mode="lines+markers+text", text=[f"{c:.4f}" for c in cosine],
                                  textposition="top center", line=dict(color="#3366cc"), name="cosine",
                                  hovertemplate="%{x}: %{y:.5f}<extra></extra>"))
    low = float(np.nanmin(cosine)) if len(cosine) else 0.0
    figure.update_layout(**plot_layout(title, xaxis=dict(title="layer (shallow → deep)", type="category"),
                                       yaxis=dict(title="mean cosine clean vs noisy",
                                                  range=[min(low - 0.05 * (1 - low) - 0.01, 0.99), 1.005])))
    return figure


# ---- building blocks of both pages

# (id suffix, label, ActMaxParams field, step) of the regularizer inputs
ACTMAX_INPUTS = [("steps", "Steps", "steps", 1), ("lr", "Learning rate", "learning_rate", "any"),
                 ("l2", "L2 decay", "l2_decay", "any"), ("sigma", "Blur σ (px)", "blur_sigma", "any"),
                 ("every", "Blur every", "blur_every", 1), ("jitter", "Jitter (px)", "jitter", 1),
                 ("restarts", "Restarts", "restarts", 1)]


def view_controls(prefix: str, analysis, number: int, layer: str, epoch: int, extra: list) -> html.Div:
    """Workspace, layer and epoch dropdowns (ids `{prefix}-ws`, `-layer`, `-epoch`), then `extra`."""
    return html.Div([
        labelled("Workspace", dcc.Dropdown(id=f"{prefix}-ws", options=workspace_options(), value=number,
                                           clearable=False), "260px"),
        labelled("Layer", dcc.Dropdown(id=f"{prefix}-layer", options=analysis.layers, value=layer, clearable=False),
                 "170px"),
        labelled("Epoch", dcc.Dropdown(id=f"{prefix}-epoch", options=epoch_options(analysis.epochs), value=epoch,
                                       clearable=False), EPOCH_WIDTH),
        *extra,
    ], className="controls")


def number_input(element_id: str, value, step="any", minimum=0, width: str = "80px") -> dcc.Input:
    return dcc.Input(id=element_id, type="number", value=value, step=step, min=minimum, debounce=True,
                     className="number-input", style={"width": width})
