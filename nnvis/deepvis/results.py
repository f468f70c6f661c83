"""What a /deepvis job computes for one input, as named plain arrays (stored without pickling,
read back by every web worker): a layer grid, and titled pictures (saliency maps, filters, a
weighted-sum view) with a line of text. A result may instead be why it cannot be made
(`{"error"}`): kept too, so that it is said at once next time, with no job."""

from __future__ import annotations

import numpy as np

from nnvis.deepvis.grid import LayerGrid, check_sort
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import top_channels


def grid_arrays(grid: LayerGrid) -> dict[str, np.ndarray]:
    """A layer grid (in any order) as plain arrays; its order is chosen again when read."""
    arrays = {"layer": np.array(grid.layer), "maps": np.asarray(grid.maps, np.float32),
              "alphas": np.asarray(grid.alphas, np.float32), "dense": np.array(bool(grid.dense))}
    if grid.probabilities is not None:
        arrays["probabilities"] = np.asarray(grid.probabilities, np.float32)
    return arrays


def grid_from_arrays(arrays: dict[str, np.ndarray], sort: str = "index") -> LayerGrid:
    """Inverse of `grid_arrays`, its cells sorted by index or by mean activation (as layer_grid does)."""
    maps = arrays["maps"]
    order = np.arange(len(maps)) if check_sort(sort) == "index" else top_channels(maps, len(maps))[0]
    return LayerGrid(str(arrays["layer"]), maps, arrays["alphas"], order, sort, bool(arrays["dense"]),
                     arrays.get("probabilities"))


def pictures_arrays(pictures: list[tuple[str, np.ndarray]], text: str = "") -> dict[str, np.ndarray]:
    """Titled pictures (heat maps, RGB pictures) and a line of text as plain arrays."""
    arrays = {"titles": np.array([title for title, _ in pictures], dtype=str).reshape(-1), "text": np.array(text)}
    arrays.update({f"picture{i}": np.asarray(picture) for i, (_, picture) in enumerate(pictures)})
    return arrays


def pictures_from_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[tuple[str, np.ndarray]], str]:
    """Inverse of `pictures_arrays`: (titled pictures, text)."""
    return [(str(title), arrays[f"picture{i}"]) for i, title in enumerate(arrays["titles"])], str(arrays["text"])


def error_arrays(error: NNVisError) -> dict[str, np.ndarray]:
    """Why a result cannot be made, kept in its place."""
    return {"error": np.array(str(error))}


def raise_error(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`arrays`, or the NNVisError they hold instead of a result."""
    if "error" in arrays:
        raise NNVisError(str(arrays["error"]))
    return arrays
