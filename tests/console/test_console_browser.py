"""The console in a real browser (Debian's Chromium driven by Playwright) against a real
`leaseq serve` process on PostgreSQL: sign in, read, filter, open, requeue, bulk-cancel.

Screenshots of every page land in test-artifacts/console/ (docs/console/ holds copies).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import LEASEQ, free_port, wait_ready

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ADMIN_TOKEN = "console-admin"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# CI (CI=true) must run these tests: without Chromium they fail there. Only on a
# developer machine do they skip, and the run's summary says so in capitals.
MISSING = None if CHROMIUM.exists() else f"{CHROMIUM} is missing (apt-get install -y chromium)"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
if MISSING is not None and not IN_CI:
    pytest.skip(f"CONSOLE BROWSER TESTS NOT RUN: {MISSING}", allow_module_level=True)

import playwright.async_api as playwright_api  # noqa: E402  (a dev extra: always there)


class Seeded:
    """The tasks the test made, by role."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.reports: list[str] = []
        self.dead: list[str] = []
        self.leased = ""
        self.scripted = ""


def seed(url: str) -> Seeded:
    made = Seeded()
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:

        def enqueue(**task: Any) -> str:
            answer = http.post("/v1/tasks", json={"tasks": [task]})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["tasks"][0]["id"])

        def lease(queue: str, worker: str) -> dict[str, Any]:
            body = {"queue": queue, "worker_id": worker, "lease_seconds": 600}
            (granted,) = http.post("/v1/leases", json=body).json()["leases"]
            return dict(granted)

        for n in range(3):  # dead letters first: the oldest tasks of "emails"
            task_id = enqueue(queue="emails", type="send_email", payload={"to": f"d{n}@x.test"})
            granted = lease("emails", "worker-a")
            error = f"SMTP 550: mailbox d{n}@x.test unavailable"
            failed = http.post(
                f"/v1/tasks/{task_id}/fail", json={"token": granted["token"], "error": error}
            )
            assert failed.json()["state"] == "dead"
            made.dead.append(task_id)
        for n in range(4):
            task_id = enqueue(queue="emails", type="send_email", payload={"to": f"u{n}@x.test"})
            granted = lease("emails", "worker-a")
            http.post(f"/v1/tasks/{task_id}/complete", json={"token": granted["token"]})
        made.leased = enqueue(queue="emails", type="send_email", payload={"to": "held@x.test"})
        assert lease("emails", "worker-b.host-7:pid-4711")["task_id"] == made.leased
        made.scripted = enqueue(
            queue="emails",
            type="send_email",
            payload={"to": "x@x.test", "html": "<script>alert('pwned')</script>"},
            labels={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            idempotency_key="welcome:42",
        )
        made.pending = [
            enqueue(queue="emails", type="digest", payload={"week": n}) for n in range(3)
        ]
        made.reports = [
            enqueue(queue="reports", type="render_pdf", payload={"report": n}, priority=n)
            for n in range(4)
        ]
    return made


def state_of(url: str, task_id: str) -> str:
    answer = httpx.get(f"{url}/v1/tasks/{task_id}", headers=AUTH, timeout=10)
    return str(answer.json()["state"])


@pytest.fixture
def console_url(pg_migrated_url: str, tmp_path: Path) -> Iterator[str]:
    """`leaseq serve` (uvicorn, the real app) on the test's migrated database."""
    port = free_port()
    env = {
        **os.environ,
        "LEASEQ_TOKENS": f"{ADMIN_TOKEN}:admin;console-worker:work",
        "LEASEQ_CONSOLE_SAMPLE_SECONDS": "1",
    }
    log_path = tmp_path / "serve.log"
    args = ["serve", "--port", str(port), "--database-url", pg_migrated_url]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*LEASEQ, *args], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process, log_path)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if MISSING is not None:
        pytest.fail(f"CI=true and {MISSING}: the console would go untested", pytrace=False)
    async with playwright_api.async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


async def test_an_operator_signs_in_reads_filters_requeues_and_bulk_cancels(
    console_url: str, browser: Any
) -> None:
    made = seed(console_url)
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    alerts: list[str] = []
    page.on("dialog", lambda dialog: alerts.append(dialog.message))
    expect = playwright_api.expect

    # sign in: the queues page sends us to the form and back
    await page.goto(f"{console_url}/console/queues")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shot(page, "01-sign-in")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Queues")).to_be_visible()
    assert page.url.endswith("/console/queues")

    # queues: counts by state; the live poll refreshes them and draws the sparkline
    emails = page.locator('tr[data-queue="emails"]')
    await expect(emails.locator('[data-field="dead"]')).to_have_text("3")
    await expect(emails.locator('[data-field="leased"]')).to_have_text("1")
    async with httpx.AsyncClient(base_url=console_url, headers=AUTH, timeout=10) as http:
        leased = await http.post("/v1/leases", json={"queue": "reports", "worker_id": "w"})
        granted = leased.json()["leases"][0]
        await http.post(
            f"/v1/tasks/{granted['task_id']}/complete", json={"token": granted["token"]}
        )
    made.reports.remove(granted["task_id"])
    reports = page.locator('tr[data-queue="reports"]')
    await expect(reports.locator('[data-field="succeeded"]')).to_have_text("1")  # no reload
    await expect(page.locator("#live-status")).to_contain_text("Updated")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('polyline')]"
        ".some(p => (p.getAttribute('points') || '').split(' ').length >= 4)"
    )
    await shot(page, "02-queues")

    # task list: filter by queue and state
    await page.get_by_role("link", name="Tasks", exact=True).click()
    await page.get_by_label("Queue").fill("emails")
    await page.get_by_label("State").select_option("pending")
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("#tasks tbody tr")
    await expect(rows).to_have_count(4)  # the scripted one and three digests
    await expect(page.locator("#tasks")).not_to_contain_text("render_pdf")
    await shot(page, "03-task-list")

    # the task page: payload escaped, labels, and no script ran
    await page.get_by_role("link", name=made.scripted).click()
    await expect(page.locator("#payload")).to_contain_text("<script>alert('pwned')</script>")
    await expect(page.get_by_role("rowheader", name="traceparent")).to_be_visible()
    await shot(page, "04-task")
    await page.goto(f"{console_url}/console/tasks/{made.leased}")
    await expect(page.locator("#lease")).to_contain_text("worker-b.host-7:pid-4711")
    await shot(page, "05-task-leased")

    # dead letters: requeue one, confirmed in a <dialog>; it becomes pending
    await page.get_by_role("link", name="Dead letters").click()
    await expect(page.locator("#tasks tbody tr")).to_have_count(3)
    await page.get_by_label(f"Select task {made.dead[0]}").check()
    await page.get_by_role("button", name="Requeue selected").click()
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Requeue 1 task?")
    await shot(page, "06-dead-letters-confirm", full_page=False)
    await dialog.get_by_role("button", name="Yes").click()
    await expect(page.locator("#action-summary")).to_contain_text("1 task requeued")
    await shot(page, "07-requeue-result")
    await page.get_by_role("link", name=made.dead[0]).click()
    await expect(page.locator("#task-state")).to_have_text("pending")
    history = page.locator("#history tbody tr")
    await expect(history).to_have_count(4)  # enqueued, leased, failed, requeued
    await expect(history.last).to_contain_text("requeued")
    await expect(history.nth(2)).to_contain_text("SMTP 550")
    await shot(page, "08-task-history")
    assert state_of(console_url, made.dead[0]) == "pending"

    # bulk cancel: every pending report, selected at once
    await page.goto(f"{console_url}/console/tasks?queue=reports&state=pending")
    await page.get_by_label("Select every task on this page").check()
    await page.get_by_role("button", name="Cancel selected").click()
    await expect(dialog).to_contain_text(f"Cancel {len(made.reports)} tasks?")
    await dialog.get_by_role("button", name="Yes").click()
    summary = page.locator("#action-summary")
    await expect(summary).to_contain_text(f"{len(made.reports)} tasks cancelled")
    await shot(page, "09-bulk-cancel-result")
    assert {state_of(console_url, t) for t in made.reports} == {"cancelled"}
    assert alerts == []
    await context.close()


async def test_without_javascript_the_console_reads_and_confirms_on_a_page(
    console_url: str, browser: Any
) -> None:
    made = seed(console_url)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    expect = playwright_api.expect
    await page.goto(f"{console_url}/console/sign-in")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator('tr[data-queue="emails"] [data-field="dead"]')).to_have_text("3")
    await shot(page, "10-narrow-queues")

    # narrow screen: the page does not overflow; the table scrolls inside its region
    await page.goto(f"{console_url}/console/dead")
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth,"
        " document.querySelector('.table-scroll').scrollWidth,"
        " document.querySelector('.table-scroll').clientWidth]"
    )
    assert widths[0] <= 390 and widths[1] > widths[2], widths
    await shot(page, "11-narrow-dead-letters")

    # a cancel of dead tasks goes through a confirm page and reports each refusal
    for task_id in made.dead[:2]:
        await page.get_by_label(f"Select task {task_id}").check()
    await page.get_by_role("button", name="Cancel selected").click()
    await expect(page.get_by_role("heading", name="Cancel 2 tasks?")).to_be_visible()
    await shot(page, "12-no-js-confirm")
    await page.get_by_role("button", name="Yes, cancel 2 tasks").click()
    await expect(page.locator("#action-summary")).to_contain_text("2 refused")
    await expect(page.locator("#results")).to_contain_text("invalid_transition")
    await shot(page, "13-no-js-refusals")
    assert state_of(console_url, made.dead[0]) == "dead"
    await context.close()


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "handlers.py", line 12, in send_email\n'
    "    smtp.send(message)\n"
    "ConnectionRefusedError: [Errno 111] Connection refused by smtp.example.test:25\n"
)


@pytest.mark.parametrize("width", [1280, 1700])
async def test_the_last_error_column_fits_and_shows_the_exception_line(
    console_url: str, browser: Any, width: int
) -> None:
    async with httpx.AsyncClient(base_url=console_url, headers=AUTH, timeout=30) as http:
        await http.post("/v1/tasks", json={"tasks": [{"queue": "mail", "type": "send_email"}]})
        leased = await http.post("/v1/leases", json={"queue": "mail", "worker_id": "w"})
        (granted,) = leased.json()["leases"]
        failed = await http.post(
            f"/v1/tasks/{granted['task_id']}/fail",
            json={"token": granted["token"], "error": TRACEBACK},
        )
        assert failed.json()["state"] == "dead"
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(f"{console_url}/console/sign-in")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(f"{console_url}/console/dead")
    cell = page.locator("#tasks tbody tr td").last
    await playwright_api.expect(cell).to_contain_text("ConnectionRefusedError: [Errno 111]")
    await playwright_api.expect(cell).not_to_contain_text("Traceback")
    edges = await page.evaluate(
        "() => [document.querySelector('#tasks thead th:last-child')"
        ".getBoundingClientRect().right,"
        " document.querySelector('.table-scroll').getBoundingClientRect().right,"
        " document.documentElement.scrollWidth, window.innerWidth]"
    )
    await shot(page, f"14-last-error-{width}", full_page=False)
    header_right, region_right, page_width, viewport = edges
    assert header_right <= region_right + 1 and page_width <= viewport, edges
    await context.close()
