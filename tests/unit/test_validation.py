"""Input validation: names, numbers, payloads, labels, keys, delays and lease durations."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.domain import DEFAULT_LIMITS, Limits, PayloadTooLarge, ValidationError
from leaseq.domain import validation as v
from tests.support import T0, spec

SMALL = Limits(max_payload_bytes=64, max_json_depth=3, max_labels=2)


def refused_field(**fields: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        v.check_spec(spec(**fields))
    return refused.value.field


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["emails", "a", "send_email.v2", "q:1-x", "A" * 128])
def test_a_well_formed_queue_or_type_name_is_accepted(name: str) -> None:
    v.check_spec(spec(queue=name, type=name))


@pytest.mark.parametrize(
    "name", ["", "_leading", "-x", "has space", "é", "A" * 129, "a/b", "a\x00", 5, None]
)
def test_a_malformed_queue_name_is_refused_naming_the_queue(name: Any) -> None:
    assert refused_field(queue=name) == "queue"


def test_a_malformed_type_name_is_refused_naming_the_type() -> None:
    assert refused_field(type="no spaces") == "type"


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [-1000, 0, 1000])
def test_a_priority_within_bounds_is_accepted(priority: int) -> None:
    v.check_spec(spec(priority=priority))


@pytest.mark.parametrize("priority", [-1001, 1001, True, 1.0, "1"])
def test_a_priority_out_of_bounds_or_not_an_integer_is_refused(priority: Any) -> None:
    assert refused_field(priority=priority) == "priority"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type_version": 0}, "type_version"),
        ({"type_version": 2**31}, "type_version"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1001}, "max_attempts"),
    ],
)
def test_versions_and_attempt_bounds_out_of_range_are_refused(
    fields: dict[str, Any], field: str
) -> None:
    assert refused_field(**fields) == field


def test_a_naive_run_at_is_refused() -> None:
    assert refused_field(run_at=datetime(2030, 1, 1)) == "run_at"


# -- payloads --------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=v.INT_MIN, max_value=v.INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def texts_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts_in(item)]
    if isinstance(value, dict):
        return [text for k, item in value.items() for text in [k, *texts_in(item)]]
    return []


@given(json_values)
def test_any_json_value_of_storable_text_encodes_to_itself(value: Any) -> None:
    if not all(v.is_storable_text(text) for text in texts_in(value)):
        return
    encoded = v.encode_json("payload", value, max_bytes=10**6, max_depth=64)
    assert json.loads(encoded) == value


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 2**70, -(10**30)])
@pytest.mark.parametrize("where", ["alone", "in a list", "in an object", "deep"])
def test_an_integer_past_64_bits_is_refused_wherever_it_lies(number: int, where: str) -> None:
    value = {
        "alone": number,
        "in a list": [1, number],
        "in an object": {"a": "1234567890123456789012", "n": number},
        "deep": {"a": [{"b": [number]}]},
    }[where]
    with pytest.raises(ValidationError, match="64 bits") as refused:
        v.check_spec(spec(payload=value))
    assert refused.value.field == "payload"
    with pytest.raises(ValidationError, match="64 bits"):
        v.check_result(value)
    with pytest.raises(ValidationError, match="64 bits"):
        v.check_each(spec(), [1, value])


@pytest.mark.parametrize("number", [v.INT_MAX, v.INT_MIN, 0, -1])
def test_an_integer_within_64_bits_is_kept_even_among_long_digit_strings(number: int) -> None:
    value = {"n": number, "s": "12345678901234567890123"}
    assert json.loads(v.check_spec(spec(payload=value))) == value


@pytest.mark.parametrize(
    "run_at",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_run_at_outside_the_window_is_refused(run_at: datetime) -> None:
    assert refused_field(run_at=run_at) == "run_at"


@pytest.mark.parametrize(
    "run_at",
    [v.RUN_AT_MIN, v.RUN_AT_END - timedelta(microseconds=1), datetime(2030, 1, 1, tzinfo=UTC)],
)
def test_a_run_at_inside_the_window_is_accepted(run_at: datetime) -> None:
    v.check_spec(spec(run_at=run_at))


odd_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**80)
    | st.floats()
    | st.text()
    | st.sampled_from(["\x00", "a\\u0000", "\ud800", "é", {1, 2}, object(), b"x"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children)
        | st.dictionaries(
            st.text(max_size=4) | st.integers() | st.none() | st.booleans() | st.floats(),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)


def outcome(encode: Any, value: Any) -> tuple[str, str]:
    try:
        return ("ok", encode("payload", value, max_bytes=200, max_depth=3))
    except ValidationError as error:
        return (type(error).__name__, str(error))


@given(odd_values)
def test_the_quick_encoding_answers_exactly_as_every_check_in_order(value: Any) -> None:
    assert outcome(v.encode_json, value) == outcome(v._encode_checked, value)


flat_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
flat_payloads = flat_values | st.dictionaries(
    st.text(max_size=4) | st.integers() | st.none(), flat_values, max_size=3
)


def batch_outcome(check: Any, payloads: list[Any], limits: Limits) -> tuple[str, str]:
    try:
        return ("ok", check([spec(payload=p) for p in payloads], limits))
    except ValidationError as error:
        return (type(error).__name__, str(error))


def one_by_one(specs: Any, limits: Limits) -> str:
    return "[" + ",".join(v.check_specs(specs, limits)) + "]"


@given(st.lists(flat_payloads | odd_values, max_size=6), st.sampled_from([SMALL, DEFAULT_LIMITS]))
def test_a_batch_as_one_array_is_its_payloads_checked_one_by_one(
    payloads: list[Any], limits: Limits
) -> None:
    assert batch_outcome(v.check_specs_array, payloads, limits) == batch_outcome(
        one_by_one, payloads, limits
    )


def test_a_batch_refuses_the_first_bad_spec_whether_its_fault_is_the_payload_or_a_field() -> None:
    specs = [spec(payload={"x": math.nan}), spec(queue="bad name")]
    with pytest.raises(ValidationError) as first:
        v.check_specs_array(specs)
    assert first.value.field == "payload"
    with pytest.raises(ValidationError) as second:
        v.check_specs_array(list(reversed(specs)))
    assert second.value.field == "queue"


@pytest.mark.parametrize(
    "value", [[[[1]]], [[[[1]]]], {"a": [{"b": {}}]}, [[], [], [], []], {1: [[["x"]]]}]
)
def test_nesting_near_the_depth_limit_is_judged_as_by_every_check(value: Any) -> None:
    assert outcome(v.encode_json, value) == outcome(v._encode_checked, value)


def test_a_cycle_is_refused_as_too_deep() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    assert refused_field(payload=cycle) == "payload"


@pytest.mark.parametrize("text", ["\\u0000", "C:\\u0000dir", "\\\\u0000"])
def test_a_backslash_before_u0000_is_plain_text_not_a_nul(text: str) -> None:
    encoded = v.encode_json("payload", {"path": text}, max_bytes=1024, max_depth=4)
    assert json.loads(encoded) == {"path": text}


@pytest.mark.parametrize("payload", ["a\x00b", {"k": ["\x00"]}, {"\x00": 1}])
def test_a_payload_with_a_nul_character_is_refused(payload: Any) -> None:
    assert refused_field(payload=payload) == "payload"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_payload_with_nan_or_infinity_is_refused(number: float) -> None:
    assert refused_field(payload={"x": [number]}) == "payload"


@pytest.mark.parametrize("payload", [{1: "int key"}, {"x": object()}, {"s": {1, 2}}])
def test_a_payload_that_is_not_json_is_refused(payload: Any) -> None:
    assert refused_field(payload=payload) == "payload"


def test_a_payload_with_a_lone_surrogate_is_refused() -> None:
    assert refused_field(payload="\ud800") == "payload"


def test_a_payload_at_the_size_limit_is_accepted_and_one_byte_more_is_too_large() -> None:
    fits = "x" * (SMALL.max_payload_bytes - 2)  # the two quotes count
    v.check_spec(spec(payload=fits), SMALL)
    with pytest.raises(PayloadTooLarge) as refused:
        v.check_spec(spec(payload=fits + "x"), SMALL)
    assert (refused.value.size, refused.value.limit) == (65, 64)


def test_payload_size_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(PayloadTooLarge):
        v.check_spec(spec(payload="é" * 32), SMALL)


def test_a_payload_nested_to_the_depth_limit_is_accepted_and_one_deeper_is_refused() -> None:
    v.check_spec(spec(payload=[[["leaf"]]]), SMALL)
    with pytest.raises(ValidationError, match="deeper"):
        v.check_spec(spec(payload=[[[["leaf"]]]]), SMALL)


def test_a_deeply_nested_payload_is_refused_without_recursion_error() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    assert refused_field(payload=value) == "payload"


def test_a_result_is_checked_like_a_payload_under_its_own_name() -> None:
    with pytest.raises(ValidationError) as refused:
        v.check_result({"x": math.nan})
    assert refused.value.field == "result"


# -- labels ----------------------------------------------------------------------------


def test_labels_within_limits_are_accepted() -> None:
    v.check_labels({"traceparent": "00-abc-def-01", "k": ""}, SMALL)


@pytest.mark.parametrize(
    "labels",
    [
        {"a": "1", "b": "2", "c": "3"},
        {"": "empty key"},
        {"k" * 129: "long key"},
        {"k": "v" * 1025},
        {"k": 1},
        {"k": "nul\x00"},
        {"nul\x00": "v"},
        {"k": "\udc80"},
    ],
)
def test_labels_out_of_bounds_or_not_storable_text_are_refused(labels: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        v.check_labels(labels, SMALL)
    assert refused.value.field.startswith("labels")


# -- idempotency keys ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["welcome:42", "k", "x" * 256, "ünïcode ok"])
def test_an_idempotency_key_of_storable_text_is_accepted(key: str) -> None:
    v.check_spec(spec(idempotency_key=key))


@pytest.mark.parametrize("key", ["", "x" * 257, "a\x00b", "\ud800", 42])
def test_an_empty_long_or_unstorable_idempotency_key_is_refused(key: Any) -> None:
    assert refused_field(idempotency_key=key) == "idempotency_key"


# -- delays, lease durations, owners, errors -------------------------------------------


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(days=365)])
def test_a_delay_from_zero_to_a_year_is_accepted(delay: timedelta) -> None:
    assert v.check_delay("delay_seconds", delay) == delay


@pytest.mark.parametrize("delay", [timedelta(microseconds=-1), timedelta(days=365, seconds=1)])
def test_a_negative_or_overlong_delay_is_refused(delay: timedelta) -> None:
    with pytest.raises(ValidationError) as refused:
        v.check_delay("delay_seconds", delay)
    assert refused.value.field == "delay_seconds"


@pytest.mark.parametrize("lease_for", [timedelta(seconds=1), timedelta(hours=24)])
def test_a_lease_from_one_second_to_a_day_is_accepted(lease_for: timedelta) -> None:
    assert v.check_lease_for(lease_for) == lease_for


@pytest.mark.parametrize(
    "lease_for", [timedelta(0), timedelta(milliseconds=999), timedelta(hours=25)]
)
def test_a_lease_duration_outside_one_second_to_a_day_is_refused(lease_for: timedelta) -> None:
    with pytest.raises(ValidationError) as refused:
        v.check_lease_for(lease_for)
    assert refused.value.field == "lease_seconds"


@pytest.mark.parametrize("owner", ["", "w" * 201, "a\x00"])
def test_a_malformed_worker_id_is_refused(owner: str) -> None:
    with pytest.raises(ValidationError):
        v.check_owner(owner)


def test_an_aware_timestamp_is_accepted_and_a_naive_one_refused() -> None:
    assert v.check_aware("now", T0) == T0
    with pytest.raises(ValidationError):
        v.check_aware("now", T0.replace(tzinfo=None))


@given(st.text())
def test_an_error_text_is_clipped_to_storable_text_never_refused(error: str) -> None:
    clipped = v.clip_error(error, Limits(max_error_chars=50))
    assert len(clipped) <= 50 and v.is_storable_text(clipped)


def test_default_limits_bound_a_batch_to_a_thousand_tasks() -> None:
    assert DEFAULT_LIMITS.max_batch == 1000
