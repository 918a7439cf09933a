"""Field-level differences between two JSON values: the one diff type, and the two views of it.

`FieldChange` is what every diff in the product is made of: the history's "what changed since
the previous run" (`FederationChanges.state`) and a fix plan's fields (`PlannedChange.fields`).
The two views differ on purpose, and only here:

- `state_diff` (history) compares every leaf, list items included, so that one URL added to a
  list of twenty shows as one line, and a resource that was not collected shows as its fields
  going to null rather than as one opaque object.
- `field_changes` (a write) descends through objects only and shows a changed list whole:
  it is what one API call will replace, and the reader must see the list the call writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


def state_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Leaf-level differences between two `{resource key: JSON}` maps, sorted by path.

    A resource missing on one side (not collected) is compared as absent, so a collection
    failure shows as fields going to null rather than being hidden. Leaves are compared as
    JSON (`1` and `true` differ, as they do in the snapshot).
    """
    old = {path: v for key, res in before.items() for path, v in flatten(res, key).items()}
    new = {path: v for key, res in after.items() for path, v in flatten(res, key).items()}
    out = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if not _same_leaf(a, b):
            out.append(FieldChange(path, a, b))
    return out


def _same_leaf(a: Any, b: Any) -> bool:
    """`_canonical(a) == _canonical(b)`, without encoding the common case: two leaves of one
    type that are equal (encoding every leaf of both states was most of a history diff's CPU)."""
    if type(a) is type(b) and a == b:
        return True
    return _canonical(a) == _canonical(b)


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
