"""Density images of point clouds too large for the browser to draw point by point (datashader),
and the observation nearest a place in them (what a hover on such an image shows)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd  # at import time: imported lazily by two request threads at once, it can break
from PIL import Image

from nnvis.projection.numba_cache import import_cached

IMAGE_WIDTH = 900  # pixels across the drawn range: about the width of the projection panel


@dataclass(frozen=True)
class DensityImage:
    """A PNG whose row 0 is the lowest y, and where it lies in data coordinates: pixel (row r,
    column c) is centred on (x0 + c * dx, y0 + r * dy)."""

    png: bytes
    x0: float
    y0: float
    dx: float
    dy: float
    width: int
    height: int


def full_range(points: np.ndarray, margin: float = 0.03) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (x, y) ranges holding every point, with a `margin` (share of the span) on each side."""
    low, high = points.min(axis=0).astype(float), points.max(axis=0).astype(float)
    pad = np.maximum(high - low, 1e-9) * margin
    return (low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1])


def _canvas(x_range, y_range, width: int):
    """A datashader canvas over the ranges, `width` pixels wide and square pixels."""
    datashader = import_cached("datashader")
    span_x, span_y = x_range[1] - x_range[0], y_range[1] - y_range[0]
    height = int(np.clip(round(width * span_y / max(span_x, 1e-12)), 16, 4 * width))
    return datashader.Canvas(plot_width=width, plot_height=height, x_range=tuple(x_range), y_range=tuple(y_range))


def _frame(points: np.ndarray, **columns) -> pd.DataFrame:
    return pd.DataFrame({"x": points[:, 0], "y": points[:, 1], **columns}, copy=False)


def _encode(shaded, x_range, y_range) -> DensityImage:
    """datashader's shaded image (rows from the lowest y up) as a DensityImage."""
    transfer = import_cached("datashader.transfer_functions")
    shaded = transfer.dynspread(shaded, threshold=0.5, max_px=2)
    rgba = np.ascontiguousarray(shaded.data).view(np.uint8).reshape(*shaded.shape, 4)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=1)
    height, width = shaded.shape
    dx = (x_range[1] - x_range[0]) / width
    dy = (y_range[1] - y_range[0]) / height
    return DensityImage(buffer.getvalue(), x_range[0] + dx / 2, y_range[0] + dy / 2, dx, dy, width, height)


def category_image(points: np.ndarray, codes: np.ndarray, colours: list[str], x_range, y_range,
                   width: int = IMAGE_WIDTH) -> DensityImage:
    """Points coloured by category `codes` (0..len(colours)-1), each pixel the mix of the
    categories falling in it, its opacity growing with their count (histogram-equalised)."""
    datashader = import_cached("datashader")
    transfer = import_cached("datashader.transfer_functions")
    frame = _frame(points, group=pd.Categorical.from_codes(codes, categories=range(len(colours))))
    counts = _canvas(x_range, y_range, width).points(frame, "x", "y", datashader.count_cat("group"))
    return _encode(transfer.shade(counts, color_key=list(colours), how="eq_hist", min_alpha=90), x_range, y_range)


def value_image(points: np.ndarray, values: np.ndarray, low: float, high: float, colourscale: list[str],
                x_range, y_range, width: int = IMAGE_WIDTH) -> DensityImage:
    """Points coloured by the mean of `values` in each pixel, linearly over [low, high]."""
    datashader = import_cached("datashader")
    transfer = import_cached("datashader.transfer_functions")
    frame = _frame(points, value=np.asarray(values, np.float32))
    means = _canvas(x_range, y_range, width).points(frame, "x", "y", datashader.mean("value"))
    span = (low, high if high > low else low + 1.0)
    return _encode(transfer.shade(means, cmap=list(colourscale), how="linear", span=span), x_range, y_range)


def nearest_observation(points: np.ndarray, x: float, y: float) -> int:
    """The index of the point nearest (x, y) (a brute-force scan: about 5 ms per million points)."""
    return int(np.argmin((points[:, 0] - np.float32(x)) ** 2 + (points[:, 1] - np.float32(y)) ** 2))
