"""JSON-Schema validation whose errors name the file, line, key path and the valid choices."""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.errors import InputProblem
from auditor.fastschema import Check, compile_check
from auditor.yamlio import Located, format_path

if TYPE_CHECKING:  # imported when a document is validated: a command that validates none skips it
    import jsonschema

# Compiled validators by schema (its JSON text: the policy schema is generated afresh from the
# registries each time): the config, policy, framework and waiver schemas are each compiled once
# per process, not once per document.
_VALIDATORS: dict[str, Any] = {}
_CHECKS: dict[str, Check | None] = {}
_VALIDATORS_LOCK = threading.Lock()


def _key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, default=str)


def compiled_validator(schema: dict[str, Any]) -> Any:
    """The Draft 2020-12 validator of `schema`, built the first time a schema like it is asked for."""
    key = _key(schema)
    with _VALIDATORS_LOCK:
        validator = _VALIDATORS.get(key)
        if validator is None:
            import jsonschema

            validator = _VALIDATORS[key] = jsonschema.Draft202012Validator(schema)
        return validator


def _compiled_check(key: str, schema: dict[str, Any]) -> Check | None:
    """`schema` compiled by auditor.fastschema (None: it cannot be), once per schema."""
    with _VALIDATORS_LOCK:
        if key not in _CHECKS:
            # No format checker, as the jsonschema validator above: `format` is an annotation.
            _CHECKS[key] = compile_check(schema, formats=None)
        return _CHECKS[key]


def schema_problems(doc: Located, schema: dict[str, Any], *, base_path: tuple[str | int, ...] = (),
                    data: Any = None) -> list[InputProblem]:
    """Validate `data` (default: the whole document) and turn each error into an InputProblem.

    A valid document is recognised by the schema compiled to a function (auditor.fastschema),
    which accepts exactly what jsonschema accepts: jsonschema is imported (~0.05 s of CPU with its
    dependencies, at every start) and run only to explain a document that check rejects."""
    target = doc.data if data is None else data
    check = _compiled_check(_key(schema), schema)
    if check is not None and check(target):
        return []
    validator = compiled_validator(schema)
    problems: list[InputProblem] = []
    for err in sorted(validator.iter_errors(target), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_describe(doc, err, base_path))
    # One root cause often yields several schema errors at the same place: keep the first per line.
    seen: set[tuple[int | None, str]] = set()
    unique = []
    for p in problems:
        key = (p.line, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _describe(doc: Located, err: jsonschema.ValidationError,
              base_path: tuple[str | int, ...]) -> Iterable[InputProblem]:
    path = (*base_path, *err.absolute_path)
    where = format_path(path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        for key in extra:
            line, col = doc.line_of((*path, key))
            close = difflib.get_close_matches(str(key), allowed, n=1)
            suggestion = f"did you mean {close[0]!r}? " if close else ""
            yield InputProblem(doc.file, line, col, f"{format_path((*path, key))}: unknown key {key!r}",
                               f"{suggestion}valid keys here: {', '.join(allowed)}")
        return
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Report the most specific sub-error: the deepest one.
        best = max(err.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) > 0 or best.validator == "additionalProperties":
            yield from _describe_sub(doc, best, (*base_path, *best.absolute_path))
            return
    line, col = doc.line_of(path)
    hint: str | None = None
    if err.validator == "enum" and isinstance(err.validator_value, list):
        choices: list[Any] = err.validator_value
        hint = "valid values: " + ", ".join(map(repr, choices))
        close = difflib.get_close_matches(str(err.instance), [str(v) for v in choices], n=1)
        if close:
            hint = f"did you mean {close[0]!r}? {hint}"
    elif err.validator == "required":
        hint = "add the missing key"
    elif err.validator == "type":
        hint = f"expected {err.validator_value}"
    elif err.validator == "pattern":
        # The rule in words when the schema gives it (config.ALLOWED), not only the raw regex.
        rule = err.schema.get("x-allowed") if isinstance(err.schema, dict) else None
        message = f"{where}: {err.instance!r} is not allowed here"
        hint = f"allowed: {rule}" if rule else f"it must match the pattern {err.validator_value}"
        yield InputProblem(doc.file, line, col, message, hint)
        return
    yield InputProblem(doc.file, line, col, f"{where}: {err.message}", hint)


def _describe_sub(doc: Located, err: jsonschema.ValidationError,
                  path: tuple[str | int, ...]) -> Iterable[InputProblem]:
    # err.relative_path is relative to the oneOf branch; re-anchor it on the real path.
    import jsonschema

    fake = jsonschema.ValidationError(
        err.message, validator=err.validator, path=(), validator_value=err.validator_value,
        instance=err.instance, schema=err.schema)
    return _describe(doc, fake, path)
