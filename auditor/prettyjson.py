"""Pretty JSON (`json.dumps(doc, indent=2)`) written a piece at a time.

snapshot.json and report.json are each one object holding one large list (federations,
findings). Encoding that list item by item, and splicing the items into the encoded rest of the
object, gives the very bytes of the one-shot encoding without ever holding the whole text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring_ascii as _escape
from typing import Any

_MARKER = "\x00auditor-list\x00"


def list_item(value: Any, *, sort_keys: bool = False) -> str:
    """One item of a list held by a top-level key, as `json.dumps(doc, indent=2)` writes it:
    a newline, then the item indented to that depth."""
    out: list[str] = ["\n    "]
    _encode(value, "\n    ", sort_keys, out.append)
    return "".join(out)


def _float(value: float) -> str:
    """A float as json writes it (allow_nan)."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


_INF = float("inf")


def json_key(key: Any) -> str:
    """A dict key as json converts it to a string (before escaping); a plain `str` (also used by
    auditor.collectors.base to store keys as the snapshot will write them)."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(value: Any, newline: str, sort_keys: bool, write: Callable[[str], Any]) -> None:
    """`json.dumps(value, indent=2, sort_keys=sort_keys, default=str)`, each line but the first
    starting with `newline`'s indentation, written piece by piece. The same bytes as the
    standard library's pure-Python indenting encoder (the C one cannot indent), in half its CPU:
    one recursive function appending strings, not a chain of generators (snapshot.json and
    report.json are most of the JSON a scan writes)."""
    if isinstance(value, str):
        write(_escape(value))
    elif value is None:
        write("null")
    elif value is True:
        write("true")
    elif value is False:
        write("false")
    elif isinstance(value, int):
        write(int.__repr__(value))
    elif isinstance(value, float):
        write(_float(value))
    elif isinstance(value, list | tuple):
        if not value:
            write("[]")
            return
        inner = newline + "  "
        opening = "[" + inner
        for item in value:
            write(opening)
            opening = "," + inner
            _encode(item, inner, sort_keys, write)
        write(newline + "]")
    elif isinstance(value, dict):
        if not value:
            write("{}")
            return
        inner = newline + "  "
        opening = "{" + inner
        for key, item in (sorted(value.items()) if sort_keys else value.items()):
            write(opening + _escape(json_key(key)) + ": ")
            opening = "," + inner
            _encode(item, inner, sort_keys, write)
        write(newline + "}")
    else:
        _encode(str(value), newline, sort_keys, write)  # default=str


def with_list(doc: dict[str, Any], key: str, items: Iterable[str], *, sort_keys: bool = False) -> Iterator[str]:
    """`json.dumps(doc, indent=2, sort_keys=sort_keys) + newline`, piece by piece, with `doc[key]`
    the list whose items are `items` (texts made by `list_item`, consumed one at a time)."""
    encoded = json.dumps({**doc, key: _MARKER}, indent=2, sort_keys=sort_keys, default=str)
    head, _, tail = encoded.partition(json.dumps(_MARKER))
    yield head
    empty = True
    for text in items:
        yield ("[" if empty else ",") + text
        empty = False
    yield "[]" if empty else "\n  ]"
    yield tail + "\n"
