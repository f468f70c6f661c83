"""The faithfulness badges of /deepvis: for each saliency method shown, the measures of
nnvis.deepvis.faithfulness for the predicted class of the shown input (an observation, an
upload, a drawing), computed by a background job and kept in the folder of the page's other
results (callbacks.deepvis_jobs.RESULTS, read by every worker) under a name made from the
workspace, the weights of the epoch, the input and the method. A request only reads that folder;
what is missing goes into the `dv-faith-request` store, whose background callback computes it."""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State
from dash.exceptions import PreventUpdate

from callbacks.deepvis_inputs import input_image, method_choice, open_view, unit_number
from callbacks.deepvis_jobs import RESULTS
from callbacks.deepvis_views import waiting
from layouts.deepvis_faithfulness import badges
from nnvis.deepvis.faithfulness import MEASURES, Faithfulness
from nnvis.deepvis.results import error_arrays
from nnvis.deepvis.saliency import METHODS
from nnvis.errors import NNVisError
from web.context import current_settings
from web.errors import or_message, said_in_place
from web.jobs import background_options, no_job, run_on_workspace
from web.registry import callback
from web.uploads import input_key, input_of, result_digest

KIND = "deepvis-faithfulness"


def shown_methods(method) -> tuple[str, ...]:
    """The methods whose maps the page shows for the saliency box's value."""
    method = method_choice(method)
    return METHODS if method == "all" else (method,)


def targets(layer, unit) -> list[tuple[str, int] | None]:
    """What the maps shown explain: the unit of the layer (its row, when a unit is chosen), then
    the predicted class (None)."""
    unit = unit_number(unit)
    if unit is not None and not isinstance(layer, str):
        raise NNVisError(f"layer {layer!r} is not a module path; pick one from the list")
    return ([(layer, unit)] if unit is not None else []) + [None]


def result_name(analysis, epoch: int, data, method: str, target=None) -> str:
    """The file name of the measures of `method` for `target` (None: the predicted class; else
    (layer, unit)) of input `data` at `epoch`."""
    params = {} if target is None else {"layer": target[0], "unit": int(target[1])}
    return result_digest(KIND, analysis, analysis.key(KIND, epoch=epoch, method=method, input=input_key(data),
                                                      **params))


def measures_arrays(analysis, epoch: int, data, method: str, target=None) -> dict[str, np.ndarray]:
    """The measures of `method` for the input (one number each), or why there are none (in a job only)."""
    image = input_image(analysis, data)[0]
    layer, unit = target if target is not None else (None, None)
    try:
        found = Faithfulness(analysis.model(epoch), method, layer=layer, unit=unit,
                             device=analysis.device).measure(image[None])
    except NNVisError as error:
        return error_arrays(error)
    return {name: np.asarray(found[name], dtype=np.float64).reshape(-1)[:1] for name in MEASURES}


def stored_measures(analysis, epoch: int, data, method: str, target=None) -> dict | str | None:
    """The measures stored for `method` (floats), the message kept instead, or None (not computed)."""
    arrays = RESULTS.read_arrays(result_name(analysis, epoch, data, method, target))
    if arrays is None:
        return None
    if "error" in arrays:
        return str(arrays["error"])
    return {name: float(arrays[name][0]) for name in MEASURES}


def badges_view(ws, data, epoch, method, ran: bool = False, layer=None, unit=None) -> tuple:
    """(the badges of the methods shown, for the unit's row and the class's, the job request for
    those not computed yet, or no job)."""
    analysis, epoch = open_view(ws, epoch, layer)
    input_image(analysis, data)  # a bad or vanished input is said here, before any job
    found = {(target, m): stored_measures(analysis, epoch, data, m, target)
             for target in targets(layer, unit) for m in shown_methods(method)}
    missing = [part for part, value in found.items() if value is None]
    if missing and (ran or current_settings().read_only):
        found.update({part: waiting(ran) for part in missing})
        return badges(found), no_job()
    if not missing:
        return badges(found), no_job()
    request = {"ws": ws, "epoch": epoch, "input": input_of(data), "method": method_choice(method)}
    if unit_number(unit) is not None:
        request.update(layer=layer, unit=unit_number(unit))
    return badges(found), request


def checked_request(request) -> dict:
    """The job request's fields, each checked (it comes back from the browser)."""
    fields = {"ws", "epoch", "input", "method"}
    if not isinstance(request, dict) or not (set(request) == fields or set(request) == fields | {"layer", "unit"}):
        raise NNVisError("a faithfulness job request holds ws, epoch, input and method (and a layer and unit)")
    method = method_choice(request["method"])
    data = request["input"]
    if not isinstance(data, dict) or len(data) != 1 or not set(data) <= {"digest", "observation"}:
        raise NNVisError("a faithfulness job's input is an observation or an image's digest")
    unit = unit_number(request.get("unit"))
    if "unit" in request and unit is None:
        raise NNVisError("a faithfulness job's unit is a whole number")
    layer = request.get("layer")
    if layer is not None and (not isinstance(layer, str) or len(layer) > 200):
        raise NNVisError("a faithfulness job's layer is a module path")
    return {"ws": request["ws"], "epoch": request["epoch"], "input": data, "method": method, "layer": layer,
            "unit": unit}


def compute_measures(analysis, request: dict) -> None:
    """Compute and keep the measures of the checked `request`'s methods and targets not stored yet
    (in a job only)."""
    epoch = open_view(request["ws"], request["epoch"], request["layer"])[1]
    data = request["input"]
    missing = [(target, m) for target in targets(request["layer"], request["unit"])
               for m in shown_methods(request["method"]) if stored_measures(analysis, epoch, data, m, target) is None]
    for done, (target, method) in enumerate(missing):
        what = "the class" if target is None else f"unit {target[1]}"
        analysis.progress(f"faithfulness of {method} for {what}", done, len(missing))
        RESULTS.write_arrays(result_name(analysis, epoch, data, method, target),
                             measures_arrays(analysis, epoch, data, method, target))
    analysis.progress("done", len(missing), len(missing))


@callback(Output("dv-faith", "children"), Output("dv-faith-request", "data"), State("dv-ws", "value"),
          Input("dv-input", "data"), Input("dv-epoch", "value"), Input("dv-method", "value"),
          Input("dv-layer", "value"), Input("dv-unit", "value"))
def show_badges(ws, data, epoch, method, layer=None, unit=None):
    """The badges computed already, else 'computing…' and the job's request: never a model here."""
    return or_message(badges_view, ws, data, epoch, method, False, layer, unit,
                      answer=lambda message: (message, no_job()))


def not_measured(message: str) -> str:
    return message


@callback(Output("dv-faith", "children", allow_duplicate=True), Input("dv-faith-request", "data"),
          on_error=said_in_place(not_measured), **background_options("dv-faith-job"))
def run_badges_job(set_progress, request):
    """Measure the methods the page asked for away from the web workers, then show the badges."""
    if not isinstance(request, dict) or not request:
        raise PreventUpdate

    def finished():
        view = checked_request(request)
        run_on_workspace(set_progress, view["ws"], "measuring faithfulness",
                         lambda analysis: compute_measures(analysis, view))
        return badges_view(view["ws"], view["input"], view["epoch"], view["method"], True, view["layer"],
                           view["unit"])[0]
    return or_message(finished, answer=not_measured)


__all__ = ["badges_view", "checked_request", "compute_measures", "measures_arrays"]
