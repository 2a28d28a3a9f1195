"""PostgresTaskStore: each transition of `leaseq.domain.transitions` as one SQL statement.

Validation runs in Python before any SQL, exactly as the memory store does it; the
statements (queries.py) then apply the transition atomically in PostgreSQL. A fenced
call that matches no row costs one more read, which names the refusal by the rules of
`transitions.check_fence`.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

import asyncpg
from attrs import evolve
from sqlalchemy import TextClause

from leaseq.adapters.postgres import queries as q
from leaseq.adapters.postgres.engine import create_engine
from leaseq.adapters.postgres.errors import SCHEMA_HINT, translated
from leaseq.adapters.postgres.flow import PostgresFlowControl
from leaseq.adapters.postgres.planner_statistics import analyze_outgrown
from leaseq.adapters.postgres.producer import PostgresProducerFeatures
from leaseq.adapters.postgres.rows import (
    enqueue_params,
    enqueue_params_each,
    micros,
    to_event,
    to_reported,
    to_task,
)
from leaseq.adapters.postgres.schema import expected_revision, read_revision
from leaseq.adapters.postgres.statements import StatementRunner, open_runner
from leaseq.adapters.system import SecretTokenGenerator, Uuid7Generator
from leaseq.domain import (
    DEFAULT_LIMITS,
    JSON,
    DomainError,
    Enqueued,
    InvalidTransition,
    LeaseLost,
    Limits,
    NewTasks,
    ReportedTask,
    Task,
    TaskEvent,
    TaskNotFound,
    TaskSpec,
    TaskState,
    ValidationError,
    claims,
    repeats,
)
from leaseq.domain import transitions as tr
from leaseq.domain import validation as v
from leaseq.ports import (
    Complete,
    Fail,
    IdGenerator,
    LeaseRequest,
    Outcome,
    QueueStats,
    Retry,
    SchemaOutOfDate,
    StoreUnavailable,
    TaskFilter,
    TaskPage,
    TokenGenerator,
)

Row = Mapping[str, Any]
# Runs one statement: the store's own (`_rows`) or an open transaction's (`Transaction.rows`).
Rows = Callable[[TextClause, dict[str, Any]], Awaitable[Sequence[Row]]]
HISTORY_PAGE_MAX = 1000
# A retention is a duration like a delay, of at most ten years.
RETENTION_LIMITS = Limits(max_delay=timedelta(days=3650))


class PostgresTaskStore(PostgresProducerFeatures, PostgresFlowControl):
    """The TaskStore port on PostgreSQL. Build it with `open_postgres_store`."""

    def __init__(
        self,
        runner: StatementRunner,
        *,
        limits: Limits = DEFAULT_LIMITS,
        ids: IdGenerator | None = None,
        tokens: TokenGenerator | None = None,
    ) -> None:
        # Every statement is a transaction of its own: autocommit saves BEGIN/COMMIT trips.
        self._runner = runner
        self._limits = limits
        self._ids = ids or Uuid7Generator()
        self._tokens = tokens or SecretTokenGenerator()
        self._seen_limited: set[str] = set()  # PostgresFlowControl's hint

    # -- producers -------------------------------------------------------------------

    async def enqueue(
        self, specs: Sequence[TaskSpec], *, now: datetime | None = None
    ) -> list[Enqueued]:
        v.check_batch_size(len(specs), self._limits)
        payloads = v.check_specs_array(specs, self._limits)
        if not specs:
            return []
        ids = self._ids.new_ids(len(specs))
        params = enqueue_params(specs, payloads, ids) | {"now": _aware(now)}
        if params["each_idempotency_key"] is None and params["all_idempotency_key"] is None:
            [row] = await self._rows(q.ENQUEUE_NEW, params)  # no keys: every spec is new
            created = row["created_at"]
            pairs = zip(specs, ids, strict=True)
            return [Enqueued.new(s, task_id=i, now=created) for s, i in pairs]
        answers: builtins.list[Enqueued | None] = [None] * len(specs)
        repeats: builtins.list[tuple[int, UUID]] = []
        for row in await self._rows(q.ENQUEUE, params):
            index = row["n"] - 1
            if answers[index] is not None:
                continue
            if not row["deduplicated"]:  # new: the spec as a task (see queries.ENQUEUE)
                spec, created = specs[index], row["created_at"]
                answers[index] = Enqueued.new(spec, task_id=row["id"], now=created)
            elif row["queue"] is None:  # a repeat of a new task of this batch
                repeats.append((index, row["id"]))
            else:  # an old task, whole
                answers[index] = Enqueued(to_task(row), deduplicated=True)
        if repeats:
            new = {a.task_id: a for a in answers if a is not None and not a.deduplicated}
            for index, original in repeats:
                answers[index] = Enqueued(new[original].task, deduplicated=True)
        done: builtins.list[Enqueued] = []
        for answer, spec in zip(answers, specs, strict=True):
            if answer is None:
                answer = Enqueued(await self._original(spec), deduplicated=True)
            done.append(answer)
        return done

    async def enqueue_each(
        self, spec: TaskSpec, payloads: Sequence[JSON], *, now: datetime | None = None
    ) -> NewTasks:
        v.check_each_batch(spec, len(payloads), self._limits)
        encoded = v.check_each(spec, payloads, self._limits)
        if not payloads:
            return NewTasks(spec, (), (), None)
        ids = self._ids.new_ids(len(payloads))
        params = enqueue_params_each(spec, encoded, ids) | {"now": _aware(now)}
        [row] = await self._rows(q.ENQUEUE_NEW, params)
        return NewTasks(spec, payloads, ids, row["created_at"])

    async def enqueue_keyed(
        self,
        spec: TaskSpec,
        payloads: Sequence[JSON],
        keys: Sequence[str],
        *,
        now: datetime | None = None,
    ) -> Sequence[Enqueued]:
        if len(keys) != len(payloads):
            raise ValueError("one key per payload")
        spec = evolve(spec, payload=None, idempotency_key=None)
        if not v.plain_keys(keys, self._limits):  # judged, and worded, spec by spec
            return await self.enqueue(_keyed_specs(spec, payloads, keys), now=now)
        v.check_each_batch(spec, len(payloads), self._limits)
        encoded = v.check_each(spec, payloads, self._limits)
        if not payloads:
            return NewTasks(spec, (), (), None, keys=())
        ids = self._ids.new_ids(len(payloads))
        params = enqueue_params_each(spec, encoded, ids, keys) | {"now": _aware(now)}
        with translated():
            try:
                [row] = await self._runner.rows(q.ENQUEUE_NEW, params)
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != q.IDEMPOTENCY_INDEX:
                    raise
                row = None
        if row is None:
            # A key is taken (a repeat, or a key twice in the batch) and nothing was
            # written: ENQUEUE answers each task, new or deduplicated (ADR 0035).
            return await self.enqueue(_keyed_specs(spec, payloads, keys), now=now)
        return NewTasks(spec, payloads, ids, row["created_at"], keys)

    async def _original(self, spec: TaskSpec) -> Task:
        """The task a repeat names, committed by a concurrent batch after ours began."""
        rows = await self._rows(
            q.BY_IDEMPOTENCY_KEY, {"queue": spec.queue, "key": spec.idempotency_key}
        )
        if not rows:  # pruned in between: the caller may simply enqueue again
            raise StoreUnavailable("a concurrent change hid the deduplicated task; retry")
        return to_task(rows[0])

    # -- workers ---------------------------------------------------------------------

    async def lease(self, request: LeaseRequest, *, now: datetime | None = None) -> list[Task]:
        claims.check_lease_request(request, self._limits)
        params = self._lease_params(request, now)
        if request.repeat and request.request_id is not None:
            again = await self._rows(q.LEASE_REPEATED, params)
            if again:
                return [to_task(row) for row in again]
        if request.queue in self._seen_limited:  # a hint only: checked under the lock
            return [to_task(row) for row in await self._lease_limited(params)]
        rows = await self._rows(q.LEASE, params)
        return await self._lease_ended(rows, params)

    def _lease_params(self, request: LeaseRequest, now: datetime | None) -> dict[str, Any]:
        types = request.types
        return {
            "now": _aware(now),
            "queue": request.queue,
            "types": None if types is None else [t.type for t in types],
            "versions": None if types is None else [t.version for t in types],
            "limit": request.limit,
            "owner": request.owner,
            "tokens": [self._tokens.new_token() for _ in range(request.limit)],
            "lease_us": micros(request.lease_for),
            "expired_error": tr.EXPIRED_ERROR,
            "request_id": request.request_id,
        }

    async def _lease_ended(self, rows: builtins.list[Row], params: dict[str, Any]) -> list[Task]:
        # LEASE leaves a limited queue alone (ADR 0030); asked only when it granted nothing
        if not rows and await self._queue_is_limited(params["queue"]):
            rows = await self._lease_limited(params)
        return [to_task(row) for row in rows]

    async def report_and_lease(
        self,
        outcomes: Sequence[Outcome],
        request: LeaseRequest,
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> tuple[list[ReportedTask | DomainError], list[Task]]:
        claims.check_lease_request(request, self._limits)  # refused: nothing is applied
        now = _aware(now)
        if not outcomes:
            return [], await self.lease(request, now=now)
        if request.repeat or request.queue in self._seen_limited:
            # A repeat finds its grants first; a limited queue's grants wait for its row
            # lock, which must never be awaited while holding the reported tasks' locks.
            answers = await self.report(outcomes, with_tasks=with_tasks, now=now)
            return answers, await self.lease(request, now=now)
        params = self._lease_params(request, now)
        with translated():
            async with self._runner.transaction() as tx:
                answers = await self._report_on(tx.rows, outcomes, now, with_tasks)
                rows = builtins.list(await tx.rows(q.LEASE, params))
        return answers, await self._lease_ended(rows, params)

    async def heartbeat(
        self, task_id: UUID, token: str, *, lease_for: timedelta, now: datetime | None = None
    ) -> Task:
        v.check_lease_for(lease_for, self._limits)
        return await self._fenced(q.HEARTBEAT, task_id, token, now, {"lease_us": micros(lease_for)})

    async def complete(
        self, task_id: UUID, token: str, result: JSON = None, *, now: datetime | None = None
    ) -> Task:
        encoded = v.check_result(result, self._limits)
        sealed = repeats.fingerprint(token, repeats.COMPLETE, result)
        params = {"result": encoded, "fingerprint": sealed}
        return await self._fenced(q.COMPLETE, task_id, token, now, params)

    async def retry(
        self,
        task_id: UUID,
        token: str,
        error: str,
        *,
        delay: timedelta | None = None,
        jitter_draw: float = 0.0,
        now: datetime | None = None,
    ) -> Task:
        params = _retry_params(delay, jitter_draw, error, self._limits)
        params["fingerprint"] = _retry_fingerprint(token, params["error"], delay)
        return await self._fenced(q.RETRY, task_id, token, now, params)

    async def fail(
        self, task_id: UUID, token: str, error: str, *, now: datetime | None = None
    ) -> Task:
        text = v.clip_error(error, self._limits)
        sealed = repeats.fingerprint(token, repeats.FAIL, text)
        return await self._fenced(
            q.FAIL, task_id, token, now, {"error": text, "fingerprint": sealed}
        )

    async def release(self, task_id: UUID, token: str, *, now: datetime | None = None) -> Task:
        sealed = repeats.fingerprint(token, repeats.RELEASE)
        return await self._fenced(q.RELEASE, task_id, token, now, {"fingerprint": sealed})

    async def report(
        self,
        outcomes: Sequence[Outcome],
        *,
        with_tasks: bool = False,
        now: datetime | None = None,
    ) -> list[ReportedTask | DomainError]:
        return await self._report_on(self._rows, outcomes, _aware(now), with_tasks)

    async def _report_on(
        self, rows: Rows, outcomes: Sequence[Outcome], now: datetime | None, with_tasks: bool
    ) -> list[ReportedTask | DomainError]:
        """`report` through `rows`: the pool's (each statement a transaction of its own)
        or an open transaction's."""
        answers: list[ReportedTask | DomainError | None] = [None] * len(outcomes)
        accepted: list[tuple[int, Outcome, dict[str, Any]]] = []
        for index, outcome in enumerate(outcomes):
            try:
                accepted.append((index, outcome, _report_params(outcome, self._limits)))
            except DomainError as error:
                answers[index] = error
        # A task named twice is applied in order: its n-th mention goes in the n-th round.
        for batch in _rounds(accepted):
            await self._report_round(rows, batch, now, answers, with_tasks)
        return [answer for answer in answers if answer is not None]

    async def _report_round(
        self,
        rows: Rows,
        batch: builtins.list[tuple[int, Outcome, dict[str, Any]]],
        now: datetime | None,
        answers: builtins.list[ReportedTask | DomainError | None],
        with_tasks: bool,
    ) -> None:
        entries = [entry for _, _, entry in batch]
        params: dict[str, Any] = {
            f"{column}s": [entry[column] for entry in entries]
            for column in ("id", "token", "kind", "result", "error", "draw", "fingerprint")
        }
        params["delays_us"] = [entry["delay_us"] for entry in entries]
        params["now"] = now
        if with_tasks:
            for row in await rows(q.REPORT, params):
                answers[batch[row["n"] - 1][0]] = ReportedTask.of(to_task(row), whole=True)
        else:
            for row in await rows(q.REPORT_BRIEF, params):
                answers[batch[row["n"] - 1][0]] = to_reported(row)
        refused = [(index, entry) for index, _, entry in batch if answers[index] is None]
        if refused:
            calls = [(e["id"], e["token"], e["fingerprint"]) for _, e in refused]
            reasons = await self._refusals(calls, now, rows)
            for (index, _), reason in zip(refused, reasons, strict=True):
                answers[index] = reason

    # -- operators -------------------------------------------------------------------

    async def cancel(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        return await self._guarded(q.CANCEL, "cancel", task_id, now)

    async def requeue(self, task_id: UUID, *, now: datetime | None = None) -> Task:
        return await self._guarded(q.REQUEUE, "requeue", task_id, now)

    async def get(self, task_id: UUID) -> Task:
        rows = await self._rows(q.GET, {"id": task_id})
        if not rows:
            raise TaskNotFound(task_id)
        return to_task(rows[0])

    async def list(self, filter: TaskFilter) -> TaskPage:
        limit = v.check_int("limit", filter.limit, 1, self._limits.max_batch)
        params = {
            "queue": filter.queue,
            "state": None if filter.state is None else TaskState(filter.state).value,
            "type": filter.type,
            "after": _parse_cursor(filter.cursor),
        }
        given = {name: value for name, value in params.items() if value is not None}
        statement = q.list_tasks(*(name in given for name in params))
        rows = await self._rows(statement, given | {"limit": limit + 1})
        tasks = [to_task(row) for row in rows]
        page = tasks[:limit]
        return TaskPage(page, str(page[-1].id) if len(tasks) > limit else None)

    async def history(self, task_id: UUID, *, limit: int = 100) -> builtins.list[TaskEvent]:
        v.check_int("limit", limit, 1, HISTORY_PAGE_MAX)
        rows = await self._rows(q.HISTORY, {"id": task_id, "limit": limit})
        if not rows:
            await self.get(task_id)  # TaskNotFound: a task has at least its `enqueued` event
        return [to_event(row) for row in rows]

    async def stats(
        self, queue: str | None = None, *, now: datetime | None = None
    ) -> builtins.list[QueueStats]:
        rows = await self._rows(q.STATS, {"queue": queue, "now": _aware(now)})
        found = [_queue_stats(row) for row in rows]
        if queue is not None and not found:
            counts = dict.fromkeys(TaskState, 0)
            return [QueueStats(queue, counts, 0, 0, None)]
        return found

    # -- maintenance -----------------------------------------------------------------

    async def expire_due(self, *, limit: int, now: datetime | None = None) -> int:
        v.check_int("limit", limit, 0, 100_000)
        params = {"limit": limit, "now": _aware(now), "expired_error": tr.EXPIRED_ERROR}
        rows = await self._rows(q.EXPIRE_DUE, params)
        return int(rows[0]["moved"])

    async def prune(self, *, retention: timedelta, limit: int, now: datetime | None = None) -> int:
        v.check_int("limit", limit, 0, 100_000)
        v.check_delay("retention", retention, RETENTION_LIMITS)
        params = {"retention_us": micros(retention), "limit": limit, "now": _aware(now)}
        rows = await self._rows(q.PRUNE, params)
        return int(rows[0]["deleted"])

    async def refresh_planner_statistics(self) -> builtins.list[str]:
        """ANALYZE the tables that outgrew their planner statistics (a burst into an
        emptied table), so no plan keeps believing them empty; the names analyzed. An
        adapter extra, run by the service's maintenance every few seconds."""
        with translated():
            return await analyze_outgrown(self._runner)

    def pool_status(self) -> tuple[int, int]:
        """(connections checked out, pool size) of this store's connection pool."""
        return self._runner.pool_status()

    async def close(self) -> None:
        await self._runner.close()

    # -- internals -------------------------------------------------------------------

    async def _rows(self, statement: TextClause, params: dict[str, Any]) -> builtins.list[Row]:
        with translated():
            return cast("builtins.list[Row]", await self._runner.rows(statement, params))

    async def _fenced(
        self,
        statement: TextClause,
        task_id: UUID,
        token: str,
        now: datetime | None,
        params: dict[str, Any],
    ) -> Task:
        now = _aware(now)
        rows = await self._rows(statement, {"id": task_id, "token": token, "now": now, **params})
        if rows:
            return to_task(rows[0])
        calls = [(task_id, token, params.get("fingerprint"))]
        raise (await self._refusals(calls, now))[0]

    async def _refusals(
        self,
        calls: Sequence[tuple[UUID, str, str | None]],
        now: datetime | None,
        rows: Rows | None = None,
    ) -> builtins.list[DomainError]:
        """Why each fenced call matched nothing, judged as `transitions.check_fence` would
        (`check_report` for a report: the call's fingerprint given)."""
        ids = builtins.list({task_id for task_id, _, _ in calls})
        found = await (rows or self._rows)(q.FENCE_STATE, {"ids": ids, "now": now})
        stored = {row["id"]: (to_task(row), row["judged_at"]) for row in found}
        return [_refusal(stored.get(call[0]), *call) for call in calls]

    async def _guarded(
        self, statement: TextClause, transition: str, task_id: UUID, now: datetime | None
    ) -> Task:
        rows = await self._rows(statement, {"id": task_id, "now": _aware(now)})
        if rows:
            return to_task(rows[0])
        task = await self.get(task_id)
        raise InvalidTransition(task.id, transition, task.state.value)


# Prepared on each pooled connection as it opens: the producer's and the worker's calls,
# whose first use on a fresh connection would otherwise stall a request.
HOT_STATEMENTS = (q.ENQUEUE_NEW, q.ENQUEUE, q.LEASE, q.REPORT_BRIEF, q.HEARTBEAT)


async def open_postgres_store(
    url: str,
    *,
    pool_size: int = 10,
    limits: Limits = DEFAULT_LIMITS,
    ids: IdGenerator | None = None,
    tokens: TokenGenerator | None = None,
) -> PostgresTaskStore:
    """A store on `url`. Raises SchemaOutOfDate when the schema is not the one this code
    needs (run `leaseq migrate`), StoreUnavailable when the database cannot be reached."""
    engine = create_engine(url, pool_size=1)  # the schema check only (Alembic's reader)
    try:
        with translated():
            async with engine.connect() as conn:
                current = await conn.run_sync(read_revision)
    finally:
        await engine.dispose()
    expected = expected_revision()
    if current != expected:
        raise SchemaOutOfDate(f"{SCHEMA_HINT} (database: {current}, needed: {expected})")
    with translated():
        runner = await open_runner(url, pool_size=pool_size, warm=HOT_STATEMENTS)
    return PostgresTaskStore(runner, limits=limits, ids=ids, tokens=tokens)


def _refusal(
    found: tuple[Task, datetime] | None, task_id: UUID, token: str, sealed: str | None
) -> DomainError:
    if found is None:
        return TaskNotFound(task_id)
    task, judged_at = found
    try:
        if sealed is None:
            tr.check_fence(task, token, judged_at)
        else:
            tr.check_report(task, token, judged_at, sealed)
    except DomainError as error:
        return error
    return LeaseLost(task_id)  # it changed under us between the two statements


def _keyed_specs(
    spec: TaskSpec, payloads: Sequence[JSON], keys: Sequence[str]
) -> builtins.list[TaskSpec]:
    return [
        evolve(spec, payload=payload, idempotency_key=key)
        for payload, key in zip(payloads, keys, strict=True)
    ]


def _aware(now: datetime | None) -> datetime | None:
    return None if now is None else v.check_aware("now", now)


def _retry_params(
    delay: timedelta | None, draw: float, error: str, limits: Limits
) -> dict[str, Any]:
    if delay is not None:
        v.check_delay("delay_seconds", delay, limits)
    if not 0.0 <= draw < 1.0:
        raise ValueError("the jitter draw lies in [0, 1)")
    return {"delay_us": micros(delay), "draw": float(draw), "error": v.clip_error(error, limits)}


def _retry_fingerprint(token: str, error: str, delay: timedelta | None) -> str:
    return repeats.fingerprint(token, repeats.RETRY, repeats.retry_content(error, delay))


def _report_params(outcome: Outcome, limits: Limits) -> dict[str, Any]:
    """One outcome as a row of the REPORT arrays; refuses bad input like the single calls."""
    token = outcome.token
    base = {"id": outcome.task_id, "token": token, "result": None, "error": None}
    if isinstance(outcome, Complete):
        return base | {
            "kind": "complete",
            "result": v.check_result(outcome.result, limits),
            "delay_us": None,
            "draw": 0.0,
            "fingerprint": repeats.fingerprint(token, repeats.COMPLETE, outcome.result),
        }
    if isinstance(outcome, Retry):
        params = _retry_params(outcome.delay, outcome.jitter_draw, outcome.error, limits)
        params["fingerprint"] = _retry_fingerprint(token, params["error"], outcome.delay)
        return base | {"kind": "retry"} | params
    if isinstance(outcome, Fail):
        error = v.clip_error(outcome.error, limits)
        sealed = repeats.fingerprint(token, repeats.FAIL, error)
        return base | {
            "kind": "fail",
            "error": error,
            "delay_us": None,
            "draw": 0.0,
            "fingerprint": sealed,
        }
    raise ValidationError("outcome", f"unknown outcome {type(outcome).__name__}")


def _rounds(
    entries: Sequence[tuple[int, Outcome, dict[str, Any]]],
) -> builtins.list[builtins.list[tuple[int, Outcome, dict[str, Any]]]]:
    rounds: builtins.list[builtins.list[tuple[int, Outcome, dict[str, Any]]]] = []
    seen: dict[UUID, int] = {}
    for entry in entries:
        depth = seen.get(entry[1].task_id, 0)
        seen[entry[1].task_id] = depth + 1
        if depth == len(rounds):
            rounds.append([])
        rounds[depth].append(entry)
    return rounds


def _queue_stats(row: Row) -> QueueStats:
    counts = {state: int(row[state.value]) for state in TaskState}
    oldest = row["oldest_ready"]
    age = None if oldest is None else row["judged_at"] - oldest
    return QueueStats(
        row["queue"],
        counts,
        int(row["ready"]),
        int(row["scheduled"]),
        age,
        succeeded_last_minute=int(row["succeeded_last_minute"]),
        dead_last_minute=int(row["dead_last_minute"]),
        live_leases=int(row["live_leases"]),
    )


def _parse_cursor(cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    try:
        return UUID(cursor)
    except (ValueError, TypeError, AttributeError):
        raise ValidationError("cursor", "is not a cursor this service handed out") from None
