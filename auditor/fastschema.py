"""A JSON Schema compiled to one Python function, for the documents the program builds itself.

report.json's findings are built by the engine from typed dataclasses and checked against the
report schema all the same (a report that breaks its own schema is a bug). With jsonschema that
check cost more CPU than judging the finding (~0.14 ms a finding, measured: 2.9 ms per
federation); the compiled check costs a few microseconds. It answers only "valid": for the
message of an invalid document, ask jsonschema (`auditor.report.json_report` does).

It knows the keywords those schemas use (`type`, `enum`, `const`, `required`, `properties`,
`additionalProperties`, `items`, `minItems`, `uniqueItems`, `minLength`, `maxLength`, `pattern`, the
numeric bounds, `minProperties`, `maxProperties`, `allOf`, `anyOf`, `oneOf`, and the annotations;
the whole config uses the last four); a schema using any other keyword is not compiled
(`compile_check` returns None) and jsonschema does all the checking. A federation
block of the config is checked the same way each time a federation is judged. For the keywords
it knows it accepts exactly what Draft 2020-12 accepts
(the unit tests compare the two on generated documents).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never reject anything.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples",
                          "deprecated", "readOnly", "writeOnly"})


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float)
                                                                          and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class _Unsupported(Exception):
    pass


_KEYWORDS = frozenset({"type", "enum", "const", "required", "properties", "additionalProperties", "items",
                       "minItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
                       "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties", "allOf", "anyOf",
                       "oneOf"})


def compile_check(schema: Any) -> Check | None:
    """A function telling whether a document is valid against `schema`; None when the schema
    uses a keyword this module does not know (validate with jsonschema then)."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _scalar_key(value: Any) -> tuple[type, Any] | None:
    """A hashable key for enum/const membership that keeps JSON's distinctions (True is not 1)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value), value)
    if isinstance(value, int | float):
        return (float, float(value))  # 1 and 1.0 are the same JSON number
    return None


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise _Unsupported(schema)
    # `x-...` keys are this project's annotations (config.ALLOWED: what an error message says is
    # allowed); like JSON Schema's own annotations they never change what validates.
    unknown = {k for k in set(schema) - _ANNOTATIONS - _KEYWORDS if not k.startswith("x-")}
    if unknown:
        raise _Unsupported(sorted(unknown))
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type_check(schema["type"]))
    for keyword in ("enum", "const"):
        if keyword in schema:
            checks.append(_membership(schema[keyword] if keyword == "enum" else [schema[keyword]]))
    if "minLength" in schema:
        checks.append(_min_length(int(schema["minLength"])))
    if "pattern" in schema:
        checks.append(_pattern(re.compile(schema["pattern"]).search))
    if "maxLength" in schema:
        checks.append(_max_length(int(schema["maxLength"])))
    for keyword, holds in _BOUNDS.items():
        if keyword in schema:
            checks.append(_bound(holds, schema[keyword]))
    if "minProperties" in schema or "maxProperties" in schema:
        checks.append(_property_count(int(schema.get("minProperties", 0)), schema.get("maxProperties")))
    if "minItems" in schema:
        checks.append(_min_items(int(schema["minItems"])))
    if "items" in schema:
        checks.append(_items(_compile(schema["items"])))
    if schema.get("uniqueItems") is True:
        checks.append(_unique_items)
    for keyword, combine in _COMBINATORS.items():
        if keyword in schema:
            if not isinstance(schema[keyword], list) or not schema[keyword]:
                raise _Unsupported(keyword)
            checks.append(combine(tuple(_compile(sub) for sub in schema[keyword])))
    if "required" in schema:
        checks.append(_required(tuple(schema["required"])))
    props = {k: _compile(s) for k, s in (schema.get("properties") or {}).items()}
    extra = schema.get("additionalProperties", True)
    if props or extra is not True:
        checks.append(_properties(props, _compile(extra)))
    return _all_of(checks)


def _json_key(value: Any) -> Any:
    """A hashable form of a JSON value, equal exactly when JSON Schema calls two values equal:
    numbers by value (1 == 1.0), booleans apart from numbers, objects whatever their key order."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _json_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_key(v) for v in value))
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)


def _one_of(subs: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        return sum(1 for sub in subs if sub(value)) == 1
    return check


def _any_of(subs: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        return any(sub(value) for sub in subs)
    return check


def _all_subs(subs: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        return all(sub(value) for sub in subs)
    return check


_COMBINATORS: dict[str, Callable[[tuple[Check, ...]], Check]] = {"allOf": _all_subs, "anyOf": _any_of,
                                                                  "oneOf": _one_of}


def _unique_items(value: Any) -> bool:
    return not isinstance(value, list) or len({_json_key(v) for v in value}) == len(value)


def _max_length(n: int) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, str) or len(value) <= n
    return check


# Numeric bounds: (a number, the bound) -> whether it holds; they apply to numbers only.
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": lambda v, b: v >= b,
    "maximum": lambda v, b: v <= b,
    "exclusiveMinimum": lambda v, b: v > b,
    "exclusiveMaximum": lambda v, b: v < b,
}


def _bound(holds: Callable[[Any, Any], bool], limit: Any) -> Check:
    if not _is_number(limit):
        raise _Unsupported(limit)

    def check(value: Any) -> bool:
        return not _is_number(value) or holds(value, limit)
    return check


def _property_count(least: int, most: Any) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or (len(value) >= least and (most is None or len(value) <= int(most)))
    return check


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    every = tuple(checks)

    def check(value: Any) -> bool:
        return all(c(value) for c in every)
    return check


def _type_check(spec: Any) -> Check:
    names = spec if isinstance(spec, list) else [spec]
    if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
        raise _Unsupported(spec)
    tests = tuple(_TYPES[n] for n in names)
    if len(tests) == 1:
        return tests[0]

    def check(value: Any) -> bool:
        return any(t(value) for t in tests)
    return check


def _membership(values: list[Any]) -> Check:
    keys = [_scalar_key(v) for v in values]
    if any(k is None for k in keys):
        raise _Unsupported("an enum of objects or arrays")  # not needed so far
    allowed = frozenset(keys)

    def check(value: Any) -> bool:
        key = _scalar_key(value)
        return key is not None and key in allowed
    return check


def _min_length(n: int) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, str) or len(value) >= n
    return check


def _pattern(search: Callable[[str], Any]) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, str) or search(value) is not None
    return check


def _min_items(n: int) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, list) or len(value) >= n
    return check


def _items(item: Check) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, list) or all(item(x) for x in value)
    return check


def _required(keys: tuple[str, ...]) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or all(k in value for k in keys)
    return check


def _properties(props: dict[str, Check], other: Check) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or all(props.get(k, other)(x) for k, x in value.items())
    return check
