"""Report writers. Each has the same interface, `render(result) -> bytes`; they never decide
pass/fail, they only show the RunResult."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from auditor.models import RunResult


class Format(enum.StrEnum):
    """The report formats; the value is also the file extension."""

    JSON = "json"
    HTML = "html"
    JUNIT = "junit"  # report.junit.xml: one testcase per finding, for CI dashboards
    OCSF = "ocsf"  # report.ocsf.json: OCSF Compliance Finding events, for SIEMs
    CSV = "csv"  # report.csv: one row per finding, for spreadsheets
    MARKDOWN = "markdown"  # report.md: a short summary for tickets and chat
    ASFF = "asff"  # findings.asff.json: AWS Security Finding Format, as sent to Security Hub

    @property
    def filename(self) -> str:
        """The file name in the run folder."""
        return _FILENAMES.get(self, f"report.{self.value}")


_FILENAMES = {Format.JUNIT: "report.junit.xml", Format.OCSF: "report.ocsf.json", Format.MARKDOWN: "report.md",
              Format.ASFF: "findings.asff.json"}

# Module and function of each writer; imported on demand so a run pays only for what it writes.
_WRITERS: dict[Format, tuple[str, str]] = {
    Format.JSON: ("auditor.report.json_report", "render_json"),
    Format.HTML: ("auditor.report.html", "render_html"),
    Format.JUNIT: ("auditor.report.junit", "render_junit"),
    Format.OCSF: ("auditor.report.ocsf", "render_ocsf"),
    Format.CSV: ("auditor.report.csv_report", "render_csv"),
    Format.MARKDOWN: ("auditor.report.markdown", "render_markdown"),
    Format.ASFF: ("auditor.report.asff", "render_asff"),
}


# Writers that can also hand their bytes over in chunks, so that a large report is never held whole.
_STREAMED: dict[Format, tuple[str, str]] = {
    Format.JSON: ("auditor.report.json_report", "iter_json"),
    Format.HTML: ("auditor.report.html", "iter_html"),
}


def writer(fmt: Format) -> Callable[[RunResult], bytes]:
    """The `render(result) -> bytes` function of a format."""
    import importlib

    module, name = _WRITERS[fmt]
    fn: Callable[[RunResult], bytes] = getattr(importlib.import_module(module), name)
    return fn


def write_reports(result: RunResult, run_dir: Path, formats: list[Format] | tuple[Format, ...], *,
                  schema_checked: Sequence[bool] | None = None) -> dict[str, Path]:
    """Write `report.<fmt>` for each format into run_dir; return {format: path}.

    `schema_checked`, one flag per finding of `result`: True where that finding's JSON already
    passed the report schema (`json_report.finding_problem`), so report.json need not check it again.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for fmt in formats:
        path = run_dir / fmt.filename
        tmp = path.with_suffix(path.suffix + ".tmp")
        if fmt in _STREAMED:
            import importlib

            module, name = _STREAMED[fmt]
            chunks: Callable[..., Iterable[bytes]] = getattr(importlib.import_module(module), name)
            try:
                with tmp.open("wb") as fh:
                    for chunk in chunks(result, schema_checked):
                        fh.write(chunk)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        else:
            tmp.write_bytes(writer(fmt)(result))
        tmp.replace(path)  # never leave a half-written report behind
        written[fmt.value] = path
    return written
