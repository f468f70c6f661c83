"""One `nnvis run` per workspace at a time: a lock file in the workspace holding the writer's
process id. The lock is an `flock`, which the kernel drops when its holder dies (even by SIGKILL),
so a stale lock file is simply taken over; the pid in it names the holder for the error line."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from pathlib import Path
from typing import Callable, Iterator

from nnvis.errors import NNVisError

LOCK_NAME = ".nnvis-run.lock"
HELD: set[str] = set()  # workspaces this process writes now (a run inside a run is the same writer)
HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def workspace_lock(folder: str | Path) -> Iterator[None]:
    """Hold the workspace's writer lock, or NNVisError naming the process that holds it."""
    folder = Path(folder)
    key = os.path.realpath(folder)
    with HELD_GUARD:
        reentrant = key in HELD
        HELD.add(key)
    if reentrant:
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / LOCK_NAME, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise NNVisError(f"another nnvis run (process {holder}) is writing the workspace {folder} now; "
                                 "wait for it to finish (or stop it), then run again") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        with HELD_GUARD:
            HELD.discard(key)


def holding_workspace_lock(function: Callable) -> Callable:
    """Decorate `function(config, workspace_dir, ...)` to run holding the workspace's writer lock."""
    @functools.wraps(function)
    def locked(config, workspace_dir, *args, **kwargs):
        with workspace_lock(workspace_dir):
            return function(config, workspace_dir, *args, **kwargs)
    return locked
