"""The real `leaseq serve` process across a restart: a pause holds, and the fires missed
while no replica ran are enqueued once at start-up (only the latest of them)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import httpx
import pytest

from tests.e2e.test_serve import AUTH, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]


def run_ats(http: httpx.Client) -> list[datetime]:
    tasks = http.get("/v1/tasks", params={"queue": "ticks", "limit": 1000}).json()["tasks"]
    return sorted(datetime.fromisoformat(t["run_at"]) for t in tasks)


def fires_since(http: httpx.Client, known: int, count: int) -> list[datetime]:
    """The run_ats once `count` fires joined the `known` ones; a loaded machine may start
    the service slowly, so wait for them (a few fire times) rather than a fixed time."""
    deadline = time.monotonic() + 20
    seen = run_ats(http)
    while len(seen) < known + count and time.monotonic() < deadline:
        time.sleep(0.25)
        seen = run_ats(http)
    return seen


def test_a_pause_and_a_schedule_survive_a_restart_and_missed_fires_are_not_back_filled(
    pg_migrated_url, tmp_path
) -> None:
    args = ["--database-url", pg_migrated_url]
    with serving(args, tmp_path) as url, httpx.Client(base_url=url, headers=AUTH) as http:
        assert http.post("/v1/queues/emails/pause").json()["paused"] is True
        body = {"cron": "*/2 * * * * *", "task": {"queue": "ticks", "type": "tick"}}
        assert http.put("/v1/schedules/tick", json=body).status_code == 201
        time.sleep(3)
        before = run_ats(http)
    time.sleep(7)  # three or four fire times pass while nothing runs
    restarting = time.time()
    with serving(args, tmp_path) as url, httpx.Client(base_url=url, headers=AUTH) as http:
        assert http.get("/v1/queues/emails").json()["paused"] is True
        lease = {"queue": "emails", "worker_id": "w"}
        http.post("/v1/tasks", json={"tasks": [{"queue": "emails", "type": "t"}]})
        assert http.post("/v1/leases", json=lease).json()["leases"] == []
        after = fires_since(http, len(before), count=3)
        http.delete("/v1/schedules/tick")
    assert before and after[: len(before)] == before
    since_restart = [t.timestamp() for t in after[len(before) :]]
    # the first is the latest fire time missed before the service came up (no earlier
    # one of the downtime), then the fire times after it, each once
    assert since_restart[0] >= restarting - 2.5, (since_restart, restarting)
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(since_restart)}
    assert gaps and all(gap > 0 and gap % 2 == 0 for gap in gaps), gaps
