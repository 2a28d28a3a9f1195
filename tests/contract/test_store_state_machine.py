"""Model-based test: every store adapter against a pure model built from the transitions.

The model is a dict of domain Tasks updated with `leaseq.domain.transitions` directly, the
reference implementation. Where the port leaves the adapter a choice (which ids and
tokens it draws, which due tasks a bounded sweep takes first), the model adopts the
adapter's choice after checking that it was allowed; everything else must agree exactly:
tasks field by field, refusals by type.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest
from attrs import evolve
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from leaseq.domain import (
    DomainError,
    Enqueued,
    FlowState,
    LeaseConflict,
    QueueLimits,
    QueueSettings,
    ReportedTask,
    ReportRepeated,
    Task,
    TaskEvent,
    TaskNotFound,
    TaskSpec,
    TaskState,
    Transition,
    ValidationError,
    claims,
)
from leaseq.domain import transitions as tr
from leaseq.domain.history import event_of, or_dead_lettered
from leaseq.domain.limits import full_bucket
from leaseq.domain.queue import set_limits
from leaseq.ports import Complete, Fail, LeaseRequest, Outcome, Retry, TaskFilter, TypeFilter
from tests.contract.stores import STORE_KINDS, StoreFactory, StoreKind
from tests.support import FakeClock, SequentialIds, SequentialTokens

T = TypeVar("T")
# no explain phase: on a failure it replays hundreds of long runs for little insight
SEARCH_PHASES = [phase for phase in Phase if phase is not Phase.explain]
UNKNOWN = UUID("01900000-0000-7000-8000-ffffffffffff")
QUEUES = ("q1", "q2")
TYPES = (TypeFilter("a", 1), TypeFilter("a", 2), TypeFilter("b", 1))

# a spec with no run_at, a delay in seconds (None: ready at once), and whether the delay
# travels as the spec's `delay` (added to the store's clock) or as an absolute run_at
specs = st.tuples(
    st.builds(
        lambda queue, kind, priority, key, attempts, flow_key: TaskSpec(
            queue=queue,
            type=kind.type,
            type_version=kind.version,
            payload={"n": priority},
            priority=priority,
            max_attempts=attempts,
            idempotency_key=key,
            concurrency_key=flow_key,
        ),
        queue=st.sampled_from(QUEUES),
        kind=st.sampled_from(TYPES),
        priority=st.integers(-1, 1),
        key=st.sampled_from([None, None, "k1", "k2"]),
        attempts=st.integers(1, 3),
        flow_key=st.sampled_from([None, "t1", "t1", "t2", "t3"]),
    ),
    st.sampled_from([None, 0, 5, 60]),
    st.booleans(),
)
Draft = tuple[TaskSpec, int | None, bool]
DRAWS = [0.0, 0.5, 0.999999]
# the handler's delay; None (the policy's backoff, what the SDK's Retry() sends) most often
retry_delays = st.sampled_from([None, None, None, timedelta(0), timedelta(seconds=5)])
forged = st.sampled_from([False, False, False, True])
LEASE_10 = timedelta(seconds=10)
lease_fors = st.sampled_from([LEASE_10, timedelta(seconds=30)])
Held = tuple[UUID, str]  # a task id and a token that was granted for it


class StoreMatchesModel(RuleBasedStateMachine):
    """Drives `factory`'s store and the model side by side; set `factory` in a subclass."""

    factory: StoreFactory
    tasks = Bundle("tasks")
    leases = Bundle("leases")  # (task id, token): current or stale by the time drawn

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock()
        self.store = self.run(
            self.factory(clock=self.clock, ids=SequentialIds(), tokens=SequentialTokens())
        )
        self.model: dict[UUID, Task] = {}
        self.granted: dict[UUID, list[str]] = {}  # every token ever granted, per task
        self.history: dict[UUID, list[TaskEvent]] = {}
        self.touched: set[UUID] = set()  # tasks whose history the next check compares
        self.flows: dict[str, FlowState] = {}  # per queue: limits and what claims carry
        self.settings: dict[str, QueueSettings] = {}
        # per queue, the instants of the grants made since its rate was last set
        self.grants_at: dict[str, list[datetime]] = {}

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self.runner.close()

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(call)

    @property
    def now(self) -> Any:
        return self.clock.now()

    # -- comparing answers -------------------------------------------------------------

    def put(self, transition: Transition | None, after: Task) -> None:
        """The model's task becomes `after`, by `transition` (None: not recorded)."""
        before = self.model.get(after.id)
        self.model[after.id] = after
        if transition is not None:
            recorded = event_of(or_dead_lettered(after, transition), before, after, self.now)
            self.history.setdefault(after.id, []).append(recorded)
            self.touched.add(after.id)

    def both(
        self,
        adapter_call: Coroutine[Any, Any, Task],
        model: Callable[[], Task],
        transition: Transition | None,
    ) -> Task | DomainError:
        """Run one call on each side; both refuse with the same error type or agree."""
        expected: Task | DomainError
        try:
            expected = model()
        except DomainError as error:
            expected = error
        try:
            actual: Task | DomainError = self.run(adapter_call)
        except DomainError as error:
            actual = error
        self.assert_same(actual, expected)
        event(f"{adapter_call.__name__}: {type(expected).__name__}")
        if isinstance(expected, Task):
            self.put(transition, expected)
        return expected

    @staticmethod
    def assert_same(actual: Task | DomainError, expected: Task | DomainError) -> None:
        if isinstance(expected, DomainError):
            assert type(actual) is type(expected), f"{actual!r} instead of {expected!r}"
            if isinstance(expected, ReportRepeated):  # the first answer, again
                assert isinstance(actual, ReportRepeated) and actual.task == expected.task
        else:
            assert actual == expected

    def find(self, task_id: UUID) -> Task:
        task = self.model.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return task

    @staticmethod
    def token_for(held: Held, forged: bool) -> str:
        """The token a drawn lease granted (current or stale by now), or a forged one."""
        return "forged-token-000000000000" if forged else held[1]

    def adopt_new_token(self, task: Task) -> str:
        assert task.lease is not None
        token = task.lease.token
        assert all(token not in seen for seen in self.granted.values()), "token reused"
        self.granted.setdefault(task.id, []).append(token)
        return token

    # -- producers ---------------------------------------------------------------------

    @initialize(target=tasks, drafts=st.lists(specs, min_size=1, max_size=3))
    def start_with_tasks(self, drafts: list[Draft]) -> Any:
        return self.enqueue(drafts, poison=False)

    @rule(target=tasks, drafts=st.lists(specs, min_size=1, max_size=3), poison=st.booleans())
    def enqueue(self, drafts: list[Draft], poison: bool) -> Any:
        batch = [_scheduled(spec, delay, relative, self.now) for spec, delay, relative in drafts]
        if poison:  # nothing of the batch may be written (the invariants check the store)
            invalid = evolve(batch[0], priority=10**6)
            try:
                self.run(self.store.enqueue([*batch, invalid], now=self.now))
            except ValidationError:
                return multiple()
            raise AssertionError("a batch with an invalid spec was accepted")
        answers = self.run(self.store.enqueue(batch, now=self.now))
        assert len(answers) == len(batch)
        return multiple(*(self.model_enqueue(s, a) for s, a in zip(batch, answers, strict=True)))

    def model_enqueue(self, spec: TaskSpec, answer: Enqueued) -> UUID:
        existing = next(
            (
                t
                for t in self.model.values()
                if spec.idempotency_key is not None
                and (t.queue, t.idempotency_key) == (spec.queue, spec.idempotency_key)
            ),
            None,
        )
        if existing is not None:
            assert answer.deduplicated and answer.task == existing
            return existing.id
        assert not answer.deduplicated
        new_id = answer.task.id
        assert all(new_id > known for known in self.model), "ids must grow"
        expected = tr.new_task(spec, task_id=new_id, now=self.now)
        assert answer.task == expected
        self.put(Transition.ENQUEUED, expected)
        return new_id

    # -- workers -----------------------------------------------------------------------

    @rule(
        target=leases,
        queue=st.sampled_from(QUEUES),
        limit=st.integers(1, 3),
        types=st.sampled_from([None, None, (TYPES[0],), (TYPES[0], TYPES[2])]),
        lease_for=lease_fors,
    )
    def lease(
        self, queue: str, limit: int, types: tuple[TypeFilter, ...] | None, lease_for: timedelta
    ) -> Any:
        request = LeaseRequest(queue, "worker", limit, lease_for, types)
        granted = self.run(self.store.lease(request, now=self.now))
        flow = self.flows.get(queue)
        if flow is not None and flow.limits.limited:
            plan, self.flows[queue] = claims.plan_limited_claim(
                self.model.values(), request, self.now, flow
            )
            event(f"lease on a limited queue: granted {len(plan.granted)}")
        else:
            plan = claims.plan_claim(self.model.values(), request, self.now)
        self.grants_at.setdefault(queue, []).extend([self.now] * len(plan.granted))
        for task in plan.exhausted:
            self.put(Transition.DEAD_LETTERED, tr.expire(task, now=self.now))
        claimable = plan.granted
        assert [t.id for t in granted] == [t.id for t in claimable]
        held = []
        for answer, task in zip(granted, claimable, strict=True):
            if task.lease_is_due_to_expire(self.now):
                task = tr.expire(task, now=self.now)
                self.put(Transition.EXPIRED, task)
            token = self.adopt_new_token(answer)
            expected = tr.grant(
                task, now=self.now, owner="worker", token=token, lease_for=lease_for
            )
            assert answer == expected
            self.put(Transition.LEASED, expected)
            held.append((task.id, token))
        self.check_caps_after_grants(queue, granted)
        event(f"lease: granted {len(held)}")
        return multiple(*held)

    @initialize(target=leases)
    def start_with_leases(self) -> Any:
        return self.lease("q1", 2, None, LEASE_10)

    @rule(target=leases, queue=st.sampled_from(QUEUES))
    def lease_anything_ready(self, queue: str) -> Any:
        """A second, plain lease rule: leases drive most behaviour, so they come often."""
        return self.lease(queue, 3, None, LEASE_10)

    @rule(held=leases, forged=forged, lease_for=lease_fors)
    def heartbeat(self, held: Held, forged: bool, lease_for: timedelta) -> None:
        task_id, token = held[0], self.token_for(held, forged)
        self.both(
            self.store.heartbeat(task_id, token, lease_for=lease_for, now=self.now),
            lambda: tr.heartbeat(
                self.find(task_id), token=token, now=self.now, lease_for=lease_for
            ),
            None,
        )

    @rule(held=leases, forged=forged, result=st.sampled_from([None, {"r": [1]}]))
    def complete(self, held: Held, forged: bool, result: Any) -> None:
        task_id, token = held[0], self.token_for(held, forged)
        self.both(
            self.store.complete(task_id, token, result, now=self.now),
            lambda: tr.complete(self.find(task_id), token=token, now=self.now, result=result),
            Transition.COMPLETED,
        )

    @rule(
        held=leases,
        forged=forged,
        delay=retry_delays,
        draw=st.sampled_from(DRAWS),
    )
    def retry(self, held: Held, forged: bool, delay: timedelta | None, draw: float) -> None:
        task_id, token = held[0], self.token_for(held, forged)
        answer = self.both(
            self.store.retry(task_id, token, "err", delay=delay, jitter_draw=draw, now=self.now),
            lambda: tr.retry(
                self.find(task_id),
                token=token,
                now=self.now,
                error="err",
                delay=delay,
                jitter_draw=draw,
            ),
            Transition.RETRIED,
        )
        if isinstance(answer, Task):
            self.check_retry_oracle(answer, delay, draw)

    def check_retry_oracle(self, task: Task, delay: timedelta | None, draw: float) -> None:
        """The retry rule written out, independently of the domain: after an accepted
        retry the task is dead when its attempts were used up, else pending for the
        handler's delay or the policy's backoff (within the jitter, under the cap)."""
        if task.attempts >= task.max_attempts:
            assert task.state is TaskState.DEAD and task.finished_at == self.now
            return
        assert task.state is TaskState.PENDING
        waited = (task.run_at - self.now).total_seconds()
        if delay is not None:
            assert waited == delay.total_seconds()
            return
        policy = task.retry_policy
        raw = min(policy.max_seconds, policy.base_seconds * policy.factor ** (task.attempts - 1))
        assert raw * (1 - policy.jitter) - 0.001 <= waited <= raw
        assert (
            waited
            == math.floor((raw * (1 - policy.jitter) + raw * policy.jitter * draw) * 1000) / 1000
        )

    @rule(held=leases, forged=forged)
    def fail(self, held: Held, forged: bool) -> None:
        task_id, token = held[0], self.token_for(held, forged)
        self.both(
            self.store.fail(task_id, token, "fatal", now=self.now),
            lambda: tr.fail(self.find(task_id), token=token, now=self.now, error="fatal"),
            Transition.FAILED,
        )

    @rule(held=leases, forged=forged)
    def release(self, held: Held, forged: bool) -> None:
        task_id, token = held[0], self.token_for(held, forged)
        self.both(
            self.store.release(task_id, token, now=self.now),
            lambda: tr.release(self.find(task_id), token=token, now=self.now),
            Transition.RELEASED,
        )

    @rule(
        items=st.lists(
            st.tuples(
                leases,
                forged,
                st.sampled_from(["complete", "retry", "fail"]),
                retry_delays,
                st.sampled_from(DRAWS),
            ),
            min_size=1,
            max_size=3,
        ),
        with_tasks=st.booleans(),
    )
    def report(
        self, items: list[tuple[Held, bool, str, timedelta | None, float]], with_tasks: bool
    ) -> None:
        outcomes: list[Outcome] = []
        for held, is_forged, kind, delay, draw in items:
            task_id, token = held[0], self.token_for(held, is_forged)
            if kind == "complete":
                outcomes.append(Complete(task_id, token, {"batch": True}))
            elif kind == "retry":
                outcomes.append(Retry(task_id, token, "err", delay=delay, jitter_draw=draw))
            else:
                outcomes.append(Fail(task_id, token, "fatal"))
        answers = self.run(self.store.report(outcomes, with_tasks=with_tasks, now=self.now))
        assert len(answers) == len(outcomes)
        for outcome, answer in zip(outcomes, answers, strict=True):
            expected: Task | DomainError
            try:
                expected = self.model_outcome(outcome)
            except DomainError as error:
                expected = error
            if isinstance(expected, Task):  # the answer of ADR 0037, whole when asked
                assert answer == ReportedTask.of(expected, whole=with_tasks)
            else:
                self.assert_same(answer, expected)
            event(f"report {type(outcome).__name__}: {type(expected).__name__}")
            if isinstance(expected, Task):
                self.put(_REPORTED[type(outcome)], expected)
                if isinstance(outcome, Retry):
                    self.check_retry_oracle(expected, outcome.delay, outcome.jitter_draw)

    def model_outcome(self, outcome: Outcome) -> Task:
        task = self.find(outcome.task_id)
        if isinstance(outcome, Complete):
            return tr.complete(task, token=outcome.token, now=self.now, result=outcome.result)
        if isinstance(outcome, Retry):
            return tr.retry(
                task,
                token=outcome.token,
                now=self.now,
                error=outcome.error,
                delay=outcome.delay,
                jitter_draw=outcome.jitter_draw,
            )
        return tr.fail(task, token=outcome.token, now=self.now, error=outcome.error)

    @rule(call=st.sampled_from(["heartbeat", "complete", "release", "cancel", "requeue"]))
    def call_an_unknown_task(self, call: str) -> None:
        with contextlib.suppress(TaskNotFound):
            if call == "heartbeat":
                self.run(self.store.heartbeat(UNKNOWN, "t", lease_for=LEASE_10, now=self.now))
            elif call == "complete":
                self.run(self.store.complete(UNKNOWN, "t", now=self.now))
            elif call == "release":
                self.run(self.store.release(UNKNOWN, "t", now=self.now))
            elif call == "cancel":
                self.run(self.store.cancel(UNKNOWN, now=self.now))
            else:
                self.run(self.store.requeue(UNKNOWN, now=self.now))
            raise AssertionError(f"{call} of an unknown task did not raise TaskNotFound")

    # -- operators and maintenance -----------------------------------------------------

    @rule(task_id=tasks)
    def cancel(self, task_id: UUID) -> None:
        self.both(
            self.store.cancel(task_id, now=self.now),
            lambda: tr.cancel(self.find(task_id), now=self.now),
            Transition.CANCELLED,
        )

    @rule(task_id=tasks)
    def requeue(self, task_id: UUID) -> None:
        self.both(
            self.store.requeue(task_id, now=self.now),
            lambda: tr.requeue(self.find(task_id), now=self.now),
            Transition.REQUEUED,
        )

    @rule(limit=st.integers(1, 3))
    def expire_due(self, limit: int) -> None:
        due = [t for t in self.model.values() if t.lease_is_due_to_expire(self.now)]
        moved = self.run(self.store.expire_due(limit=limit, now=self.now))
        assert moved == min(limit, len(due))
        changed = [t for t in due if self.run(self.store.get(t.id)) != t]
        assert len(changed) == moved, "the sweep moved other tasks than it counted"
        for task in changed:
            self.put(Transition.EXPIRED, tr.expire(task, now=self.now))

    @rule(limit=st.integers(1, 3), age=st.sampled_from([0, 30]))
    def prune(self, limit: int, age: int) -> None:
        cutoff = self.now - timedelta(seconds=age)
        done = [
            t for t in self.model.values() if t.finished_at is not None and t.finished_at < cutoff
        ]
        pruned = self.run(
            self.store.prune(retention=timedelta(seconds=age), limit=limit, now=self.now)
        )
        assert pruned == min(limit, len(done))
        kept = {t.id for t in self.run(self.store.list(TaskFilter(limit=1000))).tasks}
        gone = [t.id for t in done if t.id not in kept]
        assert len(gone) == pruned, "prune deleted other tasks than it counted"
        for task_id in gone:
            del self.model[task_id]
            self.history.pop(task_id, None)
            self.touched.discard(task_id)

    @rule(
        queue=st.sampled_from(QUEUES),
        concurrency=st.sampled_from([None, None, 1, 2]),
        per_key=st.sampled_from([None, None, 1]),
        rate=st.sampled_from([None, None, 0.5, 2.0, 3.0]),
    )
    def set_limits(
        self, queue: str, concurrency: int | None, per_key: int | None, rate: float | None
    ) -> None:
        limits = QueueLimits(concurrency, per_key, rate)
        saved = self.run(self.store.set_limits(queue, limits, now=self.now))
        settings = set_limits(self.settings.get(queue, QueueSettings(queue)), limits, now=self.now)
        assert saved == settings
        self.settings[queue] = settings
        old = self.flows.get(queue, FlowState(limits))
        bucket = None if rate is None else full_bucket(rate, self.now)
        self.flows[queue] = evolve(old, limits=limits, bucket=bucket)
        self.grants_at[queue] = []
        event(f"set_limits: {'limited' if limits.limited else 'none'}")

    @initialize(
        concurrency=st.sampled_from([None, 1, 2, 3]),
        per_key=st.sampled_from([None, 1, 2]),
        rate=st.sampled_from([None, 1.0, 2.5]),
    )
    def start_with_a_limited_queue(
        self, concurrency: int | None, per_key: int | None, rate: float | None
    ) -> None:
        """q2 starts limited (mostly), so that limited claims come often."""
        self.set_limits("q2", concurrency, per_key, rate)

    @rule(seconds=st.sampled_from([1, 5, 15, 29, 30, 31, 60]))
    def advance_time(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- after every step --------------------------------------------------------------

    @invariant()
    def adapter_and_model_hold_the_same_tasks(self) -> None:
        listed = self.run(self.store.list(TaskFilter(limit=1000))).tasks
        assert listed == sorted(self.model.values(), key=lambda t: t.id)

    @invariant()
    def adapter_and_model_hold_the_same_histories(self) -> None:
        for task_id in sorted(self.touched):
            stored = self.run(self.store.history(task_id, limit=1000))
            assert stored == self.history[task_id]
            _each_lease_ended_before_the_next_began(task_id, stored, self.model[task_id])
        self.touched.clear()

    @invariant()
    def adapter_and_model_hold_the_same_queue_settings(self) -> None:
        assert self.run(self.store.all_queue_settings()) == [
            self.settings[q] for q in sorted(self.settings)
        ]

    @invariant()
    def grants_stay_within_the_rate(self) -> None:
        """Leases started since a queue's rate was set, over any 5 s: at most 5 s worth
        plus a burst of one second's worth."""
        for queue, flow in self.flows.items():
            rate = flow.limits.rate_per_second
            grants = self.grants_at.get(queue, [])
            if rate is not None:
                for start in grants:
                    window = [g for g in grants if start <= g < start + timedelta(seconds=5)]
                    assert len(window) <= rate * 5 + max(1.0, rate), f"{queue}: {window}"

    def check_caps_after_grants(self, queue: str, granted: list[Task]) -> None:
        """Read from the store: a grant never takes a limited queue past its cap, nor a
        key past the per-key cap (lowering a cap leaves leases already held alone)."""
        flow = self.flows.get(queue)
        if not granted or flow is None:
            return
        live = self.run(self.store.live_leases(queue, now=self.now))
        limits = flow.limits
        if limits.concurrency is not None:
            assert live.total <= limits.concurrency, f"{queue}: {live}"
        if limits.concurrency_per_key is not None:
            for task in granted:
                if task.concurrency_key is not None:
                    count = live.per_key[task.concurrency_key]
                    assert count <= limits.concurrency_per_key, f"{queue}: {live}"

    @invariant()
    def at_most_one_live_lease_per_task(self) -> None:
        """Read from the store's own rows: of every token ever granted for a task, at most
        one passes the fence now, and it is the newest grant (epoch = grants made)."""
        for task in self.run(self.store.list(TaskFilter(limit=1000))).tasks:
            tokens = self.granted.get(task.id, [])
            assert task.epoch == len(tokens), f"task {task.id}: epoch {task.epoch}"
            accepted = [token for token in tokens if _passes_fence(task, token, self.now)]
            assert len(accepted) <= 1, f"task {task.id} has {len(accepted)} live leases"
            if accepted:
                assert task.has_live_lease(self.now) and task.lease is not None
                assert accepted == [tokens[-1]] == [task.lease.token]
                assert task.lease.epoch == task.epoch


_ENDS_A_LEASE = frozenset(Transition) - {
    Transition.ENQUEUED,
    Transition.LEASED,
    Transition.REQUEUED,
}


def _each_lease_ended_before_the_next_began(
    task_id: UUID, events: list[TaskEvent], task: Task
) -> None:
    """Read from the store's history: each grant's epoch is the previous one plus one, and
    between two grants the earlier lease ended (a result, a release, an expiry, a cancel)."""
    open_epoch: int | None = None
    last_epoch = 0
    for recorded in events:
        if recorded.transition is Transition.LEASED:
            assert open_epoch is None, (
                f"task {task_id}: epoch {recorded.epoch} granted while {open_epoch} was live"
            )
            assert recorded.epoch == last_epoch + 1
            open_epoch = last_epoch = recorded.epoch
        elif recorded.transition in _ENDS_A_LEASE and recorded.from_state is TaskState.LEASED:
            open_epoch = None
    assert (open_epoch is not None) == (task.state is TaskState.LEASED)


_REPORTED = {
    Complete: Transition.COMPLETED,
    Retry: Transition.RETRIED,
    Fail: Transition.FAILED,
}


def _scheduled(spec: TaskSpec, delay: int | None, relative: bool, now: datetime) -> TaskSpec:
    """`spec` delayed by `delay` seconds, as its own `delay` or as an absolute run_at."""
    if delay is None:
        return spec
    if relative:
        return evolve(spec, delay=timedelta(seconds=delay))
    return evolve(spec, run_at=now + timedelta(seconds=delay))


def _passes_fence(task: Task, token: str, now: Any) -> bool:
    try:
        tr.check_fence(task, token, now)
    except LeaseConflict:
        return False
    return True


def machine_test_case(kind: StoreKind) -> type:
    """The unittest TestCase that runs StoreMatchesModel against one adapter."""
    machine = type(
        f"StoreMatchesModel_{kind.name}",
        (StoreMatchesModel,),
        {"factory": staticmethod(kind.factory)},
    )
    case: Any = machine.TestCase
    case.settings = settings(settings.default, stateful_step_count=50, phases=SEARCH_PHASES)
    # a search: 50 examples take ~20 s on PostgreSQL, the "thorough" profile 20 times that
    for mark in (*kind.marks, pytest.mark.timeout(900)):
        case = mark(case)
    return case  # type: ignore[no-any-return]


for _kind in STORE_KINDS:
    globals()[f"TestStoreMatchesModel_{_kind.name}"] = machine_test_case(_kind)
