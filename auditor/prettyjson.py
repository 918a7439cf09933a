"""Pretty JSON (`json.dumps(doc, indent=2)`) written a piece at a time.

snapshot.json and report.json are each one object holding one large list (federations,
findings). Encoding that list item by item, and splicing the items into the encoded rest of the
object, gives the very bytes of the one-shot encoding without ever holding the whole text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

_MARKER = "\x00auditor-list\x00"


def list_item(value: Any, *, sort_keys: bool = False) -> str:
    """One item of a list held by a top-level key, as `json.dumps(doc, indent=2)` writes it:
    a newline, then the item indented to that depth."""
    return "\n    " + json.dumps(value, indent=2, sort_keys=sort_keys, default=str).replace("\n", "\n    ")


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
