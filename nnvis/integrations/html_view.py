"""A view as one self-contained HTML page: the observation projection (hover thumbnails, colour
by class, prediction or error), the neuron map (a click colours the observations by that neuron,
in the browser), the NH / trustworthiness / continuity header and the model's accuracy. No
server and no network: plotly.js (read from the plotly package's files, not imported: the
backend does not import plotly), the thumbnails (one PNG sprite) and each neuron's activations
(uint8, quantised per neuron between its minimum and maximum) are embedded."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import numpy as np

from nnvis.errors import NNVisError
from nnvis.integrations.html_page import PAGE
from nnvis.integrations.sprite import sprite
from nnvis.models.layers import INPUT_LAYER
from nnvis.projection.methods import check_method
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace

MAX_ACTIVATIONS = 50_000_000  # embedded neuron activations (bytes, one per neuron and observation)
METHOD_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def plotly_js() -> str:
    """The plotly.js bundle that the plotly package ships (found, not imported)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise NNVisError("the plotly package is not installed; install nnvis's dependencies (pip install -e .)")
    path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NNVisError(f"plotly.js is not where the plotly package keeps it ({path})")
    return path.read_text(encoding="utf-8")


def quantised(by_unit: np.ndarray) -> tuple[str, list[float], list[float]]:
    """Units x observations activations as base64 uint8 (row-major), with each unit's minimum
    and maximum: value = lo + byte / 255 * (hi - lo)."""
    values = np.asarray(by_unit, dtype=np.float32)
    lo, hi = values.min(axis=1), values.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    codes = np.rint((values - lo[:, None]) / span[:, None] * 255).astype(np.uint8)
    return base64.b64encode(codes.tobytes()).decode("ascii"), lo.tolist(), hi.tolist()


def check_stored(analysis: Analysis, layer: str, epoch: int, method: str) -> None:
    """NNVisError unless the projection, its neuron map and the epoch's capture are stored."""
    name = f"the {METHOD_NAMES.get(method, method)} of {layer} at epoch {epoch}"
    if not analysis.has_projection(layer, -1 if layer == INPUT_LAYER else epoch, method):
        raise NNVisError(f"{name} is not computed yet; show it first (it is computed in the background), "
                         "then export it")
    if not analysis.captured(epoch):
        raise NNVisError(f"the activations of epoch {epoch} are not captured yet; show a view of it first")
    if layer != INPUT_LAYER and analysis.neuron_map_key(layer, epoch) not in analysis.store:
        raise NNVisError(f"the neuron map of {layer} at epoch {epoch} is not computed yet; show it first, "
                         "then export")


def view_data(analysis: Analysis, layer: str, epoch: int, method: str | None = None, *,
              stored_only: bool = False) -> dict:
    """What the page shows, as JSON-ready values. `stored_only`: read only what the store holds
    (NNVisError naming what is missing), as a web request must; else compute what is missing."""
    analysis.check_layer(layer)
    analysis.weights(epoch)  # NNVisError naming the epochs there are
    method = check_method(method or analysis.config.projection)
    if stored_only:
        check_stored(analysis, layer, epoch, method)
    projection = analysis.projection(layer, epoch, method)
    predictions, confidence = analysis.predictions(epoch)
    subset = analysis.subset()
    png, columns, height, width = sprite(subset["images"])
    accuracy = analysis.test_accuracy(epoch) if not stored_only or keys.accuracy(analysis, epoch) in analysis.store \
        else None
    faithful = analysis.faithfulness(layer, epoch, method) \
        if not stored_only or analysis.has_faithfulness(layer, epoch, method) else None
    data = {
        "title": f"{analysis.workspace.path.name}: {analysis.config.dataset} / {analysis.config.model}",
        "layer": layer, "epoch": int(epoch), "method": METHOD_NAMES.get(method, method),
        "classes": analysis.classes, "labels": analysis.labels.astype(int).tolist(),
        "predictions": predictions.astype(int).tolist(), "confidence": np.round(confidence, 4).tolist(),
        "index": subset["index"].astype(int).tolist(), "x": np.round(projection["points"][:, 0], 5).tolist(),
        "y": np.round(projection["points"][:, 1], 5).tolist(), "nh": float(np.mean(projection["nh"])),
        "accuracy": accuracy, "sprite": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "sprite_columns": columns, "cell": [height, width],
    }
    if faithful is not None:
        data["faithfulness"] = {"k": [int(k) for k in faithful["k"]],
                                "trustworthiness": [float(v) for v in faithful["trustworthiness"]],
                                "continuity": [float(v) for v in faithful["continuity"]],
                                "observations": int(faithful["observations"])}
    if layer != INPUT_LAYER:
        data["neurons"] = neuron_data(analysis, layer, epoch)
    return data


def neuron_data(analysis: Analysis, layer: str, epoch: int) -> dict:
    """The neuron map (positions, best class and its score per live neuron) and every neuron's
    activations over the observations, quantised."""
    found = analysis.neuron_map(layer, epoch)
    by_unit = analysis.activations_by_unit(layer, epoch)
    if by_unit.size > MAX_ACTIVATIONS:
        raise NNVisError(f"{layer} has {by_unit.shape[0]:,} neurons over {by_unit.shape[1]:,} observations, too many "
                         f"to embed; allowed: at most {MAX_ACTIVATIONS:,} values (choose a smaller layer or subset)")
    positions, scores = found["positions"], found["scores"]
    units = np.flatnonzero(~np.isnan(positions[:, 0]))
    codes, lo, hi = quantised(by_unit)
    return {"units": units.tolist(), "x": np.round(positions[units, 0], 5).tolist(),
            "y": np.round(positions[units, 1], 5).tolist(), "best": scores[:, units].argmax(axis=0).tolist(),
            "score": np.round(scores[:, units].max(axis=0), 4).tolist(), "count": int(by_unit.shape[0]),
            "activations": codes, "lo": lo, "hi": hi}


def html_view(analysis: Analysis, layer: str, epoch: int, method: str | None = None, *,
              stored_only: bool = False) -> str:
    """The page (a str) of `layer` at `epoch` projected by `method` (the workspace's by default)."""
    payload = json.dumps(view_data(analysis, layer, epoch, method, stored_only=stored_only), allow_nan=False)
    head, rest = PAGE.split("{{PLOTLY}}")
    middle, tail = rest.split("{{DATA}}")
    return head + plotly_js() + middle + payload.replace("</", "<\\/") + tail


def export_html(workspace: str | Path, layer: str, out: str | Path, epoch: int | None = None,
                method: str | None = None) -> Path:
    """Write the page of `layer` at `epoch` (default: the last) to `out`; its path."""
    analysis = Analysis(Workspace(workspace))
    epoch = analysis.epochs[-1] if epoch is None else epoch
    page = html_view(analysis, layer, epoch, method)
    out = Path(out)
    out.write_text(page, encoding="utf-8")
    return out
