"""`report.csv`: one row per finding, for spreadsheets.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) get a
leading apostrophe: the values come from live APIs and an app label such as `=HYPERLINK(...)`
must stay text (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from auditor.models import RunResult

COLUMNS = ("run_id", "federation", "control_id", "title", "severity", "status", "resource", "message",
           "expected", "actual", "uid")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(result: RunResult) -> bytes:
    """Render the findings as RFC 4180 CSV with a header row (UTF-8 with BOM, for Excel)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for f in result.findings:
        w.writerow([_cell(v) for v in (result.run_id, f.federation, f.control_id, f.title, f.severity.value,
                                       f.status.value, f.resource, f.message, f.expected, f.actual, f.uid)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
