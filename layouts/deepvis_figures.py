"""Figures of the deep-visualization page, as pure functions: arrays in, go.Figure out.

Images are laid on pixel coordinates (pixel (row, column) centred at x = column, y = row, y
pointing down), so that a heat map over an image, a drawn stroke and a hovered cell all speak
the same coordinates.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from layouts.figures import FONT
from nnvis.data.images import to_png
from nnvis.deepvis.drawing import pen_width

# the page's bounds and choices (checked again by callbacks.deepvis_inputs)
MAX_TOP_K = 64  # the weighted-sum view's contributors: 65 pictures side by side at most
MAX_UNIT = 999_999
METHOD_NAMES = {"gradient": "gradient", "guided": "guided backprop", "integrated": "integrated gradients"}
METHOD_CHOICES = ("all", *METHOD_NAMES)  # the saliency methods shown: all three, or one

HEAT = [[0.0, "#000000"], [0.35, "#c81400"], [0.7, "#ffc800"], [1.0, "#ffffff"]]  # nnvis.models.feature_maps' scale
OVERLAY_OPACITY = 0.6


def rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 image (H,W) or (H,W,3) as (H,W,3)."""
    image = np.asarray(image, dtype=np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def png_source(picture: np.ndarray, size: int = 512) -> str:
    """A picture as a PNG data URI, upscaled with crisp pixels to about `size` (no blurring)."""
    return "data:image/png;base64," + base64.b64encode(to_png(picture, size)).decode("ascii")


def picture_axes(figure: go.Figure, rows: int = 1, cols: int = 1) -> None:
    """Hide the axes of every subplot, y pointing down, square pixels."""
    for k in range(1, rows * cols + 1):
        suffix = "" if k == 1 else str(k)
        figure.layout[f"xaxis{suffix}"].update(visible=False, constrain="domain")
        figure.layout[f"yaxis{suffix}"].update(visible=False, autorange="reversed", scaleanchor=f"x{suffix}",
                                               constrain="domain")


def layout(**extra) -> dict:
    return {"template": "plotly_white", "font": FONT, "margin": dict(l=4, r=4, t=28, b=4),
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", **extra}


def image_figure(image: np.ndarray, title: str = "") -> go.Figure:
    """One small image (the current input), pixel for pixel."""
    figure = go.Figure(go.Image(z=rgb(image), hovertemplate="(%{x}, %{y}): %{z}<extra></extra>"))
    figure.update_layout(**layout(title=dict(text=title, font=dict(size=12), x=0.5)))
    picture_axes(figure)
    return figure


def canvas_figure(shape: tuple[int, int]) -> go.Figure:
    """A black canvas of `shape` (H,W) to draw on with the mouse (open freehand paths, white,
    as wide on screen as nnvis.deepvis.drawing.pen_width draws them into the image)."""
    pen = pen_width(shape[0])
    figure = go.Figure(go.Image(z=np.zeros(tuple(shape) + (3,), np.uint8), hoverinfo="skip"))
    figure.update_layout(**layout(dragmode="drawopenpath", margin=dict(l=4, r=4, t=4, b=4),
                                  newshape=dict(line=dict(color="white", width=max(2.0, pen * 200 / shape[0])),
                                                opacity=1.0),
                                  uirevision="canvas"))
    picture_axes(figure)
    return figure


def grid_figure(mosaic: np.ndarray, channel_at: np.ndarray, title: str, chosen: int | None = None) -> go.Figure:
    """The layer grid: every map (or unit) as one heat map with NaN gaps; customdata holds the
    channel under each cell (a plain list: Dash's click events read it undecoded), and the
    chosen channel is framed."""
    finite = mosaic[np.isfinite(mosaic)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    figure = go.Figure(go.Heatmap(
        z=mosaic, customdata=channel_at.tolist(), colorscale=HEAT, zmin=low, zmax=high if high > low else low + 1,
        hoverongaps=False, hovertemplate="channel %{customdata}<br>value %{z:.4g}<extra></extra>",
        colorbar=dict(thickness=10, len=0.8, outlinewidth=0)))
    cells = np.argwhere(channel_at == chosen) if isinstance(chosen, int) and chosen >= 0 else np.zeros((0, 2))
    if len(cells):
        (top, left), (bottom, right) = cells.min(axis=0), cells.max(axis=0)
        figure.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                         line=dict(color="#3366cc", width=2))
    figure.update_layout(**layout(title=dict(text=title, font=dict(size=13), x=0.01), uirevision=title))
    picture_axes(figure)
    return figure


def probabilities_figure(probabilities: np.ndarray | None, classes: list[str]) -> go.Figure:
    """Class probabilities as horizontal bars, the predicted class highlighted."""
    figure = go.Figure()
    if probabilities is not None:
        best = int(np.argmax(probabilities))
        colours = ["#3366cc" if c == best else "#9aa5b1" for c in range(len(probabilities))]
        figure.add_trace(go.Bar(x=np.round(probabilities, 6), y=classes, orientation="h", marker_color=colours,
                                text=[f"{p:.1%}" for p in probabilities], textposition="outside", cliponaxis=False,
                                hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    figure.update_layout(**layout(margin=dict(l=8, r=52, t=8, b=8), showlegend=False, bargap=0.25,
                                  xaxis=dict(range=[0, 1], visible=False),
                                  yaxis=dict(autorange="reversed", type="category", tickfont=dict(size=11))))
    return figure


def overlay_figure(image: np.ndarray, panels: list[tuple[str, np.ndarray]], cols: int | None = None,
                   zmax: float | None = 1.0) -> go.Figure:
    """Heat maps (H,W) over the input image, one subplot per (title, map): the input as an
    image trace, the map as a half-transparent heat map on the same pixels."""
    cols = cols or len(panels)
    rows = max(1, -(-len(panels) // cols))
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=[title for title, _ in panels],
                           horizontal_spacing=0.02, vertical_spacing=0.08)
    picture = rgb(image)
    for k, (_title, values) in enumerate(panels):
        row, col = k // cols + 1, k % cols + 1
        figure.add_trace(go.Image(z=picture, hoverinfo="skip"), row=row, col=col)
        figure.add_trace(go.Heatmap(z=np.round(values, 5), colorscale=HEAT, zmin=0, zmax=zmax, opacity=OVERLAY_OPACITY,
                                    showscale=k == 0, colorbar=dict(thickness=8, len=0.6, outlinewidth=0),
                                    hovertemplate="(%{x}, %{y}) %{z:.3f}<extra></extra>"), row=row, col=col)
    figure.update_annotations(font=dict(size=11))
    figure.update_layout(**layout(margin=dict(l=4, r=4, t=36, b=4)))
    picture_axes(figure, rows, cols)
    return figure


def pictures_figure(pictures: list[tuple[str, np.ndarray]], widths: list[float] | None = None,
                    size: int = 384) -> go.Figure:
    """uint8 RGB pictures side by side (filters, a weighted-sum view and its parts), each
    titled, drawn as crisp PNG images."""
    figure = make_subplots(rows=1, cols=max(1, len(pictures)), subplot_titles=[t for t, _ in pictures],
                           column_widths=widths, horizontal_spacing=0.015)
    for k, (_title, picture) in enumerate(pictures):
        height, width = picture.shape[:2]
        scale = max(1, round(size / max(height, width)))
        figure.add_trace(go.Image(source=png_source(picture, size), x0=-0.5 + 0.5 / scale, y0=-0.5 + 0.5 / scale,
                                  dx=1 / scale, dy=1 / scale, hoverinfo="skip"), row=1, col=k + 1)
    figure.update_annotations(font=dict(size=11))
    figure.update_layout(**layout(margin=dict(l=4, r=4, t=40 if any("<br>" in t for t, _ in pictures) else 28, b=4)))
    picture_axes(figure, 1, max(1, len(pictures)))
    return figure
