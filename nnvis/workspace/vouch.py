"""Whoever starts a dashboard over workspaces vouches for the models those workspaces name now:
`nnvis serve --workspace W` and `nnvis.show(W)` put them on the allow-list (read once, at start);
a later edit of workspace.json that names another model is still refused by the server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from nnvis.errors import NNVisError
from nnvis.models.trust import is_built_in
from nnvis.settings import Settings
from nnvis.workspace.workspace import Workspace


def vouch_for_named_models(settings: Settings,
                           announce: Callable[[str, Path], None] = lambda spec, path: None) -> Settings:
    """`settings` with the models its workspaces name now on the allow-list; `announce(spec,
    path)` is told of each one added. A missing or damaged workspace is skipped (the server leaves
    it out and says why)."""
    named = []
    for path in settings.workspaces:
        try:
            spec = Workspace(path).config().model if Workspace(path).exists() else None
        except NNVisError:
            continue
        if spec and not is_built_in(spec) and spec not in settings.model_allow and spec not in named:
            announce(spec, Path(path))
            named.append(spec)
    return replace(settings, model_allow=settings.model_allow + tuple(named))
