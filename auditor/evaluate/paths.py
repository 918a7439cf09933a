"""Dotted paths into collected JSON: `settings.signOn.ssoAcsUrl`, `users[0].id`, `items[*].name`."""

from __future__ import annotations

import re
from typing import Any, Final


class _Missing:
    """Sentinel for 'the path leads nowhere'; distinct from a JSON null."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")
PATH_PATTERN = r"^([^.\[\]\s]+|\[(\d+|\*)\])(\.?([^.\[\]\s]+)|\[(\d+|\*)\])*$"


def parse_path(path: str) -> list[str | int]:
    """Split a path into keys, indexes and `*` wildcards. Empty path = the whole value."""
    if path in ("", "."):
        return []
    parts: list[str | int] = []
    for m in _TOKEN.finditer(path):
        key, index = m.group(1), m.group(2)
        if key is not None:
            parts.append(key)
        elif index == "*":
            parts.append("*")
        else:
            parts.append(int(index))
    return parts


def resolve(value: Any, path: str) -> Any:
    """The value at `path`, MISSING when any step does not exist. `[*]` maps over a list."""
    return _resolve(value, parse_path(path))


def _resolve(value: Any, parts: list[str | int]) -> Any:
    for i, part in enumerate(parts):
        if part == "*":
            if not isinstance(value, list):
                return MISSING
            out = [_resolve(item, parts[i + 1:]) for item in value]
            return [v for v in out if v is not MISSING]
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
    return value
