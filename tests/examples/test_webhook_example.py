"""The webhook example against a real local HTTP receiver that dedupes by Idempotency-Key."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from examples.webhook import WebhookSender
from leaseq.sdk import Client, RetrySettings, TaskContext, Worker
from tests.examples.conftest import running

FAST_RETRY = RetrySettings(base_seconds=0.0, factor=1.0, max_seconds=0.0, jitter=0.0)


class Receiver:
    """Applies each Idempotency-Key once; a repeat gets the first answer back."""

    def __init__(self) -> None:
        self.received: list[str | None] = []
        self.applied: list[Any] = []
        self.answers: dict[str, int] = {}
        self.failures_left = 0
        self.lock = threading.Lock()

    def answer(self, key: str | None, body: Any) -> int:
        with self.lock:
            self.received.append(key)
            if self.failures_left:
                self.failures_left -= 1
                return 503
            if key is None:
                return 400
            if key not in self.answers:
                self.applied.append(body)
                self.answers[key] = 200
            return self.answers[key]


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/hooks":
                status = 404
            else:
                status = state.answer(self.headers.get("Idempotency-Key"), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


async def test_a_redelivered_webhook_is_applied_once_by_the_receiver(
    client: Client, receiver: tuple[str, Receiver], http: httpx.AsyncClient
) -> None:
    url, state = receiver
    sender = WebhookSender(http)
    worker = Worker(client, queue="webhooks", lease_seconds=2, wait_seconds=0.5)

    @worker.handler("deliver_webhook")
    async def crash_after_delivering_once(ctx: TaskContext, payload: Any) -> Any:
        outcome = await sender(ctx, payload)
        if ctx.attempt == 1:  # the worker dies after the side effect, before reporting
            raise RuntimeError("crashed after delivering")
        return outcome

    queued = await client.enqueue(
        "webhooks", "deliver_webhook", {"url": url, "body": {"order": 7}}, retry=FAST_RETRY
    )
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts) == ("succeeded", 2)
    assert state.received == [str(queued.id)] * 2  # delivered twice, with one key
    assert state.applied == [{"order": 7}]  # applied once


async def test_a_receiver_answering_503_is_retried_until_it_accepts(
    client: Client, receiver: tuple[str, Receiver], http: httpx.AsyncClient
) -> None:
    url, state = receiver
    state.failures_left = 2
    worker = Worker(client, queue="webhooks", lease_seconds=2, wait_seconds=0.5)
    worker.handler("deliver_webhook")(WebhookSender(http))
    queued = await client.enqueue(
        "webhooks", "deliver_webhook", {"url": url, "body": {"n": 1}}, retry=FAST_RETRY
    )
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts, state.applied) == ("succeeded", 3, [{"n": 1}])


async def test_a_receiver_refusing_with_4xx_dead_letters_the_webhook(
    client: Client, receiver: tuple[str, Receiver], http: httpx.AsyncClient
) -> None:
    url, _ = receiver
    worker = Worker(client, queue="webhooks", lease_seconds=2, wait_seconds=0.5)
    worker.handler("deliver_webhook")(WebhookSender(http))
    queued = await client.enqueue(
        "webhooks", "deliver_webhook", {"url": url + "/no-such-hook", "body": {}}
    )
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts) == ("dead", 1)
    assert "404" in (done.last_error or "")
