"""The email example against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from examples.email import EmailSender, enqueue_welcome
from leaseq.sdk import Client, TaskContext, Worker
from tests.examples.conftest import running
from tests.sdk.servers import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


async def test_a_redelivered_email_task_is_not_sent_twice(
    client: Client, smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    sender = EmailSender("127.0.0.1", port, str(tmp_path / "sent.sqlite3"))
    worker = Worker(client, queue="emails", lease_seconds=2, wait_seconds=0.5)

    @worker.handler("send_email")
    def crash_after_sending_once(ctx: TaskContext, payload: dict[str, Any]) -> Any:
        outcome = sender(ctx, payload)
        if ctx.attempt == 1:  # the worker dies after the side effect, before reporting
            raise RuntimeError("crashed after sending")
        return outcome

    task = await enqueue_welcome(client, 42, "ada@example.com")
    again = await enqueue_welcome(client, 42, "ada@example.com")  # a repeated request
    assert (again.id, again.deduplicated) == (task.id, True)
    async with running(worker):
        done = await client.wait_for(task.id, timeout=10)
    assert (done.state, done.attempts) == ("succeeded", 2)
    assert done.result == {"message_id": f"<{task.id}@leaseq.example>", "sent": False}
    assert [m["To"] for m in inbox.messages] == ["ada@example.com"]
    assert inbox.messages[0]["Message-ID"] == f"<{task.id}@leaseq.example>"


async def test_an_invalid_address_is_fatal_and_sends_nothing(
    client: Client, smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    port, inbox = smtp
    worker = Worker(client, queue="emails", lease_seconds=2, wait_seconds=0.5)
    worker.handler("send_email")(EmailSender("127.0.0.1", port, str(tmp_path / "log.sqlite3")))
    queued = await client.enqueue("emails", "send_email", {"to": "nobody"})
    async with running(worker):
        done = await client.wait_for(queued.id, timeout=10)
    assert (done.state, done.attempts, inbox.messages) == ("dead", 1, [])
