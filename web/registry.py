"""Callbacks declared once, at import, and attached to every app that `create_app` builds.

`dash.callback` hands its callbacks to the first app that serves a request and to no other,
so a second app in the same process (a test client, a second server) would answer nothing.
Here the declarations stay a constant list, and `register(app)` attaches them to one app.

Every declared callback checks its inputs' types first (`web.inputs`): a value of the wrong
type is an NNVisError naming the control, shown in the page's banner."""

from __future__ import annotations

import functools
from typing import Callable

import dash
from dash.dependencies import ALL, ALLSMALLER, Input, State

from web.inputs import check_input

DECLARED: list[tuple[tuple, dict, Callable | None]] = []


def declared_inputs(args: tuple) -> list[tuple]:
    """(component id, property, pattern-matching over many) of each Input and State, in call order."""
    return [(dep.component_id, dep.component_property,
             isinstance(dep.component_id, dict) and any(v in (ALL, ALLSMALLER) for v in dep.component_id.values()))
            for dep in args if isinstance(dep, (Input, State))]


def callback(*args, **kwargs) -> Callable:
    """Like `dash.callback`: declare a server-side callback (attached by `register`), its
    inputs checked before it runs. The name stays the plain function (called directly by tests,
    and by a background job's fresh interpreter, which the job manager checks itself)."""
    def declare(function: Callable) -> Callable:
        inputs = declared_inputs(args)

        @functools.wraps(function)
        def checked(*values):
            for (component, prop, many), value in zip(inputs, values[len(values) - len(inputs):]):
                check_input(component, prop, value, many)
            return function(*values)
        DECLARED.append((args, kwargs, checked))
        return function
    return declare


def clientside_callback(*args, **kwargs) -> None:
    """Like `dash.clientside_callback`: declare a callback that runs in the browser."""
    DECLARED.append((args, kwargs, None))


def register(app: dash.Dash) -> None:
    """Attach every declared callback to `app`."""
    for args, kwargs, function in DECLARED:
        if function is None:
            app.clientside_callback(*args, **kwargs)
        else:
            app.callback(*args, **kwargs)(function)
