"""The Python side of the WebGL point view: the component's props, and the typed arrays it is
sent (base64 uint16 coordinates, base64 uint8 values: never JSON lists of a million floats)."""

from __future__ import annotations

import base64

import numpy as np
from dash.development.base_component import Component

PROPS = ["id", "className", "style", "coordinates", "values", "valueKind", "palette", "pointSize", "performanceMode",
         "selectedIndices", "hoveredIndex", "clickedIndex", "clicks", "lineIds", "lineOrders", "shownOrder",
         "hoveredLine"]


class PointView(Component):
    """A WebGL scatter plot (regl-scatterplot) of many points.

    In: `coordinates` (`encode_points`), `values` (`encode_values`: a category code or a value
    quantised to 0..255 a point), `valueKind` ('categorical' or 'continuous'), `palette` (hex
    colours: one a category, or a colour map for continuous values), `pointSize`,
    `performanceMode` (points as squares without alpha blending, much quicker in software
    WebGL; read once, when the component is mounted), `selectedIndices` (the points shown
    selected). Trails: `lineIds` and `lineOrders` (`encode_lines`, sent with the coordinates) draw
    each line as a curve through its points in order, in its points' colour; `shownOrder` shows
    only the points at that place along their lines (every line kept), None every point.
    Out: `hoveredIndex` (the point under the pointer; with trails, `hoveredLine` its line id),
    `clickedIndex` and `clicks`
    (a click on a point), `selectedIndices` (a lasso, shift + drag; [] when a double click or
    Escape clears it). Changing only `values` or
    `palette` recolours without rebuilding the points' spatial index."""

    _children_props: list[str] = []
    _base_nodes = ["children"]
    _namespace = "nnvis_components"
    _type = "PointView"

    def __init__(self, id=None, **props):  # noqa: A002 (Dash's prop name)
        unknown = sorted(set(props) - set(PROPS))
        if unknown:
            raise TypeError(f"PointView has no prop {', '.join(unknown)}; allowed: {', '.join(PROPS)}")
        self._prop_names = list(PROPS)
        self._valid_wildcard_attributes = []
        self.available_properties = list(PROPS)
        self.available_wildcard_properties = []
        super().__init__(**({"id": id} if id is not None else {}), **props)


def encode_points(points: np.ndarray) -> str:
    """(n, 2) coordinates scaled into [-0.95, 0.95] keeping their aspect (the point view's camera
    shows [-1, 1] on both axes), as base64 uint16 pairs over that range (0 is -0.95, 65535 is
    0.95: a step of 1/34,000 of the view, half the bytes of float32)."""
    xy = np.asarray(points, np.float64)[:, :2]
    if len(xy) == 0:
        return ""
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = float(max(high - low)) or 1.0
    scaled = (xy - (low + high) / 2) * (1.9 / span)
    levels = np.round((np.clip(scaled, -0.95, 0.95) + 0.95) * (65535 / 1.9))
    return base64.b64encode(np.ascontiguousarray(levels, np.uint16).tobytes()).decode("ascii")


def encode_values(values: np.ndarray, low: float | None = None, high: float | None = None) -> str:
    """Integer codes (uint8 as they are), or float values quantised to 0..255 over [low, high]
    (their own range by default), as base64."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.integer):
        if len(array) and (array.min() < 0 or array.max() > 255):
            raise ValueError("category codes must lie in 0..255")
        return base64.b64encode(array.astype(np.uint8).tobytes()).decode("ascii")
    low = float(np.nanmin(array)) if low is None else low
    high = float(np.nanmax(array)) if high is None else high
    scaled = np.nan_to_num((array.astype(np.float64) - low) / ((high - low) or 1.0), nan=0.0)
    return base64.b64encode(np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8).tobytes()).decode("ascii")


def encode_lines(line_ids: np.ndarray, line_orders: np.ndarray) -> tuple[str, str]:
    """Each point's line id (uint32, e.g. its observation) and place along that line (uint8: at
    most 256 points a line), as base64: the point view's `lineIds` and `lineOrders`."""
    ids, orders = np.asarray(line_ids), np.asarray(line_orders)
    if ids.shape != orders.shape:
        raise ValueError("line ids and line orders must have one value a point each")
    if len(ids) and (ids.min() < 0 or ids.max() > 2**32 - 1 or orders.min() < 0 or orders.max() > 255):
        raise ValueError("line ids must lie in 0..2**32-1 and line orders in 0..255")
    return (base64.b64encode(ids.astype("<u4").tobytes()).decode("ascii"),
            base64.b64encode(orders.astype(np.uint8).tobytes()).decode("ascii"))
