"""Per-process memory of work a request would otherwise redo: a bounded, thread-safe LRU that
a forked child starts empty (never shared between processes; the one LRU of the web side: opened
workspaces, figures, decoded uploads and strips), and the figures built from stored artifacts,
handed out as copies made without validating them again."""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import plotly.graph_objects as go


class ProcessLRU:
    """At most `size` values by key, least recently used dropped first; empty in a forked child."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.owner = os.getpid()
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        with self.lock:
            if self.owner != os.getpid():
                self.entries.clear()
                self.owner = os.getpid()
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any, replaces: Callable[[Hashable], bool] | None = None) -> None:
        """Keep `value` under `key`, first dropping the keys `replaces` says it replaces."""
        with self.lock:
            for old in [k for k in self.entries if replaces is not None and replaces(k)]:
                del self.entries[old]
            self.entries[key] = value
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value under `key`, or `compute()` kept under it (computed outside the lock)."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


FIGURES = ProcessLRU(48)


def figure_copy(figure: go.Figure) -> go.Figure:
    """An independent copy of a validated figure, made without validating it again (the same
    data and layout: arrays stay arrays)."""
    return go.Figure(dict(data=copy.deepcopy(figure._data), layout=copy.deepcopy(figure._layout)), _validate=False)


def remembered_view(key: Hashable, build: Callable[[], tuple], private: bool = True) -> tuple:
    """(figure, *rest) as `build()` makes them, built once per process for `key` (which must name
    everything they depend on). `private`: the caller gets its own copy of the figure, free to
    change; else the kept figure itself, which the caller must only read (e.g. return to Dash)."""
    found = FIGURES.get(key)
    if found is None:
        found = build()
        frozen(found[0])
        FIGURES.put(key, found)
    figure, *rest = found
    return (figure_copy(figure) if private else figure, *rest)


def frozen(figure: go.Figure) -> None:
    """Make `figure` answer its JSON form (what Dash sends) from one made now, instead of copying
    its data and layout (the template included) again for every request that returns it."""
    json_form = figure.to_plotly_json()
    figure.to_plotly_json = lambda: json_form
