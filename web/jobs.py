"""Background jobs from the pages: the progress and cancel wiring of a background callback,
and running a job request from one. The callback itself already runs away from the web workers
(a fresh interpreter under `web.job_manager`, a Celery worker when REDIS_URL is set), so
the job runs in that process."""

from __future__ import annotations

import time
from typing import Callable

from dash import Input, Output, no_update
from dash.exceptions import PreventUpdate

from nnvis.errors import NNVisError
from nnvis.jobs import FIELDS, check_fields, check_known, check_request, launch
from nnvis.progress import seconds
from nnvis.workspace.analysis import Analysis
from web.context import current_settings, open_analysis
from web.errors import or_message

SHOWN = {"display": "inline-flex"}
HIDDEN = {"display": "none"}
READ_ONLY_MESSAGE = ("This server is read-only: it shows what was computed already and starts no jobs. "
                     "Pick a computed view, or ask its owner to compute this one.")


def background_options(prefix: str) -> dict:
    """`callback` options making a background job with the indicator `web.components.job_indicator(prefix)`."""
    return {"background": True, "prevent_initial_call": True, "interval": 500,  # progress polled twice a second
            "running": [(Output(f"{prefix}-indicator", "style"), SHOWN, HIDDEN)],
            "progress": [Output(f"{prefix}-progress", "value"), Output(f"{prefix}-progress", "max"),
                         Output(f"{prefix}-stage", "children")],
            "progress_default": ["0", "1", "computing in the background…"],
            "cancel": [Input(f"{prefix}-cancel", "n_clicks")]}


def reporter(set_progress, clock: Callable[[], float] = time.monotonic) -> Callable[[str, int, int], None]:
    """A Progress (stage, done, total) that moves the page's indicator through Dash's `set_progress`:
    the stage, its count and, once a step is done, the time left for the stage at its pace so far."""
    began: dict[str, tuple[float, int]] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = clock()
        start, first = began.setdefault(stage, (now, done))
        left = ""
        if first < done < total:
            left = f" · about {seconds((now - start) / (done - first) * (total - done))} left"
        set_progress((str(done), str(max(total, 1)), f"{stage} {done}/{total}{left}"))
    return report


def job_for(kind: str, request) -> dict:
    """The `kind` job (fixed by the callback that starts it) for a page's `request`: only the
    fields of that kind, each checked; its workspaces are the server's own, by number (`ws`, and
    `ws2` for a comparison's second side), never a path or a job kind the browser sent."""
    if not isinstance(request, dict):
        raise NNVisError(f"the {kind} job's request is not an object; change the view to ask again")
    servers = ("ws", "ws2") if kind == "compare" else ("ws",)
    check_known(request, kind, (*servers, *(name for name in FIELDS[kind] if name != "workspace2")))
    check_fields(request, kind)
    job = {"job": kind, **{key: value for key, value in request.items() if key not in servers}}
    job["workspace"] = str(open_analysis(request.get("ws")).workspace.path)  # the allow-list checked
    if kind == "compare":
        job["workspace2"] = str(open_analysis(request.get("ws2")).workspace.path)
    return check_request(job)


def run_request(set_progress, kind: str, request: dict) -> None:
    """Run the `kind` job for the page's `request` (see `job_for`), reporting its stages through
    Dash's `set_progress`."""
    if current_settings().read_only:
        raise NNVisError(READ_ONLY_MESSAGE)
    launch(job_for(kind, request), reporter(set_progress), in_process=True)


def run_then_show(set_progress, kind: str, request: dict | None, *, still_asked: Callable[[dict], bool],
                  show: Callable[[], object], answer: Callable[[str], object]):
    """A page's background job callback: run the `kind` job of `request` (`run_request`), then
    the view `show()` if the page still asks for what it computed (`still_asked(request)`); else
    the page is left alone (the user moved on; the result waits in the store). Bad input or a
    failed job: the outputs `answer(message)` makes."""
    if not request:
        raise PreventUpdate
    failed = or_message(run_request, set_progress, kind, request, answer=answer)
    if failed is not None:
        return failed
    if not still_asked(request):
        raise PreventUpdate
    return show()


def asks_for(values, request: dict, fields=("ws", "layer", "epoch", "method")) -> bool:
    """Whether the page's control `values` are the request's `fields`, in order."""
    return list(values) == [request.get(field) for field in fields]


def run_on_workspace(set_progress, ws, stage: str, compute: Callable[[Analysis], object]) -> None:
    """Run `compute(analysis)` over workspace number `ws` in this background callback's process
    (a job process, never a web worker), its progress shown by the page's indicator."""
    if current_settings().read_only:
        raise NNVisError(READ_ONLY_MESSAGE)
    analysis = open_analysis(ws)
    analysis.progress = reporter(set_progress)  # this copy's own (web.context.fresh_models)
    set_progress(("0", "1", f"{stage}…"))
    compute(analysis)


def no_job():
    """The job request of a view that needs no job: None, which stops a job still running for the
    page's previous view; nothing on a read-only server (it runs none, and writes nothing)."""
    return no_update if current_settings().read_only else None
