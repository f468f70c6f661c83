"""The work behind the deep-visualization page, done by a job: a layer grid, saliency maps, the
first-layer filters and a unit's weighted-sum view of one input, each written as plain arrays
(nnvis.deepvis.results) to `<job cache>/deepvis/`, a folder every web worker reads, under a name
made from what produced it (workspace, weights of the epoch, layer, input, method, unit, top-k).
A request only reads that folder (`stored`); the job computes the parts it lacks (`compute_parts`).

A part is named by a string: "grid", "filters", "wsum", "unit:<method>" (saliency of the unit)
or "class:<method>" (saliency of the predicted class)."""

from __future__ import annotations

import numpy as np

from callbacks.deepvis_inputs import (
    METHOD_CHOICES,
    METHOD_NAMES,
    input_image,
    method_choice,
    open_view,
    top_k_number,
    unit_number,
)
from nnvis.deepvis.grid import (
    first_layer_filters,
    layer_grid,
    model_input,
    signed_unit,
    tile,
    weight_picture,
    weighted_sum_view,
)
from nnvis.deepvis.results import error_arrays, grid_arrays, pictures_arrays
from nnvis.deepvis.saliency import METHODS, Explainer
from nnvis.errors import NNVisError
from nnvis.models.layout import parse_layouts
from web.uploads import SharedFolder, input_key, result_digest

RESULTS = SharedFolder("deepvis", max_files=4096, max_bytes=512 * 2**20)  # what a job wrote, read by every worker
SHOWN_FILTERS = 64
PARTS = ("grid", "filters", "wsum", *(f"{target}:{method}" for target in ("unit", "class") for method in METHODS))


def saliency_parts(unit: int | None, method: str) -> list[str]:
    """The saliency parts shown for `unit` (None: only the predicted class) and the method choice."""
    methods = METHODS if method == "all" else (method,)
    return [f"unit:{m}" for m in methods if unit is not None] + [f"class:{m}" for m in methods]


def part_name(analysis, epoch: int, part: str, layer: str, data, unit: int | None, top_k: int) -> str:
    """The file name of `part` of the view: from the workspace, the weights of `epoch` and only
    what the part depends on (the filters: nothing else; a class's saliency: not the layer)."""
    target, _, method = part.partition(":")
    params = {"grid": dict(layer=layer, input=input_key(data)), "filters": {},
              "wsum": dict(layer=layer, unit=unit, top_k=top_k),
              "unit": dict(layer=layer, method=method, unit=unit, input=input_key(data)),
              "class": dict(method=method, input=input_key(data))}[target]
    kind = f"deepvis-{'saliency-' if method else ''}{target}"
    return result_digest(kind, analysis, analysis.key(kind, epoch=epoch, **params))


def stored(analysis, epoch: int, part: str, layer: str, data, unit: int | None, top_k: int) -> dict | None:
    """The arrays of `part` computed already (this process's memory, else the shared folder), or None."""
    return RESULTS.read_arrays(part_name(analysis, epoch, part, layer, data, unit, top_k))


class Parts:
    """Computes the parts of one view, building the model, the input and the explainer once."""

    def __init__(self, analysis, epoch: int, layer: str, data, unit: int | None, top_k: int):
        self.analysis, self.epoch, self.layer, self.data, self.unit, self.top_k = \
            analysis, epoch, layer, data, unit, top_k
        self.model = analysis.model(epoch)
        self._x = self._explainer = None

    @property
    def x(self):
        if self._x is None:
            self._x = model_input(self.model, input_image(self.analysis, self.data)[0])
        return self._x

    @property
    def explainer(self) -> Explainer:
        if self._explainer is None:
            self._explainer = Explainer(self.model, self.analysis.device, tokens=self.analysis.config.tokens,
                                        layouts=parse_layouts(self.analysis.config.layout))
        return self._explainer

    def arrays(self, part: str) -> dict:
        """The arrays of `part`, or why it cannot be made (kept in its place too)."""
        try:
            return self.compute(part)
        except NNVisError as error:
            return error_arrays(error)

    def compute(self, part: str) -> dict:
        target, _, method = part.partition(":")
        if target == "grid":
            return grid_arrays(layer_grid(self.model, self.x, self.layer, device=self.analysis.device))
        if target == "filters":
            filters = first_layer_filters(self.model, tuple(self.analysis.manifest["image_shape"]))
            shown = filters.images[:SHOWN_FILTERS]
            mosaic, _ = tile(weight_picture(shown), gap=1, fill=255)
            return pictures_arrays([(f"{filters.layer}: filters 0–{len(shown) - 1} of {len(filters.kernels)}",
                                     mosaic)])
        if target == "wsum":
            return self.weighted_sum()
        if target == "unit":
            found = self.explainer.unit(self.x, self.layer, self.unit, method)
            title = f"{METHOD_NAMES[method]} · unit {self.unit}" + (" (no gradient)" if found.peak == 0 else "")
            return pictures_arrays([(title, found.saliency.astype(np.float32))])
        found = self.explainer.predicted_class(self.x, method)
        title = f"{METHOD_NAMES[method]} · {self.analysis.classes[found.class_index]} ({found.value:.0%})"
        return pictures_arrays([(title, found.saliency.astype(np.float32))])

    def weighted_sum(self) -> dict:
        shape = tuple(self.analysis.manifest["image_shape"])
        try:
            found = weighted_sum_view(self.model, shape, self.layer, self.unit, self.top_k)
        except (TypeError, ValueError) as error:  # NNVisError is a ValueError: said in the status line
            raise NNVisError(str(error)) from None
        pictures = [(f"unit {self.unit} of {self.layer}", weight_picture(signed_unit(found.view[None])[0]))]
        pictures += [(f"{i}<br>{w:+.3g}", weight_picture(v)) for i, w, v in
                     zip(found.contributors, found.weights, signed_unit(found.contributor_views))]
        status = f"weighted sum over {' → '.join(found.chain)}" if len(found.chain) > 1 \
            else "a first-layer unit: its filter"
        return pictures_arrays(pictures, status)


def checked_request(request) -> dict:
    """The job request's fields, each checked as the page checks its boxes (it comes back from the browser)."""
    if not isinstance(request, dict):
        raise NNVisError("a /deepvis job request is a JSON object")
    parts = request.get("parts")
    if not isinstance(parts, list) or not parts or len(parts) > len(PARTS) or not set(parts) <= set(PARTS):
        raise NNVisError(f"a /deepvis job computes some of {', '.join(PARTS)}; got {str(parts)[:200]}")
    layer = request.get("layer")
    if not isinstance(layer, str) or len(layer) > 200:
        raise NNVisError("a /deepvis job needs a layer (a module path)")
    data = request.get("input")
    if not isinstance(data, dict) or not set(data) <= {"digest", "source", "observation"}:
        raise NNVisError("a /deepvis job's input is an observation or an image's digest")
    if request.get("sort") not in ("index", "mean") or method_choice(request.get("method")) not in METHOD_CHOICES:
        raise NNVisError("a /deepvis job's sort is index or mean")
    unit = unit_number(request.get("unit"))
    if unit is None and any(part == "wsum" or part.startswith("unit:") for part in parts):
        raise NNVisError("a /deepvis job's unit views need a unit")
    return {"ws": request.get("ws"), "epoch": request.get("epoch"), "layer": layer, "input": data,
            "sort": request["sort"], "unit": unit, "top_k": top_k_number(request.get("top_k")),
            "method": method_choice(request.get("method")), "parts": list(dict.fromkeys(parts))}


def compute_parts(analysis, request: dict) -> None:
    """Compute the parts the checked `request` asks for that are not stored yet (in a job only)."""
    epoch = open_view(request["ws"], request["epoch"], request["layer"])[1]
    view = (epoch, request["layer"], request["input"], request["unit"], request["top_k"])
    missing = [part for part in request["parts"] if stored(analysis, view[0], part, *view[1:]) is None]
    if not missing:
        return
    parts = Parts(analysis, *view)
    for done, part in enumerate(missing):
        analysis.progress(f"computing {part.replace(':', ' ')}", done, len(missing))
        RESULTS.write_arrays(part_name(analysis, view[0], part, *view[1:]), parts.arrays(part))
    analysis.progress("done", len(missing), len(missing))
