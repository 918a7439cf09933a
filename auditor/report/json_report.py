"""`report.json`: the machine-readable report, validated against auditor/schemas/report.schema.json."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditor.models import EXIT_MEANINGS, Finding, RunResult
from auditor.prettyjson import list_item, with_list

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"
# 2: findings' `expected` in one shape (operator + value) and `remediation` on every finding; huge
# changed values digested. README "Reports" says what each version changed.
REPORT_SCHEMA_VERSION = 2


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The shipped JSON Schema of report.json."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def report_document(result: RunResult, *, findings: bool = True) -> dict[str, Any]:
    """The report as a JSON-ready dict (`findings=False`: with an empty findings list)."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": {
            "id": result.run_id,
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "tool": "auditor",
            "tool_version": result.tool_version,
            "mode": result.mode,
            "exit_code": result.exit_code,
            "exit_meaning": EXIT_MEANINGS[result.exit_code],
        },
        "federations": list(result.federations),
        "summary": result.counts(),
        "findings": [f.to_json() for f in result.findings] if findings else [],
        "collection_errors": result.collection_errors,
        "evidence": result.evidence,
        "changes": result.changes.to_json() if result.changes is not None else None,
        "trend": [t.to_json() for t in result.trend],
        "notices": list(result.notices),
        # The plan (and, after --fix, each change's outcome); null when the run planned nothing.
        "remediation": result.remediation.to_json() if result.remediation is not None else None,
        # The frameworks asked for (--framework, reports.frameworks), requirement by requirement.
        "frameworks": [v.to_json() for v in result.frameworks],
    }


@lru_cache(maxsize=1)
def _validators() -> tuple[Any, Any]:
    """(the whole report's validator, one finding's validator), built once per process."""
    import jsonschema

    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    checker = jsonschema.FormatChecker()
    return cls(schema, format_checker=checker), cls(schema["properties"]["findings"]["items"], format_checker=checker)


@lru_cache(maxsize=1)
def _finding_valid() -> Any:
    """One finding's schema compiled to a function (auditor.fastschema: ~40x cheaper than
    jsonschema, whose validator then only explains a finding this one rejects); a function
    answering False when the schema cannot be compiled."""
    return _fast(report_schema()["properties"]["findings"]["items"])


@lru_cache(maxsize=1)
def _envelope_valid() -> Any:
    """The report schema compiled to a function, for the envelope (the findings left out): a
    valid one needs no jsonschema (whose import is ~0.05 s of every scan's CPU)."""
    return _fast(report_schema())


def _fast(schema: dict[str, Any]) -> Any:
    from auditor.fastschema import compile_check, date_time

    # The formats the validators above assert (FormatChecker), as strictly.
    return compile_check(schema, formats={"date-time": date_time}) or (lambda item: False)


def _check(validator: Any, instance: Any, where: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise jsonschema.ValidationError(f"{where}: {error.message}", path=error.path, schema_path=error.schema_path)


def finding_problem(finding: Finding) -> str | None:
    """Why the finding's JSON breaks the report schema (None: it does not). For callers that
    check findings early, off the critical path (runner.StreamingEvaluator)."""
    item = finding.to_json()
    if _finding_valid()(item):
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(_validators()[1].iter_errors(item))
    return None if error is None else error.message


def iter_json(result: RunResult, schema_checked: Sequence[bool] | None = None) -> Iterator[bytes]:
    """report.json in chunks, each finding validated and encoded on its own: building and
    validating the whole document held every finding twice more (~60 MB for 1,000 federations).
    A report that breaks its own schema is a bug, so it raises (before the first chunk when the
    envelope is wrong, else at the finding). Same bytes as `json.dumps(doc, indent=2) + newline`.
    `schema_checked[i]` true: `result.findings[i]` was already checked (`finding_problem`); flags
    that do not match the findings one for one are ignored (every finding is checked).
    """
    doc = report_document(result, findings=False)
    if not _envelope_valid()(doc):
        _check(_validators()[0], doc, "report.json")

    checked = schema_checked if schema_checked is not None and len(schema_checked) == len(result.findings) else ()
    valid = _finding_valid()

    def items() -> Iterator[str]:
        for i, finding in enumerate(result.findings):
            item = finding.to_json()
            if not (checked and checked[i]) and not valid(item):
                _check(_validators()[1], item, f"report.json finding {finding.uid}")
            yield list_item(item)

    for piece in with_list(doc, "findings", items()):
        yield piece.encode("utf-8")


def render_json(result: RunResult) -> bytes:
    """The whole report.json (see `iter_json`, which `write_reports` streams to the file)."""
    return b"".join(iter_json(result))
