"""The observation projection past what Plotly's points carry. Up to `Settings.density_above`
observations the WebGL point view draws it (callbacks/pointview.py; the Plotly figure is then an
empty stand-in, hidden); past that, a datashader image re-rendered for each zoom, hover answered
by the nearest observation to the pointer."""

from __future__ import annotations

import numpy as np
from plotly.colors import sequential

from layouts.figures import density_figure, message_figure, observation_groups
from nnvis.projection.density import category_image, full_range, nearest_observation, value_image
from nnvis.workspace.analysis import Analysis
from web.context import current_settings


def is_dense(n_points: int) -> bool:
    """Whether a projection of `n_points` is not drawn as Plotly points on this server (by the
    WebGL point view, or as a density image)."""
    settings = current_settings()
    return n_points > min(settings.points_above, settings.density_above)


def is_webgl(n_points: int) -> bool:
    """Whether a projection of `n_points` is drawn by the WebGL point view on this server."""
    settings = current_settings()
    return settings.points_above < n_points <= settings.density_above


def shown_method(analysis: Analysis, layer: str, epoch: int, method: str) -> str:
    """The projection on screen: `method` when stored, else the PCA shown meanwhile."""
    return method if analysis.has_projection(layer, epoch, method) else "pca"


def ranges_from_relayout(relayout: dict | None, points: np.ndarray):
    """The (x, y) ranges a zoom or pan asked for, or the full range (at first, and on reset)."""
    try:
        x, y = axis_range(relayout or {}, "xaxis"), axis_range(relayout or {}, "yaxis")
    except (KeyError, TypeError, ValueError, IndexError):
        return full_range(points)
    return tuple(sorted(x)), tuple(sorted(y))


def axis_range(relayout: dict, axis: str) -> tuple[float, float]:
    """An axis range from relayout data, as a zoom sends it ('xaxis.range[0]', 'xaxis.range[1]')
    or as `Plotly.relayout` does ('xaxis.range': [low, high])."""
    pair = relayout.get(f"{axis}.range") or (relayout[f"{axis}.range[0]"], relayout[f"{axis}.range[1]"])
    return float(pair[0]), float(pair[1])


def density_projection_figure(points: np.ndarray, labels: np.ndarray, predictions: np.ndarray, classes: list[str],
                              *, color_by: str, neuron_values: np.ndarray | None = None, neuron_name: str = "",
                              relayout: dict | None = None, uirevision: str = "keep"):
    """The density figure over the range of `relayout`: coloured by group (as `projection_figure`
    groups observations) or, with `neuron_values`, by the mean activation in each pixel. A
    projection the WebGL point view draws: an empty stand-in (hidden under the point view)."""
    if is_webgl(len(points)):
        return message_figure(f"{len(points):,} observations: drawn as WebGL points")
    x_range, y_range = ranges_from_relayout(relayout, points)
    note = f"{len(points):,} observations drawn as a density image · hover for the nearest one · zoom for detail"
    if neuron_values is not None:
        low, high = float(neuron_values.min()), float(neuron_values.max())
        image = value_image(points, neuron_values, low, high, sequential.Viridis, x_range, y_range)
        colourbar = dict(colorscale="Viridis", cmin=low, cmax=high, showscale=True,
                         colorbar=dict(title=dict(text=f"{neuron_name} (mean)", side="right"), thickness=12, len=0.8))
        return density_figure(image, [], colourbar=colourbar, note=note, uirevision=uirevision)
    groups = observation_groups(labels, predictions, classes, color_by)
    codes = np.zeros(len(points), np.int64)
    for code, (_, index, _) in enumerate(groups):
        codes[index] = code
    image = category_image(points, codes, [colour for _, _, colour in groups], x_range, y_range)
    return density_figure(image, [(name, colour) for name, _, colour in groups], note=note, uirevision=uirevision)


def nearest_in_view(analysis: Analysis, layer: str, epoch: int, method: str, x: float, y: float) -> int:
    """The observation nearest (x, y) in the projection on screen."""
    points = analysis.projection(layer, epoch, shown_method(analysis, layer, epoch, method))["points"]
    return nearest_observation(points, x, y)
