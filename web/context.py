"""Where callbacks find the server's settings and workspaces: the Flask app's config in a
request, the NNVIS_* environment in a background job. Opened workspaces are kept per process
(`OPENED`: a bounded LRU keyed by the workspace folder, the read-only flag and the identity of
its workspace.json, so an edited or replaced workspace is opened afresh); nothing is shared
between processes."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import flask

from nnvis.errors import NNVisError
from nnvis.models.trust import check_served_model
from nnvis.settings import Settings
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from web.components import epoch_options
from web.memo import ProcessLRU

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
        number = int(ws)
    except (TypeError, ValueError, OverflowError):
        number = -1
    if isinstance(ws, bool) or not 0 <= number < len(paths) or str(number) != str(ws).strip():
        allowed = f"0 to {len(paths) - 1}" if paths else "none"
        raise NNVisError(f"unknown workspace {repr(ws)[:40]}; this server has {len(paths)} (allowed: {allowed})")
    return paths[number]


class OpenedWorkspaces:
    """This process's most recently opened workspaces (at most `size`), as Analysis objects."""

    def __init__(self, size: int = 8):
        self.kept = ProcessLRU(size)

    def analysis(self, path: Path, read_only: bool) -> Analysis:
        """An Analysis of the workspace in `path`: a copy of the kept one (its manifest, store and
        read-only results shared; its loaded models its own), opened afresh when workspace.json changed."""
        key = (str(path), read_only, manifest_identity(path))
        kept = self.kept.get(key)
        if kept is None:
            kept = Analysis(Workspace(path, read_only=read_only))  # reads the manifest: NNVisError when damaged
            self.kept.put(key, kept, replaces=lambda old: old[:2] == key[:2])  # the same folder, an older manifest
        return fresh_models(kept)

    def clear(self) -> None:
        self.kept.clear()


def manifest_identity(path: Path) -> tuple | None:
    """What changes when workspace.json is written or replaced: its inode, size and modification time."""
    try:
        found = (path / "workspace.json").stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def workspace_identity(analysis: Analysis) -> tuple:
    """The workspace an Analysis reads, as it is now (its folder and its manifest's identity):
    part of the key of anything remembered from it."""
    return str(analysis.workspace.path), manifest_identity(analysis.workspace.path)


def fresh_models(kept: Analysis) -> Analysis:
    """A shallow copy of `kept` with no loaded model: models (and their hooks) are never shared
    between requests running at once."""
    analysis = copy.copy(kept)
    analysis._models = {}
    return analysis


OPENED = OpenedWorkspaces()


def open_analysis(ws: int | str | None) -> Analysis:
    """An Analysis over workspace number `ws` (kept per process: `OPENED`; a read-only server's
    store computes and writes nothing; in a web request, activations never captured are a
    NotCaptured error, not a forward pass of the subset: only jobs capture). A workspace naming
    a model outside the allow-list (code it would run) is refused, checked on every open."""
    settings = current_settings()
    analysis = OPENED.analysis(workspace_path(ws), settings.read_only)
    check_served_model(analysis.config.model, settings.model_allow, analysis.workspace.path)
    analysis.captures = not flask.has_request_context()  # a web request never runs the subset through the model
    return analysis


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
