"""Jobs beyond the caps wait in a queue and say their place, instead of being refused: a user
browsing page after page never meets a job-cap message; a job whose page was left stops counting
for its user; one user's newest job (the view they look at) goes first among theirs."""

import json
import time

from nnvis.settings import Settings
from tests.conftest import copy_workspace, serving
from tests.hardening_client import http
from tests.integration.test_hardening_jobs import actmax_job, cancel, job_pid, projection_job, start
from web.job_cache import open_job_cache
from web.job_queue import SHARER, queued_message, too_many_waiting, turn


def job(user: str, started: float, state: str = "queued", sharers=()) -> dict:
    return {"key": f"{user}{started}", "user": user, "started": started, "sharers": list(sharers), "state": state}


def test_turns_follow_the_caps_the_users_order_and_the_pages_still_looked_at(tmp_path):
    now = time.time()
    with open_job_cache(tmp_path / "jobs") as cache:
        cache.set(SHARER + "a", now)  # alice's running job: its page polls
        running = {1: job("alice", now - 5, "running", ["a"]), 2: job("alice", now - 3), 3: job("alice", now - 2),
                   4: job("bob", now - 1)}
        assert turn(cache, running, 3, max_jobs=4, max_per_user=1) == 1  # alice's newest waits first among hers
        assert turn(cache, running, 2, max_jobs=4, max_per_user=1) == 2
        assert turn(cache, running, 4, max_jobs=4, max_per_user=1) == 0  # bob's cap is free: he runs
        assert running[4]["state"] == "running"
        assert turn(cache, running, 3, max_jobs=2, max_per_user=1) == 1  # the machine is full now
        assert turn(cache, running, 99, max_jobs=4, max_per_user=1) == -1  # not registered
        cache.set(SHARER + "a", now - 60)  # alice left the page of her running job: it no longer counts for her
        running[1]["started"] = now - 60
        assert turn(cache, running, 3, max_jobs=4, max_per_user=1) == 0
    assert queued_message(3) == "queued: 2 ahead"


def test_only_queued_jobs_a_page_still_polls_count_against_a_flood(tmp_path):
    now = time.time()
    with open_job_cache(tmp_path / "jobs") as cache:
        left = {number: job("carol", now - 60) for number in range(20)}  # pages left a minute ago
        assert too_many_waiting(cache, left, "carol") is None
        polled = {number: job("carol", now) for number in range(8)}
        assert "You have 8 jobs waiting already (at most 8 per user)" in too_many_waiting(cache, polled, "carol")
        assert too_many_waiting(cache, polled, "dave") is None


def progress_texts(reply: dict) -> list:
    """The stage a job's indicator shows (its progress bar's numbers aside)."""
    return [value for output, value in (reply.get("progress") or {}).items()
            if output.endswith("-stage.children") and isinstance(value, str)]


def test_a_job_beyond_the_users_cap_waits_says_its_place_and_then_runs(digits_workspace, tmp_path):
    workspace = copy_workspace(digits_workspace.path, tmp_path / "ws")  # no actmax stored yet
    settings = Settings(workspaces=(workspace,), job_cache=tmp_path / "jobs", max_jobs=4, max_jobs_per_user=1)
    with serving(settings) as base:
        long_body = actmax_job(base, unit=0, steps=10000)  # long: cancelled below
        long_job = start(base, long_body)
        long_query = f"?cacheKey={long_job['cacheKey']}&job={long_job['job']}"
        stages, deadline = [], time.monotonic() + 240
        while time.monotonic() < deadline and not [text for text in stages if not text.startswith("queued")]:
            status, _, answer = http(base + "/_dash-update-component" + long_query, json.dumps(long_body).encode())
            stages = progress_texts(json.loads(answer)) if status == 200 else []
            time.sleep(0.3)
        assert stages, "the long job never started"  # it runs: the next job of this user must wait for it
        body = projection_job(base, "hidden3", 2, "pca")
        waiting = start(base, body)
        assert job_pid(waiting) != job_pid(long_job)
        query = f"?cacheKey={waiting['cacheKey']}&job={waiting['job']}"
        seen, deadline = [], time.monotonic() + 240
        while time.monotonic() < deadline and not any("queued" in text for text in seen):
            status, _, answer = http(base + "/_dash-update-component" + query, json.dumps(body).encode())
            assert status == 200, answer[:300]
            reply = json.loads(answer)
            assert "response" not in reply, "ran beside the user's other job: the cap did not hold"
            seen += progress_texts(reply)
            http(base + "/_dash-update-component" + long_query, json.dumps(long_body).encode())  # still looked at
            time.sleep(0.3)
        assert "queued: next, waiting for a free slot" in seen
        assert not any("at most" in text for text in seen)
        cancel(base, long_job)  # the slot frees: the queued job runs and answers
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status, _, answer = http(base + "/_dash-update-component" + query, json.dumps(body).encode())
            reply = json.loads(answer) if status == 200 else {}
            if "response" in reply:
                break
            time.sleep(0.3)
        assert "response" in reply and "NH" in json.dumps(reply["response"])
