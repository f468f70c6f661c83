"""Access control for every route of the server, decided by the request's path alone (never by
anything in its body: dash-auth's public-route logic reads a callback's inputs, and a callback
posted with a renamed input passed as public). Open: /health (for load balancers) and the static
files every visitor's browser loads (Dash's scripts and the app's assets, which hold no data)."""

from __future__ import annotations

import base64
import binascii
import hmac

import flask

OPEN_PATHS = ("/health", "/_favicon.ico")
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/")


def is_open(path: str) -> bool:
    """Whether `path` may be served without a login."""
    return path in OPEN_PATHS or path.startswith(STATIC_PREFIXES)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic ...` header, or None when it is missing or malformed."""
    if not header or not header.startswith("Basic ") or len(header) > 4096:
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


def is_known(users: tuple[tuple[str, str], ...], credentials: tuple[str, str] | None) -> bool:
    """Whether `credentials` are one of `users` (compared in constant time)."""
    if credentials is None:
        return False
    found = False
    for name, password in users:
        found |= hmac.compare_digest(name.encode(), credentials[0].encode()) & \
            hmac.compare_digest(password.encode(), credentials[1].encode())
    return found


def require_login(server: flask.Flask, users: tuple[tuple[str, str], ...], auth_header: str | None) -> None:
    """Refuse every request but the open ones without a known basic login (`users`) or, when
    `auth_header` is set, without that header from the authenticating proxy: a 401."""
    if not users and not auth_header:
        return

    @server.before_request
    def refuse_unauthenticated():
        if is_open(flask.request.path):
            return None
        if users and not is_known(users, basic_credentials(flask.request.headers.get("Authorization"))):
            return flask.Response("Sign in to use this dashboard.", status=401, mimetype="text/plain",
                                  headers={"WWW-Authenticate": 'Basic realm="nnvis", charset="UTF-8"'})
        if auth_header and not flask.request.headers.get(auth_header):
            return flask.Response(f"Sign in through the proxy: this server needs the {auth_header} header.",
                                  status=401, mimetype="text/plain")
        return None
