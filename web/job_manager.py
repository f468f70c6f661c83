"""The single-machine background-callback manager: Dash's diskcache manager, except that each
job runs in a fresh interpreter (`python -m web.job_process`) instead of a fork of the web
server. A fork of a process whose request threads hold locks (diskcache's, SQLite's, logging's)
keeps those locks held in the child, and the job waits on them forever.

Jobs are a bounded resource: identical requests (same callback, same inputs: Dash's cache key)
share one job, and at most `settings.max_jobs` run on this machine and `settings.max_jobs_per_user`
for one user (counted across web workers through the shared diskcache). Each child is reaped by
a thread of the process that started it, so no zombie is left behind. A job runs at a lower CPU
priority than the web workers (`JOB_NICENESS`), so that pages and `/health` stay quick beside it.

A shared job is cancelled per sharer: every request gets its own handle (`pid.token`), a Cancel
(or a page that re-asks) detaches only that handle, and the process is stopped when no sharer
waits any more: the last one cancelled, or the others stopped polling (closed their page) for
`SHARER_GONE_S`; the job process itself checks that, so a job nobody waits for ends."""

from __future__ import annotations

import os
import pickle
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import diskcache
import flask
from dash import DiskcacheManager

from nnvis.errors import DISK_FULL, NNVisError, is_disk_full
from nnvis.jobs import check_fields
from nnvis.settings import Settings
from web.job_queue import SHARER, too_many_waiting
from web.jobs import READ_ONLY_MESSAGE

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = "nnvis-running-jobs"
RESULT_KEPT_S = 120  # a finished job's answer stays this long for the requests that share it
DONE, REFUSED, DISK_FULL_HANDLE = "done", "refused", "full"  # job handles that are no process
STOPPED = ("The job stopped before it answered (killed or crashed: out of memory, or its process was ended). "
           "Retry: change a control or reload the page.")
CANCELLED = {"_dash_no_update": "_dash_no_update"}  # the answer of a job its last sharer cancelled
SHARER_GONE_S = 180.0  # a sharer silent this long left (a hidden tab may poll only once a minute)
# added to the web worker's niceness for its jobs (capped at 19): at 5 a job gets a third of the CPU
# a web worker gets when both want it, and a quarter of a core beside any other busy process (a
# training run in a terminal); at 19 it got 1.5 % there, and a t-SNE of 300 points took minutes
JOB_NICENESS = 5


def jobs(count: int) -> str:
    """'1 job', '2 jobs'."""
    return f"{count} job" + ("" if count == 1 else "s")


def error_result(message: str) -> dict:
    """What Dash reads as a failed background callback, shown in the page's banner."""
    return {"background_callback_error": {"msg": message, "tb": ""}}


def is_error(result) -> bool:
    return isinstance(result, dict) and "background_callback_error" in result


def process_id(job) -> int | None:
    """The process id in a job handle ('pid.token'), or None for a handle that names no process."""
    try:
        pid = int(str(job).split(".")[0])
    except (TypeError, ValueError):
        return None
    return pid if pid > 0 else None


def sharer_token(job) -> str | None:
    """The token naming one request among those sharing a job, or None."""
    parts = str(job).split(".")
    return parts[1] if len(parts) == 2 else None


def still_waiting(cache: diskcache.Cache, tokens) -> list:
    """The sharers among `tokens` that polled their job in the last `SHARER_GONE_S`."""
    return [token for token in tokens if cache.get(SHARER + token) is not None]


def registered(cache: diskcache.Cache) -> dict[int, dict]:
    """The registry of running jobs by process id (stored as JSON, whose object keys are text)."""
    stored = cache.get(REGISTRY)
    if not isinstance(stored, dict):
        return {}
    return {int(pid): job for pid, job in stored.items() if str(pid).isdigit() and isinstance(job, dict)}


def register(cache: diskcache.Cache, running: dict[int, dict]) -> None:
    cache.set(REGISTRY, {str(pid): job for pid, job in running.items()})


def nobody_waits(cache: diskcache.Cache, pid: int) -> bool:
    """Whether the registered job `pid` has no sharer left; if so it is struck from the registry."""
    with cache.transact():
        running = registered(cache)
        job = running.get(pid)
        if job is None or still_waiting(cache, job.get("sharers", ())):
            return False
        del running[pid]
        register(cache, running)
        return True


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


SERVER_FIELDS = ("job", "workspace", "workspace2")  # what kind of job, and on which folder: the server's to say


def check_page_request(request, callback_name: str) -> None:
    """Refuse, before any process starts, a page's job request that is not an object of bounded
    fields or that names a job kind or a folder (the callback fixes the kind, `ws` the workspace)."""
    if not isinstance(request, dict):
        raise NNVisError(f"a job request is a JSON object, not {type(request).__name__}")
    named = [name for name in SERVER_FIELDS if name in request]
    if named:
        raise NNVisError(f"a job request may not set {named[0]!r}: the page asks for a view, the server decides "
                         "the job and its workspace (a served workspace's number, ws)")
    check_fields(request, callback_name)


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
        """Start the job for `key`, or join the one running for it; a refusal is the job's answer.
        A full disk (the job cache's) is said as the answer, not a silent nothing."""
        try:
            return self.start_or_join(key, job_fn, args, context)
        except Exception as error:  # noqa: BLE001  only a full disk is answered; the rest propagates
            if not is_disk_full(error):
                raise
            return DISK_FULL_HANDLE

    def start_or_join(self, key, job_fn, args, context):
        user = requesting_user(self.settings)
        request = args[0] if isinstance(args, (list, tuple)) and args else None
        if not request:  # the page asks for nothing: no process for it
            self.handle.set(key, {"_dash_no_update": "_dash_no_update"}, expire=RESULT_KEPT_S)
            return DONE
        try:
            if self.settings.read_only:
                raise NNVisError(READ_ONLY_MESSAGE)
            check_page_request(request, job_fn["name"])
        except NNVisError as error:
            self.handle.set(key, error_result(str(error)), expire=RESULT_KEPT_S)
            return REFUSED
        with self.handle.transact():
            result = self.handle.get(key, None)
            if result is not None and not is_error(result) and result != CANCELLED:
                return DONE  # answered a moment ago: the same answer
            running = {pid: job for pid, job in registered(self.handle).items() if alive(pid)}
            for pid, job in running.items():
                if job["key"] == key:  # the same request is computing: share it
                    handle = self.join(job, pid)
                    register(self.handle, running)
                    return handle
            refusal = too_many_waiting(self.handle, running, user)
            if refusal:
                self.handle.set(key, error_result(refusal), expire=RESULT_KEPT_S)
                register(self.handle, running)
                return REFUSED
            self.handle.delete(key)
            pid = self.start(key, job_fn, args, context)
            running[pid] = {"key": key, "user": user, "started": time.time(), "sharers": [], "state": "queued"}
            handle = self.join(running[pid], pid)
            register(self.handle, running)
        return handle

    def join(self, job: dict, pid: int) -> str:
        """A new sharer of the registered `job`: its own handle, counted as waiting from now."""
        token = secrets.token_hex(6)
        job["sharers"] = [*job.get("sharers", ()), token]
        self.handle.set(SHARER + token, time.time(), expire=SHARER_GONE_S)
        return f"{pid}.{token}"

    def start(self, key, job_fn, args, context) -> int:
        """A fresh interpreter running the callback; a thread here reaps it when it ends."""
        payload = {"target": job_fn, "key": key, "progress_key": self._make_progress_key(key), "args": args,
                   "context": dict(context), "cache": self.handle.directory, "env": self.settings.to_env(),
                   "parent": os.getpid(), "timeout": self.settings.job_timeout_s,
                   "stall": self.settings.job_stall_s, "max_jobs": self.settings.max_jobs,
                   "max_per_user": self.settings.max_jobs_per_user}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        child = subprocess.Popen([sys.executable, "-m", "web.job_process"], stdin=subprocess.PIPE,
                                 cwd=ROOT, env=env, start_new_session=False)
        try:  # set from here: no pre-exec hook in a threaded process
            os.setpriority(os.PRIO_PROCESS, child.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + JOB_NICENESS))
        except OSError:
            pass  # it ended already
        threading.Thread(target=feed, args=(child, pickle.dumps(payload)), daemon=True).start()  # never blocks here
        threading.Thread(target=child.wait, name=f"reap-job-{child.pid}", daemon=True).start()
        return child.pid

    def terminate_job(self, job):
        """Detach the request holding handle `job` (a Cancel, a page asking anew, an answer read);
        stop the process only when no other sharer still waits for it."""
        pid, token = process_id(job), sharer_token(job)
        if pid is None:
            return
        with self.handle.transact():
            running = registered(self.handle)
            shared = running.get(pid)
            if shared is None:
                return  # ended already (or not a job of this server)
            if token is not None:
                self.handle.delete(SHARER + token)
                shared["sharers"] = [t for t in shared.get("sharers", ()) if t != token]
            if still_waiting(self.handle, shared.get("sharers", ())):
                register(self.handle, running)
                return
            del running[pid]
            register(self.handle, running)
            self.handle.add(shared["key"], CANCELLED, expire=RESULT_KEPT_S)  # a poll after it: no 'stopped'
        super().terminate_job(pid)

    def terminate_unhealthy_job(self, job):
        return process_id(job) is not None and super().terminate_unhealthy_job(process_id(job))

    def job_running(self, job):
        return alive(process_id(job))

    def get_progress(self, key):
        return self.handle.get(self._make_progress_key(key))  # kept: every sharer reads it

    def get_result(self, key, job):
        """The answer, kept a while for the other requests sharing the job (not deleted on read).
        Each poll marks its sharer as still waiting."""
        if job == DISK_FULL_HANDLE:
            return error_result(DISK_FULL)
        token, pid = sharer_token(job), process_id(job)
        try:
            if token is not None and pid is not None:
                self.handle.set(SHARER + token, time.time(), expire=SHARER_GONE_S)
            result = self.handle.get(key, self.UNDEFINED)
            if result is self.UNDEFINED and pid is not None and not alive(pid):
                result = self.handle.get(key, self.UNDEFINED)  # it may have answered just before it ended
                return error_result(STOPPED) if result is self.UNDEFINED else result
            if result is self.UNDEFINED:
                return self.UNDEFINED
            self.handle.touch(key, expire=RESULT_KEPT_S)
            self.handle.touch(self._make_progress_key(key), expire=RESULT_KEPT_S)
        except Exception as error:  # noqa: BLE001  a full disk is the answer; the rest propagates
            if not is_disk_full(error):
                raise
            return error_result(DISK_FULL)
        return result
