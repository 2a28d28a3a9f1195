"""Example: deliver a webhook with an `Idempotency-Key` header, so a receiver that honours
it (Stripe-style) applies a redelivered call once.

The key is the task id: the same on every redelivery of that task, distinct per task.
5xx, 408 and 429 answers and connection failures are retried (honouring Retry-After);
other 4xx answers are fatal: repeating the same request would fail the same way.

Run it:  leaseq worker examples.webhook:build_worker --url http://127.0.0.1:8000
"""

from __future__ import annotations

from typing import Any

import httpx

from leaseq.sdk import Client, Fatal, Retry, TaskContext, Worker

RETRYABLE_STATUS = {408, 429}


class WebhookSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(self, ctx: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Idempotency-Key": str(ctx.task_id)}
        if "traceparent" in ctx.labels:
            headers["traceparent"] = ctx.labels["traceparent"]
        try:
            response = await self.http.post(payload["url"], json=payload["body"], headers=headers)
        except httpx.TransportError as error:
            raise Retry(f"could not reach the receiver: {error!r}") from error
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise Retry(f"receiver answered {response.status_code}", delay=_retry_after(response))
        if response.status_code >= 400:
            raise Fatal(f"receiver refused the webhook: {response.status_code}")
        return {"status": response.status_code}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def build_worker(client: Client) -> Worker:
    worker = Worker(client, queue="webhooks", concurrency=50)
    worker.handler("deliver_webhook", version=1)(WebhookSender(httpx.AsyncClient(timeout=10)))
    return worker
