"""The PostgreSQL adapter's decoder of json/jsonb columns reads every text exactly as the
standard library does: the same values, the same key order, the same number types."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaseq.adapters.postgres.statements import decode_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(VALUES, st.booleans())
def test_any_json_text_reads_as_the_standard_library_reads_it(value: object, ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    decoded = decode_json(text)
    assert decoded == json.loads(text)
    assert repr(decoded) == repr(json.loads(text)), "a number's type or a key's order changed"


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 1e400}',  # PostgreSQL's json keeps a number beyond any double
        '"\\ud800"',  # and a lone surrogate escape
        '{"b": 18446744073709551616, "a": 1, "a": 2}',
        " [1.0, -0.0, 5e-324, 1E2] ",
    ],
)
def test_texts_only_postgresql_lets_in_are_still_read(text: str) -> None:
    assert repr(decode_json(text)) == repr(json.loads(text))
