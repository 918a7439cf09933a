"""Bounds on how deeply nested JSON read from outside may be.

Python recurses once per nesting level in `json.loads` (the C decoder raises RecursionError near
the interpreter's recursion limit, ~1,000 levels), in `json.dumps(indent=...)`, `repr` and
`copy.deepcopy`; so a document that loads may still crash the report writer or a fix later.
Everything read from a file or an API is therefore held to a depth far below those limits and
far above any real document: a hostile or broken input becomes a clear error naming it, never a
RecursionError. (YAML files have their own bound: `auditor.yamlio.MAX_DEPTH`.)
"""

from __future__ import annotations

import json
from typing import Any

# A snapshot nests about a dozen levels (federation, resource, Okta app settings, a policy's
# Condition values); report.json wraps it in a few more.
MAX_SNAPSHOT_DEPTH = 100
# One collected resource: the snapshot holds it four levels down (document, federations list,
# federation, resources).
MAX_RESOURCE_DEPTH = MAX_SNAPSHOT_DEPTH - 4
# The IAM policy grammar nests seven levels (document, Statement list, statement, Condition,
# operator, key, value list).
MAX_POLICY_DEPTH = 32


class NestingTooDeep(ValueError):
    """A JSON document nests deeper than its limit (or deeper than Python can parse)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"values nested more than {limit} levels deep")


def exceeds_depth(value: Any, limit: int) -> bool:
    """True when `value` (plain JSON data) nests more than `limit` lists/objects deep.

    Iterative, so it cannot itself run out of stack; a scalar has depth 0, `[]` and `{}` depth 1.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return False


def loads(text: str | bytes, limit: int, **kwargs: Any) -> Any:
    """`json.loads(text, **kwargs)` that raises NestingTooDeep instead of RecursionError, and for
    a document deeper than `limit`; other errors as json.loads raises them (ValueError)."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise NestingTooDeep(limit) from None
    if exceeds_depth(value, limit):
        raise NestingTooDeep(limit)
    return value
