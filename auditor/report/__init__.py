"""Report writers. Each has the same interface, `render(result) -> bytes`; they never decide
pass/fail, they only show the RunResult."""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path

from auditor.models import RunResult


class Format(enum.StrEnum):
    """The report formats; the value is also the file extension."""

    JSON = "json"
    HTML = "html"


def _writer(fmt: Format) -> Callable[[RunResult], bytes]:
    if fmt is Format.JSON:
        from auditor.report.json_report import render_json

        return render_json
    from auditor.report.html import render_html

    return render_html


def write_reports(result: RunResult, run_dir: Path, formats: list[Format] | tuple[Format, ...]) -> dict[str, Path]:
    """Write `report.<fmt>` for each format into run_dir; return {format: path}."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for fmt in formats:
        path = run_dir / f"report.{fmt.value}"
        data = _writer(fmt)(result)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # never leave a half-written report behind
        written[fmt.value] = path
    return written
