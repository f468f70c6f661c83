"""The one error path of the callbacks. Bad input (NNVisError) is said in the page's banner in
its own words; anything else is logged with its traceback and the banner says only that
something went wrong (no exception text: it may name server paths). A view that must show its
message in place (inside a figure, in a status line) uses `or_message` instead of the banner."""

from __future__ import annotations

import logging
from typing import Any, Callable

import dash
from dash.exceptions import BackgroundCallbackError

from nnvis.errors import DISK_FULL, NNVisError, is_disk_full

BANNER = "error-banner"
LOG = logging.getLogger("nnvis")
NNVIS_ERROR_LINE = f"{NNVisError.__module__}.{NNVisError.__qualname__}: "


def unexpected_message(kind: str) -> str:
    """The banner's text for a failure that is not bad input (`kind`: the exception's type name)."""
    return f"Something went wrong ({kind}); the view is unchanged. Try again, or pick another view."


def error_message(error: Exception) -> str:
    """What the page says about `error`: an NNVisError's own text (also one raised inside a
    background job), a job refused or stopped in its words, else a short message (logged in full)."""
    if isinstance(error, NNVisError):
        return str(error)
    if is_disk_full(error):
        LOG.error("callback failed: the disk is full (%s)", error)
        return DISK_FULL
    if isinstance(error, BackgroundCallbackError):
        text = str(error)
        if "Traceback" not in text:  # a job refused or stopped: the manager's own words
            return text.split(": ", 1)[-1].strip()
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        if last.startswith(NNVIS_ERROR_LINE) or last.startswith("nnvis.errors.NotInStore: "):
            return last.split(": ", 1)[1].strip()  # bad input found inside the job
        LOG.error("background callback failed:\n%s", text)
        return unexpected_message("in a background job")
    LOG.error("callback failed", exc_info=error)
    return unexpected_message(type(error).__name__)


def show_callback_error(error: Exception) -> None:
    """Dash's `on_error` for every callback: the message in the page's banner, the view left as it was."""
    dash.set_props(BANNER, {"children": error_message(error)})


def or_message(view: Callable, *args, answer: Callable[[str], Any]) -> Any:
    """`view(*args)`, or for bad input the outputs `answer(message)` makes: the message shown in
    place (in a figure, a status line) instead of in the banner."""
    try:
        return view(*args)
    except NNVisError as error:
        return answer(str(error))


def figure_and_text(make_figure: Callable[[str], Any], outputs: int) -> Callable[[str], tuple]:
    """An `answer` for `or_message` of a view with `outputs` outputs: the message drawn by
    `make_figure` in the first (a figure) and written in the last (a status line), the others unchanged."""
    return lambda message: (make_figure(message),) + (dash.no_update,) * (outputs - 2) + (message,)


NOT_COMPUTED = "Not computed: {message} Reload the page (or change a control) to ask again."


def said_in_place(answer: Callable[[str], Any]) -> Callable[[Exception], Any]:
    """`on_error` for a background callback whose view said 'Computing…' while it waited: a job
    refused (e.g. the per-user cap) or failed is said in the banner as everywhere, and in the view,
    which gets the outputs `answer(text)` instead of waiting for ever on a job that never ran."""
    def handle(error: Exception) -> Any:
        message = error_message(error)
        dash.set_props(BANNER, {"children": message})
        return answer(NOT_COMPUTED.format(message=message))
    return handle
