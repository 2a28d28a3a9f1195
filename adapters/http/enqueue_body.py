"""POST /v1/tasks bodies read without pydantic, for the lean enqueue handler.

`EnqueueIn` costs several microseconds per task in pydantic. A body whose every value
already has the type the model would give it (str, a 64-bit int, a finite float, a
str -> str dict) is read here, per task: into a `TaskSpec` at once when it holds only
what the SDK always sends, else into a `PlainTask` with the same fields as `TaskIn`;
run_at and retry, when given, are validated by pydantic itself, field by field. Anything
else answers None, and FastAPI's handler (the model, and its error answers) takes the
request as before.
"""

from __future__ import annotations

import math
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as ModelInvalid

from leaseq.adapters.http.schemas import EnqueueIn, RetryIn, TaskIn
from leaseq.domain import RetryPolicy, TaskSpec
from leaseq.domain.task import DEFAULT_MAX_ATTEMPTS, DEFAULT_PRIORITY, DEFAULT_TYPE_VERSION

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_RUN_AT = TypeAdapter(datetime)
_FIELDS = frozenset(TaskIn.model_fields)
DEFAULT_RETRY = RetryPolicy()  # frozen: one shared instance, validated once


class PlainTask:
    """A TaskIn's values, as the model would have given them."""

    __slots__ = (
        "delay_seconds",
        "idempotency_key",
        "labels",
        "max_attempts",
        "payload",
        "priority",
        "queue",
        "retry",
        "run_at",
        "type",
        "type_version",
    )

    def __init__(self, queue: str, type: str, payload: Any) -> None:
        self.queue = queue
        self.type = type
        self.payload = payload
        self.type_version = 1
        self.labels: dict[str, str] = {}
        self.priority = 0
        self.run_at: datetime | None = None
        self.delay_seconds: float | None = None
        self.max_attempts = 20
        self.retry: RetryIn | None = None
        self.idempotency_key: str | None = None


class PlainEnqueue:
    __slots__ = ("tasks",)

    def __init__(self, tasks: list[TaskSpec | PlainTask]) -> None:
        self.tasks = tasks


class EachEnqueue:
    """A batch whose tasks differ only in their payloads (and, when `keys` is given, in
    their idempotency keys): one spec, the payloads, the keys."""

    __slots__ = ("keys", "payloads", "spec")

    def __init__(self, spec: TaskSpec, payloads: list[Any], keys: list[str] | None = None):
        self.spec, self.payloads, self.keys = spec, payloads, keys


def plain_enqueue(data: dict[str, Any]) -> EachEnqueue | PlainEnqueue | None:
    tasks = data.get("tasks")
    if type(tasks) is not list:
        return None
    each = _each(tasks)
    if each is not None:
        return each
    read: list[TaskSpec | PlainTask] = []
    for item in tasks:
        task = _task(item) if type(item) is dict else None
        if task is None:
            return None
        read.append(task)
    return PlainEnqueue(read)


def _task(item: dict[str, Any]) -> TaskSpec | PlainTask | None:
    """The item as a spec when it holds only what the SDK always sends (no time, delay,
    retry or key, so nothing the endpoint could still refuse), else as a PlainTask."""
    queue, type_ = item.get("queue"), item.get("type")
    if type(queue) is not str or type(type_) is not str:
        return None
    seen = 3 if "payload" in item else 2
    # What the SDK always sends, read without a loop over the item.
    ints = [DEFAULT_TYPE_VERSION, DEFAULT_PRIORITY, DEFAULT_MAX_ATTEMPTS]
    for at, name in enumerate(_INTS):
        value = item.get(name, _ABSENT)
        if value is not _ABSENT:
            if type(value) is not int or not _INT_MIN <= value <= _INT_MAX:
                return None
            ints[at] = value
            seen += 1
    labels = item.get("labels", _ABSENT)
    if labels is _ABSENT:
        labels = {}
    else:
        if not _str_dict(labels):
            return None
        seen += 1
    type_version, priority, max_attempts = ints
    if len(item) == seen:
        payload = item.get("payload")
        return TaskSpec(
            queue, type_, payload, type_version, labels, priority, None, max_attempts, DEFAULT_RETRY
        )
    task = PlainTask(queue, type_, item.get("payload"))
    task.type_version, task.priority, task.max_attempts, task.labels = [*ints, labels]
    for name, value in item.items():
        if name in _OPTIONAL and value is not None and not _set(task, name, value):
            return None
    return task


_SHARED = ("queue", "type", "type_version", "labels", "priority", "max_attempts")
_SHARED_OF, _PAYLOAD_OF = itemgetter(*_SHARED), itemgetter("payload")
_INTS_OF = itemgetter("type_version", "priority", "max_attempts")
_KEY = "idempotency_key"
_KEY_OF = itemgetter(_KEY)


def _each(tasks: list[Any]) -> EachEnqueue | None:
    """The batch as one spec and its payloads when every item is what the SDK sends (those
    seven fields, no more; or eight, the eighth an idempotency key, as the SDK sends since
    ADR 0021) with the same values but the payload and the key; found by C loops.

    Equal values of other types would pass `==` (1 == 1.0 == True): the three integers
    are required to be ints in every item; strings equal only strings."""
    if not tasks or set(map(type, tasks)) != {dict}:
        return None
    sizes = set(map(len, tasks))
    if sizes != {7} and sizes != {8}:
        return None
    try:
        shared = list(map(_SHARED_OF, tasks))
        payloads = list(map(_PAYLOAD_OF, tasks))
        keys = list(map(_KEY_OF, tasks)) if sizes == {8} else None
    except KeyError:
        return None
    if shared.count(shared[0]) != len(shared):
        return None
    if set(map(type, chain.from_iterable(map(_INTS_OF, tasks)))) != {int}:
        return None
    if keys is not None and set(map(type, keys)) != {str}:
        return None
    first = tasks[0] if keys is None else {k: v for k, v in tasks[0].items() if k != _KEY}
    spec = _task(first)
    return EachEnqueue(spec, payloads, keys) if isinstance(spec, TaskSpec) else None


_ABSENT = object()
_INTS = ("type_version", "priority", "max_attempts")
_OPTIONAL = _FIELDS - {"queue", "type", "payload", "labels", *_INTS}  # each may be null


def _set(task: PlainTask, name: str, value: Any) -> bool:
    """Set one field given (not null); False when the model would need to judge it."""
    if name in ("type_version", "priority", "max_attempts"):
        if type(value) is not int or not _INT_MIN <= value <= _INT_MAX:
            return False
        setattr(task, name, value)
    elif name == "labels":
        if not _str_dict(value):
            return False
        task.labels = value
    elif name == "idempotency_key":
        if type(value) is not str:
            return False
        task.idempotency_key = value
    elif name == "delay_seconds":
        seconds = _seconds(value)
        if seconds is None:
            return False
        task.delay_seconds = seconds
    else:
        try:
            if name == "run_at":
                task.run_at = _RUN_AT.validate_python(value)
            else:  # retry
                task.retry = RetryIn.model_validate(value)
        except ModelInvalid:
            return False
    return True


def _str_dict(value: Any) -> bool:
    if type(value) is not dict:
        return False
    return not value or all(type(k) is str and type(v) is str for k, v in value.items())


def _seconds(value: Any) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int and _INT_MIN <= value <= _INT_MAX:
        return float(value)
    return None


__all__ = [
    "DEFAULT_RETRY",
    "EachEnqueue",
    "EnqueueIn",
    "PlainEnqueue",
    "PlainTask",
    "plain_enqueue",
]
