"""JSON request bodies decoded by msgspec into their schema (bodies.py), strictly, with the
number rule of API v1: a number is accepted only when the service can answer it exactly
as it was sent (docs/api.md, Numbers). Every refusal is a `RequestInvalid` naming the field.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import TypeVar

import msgspec

from leaseq.adapters.http.problems import RequestInvalid
from leaseq.domain import validation as v

T = TypeVar("T")

_JSON = "application/json"
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
# Messages about one field of the object at the path: the field is the place.
_OF_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def exact_float(text: str) -> float:
    """A JSON number with a fraction or an exponent, as the double it names, when that
    double prints back as the same number; else the number is refused (ValueError).

    0.1 comes back as 0.1 and is accepted; 0.10000000000000000555 would come back as 0.1,
    1e400 as nothing (no double holds it), 1e-400 as 0.0: each is refused."""
    value = float(text)
    if repr(value) == text:  # written as Python writes it (most are): exact, no Decimal
        return value
    if not math.isfinite(value):
        raise ValueError(f"the number {text} lies outside what a double holds")
    if Decimal(text) != Decimal(repr(value)):
        raise ValueError(
            f"the number {text} would come back as {value!r}: send at most a double's precision"
        )
    return value


def decoder(schema: type[T]) -> msgspec.json.Decoder[T]:
    """The strict decoder of one body schema, with the exact-number rule on JSON values."""
    return msgspec.json.Decoder(schema, strict=True, float_hook=exact_float)


def decode(body_decoder: msgspec.json.Decoder[T], content_type: str | None, raw: bytes) -> T:
    """The body as its schema, or `RequestInvalid` naming the field that is wrong."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != _JSON:
        raise RequestInvalid(
            "the request body must be JSON",
            errors=[{"field": "Content-Type", "message": f"must be {_JSON}"}],
        )
    try:
        return body_decoder.decode(raw)
    except msgspec.ValidationError as error:
        field, message = where(str(error))
        raise RequestInvalid(
            "the request does not match the API schema",
            errors=[{"field": field, "message": message}],
        ) from None
    except msgspec.DecodeError as error:
        raise RequestInvalid(
            "the request body is not valid JSON",
            errors=[{"field": "body", "message": _not_json(str(error), raw)}],
        ) from None
    except RecursionError:
        raise RequestInvalid(
            "the request body is nested too deeply",
            errors=[{"field": "body", "message": "JSON nested too deeply to read"}],
        ) from None


def where(error: str) -> tuple[str, str]:
    """msgspec's "<message> - at `$.tasks[0].queue`" as ("tasks.0.queue", "<message>")."""
    found = _AT.match(error)
    assert found is not None  # the pattern matches any text
    message, path = found["message"], found["path"] or ""
    named = _OF_FIELD.match(message)
    if named is not None:
        path += "." + named["name"]
    # Keys inside a JSON value are shown as [...]; the value's field names the place.
    path = path.split("[...]", 1)[0]
    field = re.sub(r"\[(\d+)\]", r".\1", path).strip(".")
    return field or "body", _sentence(_RULES.get(message, message))


def _not_json(message: str, raw: bytes) -> str:
    if message == "Input data was truncated" and b"\\u" in raw.lower():
        # what msgspec says of an escaped lone surrogate, which no UTF-8 text holds
        return "not JSON text: truncated, or a string holds a lone surrogate (\\ud800-\\udfff)"
    return _sentence(message)


# msgspec names a pattern by its regex; the API says what the rule is, as the domain does.
_RULES = {f"Expected `str` matching regex {v.NAME_PATTERN_ANCHORED!r}": v.NAME_RULE}


def _sentence(message: str) -> str:
    """The message as the rest of a sentence: "Expected x" as "expected x", but "JSON is
    malformed" kept (an acronym)."""
    if message[1:2].isupper():
        return message
    return message[:1].lower() + message[1:]
