"""Example: send an email at most once per task, although delivery is at-least-once.

The producer enqueues with an idempotency key per message (`welcome:<user id>`), so a
repeated enqueue makes no second task. The handler gives the message a Message-ID derived
from the task id (the same on every redelivery of that task) and keeps a sent-log table:
a redelivered task whose message is in the log is not sent again.

Run it:  leaseq worker examples.email:build_worker --url http://127.0.0.1:8000
(with SMTP_HOST, SMTP_PORT and SENT_LOG in the environment). Do not run this file as a
script: its name would shadow the standard library's `email` package.
"""

from __future__ import annotations

import os
import smtplib
import sqlite3
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from leaseq.sdk import Client, EnqueueResult, Fatal, TaskContext, Worker


class EmailSender:
    """A synchronous handler (smtplib blocks), so the worker runs it in its thread pool."""

    def __init__(
        self, smtp_host: str, smtp_port: int, sent_log: str, sender: str = "noreply@example.com"
    ) -> None:
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.sent_log, self.sender = sent_log, sender
        with self._log() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sent_log (message_id TEXT PRIMARY KEY, sent_at TEXT)"
            )

    def _log(self) -> sqlite3.Connection:
        return sqlite3.connect(self.sent_log, timeout=10)

    def __call__(self, ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = f"<{ctx.task_id}@leaseq.example>"
        with self._log() as db:
            if db.execute("SELECT 1 FROM sent_log WHERE message_id = ?", (message_id,)).fetchone():
                ctx.logger.info("already sent, not sending again", extra={"message_id": message_id})
                return {"message_id": message_id, "sent": False}
        if "@" not in str(payload.get("to", "")):
            raise Fatal(f"not an email address: {payload.get('to')!r}")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = payload["to"]
        message["Subject"] = payload.get("subject", "")
        message["Message-ID"] = message_id
        message.set_content(payload.get("body", ""))
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        # A crash right here sends twice on redelivery; a receiver that drops repeated
        # Message-IDs closes that gap (most mail systems do).
        with self._log() as db:
            db.execute(
                "INSERT OR IGNORE INTO sent_log VALUES (?, ?)",
                (message_id, datetime.now(UTC).isoformat()),
            )
        return {"message_id": message_id, "sent": True}


def register(worker: Worker, sender: EmailSender) -> None:
    worker.handler("send_email", version=1)(sender)


async def enqueue_welcome(client: Client, user_id: int, address: str) -> EnqueueResult:
    """The producer side: one key per message, so a repeated enqueue is deduplicated."""
    return await client.enqueue(
        "emails",
        "send_email",
        {"to": address, "subject": "Welcome", "body": "Hello!"},
        idempotency_key=f"welcome:{user_id}",
    )


def build_worker(client: Client) -> Worker:
    worker = Worker(client, queue="emails", concurrency=10)
    register(
        worker,
        EmailSender(
            os.environ.get("SMTP_HOST", "127.0.0.1"),
            int(os.environ.get("SMTP_PORT", "25")),
            os.environ.get("SENT_LOG", "sent_log.sqlite3"),
        ),
    )
    return worker
