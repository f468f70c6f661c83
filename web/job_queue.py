"""Jobs beyond the caps wait their turn instead of being refused.

Every job is registered as `queued` when its process starts; the process (`web.job_process`)
asks for its turn before it imports anything heavy, and shows "queued: N ahead" in the page's
progress while it waits. A turn is given when the machine runs fewer than `max_jobs` and the
job's user fewer than `max_jobs_per_user`. Only jobs someone still looks at count: a running job
whose page stopped polling (`ACTIVE_POLL_S`, the page was left) no longer counts for its user,
and a queued one whose page stopped polling gets no turn and ends. Between users the
queue is first come, first served; one user's own queued jobs go newest first (the view they are
looking at now). A flood is still bounded: at most `QUEUED_PER_USER` jobs of a user wait at once.
"""

from __future__ import annotations

import time

import diskcache

ACTIVE_POLL_S = 10.0  # a page polls its job twice a second; silent this long, it was left
QUEUED_PER_USER = 8  # waiting jobs of one user beyond which a new one is refused
SHARER = "nnvis-job-sharer-"  # + a handle's token: the time that request last polled its job


def last_poll(cache: diskcache.Cache, sharers) -> float:
    """When any of `sharers` last polled its job (0 when none did)."""
    times = [cache.get(SHARER + token) for token in sharers]
    return max([moment for moment in times if isinstance(moment, (int, float))], default=0.0)


def looked_at(cache: diskcache.Cache, job: dict, now: float) -> bool:
    """Whether a page still polls `job` (or it started a moment ago, before its first poll)."""
    return now - max(job.get("started", 0.0), last_poll(cache, job.get("sharers", ()))) < ACTIVE_POLL_S


def turn(cache: diskcache.Cache, running: dict[int, dict], pid: int, max_jobs: int, max_per_user: int) -> int:
    """0 when job `pid` may run now (then marked `running` in `running`), else its place in the
    queue (1: next); -1 when it is not registered (ended, or struck off when nobody waited)."""
    now = time.time()
    me = running.get(pid)
    if me is None:
        return -1
    if me.get("state") == "running":
        return 0
    active = [job for job in running.values() if job.get("state") == "running"]
    slots = max_jobs - len(active)
    per_user: dict[str, int] = {}
    for job in active:
        if looked_at(cache, job, now):
            per_user[job["user"]] = per_user.get(job["user"], 0) + 1
    waiting = [(number, job) for number, job in running.items()
               if job.get("state") != "running" and (number == pid or looked_at(cache, job, now))]
    first_of_user: dict[str, float] = {}
    for _, job in waiting:
        first_of_user[job["user"]] = min(first_of_user.get(job["user"], job["started"]), job["started"])
    waiting.sort(key=lambda item: (first_of_user[item[1]["user"]], -item[1]["started"], item[0]))
    ahead = 0
    for number, job in waiting:
        gets_turn = slots > 0 and per_user.get(job["user"], 0) < max_per_user
        if number == pid:
            if gets_turn:
                me["state"], me["started"] = "running", now
                return 0
            return ahead + 1
        if gets_turn:
            slots -= 1
            per_user[job["user"]] = per_user.get(job["user"], 0) + 1
        ahead += 1
    return ahead + 1


def too_many_waiting(cache: diskcache.Cache, running: dict[int, dict], user: str) -> str | None:
    """Why a new job of `user` may not even wait (a flood), or None. Only jobs a page still polls
    count: one whose page was left ends by itself (`web.job_process.wait_for_turn`)."""
    now = time.time()
    waiting = sum(job["user"] == user and job.get("state") != "running" and looked_at(cache, job, now)
                  for job in running.values())
    if waiting >= QUEUED_PER_USER:
        return (f"You have {waiting} jobs waiting already (at most {QUEUED_PER_USER} per user); "
                "wait for them to finish or cancel one.")
    return None


def queued_message(place: int) -> str:
    """What the page shows while its job waits at `place` in the queue."""
    ahead = place - 1
    return f"queued: {ahead} ahead" if ahead else "queued: next, waiting for a free slot"
