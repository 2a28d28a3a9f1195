"""The HTTP edge's pure parts: the exact-number rule, field paths of refusals, loopback
hosts, and capped metric labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.adapters.http.bodies import EnqueueIn
from leaseq.adapters.http.decoding import decode, decoder, exact_float, where
from leaseq.adapters.http.dev_host import is_loopback_host
from leaseq.adapters.http.problems import RequestInvalid
from leaseq.adapters.telemetry.prometheus import OTHER, LabelCap
from leaseq.domain.validation import NAME_RULE


@pytest.mark.parametrize(
    "text", ["0.1", "-0.0", "1e2", "5e-324", "1.7976931348623157e308", "2.5", "1E-7", "0.30"]
)
def test_a_number_a_double_holds_as_written_is_accepted(text: str) -> None:
    assert exact_float(text) == float(text)


@pytest.mark.parametrize(
    "text",
    ["0.10000000000000000555", "0.30000000000000001", "1e400", "-1e400", "1e-400", "2e-324"],
)
def test_a_number_that_would_come_back_otherwise_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=text):
        exact_float(text)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_double_as_python_prints_it_is_accepted_unchanged(value: float) -> None:
    assert repr(exact_float(repr(value))) == repr(value)


@pytest.mark.parametrize(
    ("error", "field", "message"),
    [
        ("Expected `int`, got `bool` - at `$.tasks[0].priority`", "tasks.0.priority", "expected"),
        ("Object missing required field `type` - at `$.tasks[3]`", "tasks.3.type", "object"),
        ("Object missing required field `queue`", "queue", "object"),
        ("Expected `object`, got `array`", "body", "expected"),
        ("the number 1e400 lies outside - at `$.payload[...][1][...]`", "payload", "the number"),
    ],
)
def test_a_refusal_names_the_path_of_its_field(error: str, field: str, message: str) -> None:
    found, said = where(error)
    assert found == field and said.startswith(message)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1:8000", True),
        ("[::1]:1", True),
        ("Localhost", True),
        ("localhost.", False),
        ("127.0.0.1:", False),
        ("127.0.0.1:99999999", False),
        ("[::1]:x", False),
        ("0.0.0.0", False),
        ("evil.example", False),
    ],
)
def test_only_loopback_names_are_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_label_values_past_the_cap_count_as_other_and_kept_ones_stay() -> None:
    cap = LabelCap(2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


def test_a_name_the_schema_refuses_is_told_the_rule_not_the_regex() -> None:
    with pytest.raises(RequestInvalid) as refused:
        enqueue_body(b'{"tasks":[{"queue":"bad queue","type":"t","payload":1}]}')
    [error] = refused.value.extensions["errors"]
    assert error == {"field": "tasks.0.queue", "message": NAME_RULE}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "JSON is malformed: invalid character (byte 4)"),
        (b'{"tasks":[', "input data was truncated"),
    ],
)
def test_a_body_that_is_not_json_is_named_body_in_a_plain_sentence(
    body: bytes, message: str
) -> None:
    with pytest.raises(RequestInvalid) as refused:
        enqueue_body(body)
    assert refused.value.extensions["errors"] == [{"field": "body", "message": message}]


def enqueue_body(raw: bytes) -> EnqueueIn:
    return decode(decoder(EnqueueIn), "application/json", raw)
