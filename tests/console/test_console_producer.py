"""The console's pause/resume buttons and its schedules page (plain forms, CSRF-checked)."""

from __future__ import annotations

from tests.console.conftest import csrf_of, enqueue, sign_in
from tests.contract.http_fixtures import ADMIN


async def test_the_pause_button_pauses_the_queue_and_resume_undoes_it(api):
    await sign_in(api)
    await enqueue(api)
    page = await api.get("/console/queues")
    assert 'action="/console/queues/console/pause"' in page.text
    csrf = await csrf_of(api)
    paused = await api.post("/console/queues/console/pause", data={"csrf": csrf})
    assert paused.status_code == 303 and paused.headers["location"] == "/console/queues"
    assert (await api.get("/v1/queues/console", headers=ADMIN)).json()["paused"] is True
    page = await api.get("/console/queues")
    assert "Paused" in page.text and 'action="/console/queues/console/resume"' in page.text
    feed = (await api.get("/console/api/queues")).json()["queues"]
    assert [(q["queue"], q["paused"]) for q in feed] == [("console", True)]
    await api.post("/console/queues/console/resume", data={"csrf": csrf})
    assert (await api.get("/v1/queues/console", headers=ADMIN)).json()["paused"] is False


async def test_pause_without_the_csrf_token_is_refused_and_changes_nothing(api):
    await sign_in(api)
    await enqueue(api)
    refused = await api.post("/console/queues/console/pause", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert (await api.get("/v1/queues/console", headers=ADMIN)).json()["paused"] is False


async def test_the_schedules_page_lists_schedules_and_deletes_one_after_confirmation(api):
    await sign_in(api)
    body = {"cron": "30 2 * * *", "timezone": "Europe/Berlin",
            "task": {"queue": "reports", "type": "build_report"}}  # fmt: skip
    assert (await api.put("/v1/schedules/nightly", json=body, headers=ADMIN)).status_code == 201
    page = await api.get("/console/schedules")
    assert page.status_code == 200
    assert "nightly" in page.text and "30 2 * * *" in page.text and "Europe/Berlin" in page.text
    csrf = await csrf_of(api, "/console/schedules")
    confirm = await api.post("/console/schedules/nightly/delete", data={"csrf": csrf})
    assert confirm.status_code == 200 and "Delete schedule nightly?" in confirm.text
    assert (await api.get("/v1/schedules/nightly", headers=ADMIN)).status_code == 200
    done = await api.post(
        "/console/schedules/nightly/delete", data={"csrf": csrf, "confirmed": "yes"}
    )
    assert done.status_code == 303
    assert (await api.get("/v1/schedules/nightly", headers=ADMIN)).status_code == 404
    gone = await api.post(
        "/console/schedules/nightly/delete", data={"csrf": csrf, "confirmed": "yes"}
    )
    assert gone.status_code == 404


async def test_the_queues_page_shows_limits_live_leases_and_live_counts_per_key(api):
    await sign_in(api)
    for key in ("customer-7", "customer-7", "customer-9"):
        body = {"queue": "console", "type": "t", "payload": {}, "concurrency_key": key}
        assert (await api.post("/v1/tasks", json={"tasks": [body]}, headers=ADMIN)).is_success
    limits = {"concurrency": 5, "concurrency_per_key": 2, "rate_per_second": 10}
    assert (await api.put("/v1/queues/console/limits", json=limits, headers=ADMIN)).is_success
    lease = {"queue": "console", "worker_id": "w", "max_tasks": 10}
    assert len((await api.post("/v1/leases", json=lease, headers=ADMIN)).json()["leases"]) == 3
    page = await api.get("/console/queues")
    assert "5 at once · 2 per key · 10/s" in page.text
    assert "customer-7: 2, customer-9: 1" in page.text
    [row] = (await api.get("/console/api/queues")).json()["queues"]
    assert (row["limits"], row["live_leases"]) == ("5 at once · 2 per key · 10/s", 3)
    assert row["live_per_key"] == "customer-7: 2, customer-9: 1"
