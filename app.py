"""nnvis dashboard. `create_app(settings)` builds the Dash app; `server` is for gunicorn
(`gunicorn app:server`); `celery_app` is for Celery workers when REDIS_URL is set
(`celery -A app:celery_app worker`); `python app.py` prepares the embedded default and serves it."""

from __future__ import annotations

import sys
from pathlib import Path

import dash

from nnvis.settings import DEFAULT_WORKSPACE, Settings

ROOT = Path(__file__).resolve().parent


def create_app(settings: Settings | None = None) -> dash.Dash:
    """The Dash app over `settings.workspaces` (from NNVIS_* variables when not given)."""
    from callbacks import (  # noqa: F401  declares the pages' callbacks (one a line)
        compare,
        concepts,
        deepvis,
        deepvis_attention,
        deepvis_faithfulness,
        evolution,
        explore,
        export_html,
        layerlab,
        layerlab_strip,
        patch_view,
        unit_exemplars,
        unitlab,
    )
    from nnvis.workspace.filesystems import warn_if_network
    from web.auth import require_login
    from web.banner import error_banner
    from web.context import SETTINGS_KEY
    from web.errors import show_callback_error
    from web.limits import limit_requests
    from web.registry import register
    from web.routes import register_routes

    settings = settings or Settings.from_env()  # jobs get these settings from their manager, not the environment
    app = dash.Dash(__name__, use_pages=True, pages_folder=str(ROOT / "layouts"), assets_folder=str(ROOT / "assets"),
                    background_callback_manager=background_manager(settings), title="nnvis", update_title=None,
                    on_error=show_callback_error,
                    suppress_callback_exceptions=True)
    app.server.config[SETTINGS_KEY] = settings
    for folder in (*settings.workspaces, settings.job_cache):
        warn_if_network(folder)  # SQLite on NFS with several writers: said once, with what to do
    register(app)
    register_routes(app.server)
    require_login(app.server, settings.users, settings.auth_header)
    limit_requests(app.server, app.callback_map)  # after the login: an anonymous body is refused before it is read
    app.layout = dash.html.Div([error_banner(), dash.page_container])
    set_up_before_serving(app)
    return app


def set_up_before_serving(app: dash.Dash) -> None:
    """Run Dash's first-request set-up now, in this one thread: Dash registers the pages' router
    and the background callbacks' cancel callbacks on the first request, and two threads of a
    gthread worker serving their first requests at once changed `callback_map` while the other
    iterated it (a 500, "dictionary changed size during iteration"). /health is open and cheap."""
    app.server.test_client().get("/health")


def background_manager(settings: Settings):
    """Where background callbacks run: Celery workers through Redis when `settings.redis_url`
    is set (several machines), else fresh interpreters on this machine tracked in a diskcache."""
    if settings.redis_url:
        from celery import Celery
        from celery.signals import worker_process_init

        from nnvis.projection.trails import warm_up_bundling

        celery = Celery("nnvis", broker=settings.redis_url, backend=settings.redis_url)
        celery.conf.update(worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True,
                           result_expires=24 * 3600)
        worker_process_init.connect(lambda **_: warm_up_bundling(), weak=False)  # numba compiles once per worker
        return dash.CeleryManager(celery)
    from web.job_cache import open_job_cache
    from web.job_manager import FreshProcessManager

    return FreshProcessManager(open_job_cache(settings.job_cache), settings)


def prepare_default(path: Path = DEFAULT_WORKSPACE) -> None:
    """Train the embedded default (scikit-learn digits, the paper's MLP) unless it is there, and
    compute what the first page shows: the last layer's projection and neuron map at the last
    epoch (the other views are computed when first asked for). One progress line per stage, with
    the time left."""
    import torch

    from nnvis.progress import LineProgress
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.pipeline import prepare
    from nnvis.workspace.workspace import RunConfig, Workspace

    workspace = Workspace(path)
    if workspace.exists():
        return
    print(f"nnvis: preparing the default workspace in {path} (digits, MLP, 6 epochs)…", file=sys.stderr)
    progress = LineProgress(sys.stderr)
    config = RunConfig(dataset="digits", model="mlp", epochs=6, snapshot_every=3, device="cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches of 8x8 images: threads would only wait on each other on a busy machine
    try:
        analysis = Analysis(workspace, dataset=prepare(config, workspace, progress), progress=progress)
        layer, last = analysis.layers[-1], analysis.epochs[-1]
        progress("project", 0, 2)
        analysis.projection(layer, last)
        progress("project", 1, 2)
        analysis.neuron_map(layer, last)
        progress("project", 2, 2)
    finally:
        torch.set_num_threads(threads)
        progress.close()


def __getattr__(name: str):
    """`app.server` for gunicorn and `app.celery_app` for Celery workers, built on first use
    (no app at import time)."""
    if name == "server":
        return create_app().server
    if name == "celery_app":
        settings = Settings.from_env()
        if not settings.redis_url:
            raise RuntimeError("celery_app needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        return create_app(settings)._background_manager.handle
    raise AttributeError(name)


if __name__ == "__main__":
    settings = Settings.from_env()
    if settings.workspaces == (DEFAULT_WORKSPACE,):
        prepare_default()
    print(f"nnvis: serving on http://{settings.host}:{settings.port}/", file=sys.stderr)
    create_app(settings).run(host=settings.host, port=settings.port, debug=False)
