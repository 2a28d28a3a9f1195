"""Input validation shared by every adapter, so each refuses the same bad input the same way."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, compress, repeat
from operator import is_
from typing import Any

from attrs import frozen

from leaseq.domain.errors import PayloadTooLarge, ValidationError
from leaseq.domain.retry import RetryPolicy, validate_policy
from leaseq.domain.task import JSON, TaskSpec

# Checked on the decoded strings: in the encoded text "\\u0000" may be an escaped
# backslash followed by "u0000", which is plain text that jsonb keeps.
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
NAME_PATTERN_ANCHORED = f"^{NAME_PATTERN.pattern}$"  # the same rule, as JSON Schema writes it

# What the service can answer exactly, whatever stored it (docs/api.md, Numbers): the
# integers of 64 bits (signed); a JSON text can only hold a longer one in 19 digits or more.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_LONG_DIGITS = re.compile(r"[0-9]{19}")

# When a task may be scheduled: a window every store, driver and client keeps exactly (no
# year 1 or 9999 turned into -infinity/infinity, no overflow when an offset is applied).
RUN_AT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
RUN_AT_END = datetime(9999, 1, 1, tzinfo=UTC)


@frozen
class Limits:
    """Bounds on what a task may carry. Adapters and the service may only tighten them."""

    max_payload_bytes: int = 1024 * 1024
    max_result_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_labels: int = 64
    max_label_key_chars: int = 128
    max_label_value_chars: int = 1024
    max_idempotency_key_chars: int = 256
    max_concurrency_key_chars: int = 256
    max_owner_chars: int = 200
    max_request_id_chars: int = 128
    max_error_chars: int = 8192
    min_priority: int = -1000
    max_priority: int = 1000
    min_type_version: int = 1
    max_type_version: int = 2**31 - 1
    max_attempts: int = 1000
    max_delay: timedelta = timedelta(days=365)
    min_lease: timedelta = timedelta(seconds=1)
    max_lease: timedelta = timedelta(hours=24)
    max_batch: int = 1000


DEFAULT_LIMITS = Limits()


NAME_RULE = (
    "must be 1-128 characters of letters, digits and _ . : - starting with a letter or digit"
)


def check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise ValidationError(field, NAME_RULE)
    return value


def check_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"must be an integer from {low} to {high}")
    return value


# One encoder for every call: json.dumps with options builds a new one each time.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_STR = frozenset({str})
_LEAVES = frozenset({str, int, float, bool, type(None)})  # exact types: nothing inside


def encode_json(field: str, value: JSON, *, max_bytes: int, max_depth: int) -> str:
    """Encode `value` as compact JSON, refusing what PostgreSQL's jsonb would not keep exactly."""
    text = _plain(value, max_depth)
    if text is None:
        return _encode_checked(field, value, max_bytes=max_bytes, max_depth=max_depth)
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: refused as below, after the size
            return _encode_checked(field, value, max_bytes=max_bytes, max_depth=max_depth)
    if size > max_bytes:
        raise PayloadTooLarge(field, size, max_bytes)
    return text


def _plain(value: JSON, max_depth: int) -> str | None:
    """The encoding of `value` when it is plainly acceptable, else None.

    The common case costs one encoding and one walk of its levels; any doubt (the encoder
    refused it, a NUL may hide in it, a key may not be a string, an integer may be too
    long, it may nest too deeply) returns None, so that `_encode_checked` decides and
    words the refusal, as it always has.
    """
    try:
        text = _ENCODER.encode(value)
    except Exception:  # every refusal is judged (and worded) by the full check
        return None
    if "\\u0000" in text:  # a NUL, or the plain text backslash-u0000
        return None
    if not _plainly_nested(value, max_depth):
        return None
    return text


_SEQUENCES = frozenset({list, tuple})
_PLAIN_KINDS = _LEAVES | _SEQUENCES | {dict}


def _plainly_nested(value: Any, max_depth: int) -> bool:
    """Whether `value` nests at most `max_depth` levels, every dict within it has only
    str keys (the encoder turns numbers, booleans and None into strings silently), and
    every integer fits in 64 bits.

    Level by level, each level's items handled by C loops (map, compress, chain, min,
    max), never a Python step per item: an order of a few kilobytes took 30-400 µs one
    item at a time, and a pattern search of its text for long integers 7-70 µs.
    False for anything but plain JSON values (a subclass, say): the full check judges it."""
    level: list[Any] = [value]
    depth = 0
    while True:
        types = list(map(type, level))
        kinds = set(types)
        if not kinds <= _PLAIN_KINDS:
            return False
        if int in kinds:
            ints = list(compress(level, map(is_, types, repeat(int))))
            if min(ints) < INT_MIN or max(ints) > INT_MAX:
                return False
        if kinds <= _LEAVES:
            return True
        depth += 1
        if depth > max_depth:
            return False
        dicts = list(compress(level, map(is_, types, repeat(dict))))
        if not set(map(type, chain.from_iterable(dicts))) <= _STR:
            return False
        sequences = compress(level, map(_SEQUENCES.__contains__, types))
        level = [
            *chain.from_iterable(map(dict.values, dicts)),
            *chain.from_iterable(sequences),
        ]


def _encode_checked(field: str, value: JSON, *, max_bytes: int, max_depth: int) -> str:
    """Every check in order, each refusal worded for the field."""
    _check_depth(field, value, max_depth)
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"must be JSON (no NaN or Infinity): {exc}") from None
    if _LONG_DIGITS.search(text) is not None:
        check_integers(field, value)
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise PayloadTooLarge(field, size, max_bytes)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "must be valid Unicode (no lone surrogates)") from None
    return text


def _check_depth(field: str, value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
            if not all(isinstance(k, str) for k in item):
                raise ValidationError(field, "object keys must be strings")
            if any("\x00" in k for k in item):
                raise ValidationError(field, NUL_MESSAGE)
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValidationError(field, "must be JSON (no NaN or Infinity)")
            if isinstance(item, str) and "\x00" in item:
                raise ValidationError(field, NUL_MESSAGE)
            continue
        if depth > max_depth:
            raise ValidationError(field, f"nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def check_integers(field: str, value: Any) -> None:
    """Refuse an integer outside 64 bits (signed) anywhere within `value`."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int) and not INT_MIN <= item <= INT_MAX:
            raise ValidationError(
                field, f"integers must lie within 64 bits (signed): {INT_MIN} to {INT_MAX}"
            )


def check_labels(labels: Mapping[str, str], limits: Limits = DEFAULT_LIMITS) -> None:
    if len(labels) > limits.max_labels:
        raise ValidationError("labels", f"at most {limits.max_labels} labels")
    for key, value in labels.items():
        if not isinstance(key, str) or not 0 < len(key) <= limits.max_label_key_chars:
            raise ValidationError("labels", f"keys are 1-{limits.max_label_key_chars} characters")
        if not isinstance(value, str) or len(value) > limits.max_label_value_chars:
            raise ValidationError(
                f"labels.{key}", f"values are strings of at most {limits.max_label_value_chars}"
            )
        if not (is_storable_text(key) and is_storable_text(value)):
            raise ValidationError(f"labels.{key}", "must be valid Unicode without NUL characters")


def check_spec(spec: TaskSpec, limits: Limits = DEFAULT_LIMITS) -> str:
    """Validate a task request; returns the payload encoded as JSON."""
    return check_specs([spec], limits)[0]


def check_specs(specs: Sequence[TaskSpec], limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """`check_spec` of each spec in turn (the first refusal is raised). The specs of a batch
    mostly share their names and retry policy: each distinct one is checked once."""
    return _checked(specs, limits, encode=True)


def check_specs_array(specs: Sequence[TaskSpec], limits: Limits = DEFAULT_LIMITS) -> str:
    """`check_specs`, answering the payloads as one JSON array (its elements are the texts
    `check_specs` gives, in order; the first refusal is raised, the same one).

    A batch of flat payloads (objects of str keys and plain values, or plain values) is
    encoded by one call of the C encoder and checked as a whole: its size bounds each
    payload's, and a NUL or a lone surrogate anywhere sends it the long way. Any doubt
    and the payloads are encoded and judged one by one, spec by spec, as always.
    """
    text = _flat_array([spec.payload for spec in specs], limits)
    if text is None:
        return "[" + ",".join(_checked(specs, limits, encode=True)) + "]"
    _checked(specs, limits, encode=False)  # every payload is fine: a refusal is a field's
    return text


KEYED_EACH = "a key names one task: give each keyed task its own spec"


def check_batch_size(count: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """A batch enqueues at most `limits.max_batch` tasks."""
    if count > limits.max_batch:
        raise ValidationError("tasks", f"at most {limits.max_batch} per batch")


def check_each_batch(spec: TaskSpec, count: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """What `TaskStore.enqueue_each` refuses before its tasks' fields: too many tasks, or
    an idempotency key (a key names one task)."""
    check_batch_size(count, limits)
    if spec.idempotency_key is not None:
        raise ValidationError("idempotency_key", KEYED_EACH)


def check_each(spec: TaskSpec, payloads: Sequence[JSON], limits: Limits = DEFAULT_LIMITS) -> str:
    """`check_specs_array` of one spec per payload, each `spec` with that payload: the
    fields once (they come before a spec's payload, so a refusal of them is the first),
    then the payloads in order."""
    _checked([spec], limits, encode=False)
    text = _flat_array(list(payloads), limits)
    if text is not None:
        return text
    max_bytes, max_depth = limits.max_payload_bytes, limits.max_json_depth
    texts = [encode_json("payload", p, max_bytes=max_bytes, max_depth=max_depth) for p in payloads]
    return "[" + ",".join(texts) + "]"


def _flat_array(payloads: list[JSON], limits: Limits) -> str | None:
    """The encoded array of `payloads` when each is plainly acceptable, else None."""
    kinds = set(map(type, payloads))
    if not kinds <= _LEAVES:
        if kinds - _LEAVES != {dict} or limits.max_json_depth < 1:
            return None
        objects = [p for p in payloads if type(p) is dict]
        keys = set(map(type, chain.from_iterable(objects)))
        values = set(map(type, chain.from_iterable(map(dict.values, objects))))
        if not (keys <= _STR and values <= _LEAVES):
            return None
    try:
        text = _ENCODER.encode(payloads)
    except Exception:  # NaN, or what else: judged (and worded) payload by payload
        return None
    if "\\u0000" in text or _LONG_DIGITS.search(text) is not None:
        return None
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return None
    return text if size <= limits.max_payload_bytes else None


def _checked(specs: Sequence[TaskSpec], limits: Limits, *, encode: bool) -> list[str]:
    names: set[str] = set()  # names found well-formed (the same rule for queues and types)
    policy: RetryPolicy | None = None  # the last policy found valid
    payloads: list[str] = []
    min_version, max_version = limits.min_type_version, limits.max_type_version
    min_priority, max_priority = limits.min_priority, limits.max_priority
    max_attempts = limits.max_attempts
    for spec in specs:
        queue, type_ = spec.queue, spec.type
        if not (type(queue) is str and queue in names):
            names.add(check_name("queue", queue))
        if not (type(type_) is str and type_ in names):
            names.add(check_name("type", type_))
        # check_int's test, inline (three calls a spec were a tenth of a batch's checks)
        version, priority, attempts = spec.type_version, spec.priority, spec.max_attempts
        if type(version) is not int or not min_version <= version <= max_version:
            check_int("type_version", version, min_version, max_version)
        if type(priority) is not int or not min_priority <= priority <= max_priority:
            check_int("priority", priority, min_priority, max_priority)
        if type(attempts) is not int or not 1 <= attempts <= max_attempts:
            check_int("max_attempts", attempts, 1, max_attempts)
        if spec.labels:
            check_labels(spec.labels, limits)
        if spec.retry_policy is not policy:
            validate_policy(spec.retry_policy)
            policy = spec.retry_policy
        if spec.run_at is not None:
            check_run_at("run_at", spec.run_at)
            if spec.delay is not None:
                raise ValidationError("delay_seconds", "give run_at or delay_seconds, not both")
        if spec.delay is not None:
            check_delay("delay_seconds", spec.delay, limits)
        key = spec.idempotency_key
        if key is not None and (
            not isinstance(key, str)
            or not 0 < len(key) <= limits.max_idempotency_key_chars
            or not is_storable_text(key)
        ):
            raise ValidationError(
                "idempotency_key", f"must be 1-{limits.max_idempotency_key_chars} characters"
            )
        if spec.concurrency_key is not None:
            check_concurrency_key(spec.concurrency_key, limits)
        if encode:
            payloads.append(
                encode_json(
                    "payload",
                    spec.payload,
                    max_bytes=limits.max_payload_bytes,
                    max_depth=limits.max_json_depth,
                )
            )
    return payloads


def check_concurrency_key(key: object, limits: Limits = DEFAULT_LIMITS) -> str:
    """A flow-control key: text of 1-`max_concurrency_key_chars` characters PostgreSQL
    can store (ValidationError naming `concurrency_key`)."""
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= limits.max_concurrency_key_chars
        or not is_storable_text(key)
    ):
        raise ValidationError(
            "concurrency_key", f"must be 1-{limits.max_concurrency_key_chars} characters"
        )
    return key


def plain_keys(keys: Sequence[object], limits: Limits = DEFAULT_LIMITS) -> bool:
    """Every key is text of 1-`max_idempotency_key_chars` characters that PostgreSQL can
    store, judged for the batch as a whole (C loops, one join). False: let the specs be
    judged one by one, which words the refusal (`check_specs`)."""
    if not keys:
        return True
    if set(map(type, keys)) != {str}:
        return False
    lengths = list(map(len, keys))  # type: ignore[arg-type]
    if min(lengths) < 1 or max(lengths) > limits.max_idempotency_key_chars:
        return False
    return is_storable_text("".join(keys))  # type: ignore[arg-type]


def is_storable_text(value: str) -> bool:
    """Text PostgreSQL can store: no NUL character, no lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_aware(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, "must be a timestamp with a time zone")
    return value


def check_run_at(field: str, value: datetime) -> datetime:
    """An aware instant inside [RUN_AT_MIN, RUN_AT_END)."""
    check_aware(field, value)
    if not RUN_AT_MIN <= value < RUN_AT_END:
        raise ValidationError(
            field,
            f"must lie from {RUN_AT_MIN.isoformat()} up to (not including) "
            f"{RUN_AT_END.isoformat()}",
        )
    return value


def check_delay(field: str, delay: timedelta, limits: Limits = DEFAULT_LIMITS) -> timedelta:
    if not isinstance(delay, timedelta) or not timedelta(0) <= delay <= limits.max_delay:
        raise ValidationError(field, f"must lie between 0 and {limits.max_delay} ")
    return delay


def check_lease_for(lease_for: timedelta, limits: Limits = DEFAULT_LIMITS) -> timedelta:
    if not limits.min_lease <= lease_for <= limits.max_lease:
        raise ValidationError(
            "lease_seconds",
            f"must lie between {limits.min_lease.total_seconds():g} and "
            f"{limits.max_lease.total_seconds():g} seconds",
        )
    return lease_for


def check_owner(owner: str, limits: Limits = DEFAULT_LIMITS) -> str:
    if (
        not isinstance(owner, str)
        or not 0 < len(owner) <= limits.max_owner_chars
        or not is_storable_text(owner)
    ):
        raise ValidationError("worker_id", f"must be 1-{limits.max_owner_chars} characters")
    return owner


def check_request_id(request_id: str | None, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """A lease request's id: None, or 1-`max_request_id_chars` characters of text."""
    if request_id is not None and (
        not isinstance(request_id, str)
        or not 0 < len(request_id) <= limits.max_request_id_chars
        or not is_storable_text(request_id)
    ):
        raise ValidationError("request_id", f"must be 1-{limits.max_request_id_chars} characters")
    return request_id


def check_result(result: JSON, limits: Limits = DEFAULT_LIMITS) -> str:
    return encode_json(
        "result", result, max_bytes=limits.max_result_bytes, max_depth=limits.max_json_depth
    )


def clip_error(error: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """Error texts are for people: keep them, shortened, rather than refuse a result."""
    text = str(error).replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if len(text) > limits.max_error_chars:
        return text[: limits.max_error_chars - 1] + "…"
    return text
