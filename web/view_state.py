"""The view a page shows, kept in its address so that a link reopens it: one reader for the
query values every page takes (`choice`, `parse_selection`, `open_view`, `view_query`), and one
writer (`follow_address`) that puts a page's controls back into the address bar as they change."""

from __future__ import annotations

from urllib.parse import urlencode

from dash import ClientsideFunction, Input, Output, State, dcc, html

from web.context import open_analysis, workspace_options
from web.registry import clientside_callback


def choice(value, allowed, default):
    """A query-string value as one of `allowed` (ints when `allowed` holds ints), else `default`."""
    allowed = list(allowed)
    if allowed and all(isinstance(a, int) for a in allowed):
        return int(value) if str(value).isdigit() and int(value) in allowed else default
    return value if value in allowed else default


def whole_number(value, default: int | None = None, low: int = 0) -> int | None:
    """A query-string value as a whole number >= `low`, else `default`."""
    return int(value) if str(value).isdigit() and int(value) >= low else default


def decimal(value, default: float) -> float:
    """A query-string value as a number >= 0, else `default`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if 0 <= number < float("inf") else default


def parse_selection(text: str | None, size: int) -> list[int]:
    """Observation indices from a link's `sel` ("3-7,12"), sorted, keeping those inside
    0..size-1 and skipping parts that are not indices or ranges (a link never fails)."""
    from nnvis.validation import parse_ranges

    return sorted(parse_ranges(text, "sel", size=size, strict=False))


def open_view(ws, layer, epoch) -> tuple | None:
    """(workspace number, Analysis, layer, epoch) for a link's values, falling back to the
    first workspace, its last captured layer and last epoch; None when no workspace is ready."""
    numbers = [option["value"] for option in workspace_options()]
    if not numbers:
        return None
    number = choice(ws, numbers, numbers[0])
    analysis = open_analysis(number)
    return number, analysis, choice(layer, analysis.layers, analysis.layers[-1]), \
        choice(epoch, analysis.epochs, analysis.epochs[-1])


def view_query(ws, layer, epoch, **extra) -> str:
    """The query string of a view, e.g. `?ws=0&layer=hidden4&epoch=2&unit=7`."""
    pairs = {"ws": ws, "layer": layer, "epoch": epoch, **{k: v for k, v in extra.items() if v not in (None, "")}}
    return "?" + urlencode(pairs)


def follow_address(prefix: str, params: dict[str, tuple[str, str]]) -> None:
    """Declare the browser-side callback that writes the controls `params` (query key ->
    (component id, property)) into the address bar, without reloading, whenever one changes;
    the page holds `address_holder(prefix, params)`. Empty values are left out, lists are
    written as "a,b"."""
    clientside_callback(ClientsideFunction("nnvis", "followView"), Output(f"{prefix}-address", "children"),
                        *[Input(element, prop) for element, prop in params.values()],
                        State(f"{prefix}-address-keys", "data"))


def address_holder(prefix: str, params: dict, quiet: dict | None = None) -> html.Span:
    """The hidden parts `follow_address` needs on the page: the address it wrote and the keys.
    `quiet`: the opening values of keys the link did not hold; they stay out of the address
    while every one of them is unchanged (a short link), and all go in once one changes."""
    spec = {"keys": list(params), "quiet": quiet or {}}
    return html.Span([html.Span(id=f"{prefix}-address"), dcc.Store(id=f"{prefix}-address-keys", data=spec)],
                     hidden=True)
