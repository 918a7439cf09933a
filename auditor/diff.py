"""Field-level differences between two JSON values: the one diff type, and the two views of it.

`FieldChange` is what every diff in the product is made of: the history's "what changed since
the previous run" (`FederationChanges.state`) and a fix plan's fields (`PlannedChange.fields`).
The two views differ on purpose, and only here:

- `state_diff` (history) compares every leaf, list items included, so that one URL added to a
  list of twenty shows as one line, and a resource that was not collected shows as its fields
  going to null rather than as one opaque object.
- `field_changes` (a write) descends through objects only and shows a changed list whole:
  it is what one API call will replace, and the reader must see the list the call writes.

Two rules hold for both: a field the service rewrites on every write (the catalogue's
`volatile` fields: Okta's `lastUpdated`, Cognito's `LastModifiedDate`) is never a change, and a
history diff carries a huge value as its digest, length and the stretch around the difference
(`capped`), never the value itself. And one rule for showing a change: when a value must be
shortened, the part that differs stays in view (`shorten_pair`, `diff_segments`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.resources import volatile_fields

ELLIPSIS = "…"
# A changed value longer than this (its text, or its compact JSON) is carried by a history diff as
# its digest and length (see `capped`): a 50 MB value in a snapshot must not be copied into every
# later report.json.
MAX_VALUE_CHARS = 2048
# How much of the text around the first difference an omitted value keeps (`capped`).
EXCERPT_CHARS = 160


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `path` goes from `before` to `after` (None: absent).

    `path` is dotted with list indexes, e.g. "cognito.app_client.CallbackURLs[0]"; a change of
    a whole object with no field to name is "(object)".
    """

    path: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"path": self.path, "before": self.before, "after": self.after}


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value keyed by path: `a.b[0].c`. Empty containers are leaves too."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            out.update(flatten(value[key], _join(prefix, key)))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix] = value
    return out


def state_diff(before: Mapping[str, Any], after: Mapping[str, Any],
               volatile: Mapping[str, Sequence[str]] | None = None) -> list[FieldChange]:
    """Leaf-level differences between two `{resource key: JSON}` maps, sorted by path.

    A resource missing on one side (not collected) is compared as absent, so a collection
    failure shows as fields going to null rather than being hidden. Leaves are compared as
    JSON (`1` and `true` differ, as they do in the snapshot). The top-level fields `volatile`
    names per resource key (default: the catalogue's) are left out, and each value is `capped`.
    """
    skip = volatile_fields() if volatile is None else volatile
    old = _leaves(before, skip)
    new = _leaves(after, skip)
    out = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if not _same_leaf(a, b):
            out.append(FieldChange(path, capped(a, b), capped(b, a)))
    return out


def _same_leaf(a: Any, b: Any) -> bool:
    """`_canonical(a) == _canonical(b)`, without encoding the common case: two leaves of one
    type that are equal (encoding every leaf of both states was most of a history diff's CPU)."""
    if type(a) is type(b) and a == b:
        return True
    return _canonical(a) == _canonical(b)


def _leaves(resources: Mapping[str, Any], volatile: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, res in resources.items():
        skip = volatile.get(key, ())
        if skip and isinstance(res, dict):
            res = {k: v for k, v in res.items() if k not in skip}
        out.update(flatten(res, key))
    return out


def _text_of(value: Any) -> str:
    """What a digest is taken of: a string's own text, anything else as compact, key-sorted JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def capped(value: Any, other: Any = None) -> Any:
    """`value` itself, or when its text is over MAX_VALUE_CHARS, what stands for it in a diff:
    `{"$omitted": {"sha256", "length", "excerpt", "excerpt_offset"}}`. The digest is the SHA-256 of
    the UTF-8 text (a string's own, anything else's compact key-sorted JSON), so the value in the
    snapshot can still be checked against it; the excerpt is the text around the first character
    that differs from `other` (the value on the diff's other side)."""
    text = _text_of(value)
    if value is None or len(text) <= MAX_VALUE_CHARS:
        return value
    first = common_prefix_length(text, _text_of(other)) if other is not None else 0
    start = max(0, min(first - EXCERPT_CHARS // 4, len(text) - EXCERPT_CHARS))
    return {"$omitted": {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "length": len(text),
                         "excerpt": text[start:start + EXCERPT_CHARS], "excerpt_offset": start}}


_CHUNK = 4096  # compared a slice at a time: values may be megabytes long


def common_prefix_length(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n:
        j = min(n, i + _CHUNK)
        if a[i:j] != b[i:j]:
            while a[i] == b[i]:
                i += 1
            return i
        i = j
    return n


def common_affixes(a: str, b: str) -> tuple[int, int]:
    """(shared prefix length, shared suffix length) of two strings, never overlapping."""
    prefix = common_prefix_length(a, b)
    limit = min(len(a), len(b)) - prefix
    suffix = 0
    while suffix < limit:
        step = min(_CHUNK, limit - suffix)
        if a[len(a) - suffix - step:len(a) - suffix] != b[len(b) - suffix - step:len(b) - suffix]:
            while a[-1 - suffix] == b[-1 - suffix]:
                suffix += 1
            return prefix, suffix
        suffix += step
    return prefix, suffix


def shorten_pair(a: str, b: str, width: int = 120, context: int = 12) -> tuple[str, str]:
    """Two texts shown side by side (a before and an after, an actual and an expected), each cut
    to `width` characters so that the first difference stays in view: a long shared beginning is
    elided to its last `context` characters (`…` marks each cut). Texts within `width` are kept."""
    if len(a) <= width and len(b) <= width:
        return a, b
    start = max(0, common_prefix_length(a, b) - context)
    if start <= len(ELLIPSIS):
        start = 0
    return _window(a, start, width), _window(b, start, width)


def _window(text: str, start: int, width: int) -> str:
    head = ELLIPSIS if start else ""
    body = text[start:]
    if len(head) + len(body) <= width:
        return head + body
    return head + body[:max(1, width - len(head) - 1)] + ELLIPSIS


@dataclass(frozen=True)
class Segment:
    """A run of characters of a shown value; `differs` marks those that differ from the other side."""

    text: str
    differs: bool = False


def diff_segments(a: str, b: str, *, context: int = 24, limit: int = 300) -> tuple[tuple[Segment, ...],
                                                                                   tuple[Segment, ...]]:
    """Both texts split into shared beginning, differing middle and shared end, for marking the
    differing characters. When a text is longer than `limit`, the shared parts are elided to
    `context` characters next to the difference and a long middle is cut (`…`)."""
    prefix, suffix = common_affixes(a, b)

    def side(text: str) -> tuple[Segment, ...]:
        head, middle, tail = text[:prefix], text[prefix:len(text) - suffix], text[len(text) - suffix:]
        if len(text) > limit:
            if len(head) > context + 1:
                head = ELLIPSIS + head[-context:]
            if len(tail) > context + 1:
                tail = tail[:context] + ELLIPSIS
            if len(middle) > limit:
                middle = middle[:limit - 1] + ELLIPSIS
        return tuple(s for s in (Segment(head), Segment(middle, True), Segment(tail)) if s.text)

    return side(a), side(b)


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def elide_shared(text: str, context: int = 8, min_shared: int = 24) -> str:
    """`text` with the long beginning two neighbouring quoted values share elided in both (as in
    "is 'urn:…b8d13', expected 'urn:…b8d13d'"), so a shortened line keeps their difference."""
    quoted = list(_QUOTED.finditer(text))
    cuts: dict[int, tuple[int, int]] = {}  # match index -> (start, end) of the elided stretch
    for i in range(len(quoted) - 1):
        a, b = quoted[i].group(), quoted[i + 1].group()
        shared = common_prefix_length(a, b)
        if shared - 1 - context >= min_shared:  # the quote character is shared too: keep it
            keep_head = 1 + min(8, shared - 1 - context)
            for j in (i, i + 1):
                cuts.setdefault(j, (keep_head, shared - context))
    if not cuts:
        return text
    out, pos = [], 0
    for j, (start, end) in sorted(cuts.items()):
        m = quoted[j]
        out.append(text[pos:m.start()])
        value = m.group()
        out.append(value[:start] + ELLIPSIS + value[end:])
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def field_changes(before: Any, after: Any, volatile: Sequence[str] = (), prefix: str = "") -> list[FieldChange]:
    """The fields a write changes: objects are descended into, anything else (lists included)
    is compared whole. Top-level keys in `volatile` (timestamps the service sets) are skipped."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for key in sorted(set(before) | set(after), key=str):
            if not prefix and key in volatile:
                continue
            out += field_changes(before.get(key), after.get(key), volatile, _join(prefix, key))
        return out
    if before != after:
        return [FieldChange(prefix or "(object)", before, after)]
    return []


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
