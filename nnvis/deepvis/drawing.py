"""A drawing on the page's canvas as an image: pen strokes (lists of (x, y) pixel coordinates)
drawn white on black with a round pen, antialiased. Vectorised: each stroke is one polyline of
one-pixel segments on a canvas `scale` times larger, inked where it lies within the pen's radius
of the path (a Euclidean distance transform: round caps and joints, as a pen draws), then averaged
down. 60,000 points take about a tenth of a second."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import distance_transform_edt

from nnvis.errors import NNVisError

MAX_STROKES = 50
MAX_POINTS = 60_000  # in all the strokes of one drawing


def pen_width(height: int) -> float:
    """The drawing pen for images `height` pixels high: about MNIST's stroke, a tenth of the height."""
    return max(1.0, 0.09 * height)


def check_drawing(strokes: int, points: int) -> None:
    """NNVisError when a drawing of `strokes` strokes and `points` points in all is beyond the bounds."""
    if strokes > MAX_STROKES or points > MAX_POINTS:
        raise NNVisError(f"the drawing has {strokes} stroke{'' if strokes == 1 else 's'} and {points:,} points; "
                         f"allowed: at most {MAX_STROKES} strokes and {MAX_POINTS:,} points in all. Clear the "
                         "drawing and draw it again")


def rasterize_strokes(strokes: list, image_shape: tuple[int, int], *, width: float | None = None,
                      scale: int = 8) -> np.ndarray:
    """Pen strokes (sequences of (x, y) in pixel coordinates of an image of `image_shape`) drawn
    white on black as a uint8 grey image, antialiased by drawing `scale` times larger and
    averaging down. The pen is `width` pixels wide (default: about a tenth of the height,
    MNIST's stroke). Points off the image (or not finite) are pulled to its edge; at most
    MAX_STROKES strokes of MAX_POINTS points in all (NNVisError beyond)."""
    height, width_px = int(image_shape[0]), int(image_shape[1])
    check_drawing(len(strokes), sum(len(stroke) for stroke in strokes))
    pen = pen_width(height) if width is None else float(width)
    canvas = Image.new("1", (width_px * scale, height * scale), 0)
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        points = np.nan_to_num(np.asarray(stroke, dtype=np.float64).reshape(-1, 2), nan=-1.0)
        if not len(points):
            continue
        points = np.round((np.clip(points, -1.0, [width_px, height]) + 0.5) * scale).astype(np.int64)
        moved = np.ones(len(points), dtype=bool)
        moved[1:] = (np.diff(points, axis=0) != 0).any(axis=1)  # a pen resting in one place: one point
        path = points[moved].ravel().tolist()
        draw.line(path if len(path) > 2 else path * 2, fill=1, width=1)
    path = np.asarray(canvas, dtype=bool)
    if not path.any():
        return np.zeros((height, width_px), dtype=np.uint8)
    inked = distance_transform_edt(~path) <= pen * scale / 2
    return np.round(inked.reshape(height, scale, width_px, scale).mean(axis=(1, 3)) * 255).astype(np.uint8)
