"""The single-machine background-callback manager: Dash's diskcache manager, except that each
job runs in a fresh interpreter (`python -m web.job_process`) instead of a fork of the web
server. A fork of a process whose request threads hold locks (diskcache's, SQLite's, logging's)
keeps those locks held in the child, and the job waits on them forever.

Jobs are a bounded resource: identical requests (same callback, same inputs: Dash's cache key)
share one job, and at most `settings.max_jobs` run on this machine and `settings.max_jobs_per_user`
for one user (counted across web workers through the shared diskcache). Each child is reaped by
a thread of the process that started it, so no zombie is left behind."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import diskcache
import flask
from dash import DiskcacheManager

from nnvis.errors import NNVisError
from nnvis.jobs import check_fields
from nnvis.settings import Settings
from web.jobs import READ_ONLY_MESSAGE

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = "nnvis-running-jobs"
RESULT_KEPT_S = 120  # a finished job's answer stays this long for the requests that share it
DONE, REFUSED = "done", "refused"  # job handles that are no process


def error_result(message: str) -> dict:
    """What Dash reads as a failed background callback, shown in the page's banner."""
    return {"background_callback_error": {"msg": message, "tb": ""}}


def is_error(result) -> bool:
    return isinstance(result, dict) and "background_callback_error" in result


def process_id(job) -> int | None:
    """The process id in a job handle, or None for a handle that names no process."""
    try:
        pid = int(job)
    except (TypeError, ValueError):
        return None
    return pid if pid > 0 else None


def alive(pid: int | None) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    import psutil

    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def feed(child: subprocess.Popen, payload: bytes) -> None:
    """Write the job to the child's stdin (it reads it once imported; a closed pipe: it died)."""
    try:
        child.stdin.write(payload)
        child.stdin.close()
    except OSError:
        pass


def requesting_user(settings: Settings) -> str:
    """Who asks, for the per-user cap: the login name, the proxy's header, else the client address."""
    request = flask.request
    if settings.auth_header and request.headers.get(settings.auth_header):
        return request.headers[settings.auth_header]
    try:
        if request.authorization and request.authorization.username:
            return request.authorization.username
    except (ValueError, TypeError):
        pass
    return request.remote_addr or "anonymous"


class FreshProcessManager(DiskcacheManager):
    """DiskcacheManager running each job in a fresh interpreter, with sharing and caps."""

    def __init__(self, cache: diskcache.Cache, settings: Settings):
        self.settings = settings
        super().__init__(cache)

    def make_job_fn(self, fn, progress, key=None):
        """Not a closure (a fresh interpreter cannot receive one): where to find the callback."""
        return {"module": fn.__module__, "name": fn.__qualname__, "progress": bool(progress)}

    def call_job_fn(self, key, job_fn, args, context):
        """Start the job for `key`, or join the one running for it; a refusal is the job's answer."""
        user = requesting_user(self.settings)
        request = args[0] if isinstance(args, (list, tuple)) and args else None
        if not request:  # the page asks for nothing: no process for it
            self.handle.set(key, {"_dash_no_update": "_dash_no_update"}, expire=RESULT_KEPT_S)
            return DONE
        try:
            if self.settings.read_only:
                raise NNVisError(READ_ONLY_MESSAGE)
            check_fields(request, job_fn["name"])
        except NNVisError as error:
            self.handle.set(key, error_result(str(error)), expire=RESULT_KEPT_S)
            return REFUSED
        with self.handle.transact():
            result = self.handle.get(key, None)
            if result is not None and not is_error(result):
                return DONE  # answered a moment ago: the same answer
            running = {pid: job for pid, job in (self.handle.get(REGISTRY) or {}).items() if alive(pid)}
            for pid, job in running.items():
                if job["key"] == key:
                    return pid  # the same request is computing: share it
            refusal = self.refusal(running, user)
            if refusal:
                self.handle.set(key, error_result(refusal), expire=RESULT_KEPT_S)
                self.handle.set(REGISTRY, running)
                return REFUSED
            self.handle.delete(key)
            pid = self.start(key, job_fn, args, context)
            running[pid] = {"key": key, "user": user, "started": time.time()}
            self.handle.set(REGISTRY, running)
        return pid

    def refusal(self, running: dict, user: str) -> str | None:
        """Why no new job may start now (the caps), or None."""
        if len(running) >= self.settings.max_jobs:
            return (f"The server runs {len(running)} jobs already (at most {self.settings.max_jobs}); "
                    "try again when one has finished.")
        mine = sum(job["user"] == user for job in running.values())
        if mine >= self.settings.max_jobs_per_user:
            return (f"You run {mine} jobs already (at most {self.settings.max_jobs_per_user} per user); "
                    "wait for one to finish or cancel it.")
        return None

    def start(self, key, job_fn, args, context) -> int:
        """A fresh interpreter running the callback; a thread here reaps it when it ends."""
        payload = {"target": job_fn, "key": key, "progress_key": self._make_progress_key(key), "args": args,
                   "context": dict(context), "cache": self.handle.directory, "env": self.settings.to_env(),
                   "parent": os.getpid(), "timeout": self.settings.job_timeout_s,
                   "stall": self.settings.job_stall_s}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        child = subprocess.Popen([sys.executable, "-m", "web.job_process"], stdin=subprocess.PIPE,
                                 cwd=ROOT, env=env, start_new_session=False)
        threading.Thread(target=feed, args=(child, pickle.dumps(payload)), daemon=True).start()  # never blocks here
        threading.Thread(target=child.wait, name=f"reap-job-{child.pid}", daemon=True).start()
        return child.pid

    def terminate_job(self, job):
        if process_id(job) is not None:
            super().terminate_job(process_id(job))

    def terminate_unhealthy_job(self, job):
        return process_id(job) is not None and super().terminate_unhealthy_job(process_id(job))

    def job_running(self, job):
        return alive(process_id(job))

    def get_progress(self, key):
        return self.handle.get(self._make_progress_key(key))  # kept: every sharer reads it

    def get_result(self, key, job):
        """The answer, kept a while for the other requests sharing the job (not deleted on read)."""
        result = self.handle.get(key, self.UNDEFINED)
        if result is self.UNDEFINED:
            return self.UNDEFINED
        self.handle.touch(key, expire=RESULT_KEPT_S)
        self.handle.touch(self._make_progress_key(key), expire=RESULT_KEPT_S)
        return result
