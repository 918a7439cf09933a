"""`report.json`: the machine-readable report, validated against auditor/schemas/report.schema.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditor.models import RunResult

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"

EXIT_MEANINGS = {
    0: "compliant: every control passes, is waived or does not apply",
    1: "drift: at least one control fails",
    2: "unknown: some data could not be collected (ERROR findings)",
}


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The shipped JSON Schema of report.json."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def report_document(result: RunResult) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    return {
        "schema_version": 1,
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
        "findings": [f.to_json() for f in result.findings],
        "collection_errors": result.collection_errors,
        "evidence": result.evidence,
        "changes": result.changes.to_json() if result.changes is not None else None,
        "trend": [t.to_json() for t in result.trend],
        "notices": list(result.notices),
        # The plan (and, after --fix, each change's outcome); null when the run planned nothing.
        "remediation": result.remediation,
    }


def render_json(result: RunResult) -> bytes:
    """Serialize and validate; a report that breaks its own schema is a bug, so it raises."""
    import jsonschema

    doc = report_document(result)
    jsonschema.validate(doc, report_schema(), format_checker=jsonschema.FormatChecker())
    # Encode chunk by chunk: building the whole text, then a copy with the newline, then its
    # bytes held three copies of a ~40 MB report at once for 1,000 federations.
    out = bytearray()
    for chunk in json.JSONEncoder(indent=2, default=str).iterencode(doc):
        out += chunk.encode("utf-8")
    out += b"\n"
    return bytes(out)
