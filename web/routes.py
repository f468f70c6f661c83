"""Flask routes on the Dash server: cached PNG thumbnails and a health check."""

from __future__ import annotations

import flask

from nnvis.errors import DISK_FULL, NNVisError, is_disk_full
from web.context import current_settings, open_analysis

ONE_YEAR = 31536000


def thumbnail_url(ws: int, index: int, version: str) -> str:
    """The URL of a subset observation's thumbnail; `version` changes when the workspace does."""
    return f"/thumbs/{int(ws)}/{int(index)}.png?v={version}"


def register_routes(server: flask.Flask) -> None:
    """Add /thumbs/<ws>/<index>.png (immutable, cached a year; only by the browser behind a login)
    and /health to `server`.
    Integers only in the path: nothing a client sends becomes a file name."""

    @server.route("/thumbs/<int:ws>/<int:index>.png")
    def thumbnail(ws: int, index: int):
        try:
            blob = open_analysis(ws).thumbnail(index)
        except NNVisError as error:
            return flask.Response(str(error), status=404, mimetype="text/plain")
        except Exception as error:  # noqa: BLE001  a full disk is said; anything else is Flask's 500
            if not is_disk_full(error):
                raise
            return flask.Response(DISK_FULL, status=507, mimetype="text/plain")
        response = flask.Response(blob, mimetype="image/png")
        settings = current_settings()
        shared = "private" if settings.users or settings.auth_header else "public"  # behind a login: no shared cache
        response.headers["Cache-Control"] = f"{shared}, max-age={ONE_YEAR}, immutable"
        return response

    @server.route("/health")
    def health():
        return flask.jsonify(status="ok")
