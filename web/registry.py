"""Callbacks declared once, at import, and attached to every app that `create_app` builds.

`dash.callback` hands its callbacks to the first app that serves a request and to no other,
so a second app in the same process (a test client, a second server) would answer nothing.
Here the declarations stay a constant list, and `register(app)` attaches them to one app."""

from __future__ import annotations

from typing import Callable

import dash

DECLARED: list[tuple[tuple, dict, Callable | None]] = []


def callback(*args, **kwargs) -> Callable:
    """Like `dash.callback`: declare a server-side callback (attached by `register`)."""
    def declare(function: Callable) -> Callable:
        DECLARED.append((args, kwargs, function))
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
