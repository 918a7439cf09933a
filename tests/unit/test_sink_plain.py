"""Sink.put / plain: one walk giving exactly what the JSON round trip gave."""

from __future__ import annotations

import enum
import json
import math
import sys
from datetime import UTC, date, datetime
from typing import Any

import pytest

from auditor import nesting
from auditor.collectors.base import Sink, plain


def _round_trip(value: Any) -> Any:
    """What Sink.put stored before: the JSON round trip (datetimes ISO, bytes as text)."""
    def default(v: Any) -> Any:
        if isinstance(v, datetime | date):
            return v.isoformat()
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        raise TypeError(type(v).__name__)
    return json.loads(json.dumps(value, default=default))


class _Colour(enum.IntEnum):
    RED = 1


class _Name(str):
    pass


SAMPLES: list[Any] = [
    None, True, False, 0, -7, 2**70, 1.5, -0.0, "", "short", "x" * 200,
    {"CreationDate": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "Day": date(2026, 1, 2)},
    {"Blob": b"caf\xc3\xa9", "Bad": b"\xff\xfe"},
    ("a", ("b", ["c", {"d": (1, 2)}])),
    {2: "int key", 2.5: "float key", True: "bool key", None: "none key", "s": "str key"},
    {"enum": _Colour.RED, _Name("sub"): _Name("value"), "nested": [[[[]]]], "empty": {}},
    {"unicode": "é ü 中 \U0001f600", "lone surrogate": "\ud800", "control": "a\x00b"},
    {"dup": 1, 1: "int then str with the same text"},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_plain_is_the_json_round_trip(value: Any) -> None:
    got = plain(value)
    want = _round_trip(value)
    assert got == want
    assert json.dumps(got) == json.dumps(want)  # same key order and same types


def test_floats_keep_their_specials() -> None:
    got = plain([math.inf, -math.inf, math.nan])
    assert got[:2] == [math.inf, -math.inf] and math.isnan(got[2])
    assert plain({math.inf: 1, math.nan: 2}) == {"Infinity": 1, "NaN": 2}


def test_plain_copies_and_interns() -> None:
    inner = {"Key": "ENABLED"}
    value = {"Outer": [inner]}
    got = plain(value)
    assert got["Outer"][0] is not inner
    key = next(iter(got["Outer"][0]))
    assert key is sys.intern("Key") and got["Outer"][0]["Key"] is sys.intern("ENABLED")


def test_values_json_cannot_hold_raise() -> None:
    with pytest.raises(TypeError):
        plain({"x": object()})
    with pytest.raises(TypeError):
        plain({("tuple", "key"): 1})


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def test_put_refuses_what_nests_too_deeply_and_keeps_what_fits() -> None:
    sink = Sink("fed")
    limit = nesting.MAX_RESOURCE_DEPTH
    sink.put("fits", _nested(limit))
    sink.put("too.deep", _nested(limit + 1))
    assert sink.resources["fits"] == _nested(limit)
    assert "too.deep" not in sink.resources
    assert [e.source for e in sink.errors] == ["too.deep"]
    assert "too deep to keep" in sink.errors[0].message


def test_put_reports_depth_before_a_bad_type() -> None:
    # A value both too deep and holding something JSON cannot hold fails as too deep, not TypeError.
    sink = Sink("fed")
    sink.put("k", [object(), _nested(nesting.MAX_RESOURCE_DEPTH + 1)])
    assert [e.source for e in sink.errors] == ["k"]
    with pytest.raises(TypeError):
        Sink("fed").put("k", [object()])
