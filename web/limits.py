"""Request limits: a body at most MAX_BODY_BYTES (the 10 MB upload, base64 in a JSON callback,
fits; more is a 413 before it is read), and a callback body whose JSON is too deep, or holds
a list or a string longer than a page ever sends, refused with a 400 before any callback runs."""

from __future__ import annotations

import flask
from dash.exceptions import DependencyException

MAX_BODY_BYTES = 16 * 2**20  # 10 MB of upload is 13.4 MB as base64, plus the rest of the callback
MAX_DEPTH = 64  # Dash's own callback bodies nest a handful of levels; figures' relayout data a few more
MAX_ITEMS = 200_000  # a list (the points of a selection over the largest subset shown as points)
MAX_TEXT = 1_000_000  # a string, a drawing's path included (a stroke is a few kB)
UPLOAD_PROPERTIES = ("contents",)  # dcc.Upload's data URI, bounded by the body size alone


class TooLarge(ValueError):
    """A callback body beyond the limits: the message says which and what is allowed."""


def check_value(value, depth: int = 0) -> None:
    """Raise TooLarge when `value` nests deeper than MAX_DEPTH or holds a list or string beyond its cap."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise TooLarge(f"the request nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str) and len(item) > MAX_TEXT:
            raise TooLarge(f"a text of {len(item)} characters; at most {MAX_TEXT} are allowed")
        if isinstance(item, list):
            if len(item) > MAX_ITEMS:
                raise TooLarge(f"a list of {len(item)} items; at most {MAX_ITEMS} are allowed")
            stack.extend((child, level + 1) for child in item)
        elif isinstance(item, dict):
            if len(item) > MAX_ITEMS:
                raise TooLarge(f"an object of {len(item)} fields; at most {MAX_ITEMS} are allowed")
            stack.extend((child, level + 1) for child in item.values())


def check_callback_body(body) -> None:
    """Check every input and state of a Dash callback body (an upload's contents only by the body size)."""
    if not isinstance(body, dict):
        raise TooLarge("a callback body is a JSON object")
    for group in ("inputs", "state"):
        for entry in body.get(group) or []:
            if isinstance(entry, dict) and entry.get("property") in UPLOAD_PROPERTIES:
                check_value({key: value for key, value in entry.items() if key != "value"}, 1)
            else:
                check_value(entry, 1)
    check_value({key: value for key, value in body.items() if key not in ("inputs", "state")})


def limit_requests(server: flask.Flask, callback_map: dict | None = None) -> None:
    """Install the limits on `server`; with the Dash app's `callback_map`, a callback body naming
    an output no callback has is a 400, and an unknown script path under /_dash-component-suites/
    a 404, neither logged as a server error."""
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @server.errorhandler(DependencyException)
    def unknown_script(_error):
        return flask.Response("Not found: no such script.", status=404, mimetype="text/plain")

    @server.before_request
    def refuse_oversized():
        if flask.request.method != "POST" or not flask.request.path.endswith("/_dash-update-component"):
            return None
        try:
            check_callback_body(flask.request.get_json(silent=False))
        except RecursionError:
            return refusal("the request nests too deeply")
        except TooLarge as error:
            return refusal(str(error))
        except ValueError as error:  # not JSON (werkzeug's BadRequest is an HTTPException, handled by Flask)
            return refusal(f"the request is not valid JSON ({error})")
        output = (flask.request.get_json(silent=True) or {}).get("output")
        if callback_map is not None and output not in callback_map:
            return refusal(f"no callback of this app has the output {str(output)[:80]!r}")
        return None


def refusal(reason: str) -> flask.Response:
    return flask.Response(f"Refused: {reason}.", status=400, mimetype="text/plain")
