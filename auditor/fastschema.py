"""A JSON Schema compiled to one Python function: "is this document valid?" at a fraction of
jsonschema's cost, and without importing jsonschema (~0.05 s of CPU at start-up, with its
dependencies) when the answer is yes.

report.json's findings are built by the engine from typed dataclasses and checked against the
report schema all the same (a report that breaks its own schema is a bug). With jsonschema that
check cost more CPU than judging the finding (~0.14 ms a finding, measured: 2.9 ms per
federation); the compiled check costs a few microseconds. The config, policy, framework and
waiver files are checked the same way first (auditor.validation). It answers only "valid": for
the message of an invalid document, ask jsonschema (`auditor.validation` and
`auditor.report.json_report` do), whose verdict is the one that counts.

It knows the keywords those schemas use (`type`, `enum`, `const`, `required`, `properties`,
`additionalProperties`, `items`, `minItems`, `minLength`, `maxLength`, `pattern`, the numeric
bounds, `minProperties`, `maxProperties`, `uniqueItems`, `dependentRequired`, `allOf`, `anyOf`,
`oneOf`, `$ref` to a place in the same document (`#/$defs/...`), `format`, and the
annotations); a schema using any other keyword is not compiled (`compile_check` returns None)
and jsonschema does all the checking. A federation block of the config is checked the same way
each time a federation is judged. For the keywords it knows it accepts exactly what Draft
2020-12 accepts (the unit tests compare the two on generated documents).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

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
                       "minItems", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
                       "exclusiveMaximum", "minProperties", "maxProperties", "uniqueItems", "dependentRequired",
                       "allOf", "anyOf", "oneOf", "$ref", "$defs", "format"})


def compile_check(schema: Any, *, formats: Mapping[str, Check] | None) -> Check | None:
    """A function telling whether a document is valid against `schema`; None when the schema
    uses a keyword this module does not know (validate with jsonschema then).

    `formats`: None when `format` is an annotation, as for a jsonschema validator built without
    a format checker; else the checks of the formats the schema may assert (a format missing
    from them is not compiled), as jsonschema's FormatChecker asserts them.
    """
    try:
        return _Compiler(schema, formats).compile(schema)
    except _Unsupported:
        return None


def _scalar_key(value: Any) -> tuple[type, Any] | None:
    """A hashable key for enum/const membership that keeps JSON's distinctions (True is not 1)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value), value)
    if isinstance(value, int | float):
        return (float, float(value))  # 1 and 1.0 are the same JSON number
    return None


class _Compiler:
    """Compiles one schema document; `$ref`s resolve within it (compiled once each, and called
    through a table, so a recursive definition such as a policy's nested assertions works)."""

    def __init__(self, root: Any, formats: Mapping[str, Check] | None) -> None:
        self.root = root
        self.formats = formats
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any, *, at_root: bool = True) -> Check:
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
        if "$id" in schema and not at_root:
            raise _Unsupported("$id below the root (it would move where $refs resolve)")
        sub = self._sub
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
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
        if "format" in schema and self.formats is not None:
            if schema["format"] not in self.formats:
                raise _Unsupported(schema["format"])
            checks.append(_format(self.formats[schema["format"]]))
        for keyword, holds in _BOUNDS.items():
            if keyword in schema:
                checks.append(_bound(holds, schema[keyword]))
        if "minProperties" in schema or "maxProperties" in schema:
            checks.append(_property_count(int(schema.get("minProperties", 0)), schema.get("maxProperties")))
        if "minItems" in schema:
            checks.append(_min_items(int(schema["minItems"])))
        if schema.get("uniqueItems") is True:
            checks.append(_unique_items)
        elif schema.get("uniqueItems", False) is not False:
            raise _Unsupported(schema["uniqueItems"])
        if "items" in schema:
            checks.append(_items(sub(schema["items"])))
        if "required" in schema:
            checks.append(_required(tuple(schema["required"])))
        if "dependentRequired" in schema:
            checks.append(_dependent_required({k: tuple(v) for k, v in schema["dependentRequired"].items()}))
        props = {k: sub(s) for k, s in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        if props or extra is not True:
            checks.append(_properties(props, sub(extra)))
        for keyword, combine in (("allOf", _all_of), ("anyOf", _any_of), ("oneOf", _one_of)):
            if keyword in schema:
                branches = schema[keyword]
                if not isinstance(branches, list) or not branches:
                    raise _Unsupported(keyword)
                checks.append(combine([sub(b) for b in branches]))
        return _all_of(checks)

    def _sub(self, schema: Any) -> Check:
        return self.compile(schema, at_root=False)

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise _Unsupported(ref)  # another document: jsonschema's registry resolves those
        refs = self.refs
        if ref not in refs:
            refs[ref] = _never  # while it compiles: a definition that refers to itself
            target = self._resolve(ref)
            refs[ref] = self.compile(target, at_root=target is self.root)

        def check(value: Any) -> bool:
            return refs[ref](value)
        return check

    def _resolve(self, ref: str) -> Any:
        """The subschema a `#/a/b` JSON Pointer (RFC 6901, in a URI fragment) names."""
        node = self.root
        pointer = unquote(ref[1:])
        if not pointer:
            return node
        if not pointer.startswith("/"):
            raise _Unsupported(ref)  # an anchor name
        for part in pointer[1:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise _Unsupported(ref)
        return node


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


def _any_of(checks: list[Check]) -> Check:
    every = tuple(checks)

    def check(value: Any) -> bool:
        return any(c(value) for c in every)
    return check


def _one_of(checks: list[Check]) -> Check:
    every = tuple(checks)

    def check(value: Any) -> bool:
        valid = 0
        for c in every:
            if c(value):
                valid += 1
                if valid > 1:
                    return False
        return valid == 1
    return check


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


def _dependent_required(dependencies: dict[str, tuple[str, ...]]) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or all(all(d in value for d in needed)
                                                  for key, needed in dependencies.items() if key in value)
    return check


def _format(holds: Check) -> Check:
    def check(value: Any) -> bool:
        return holds(value)
    return check


def _unique_items(value: Any) -> bool:
    """`uniqueItems: true`, with jsonschema's equality (`jsonschema._utils.uniq`, ported: True is
    not 1, 1 is 1.0, lists and objects compare element by element)."""
    if not isinstance(value, list):
        return True
    try:
        ordered = sorted(_unbool(v) for v in value)
        return not any(_json_equal(a, b) for a, b in itertools.pairwise(ordered))
    except (NotImplementedError, TypeError):
        seen: list[Any] = []
        for item in value:
            item = _unbool(item)
            if any(_json_equal(s, item) for s in seen):
                return False
            seen.append(item)
        return True


_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    return _TRUE if value is True else _FALSE if value is False else value


def _json_equal(one: Any, two: Any) -> bool:
    """jsonschema's `equal`: JSON equality, in which a boolean is not a number."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list | tuple) and isinstance(two, list | tuple):
        return len(one) == len(two) and all(_json_equal(a, b) for a, b in zip(one, two, strict=False))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[k], two[k]) for k in one)
    return bool(_unbool(one) == _unbool(two))


def date_time(value: Any) -> bool:
    """The `date-time` format (RFC 3339 `date-time`) as a check no laxer than jsonschema's
    FormatChecker (rfc3339-validator): a timestamp this rejects and jsonschema accepts only costs
    asking jsonschema. Not a string: valid (formats apply to strings only)."""
    if not isinstance(value, str):
        return True
    if _DATE_TIME.match(value) is None:
        return False
    from datetime import datetime

    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
