"""The inputs of the deep-visualization page, checked: the workspace and epoch, the unit, the
top-k, the saliency method, the observation, an uploaded file and a drawing. Each bad value is
an NNVisError saying what was given and what is allowed (said in place by the page)."""

from __future__ import annotations

import base64
import binascii
import math
import re
import tempfile
from pathlib import Path

import numpy as np

from layouts.deepvis_figures import MAX_TOP_K, MAX_UNIT, METHOD_CHOICES, METHOD_NAMES
from nnvis.deepvis.drawing import MAX_POINTS, check_drawing
from nnvis.deepvis.strip import MAX_FILE_BYTES, read_image_file
from nnvis.errors import NNVisError
from web.context import open_analysis
from web.uploads import stored_image


def open_view(ws, epoch, layer=None):
    """(Analysis, epoch as an int) of workspace `ws`, building no model; NNVisError for an epoch
    without a snapshot or a layer that is not a module path."""
    if layer is not None and not isinstance(layer, str):
        raise NNVisError(f"layer {layer!r} is not a module path; pick one from the list")
    analysis = open_analysis(ws)
    try:
        epoch = int(epoch)
    except (TypeError, ValueError, OverflowError):
        raise NNVisError(f"epoch {epoch!r} is not a number; allowed: {analysis.epochs}") from None
    analysis.weights(epoch)
    return analysis, epoch


def whole(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and value == int(value))


def unit_number(unit) -> int | None:
    """The unit box's value: None (empty) or a whole number 0..MAX_UNIT (the layer's own count is
    checked where the layer is known)."""
    if unit is None:
        return None
    if not whole(unit) or not 0 <= unit <= MAX_UNIT:
        raise NNVisError(f"unit {unit!r} is not a whole number from 0; allowed: 0 up to the layer's units - 1")
    return int(unit)


def top_k_number(top_k) -> int:
    """The top-k box's value: 1..MAX_TOP_K (empty: 9)."""
    if top_k is None:
        return 9
    if not whole(top_k) or not 1 <= top_k <= MAX_TOP_K:
        raise NNVisError(f"top-k {top_k!r} is out of range; allowed: a whole number from 1 to {MAX_TOP_K}")
    return int(top_k)


def method_choice(method) -> str:
    """The saliency methods box: one of METHOD_CHOICES (empty: all)."""
    if method is None:
        return "all"
    if method not in METHOD_CHOICES:
        raise NNVisError(f"saliency method {method!r} is unknown; allowed: {', '.join(METHOD_CHOICES)}")
    return method


def observation_index(analysis, value) -> int:
    n = analysis.config.subset
    if not whole(value) or not 0 <= value < n:
        raise NNVisError(f"observation {value!r} is not in the subset; allowed: 0..{n - 1}")
    return int(value)


def input_image(analysis, data) -> tuple[np.ndarray, str]:
    """The current input as a uint8 image of the workspace's image shape, and its caption: a
    stored upload or drawing (by digest; NNVisError to upload again when it is gone), else a
    subset observation."""
    shape = tuple(analysis.manifest["image_shape"])
    if isinstance(data, dict) and data.get("digest") is not None:
        return stored_image(data["digest"], shape), str(data.get("source") or "uploaded image")[:80]
    index = observation_index(analysis, (data or {}).get("observation", 0) if isinstance(data, dict) else data)
    return analysis.subset()["images"][index], f"observation {index}"


def uploaded_image(contents: str | None, filename: str | None, image_shape: tuple[int, ...],
                   preprocess=None) -> np.ndarray:
    """A dcc.Upload data URL as a uint8 image of `image_shape` (through the workspace's resize
    and crop, `preprocess`), with read_image_file's limits (PNG or JPEG, at most 10 MB and 4096
    pixels a side)."""
    name = Path(filename or "the uploaded file").name
    header, _, payload = (contents or "").partition(";base64,")
    if not header.startswith("data:") or not payload:
        raise NNVisError(f"{name} did not arrive as a file; upload a PNG or JPEG")
    if len(payload) > (MAX_FILE_BYTES + 2) * 4 // 3 + 4:
        raise NNVisError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB; allowed: at most "
                         f"{MAX_FILE_BYTES // 2**20} MB")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise NNVisError(f"{name} did not arrive as a file; upload a PNG or JPEG") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(raw)
        try:
            return read_image_file(path, image_shape, preprocess)
        except NNVisError as error:
            raise NNVisError(str(error).replace(str(path), name)) from None


NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
POINT = re.compile(f"({NUMBER}),({NUMBER})")


def drawn_strokes(relayout: dict | None) -> list[np.ndarray]:
    """The freehand paths drawn on the canvas (plotly's 'M x,y L x,y ...' shapes) as (n, 2)
    arrays of points; NNVisError beyond nnvis.deepvis.drawing's bounds (counted before parsing)."""
    paths = [str(shape["path"]) for shape in (relayout or {}).get("shapes") or []
             if isinstance(shape, dict) and shape.get("path")]
    check_drawing(len(paths), sum(path.count(",") for path in paths))  # a point is 'x,y'
    strokes = []
    for path in paths:
        found = POINT.findall(path)
        if found:
            strokes.append(np.array(found, dtype=np.float64).reshape(-1, 2))
    return strokes


__all__ = ["MAX_POINTS", "MAX_TOP_K", "METHOD_CHOICES", "METHOD_NAMES", "drawn_strokes", "input_image",
           "method_choice", "observation_index", "open_view", "top_k_number", "unit_number", "uploaded_image"]
