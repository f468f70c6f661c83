"""Where callbacks find the server's settings and workspaces: the Flask app's config in a
request, the NNVIS_* environment in a background job. No module-level state."""

from __future__ import annotations

import logging
from pathlib import Path

import flask

from nnvis.errors import NNVisError
from nnvis.models.trust import check_served_model
from nnvis.settings import Settings
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from web.components import epoch_options

SETTINGS_KEY = "NNVIS_SETTINGS"


def current_settings() -> Settings:
    """The settings of the app serving this request (or of the environment, in a job)."""
    if flask.has_app_context() and SETTINGS_KEY in flask.current_app.config:
        return flask.current_app.config[SETTINGS_KEY]
    return Settings.from_env()


def workspace_path(ws: int | str | None) -> Path:
    """The folder of workspace number `ws` in the server's list; NNVisError otherwise."""
    paths = current_settings().workspaces
    try:
        return paths[int(ws)]
    except (TypeError, ValueError, IndexError):
        raise NNVisError(f"unknown workspace {ws!r}; this server has {len(paths)}") from None


def open_analysis(ws: int | str | None) -> Analysis:
    """An Analysis over workspace number `ws` (cheap: reads the manifest, opens the store; a
    read-only server's store computes and writes nothing). A workspace naming a model outside
    the allow-list (code it would run) is refused."""
    settings = current_settings()
    workspace = Workspace(workspace_path(ws), read_only=settings.read_only)
    check_served_model(workspace.config().model, settings.model_allow, workspace.path)
    return Analysis(workspace)


def workspace_options() -> list[dict]:
    """Dropdown options for the workspaces this server knows that hold a finished run; a damaged
    one is left out, with why in the server's log (the others stay usable)."""
    options = []
    for number, path in enumerate(current_settings().workspaces):
        workspace = Workspace(path)
        if workspace.exists():
            try:
                config = workspace.config()
                check_served_model(config.model, current_settings().model_allow, path)
            except NNVisError as error:
                logging.getLogger("nnvis").warning("workspace %s left out: %s", path, error)
                continue
            options.append({"label": f"{path.name}: {config.dataset} / {config.model}", "value": number})
    return options


def layer_and_epoch_choices(ws) -> tuple:
    """(layer options, last layer, epoch options, last epoch) of workspace number `ws`: what a
    page's layer and epoch dropdowns become when the workspace changes."""
    analysis = open_analysis(ws)
    return analysis.layers, analysis.layers[-1], epoch_options(analysis.epochs), analysis.epochs[-1]
