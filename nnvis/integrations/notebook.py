"""The dashboard inline in a notebook (Jupyter, JupyterLab, VS Code):

    import nnvis
    nnvis.show("ws/mine")                       # or a list of workspaces, and the page to open
    nnvis.show(["ws/a", "ws/b"], page="/evolution")

One dashboard server per kernel, started on a free loopback port the first time and reused
after: a later `show` of workspaces it serves opens another view of the same server; one naming
a new workspace restarts it (same port) serving all of them. The server is the dashboard's own
entry point (`python app.py`, as `nnvis serve` runs it) in a process of its own, so the backend
stays free of Dash and Flask, the kernel stays free for training while pages and jobs run, and
jobs work as they do under `nnvis serve`. The view is an IFrame (IPython's display); the server
ends with the kernel. Calling `show` vouches for the models its workspaces name, as
`nnvis serve --workspace` does."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nnvis.errors import NNVisError
from nnvis.settings import Settings, dashboard_entry_point
from nnvis.workspace.vouch import vouch_for_named_models
from nnvis.workspace.workspace import Workspace

START_TIMEOUT = 300.0  # seconds for the server to answer /health (importing the dashboard on a busy machine)


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    workspaces: tuple[Path, ...]
    log: Path
    starts: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


SERVER: Server | None = None  # this kernel's dashboard server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workspace_paths(workspaces) -> list[Path]:
    """The finished workspaces named (a path or a list of paths), resolved; NNVisError for any other."""
    named = [workspaces] if isinstance(workspaces, (str, os.PathLike)) else list(workspaces)
    if not named:
        raise NNVisError("no workspace given; allowed: a workspace folder or a list of them")
    paths = [Path(w).resolve() for w in named]
    for path in paths:
        if not Workspace(path).exists():
            raise NNVisError(f"{path} holds no finished workspace; allowed: a folder made by nnvis run or a Recorder "
                             "(leave its `with` block, or call rec.close(), first)")
    return paths


def start(paths: tuple[Path, ...], port: int) -> Server:
    """The dashboard over `paths` on 127.0.0.1:`port`, once it answers /health."""
    settings = vouch_for_named_models(Settings.from_env(workspaces=list(paths), host="127.0.0.1", port=port))
    log = Path(tempfile.mkstemp(prefix="nnvis-notebook-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, dashboard_entry_point()], env={**os.environ, **settings.to_env()},
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, port, paths, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not server.alive():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise NNVisError(f"the dashboard server stopped while starting: {tail[0]} (log: {log})")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise NNVisError(f"the dashboard server did not answer within {START_TIMEOUT:.0f} s (log: {log})")


def serve(paths: list[Path]) -> Server:
    """This kernel's server, started, reused, or restarted on the same port to serve new workspaces too."""
    global SERVER
    if SERVER is not None and SERVER.alive() and all(p in SERVER.workspaces for p in paths):
        return SERVER
    port, served, starts = free_port(), (), 0
    if SERVER is not None:
        port, served, starts = SERVER.port, SERVER.workspaces if SERVER.alive() else (), SERVER.starts
        SERVER.stop()
    SERVER = start(served + tuple(p for p in paths if p not in served), port)
    SERVER.starts = starts + 1
    return SERVER


def show(workspaces, page: str = "/", *, height: int = 900, width: str = "100%") -> str:
    """Show `page` of the dashboard over `workspaces` (a folder or a list; the page opens the
    first) in the notebook; the view's URL (also reachable from a browser on this machine)."""
    if not isinstance(page, str) or not page.startswith("/") or "?" in page or "#" in page:
        raise NNVisError(f"page {page!r} is invalid; allowed: a path of the dashboard such as '/', '/evolution', "
                         "'/units', '/layer-lab', '/compare'")
    paths = workspace_paths(workspaces)
    server = serve(paths)
    url = f"{server.url}{page}?ws={server.workspaces.index(paths[0])}"
    try:
        from IPython.display import IFrame, display
    except ImportError:  # not in a notebook: the URL is still useful
        return url
    display(IFrame(url, width=width, height=height))
    return url


@atexit.register
def stop_server() -> None:
    """The server ends with the kernel."""
    if SERVER is not None:
        SERVER.stop()
