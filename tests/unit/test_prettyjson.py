"""auditor.prettyjson writes the very bytes of `json.dumps(doc, indent=2)` (snapshot.json and
report.json are evidence: their format must not drift when the writer gets faster)."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.prettyjson import list_item, with_list

keys = st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none(),
                 st.floats(allow_nan=False, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=10), st.sampled_from(["é", "\u2028", "\x00", '"\\', "😀", "</script>"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)


def expected_item(value: Any, sort_keys: bool) -> str:
    return "\n    " + json.dumps(value, indent=2, sort_keys=sort_keys, default=str).replace("\n", "\n    ")


@settings(max_examples=500, deadline=None)
@given(value=values, sort_keys=st.booleans())
def test_a_list_item_is_what_json_dumps_writes(value: Any, sort_keys: bool) -> None:
    assert list_item(value, sort_keys=sort_keys) == expected_item(value, sort_keys)


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(keys, scalars, max_size=5))
def test_keys_of_every_json_type_are_written_as_json_writes_them(value: dict[Any, Any]) -> None:
    assert list_item(value) == expected_item(value, False)


class Colour(enum.IntEnum):
    RED = 1


def test_values_json_cannot_hold_are_written_as_their_str_and_int_subclasses_as_ints() -> None:
    value = {"when": datetime(2026, 1, 2, tzinfo=UTC), "colour": Colour.RED, "nested": [{"x": object}]}
    assert list_item(value, sort_keys=True) == expected_item(value, True)


def test_a_whole_document_is_json_dumps_with_a_newline() -> None:
    doc = {"run": {"id": "r"}, "findings": None, "summary": {"PASS": 1}}
    items = [{"a": 1}, {"b": [1, 2, {}]}, {"c": []}]
    text = "".join(with_list(doc, "findings", (list_item(i) for i in items)))
    assert text == json.dumps({**doc, "findings": items}, indent=2) + "\n"
