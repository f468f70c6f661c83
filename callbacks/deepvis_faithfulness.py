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

from callbacks.deepvis_inputs import input_image, method_choice, open_view
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


def result_name(analysis, epoch: int, data, method: str) -> str:
    """The file name of the measures of `method` for the predicted class of input `data` at `epoch`."""
    return result_digest(KIND, analysis, analysis.key(KIND, epoch=epoch, method=method, input=input_key(data)))


def measures_arrays(analysis, epoch: int, data, method: str) -> dict[str, np.ndarray]:
    """The measures of `method` for the input (one number each), or why there are none (in a job only)."""
    image = input_image(analysis, data)[0]
    try:
        found = Faithfulness(analysis.model(epoch), method, device=analysis.device).measure(image[None])
    except NNVisError as error:
        return error_arrays(error)
    return {name: np.asarray(found[name], dtype=np.float64).reshape(-1)[:1] for name in MEASURES}


def stored_measures(analysis, epoch: int, data, method: str) -> dict | str | None:
    """The measures stored for `method` (floats), the message kept instead, or None (not computed)."""
    arrays = RESULTS.read_arrays(result_name(analysis, epoch, data, method))
    if arrays is None:
        return None
    if "error" in arrays:
        return str(arrays["error"])
    return {name: float(arrays[name][0]) for name in MEASURES}


def badges_view(ws, data, epoch, method, ran: bool = False) -> tuple:
    """(the badges of the methods shown, the job request for those not computed yet, or no job)."""
    analysis, epoch = open_view(ws, epoch)
    input_image(analysis, data)  # a bad or vanished input is said here, before any job
    methods = shown_methods(method)
    found = {m: stored_measures(analysis, epoch, data, m) for m in methods}
    missing = [m for m, value in found.items() if value is None]
    if missing and (ran or current_settings().read_only):
        found.update({m: waiting(ran) for m in missing})
        return badges(found), no_job()
    if not missing:
        return badges(found), no_job()
    return badges(found), {"ws": ws, "epoch": epoch, "input": input_of(data), "method": method_choice(method)}


def checked_request(request) -> dict:
    """The job request's fields, each checked (it comes back from the browser)."""
    if not isinstance(request, dict) or set(request) != {"ws", "epoch", "input", "method"}:
        raise NNVisError("a faithfulness job request holds ws, epoch, input and method")
    method = method_choice(request["method"])
    data = request["input"]
    if not isinstance(data, dict) or len(data) != 1 or not set(data) <= {"digest", "observation"}:
        raise NNVisError("a faithfulness job's input is an observation or an image's digest")
    return {"ws": request["ws"], "epoch": request["epoch"], "input": data, "method": method}


def compute_measures(analysis, request: dict) -> None:
    """Compute and keep the measures of the checked `request`'s methods not stored yet (in a job only)."""
    epoch = open_view(request["ws"], request["epoch"])[1]
    data = request["input"]
    missing = [m for m in shown_methods(request["method"]) if stored_measures(analysis, epoch, data, m) is None]
    for done, method in enumerate(missing):
        analysis.progress(f"faithfulness of {method}", done, len(missing))
        RESULTS.write_arrays(result_name(analysis, epoch, data, method),
                             measures_arrays(analysis, epoch, data, method))
    analysis.progress("done", len(missing), len(missing))


@callback(Output("dv-faith", "children"), Output("dv-faith-request", "data"), State("dv-ws", "value"),
          Input("dv-input", "data"), Input("dv-epoch", "value"), Input("dv-method", "value"))
def show_badges(ws, data, epoch, method):
    """The badges computed already, else 'computing…' and the job's request: never a model here."""
    return or_message(badges_view, ws, data, epoch, method, answer=lambda message: (message, no_job()))


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
        return badges_view(view["ws"], view["input"], view["epoch"], view["method"], ran=True)[0]
    return or_message(finished, answer=not_measured)


__all__ = ["badges_view", "checked_request", "compute_measures", "measures_arrays"]
