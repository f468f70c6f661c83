"""A background callback in a fresh interpreter: `python -m web.job_process` reads the job
that `web.job_manager` pickled to its stdin (the server's own bytes, over a pipe), runs the
callback as Dash's diskcache manager would, and writes its answer to the shared diskcache.

A watchdog thread ends the job as failed (an answer the page shows) when it runs longer than its
wall-clock limit or reports no progress for its stall limit, and ends it when the web worker that
started it is gone or no request waits for its answer any more (every sharer cancelled or left)."""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import threading
import time

import diskcache
from dash.background_callback.managers.diskcache_manager import _make_job_fn

from web.job_cache import open_job_cache
from web.job_manager import alive, error_result, nobody_waits, register, registered
from web.job_queue import looked_at, queued_message, turn

CHECK_EVERY_S = 1.0
QUEUE_POLL_S = 0.5


class Heartbeat:
    """The diskcache the callback writes to, noting when it last wrote (progress or answer)."""

    def __init__(self, cache: diskcache.Cache):
        self.cache = cache
        self.last = time.monotonic()

    def set(self, key, value, **options):
        self.last = time.monotonic()
        return self.cache.set(key, value, **options)


def watch(job: dict, heartbeat: Heartbeat, started: float) -> None:
    """Stop this process when the job outlives its limits (answering with why) or its parent."""
    while True:
        time.sleep(CHECK_EVERY_S)
        if os.getppid() != job["parent"] or nobody_waits(heartbeat.cache, os.getpid()):
            os._exit(1)  # the web worker is gone, or every request sharing this job cancelled or left
        now = time.monotonic()
        if now - started > job["timeout"]:
            reason = f"the job ran longer than its limit of {job['timeout']:g} s and was stopped"
        elif now - heartbeat.last > job["stall"]:
            reason = f"the job made no progress for {job['stall']:g} s and was stopped"
        else:
            continue
        answer = threading.Thread(target=heartbeat.cache.set, args=(job["key"], error_result(reason)), daemon=True)
        answer.start()
        answer.join(timeout=10)
        os._exit(3)


def callback(target: dict):
    """The callback function the manager named (module and qualified name: code of this project)."""
    found = importlib.import_module(target["module"])
    for part in target["name"].split("."):
        found = getattr(found, part)
    return found


def wait_for_turn(job: dict, heartbeat: Heartbeat) -> None:
    """Wait, before importing the callback, until the queue gives this job its turn
    (`web.job_queue`), saying its place in the page's progress; end when nobody waits any more."""
    cache = heartbeat.cache
    while True:
        with cache.transact():
            running = {pid: entry for pid, entry in registered(cache).items() if alive(pid)}
            place = turn(cache, running, os.getpid(), job["max_jobs"], job["max_per_user"])
            if place == 0:
                register(cache, running)
                return
            if place > 0 and not looked_at(cache, running[os.getpid()], time.time()):
                del running[os.getpid()]  # its page stopped polling (left): it takes no turn, and ends
                register(cache, running)
                os._exit(1)
        if place < 0 or os.getppid() != job["parent"] or nobody_waits(cache, os.getpid()):
            os._exit(1)  # struck off, the web worker is gone, or every request sharing it left
        heartbeat.set(job["progress_key"], ["0", "1", queued_message(place)])
        time.sleep(QUEUE_POLL_S)


def main() -> int:
    job = pickle.loads(sys.stdin.buffer.read())  # noqa: S301  the web worker's own pipe, not a file
    os.environ.update(job["env"])
    heartbeat = Heartbeat(open_job_cache(job["cache"]))
    wait_for_turn(job, heartbeat)
    started = time.monotonic()
    threading.Thread(target=watch, args=(job, heartbeat, started), daemon=True).start()
    run = _make_job_fn(callback(job["target"]), heartbeat, job["target"]["progress"])
    run(job["key"], job["progress_key"], job["args"], job["context"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
