"""The view a page shows, kept in its address so that a link reopens it. Each page declares its
keys once in a `ViewState` (query key -> the control that holds it and how a link's value is
read: `choice`, `whole_number`, `decimal`, `parse_selection`...); `ViewState.read` turns a link's
query into the page's opening values, and `ViewState.follow` / `ViewState.holder` put the
controls back into the address bar as they change (`view_query` writes a link to another page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
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


def view_query(ws, layer, epoch, **extra) -> str:
    """The query string of a view, e.g. `?ws=0&layer=hidden4&epoch=2&unit=7`."""
    pairs = {"ws": ws, "layer": layer, "epoch": epoch, **{k: v for k, v in extra.items() if v not in (None, "")}}
    return "?" + urlencode(pairs)


def follow_address(prefix: str, params: dict[str, tuple[str, str]], address_id: str | None = None) -> None:
    """Declare the browser-side callback that writes the controls `params` (query key ->
    (component id, property)) into the address bar, without reloading, whenever one changes;
    the page holds `address_holder(prefix, params)`. Empty values are left out, lists are
    written as "a,b"; the address is also written into `address_id` (default `{prefix}-address`)."""
    clientside_callback(ClientsideFunction("nnvis", "followView"), Output(address_id or f"{prefix}-address",
                                                                          "children"),
                        *[Input(element, prop) for element, prop in params.values()],
                        State(f"{prefix}-address-keys", "data"))


def address_holder(prefix: str, params: dict, quiet: dict | None = None, address_id: str | None = None) -> html.Span:
    """The hidden parts `follow_address` needs on the page: the address it wrote and the keys.
    `quiet`: the opening values of keys the link did not hold; they stay out of the address
    while every one of them is unchanged (a short link), and all go in once one changes."""
    spec = {"keys": list(params), "quiet": quiet or {}}
    return html.Span([html.Span(id=address_id or f"{prefix}-address"),
                      dcc.Store(id=f"{prefix}-address-keys", data=spec)], hidden=True)


Reader = Callable[[Any, dict], Any]  # (a link's value or None, the view read so far) -> the value to open


@dataclass(frozen=True)
class Key:
    """One key of a page's address: the control holding it (None: a key the page writes
    itself) and how a link's value is read (`read(raw, view)`, `view` holding the keys before)."""
    control: str | None
    read: Reader
    prop: str = "value"


@dataclass(frozen=True)
class ViewState:
    """A page's address, declared once: its query keys in order. `read` gives the opening view;
    `follow` (declared with the page's callbacks) and `holder` (in its layout) keep the address
    following the controls; `address_id`: where the written address also goes."""
    prefix: str
    keys: dict[str, Key]
    address_id: str | None = None
    follows: tuple[str, ...] = field(default=())  # the keys written back (default: every key with a control)

    def controls(self) -> dict[str, tuple[str, str]]:
        """query key -> (component id, property) of the keys written back into the address."""
        names = self.follows or [name for name, key in self.keys.items() if key.control]
        return {name: (self.keys[name].control, self.keys[name].prop) for name in names}

    def read(self, query: dict) -> dict | None:
        """The view a link's `query` names, each key read in order (a wrong or missing value
        falls back to its default), with `analysis` (the workspace's Analysis) once `ws` is read
        and `query` (the link as given); None when no workspace is ready."""
        numbers = [option["value"] for option in workspace_options()]
        if not numbers:
            return None
        view: dict[str, Any] = {"query": dict(query), "workspaces": numbers}
        for name, key in self.keys.items():
            view[name] = key.read(query.get(name), view)
            if name == "ws":
                view["analysis"] = open_analysis(view["ws"])
        return view

    def follow(self) -> None:
        """Declare the browser-side writer of this page's address (once, with its callbacks)."""
        follow_address(self.prefix, self.controls(), self.address_id)

    def holder(self, quiet: dict | None = None) -> html.Span:
        """The hidden parts `follow` needs in the page's layout (`quiet`: see `address_holder`)."""
        return address_holder(self.prefix, self.controls(), quiet, self.address_id)


# readers of the values most pages take
def workspace_number(raw, view: dict) -> int:
    """A workspace number this server has, else its first."""
    return choice(raw, view["workspaces"], view["workspaces"][0])


def layer_name(raw, view: dict, with_input: bool = False) -> str:
    """A captured layer of the workspace (or the raw pixels, `with_input`), else its last layer."""
    layers = view["analysis"].layers
    return choice(raw, (["input"] if with_input else []) + layers, layers[-1])


def epoch_number(raw, view: dict) -> int:
    """A captured epoch of the workspace, else its last."""
    return choice(raw, view["analysis"].epochs, view["analysis"].epochs[-1])


def one_of(allowed, default) -> Reader:
    """A reader keeping one of `allowed` (values, or a function of the view), else `default` (likewise)."""
    def read(raw, view: dict):
        return choice(raw, allowed(view) if callable(allowed) else allowed, default(view) if callable(default)
                      else default)
    return read
