"""Attestation summaries: one Markdown and one CSV file per framework asked for, to paste into
audit workpapers. Each row: requirement, control, federation, status, the evidence file and the
finding uid (the row's proof is that finding in report.json, judged from snapshot.json, both
listed with their SHA-256 in manifest.json). A requirement no control covers has one row per
federation, "not assessed by this tool".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from auditor.models import NOT_ASSESSED, FrameworkView, RunResult
from auditor.report.csv_report import _cell
from auditor.report.markdown import md

NOT_ASSESSED_TEXT = "not assessed by this tool"
EVIDENCE_FILE = "snapshot.json"
COLUMNS = ("framework", "requirement", "requirement_title", "federation", "requirement_status", "control",
           "control_status", "rationale", "evidence_file", "finding_uid")


def status_text(status: str) -> str:
    """How a requirement or control status reads in a workpaper."""
    return NOT_ASSESSED_TEXT if status == NOT_ASSESSED else status


def rows(result: RunResult, view: FrameworkView) -> list[tuple[str, ...]]:
    """The attestation rows of one framework, in mapping order."""
    out: list[tuple[str, ...]] = []
    for req in view.requirements:
        title = req.title or "(title not verified; see the mapping file)"
        for fed in result.federations:
            req_status = status_text(req.status.get(fed, NOT_ASSESSED))
            if not req.controls:
                out.append((view.id, req.id, title, fed, req_status, "", "", "", "", ""))
                continue
            for ctl in req.controls:
                status, uid = ctl.findings.get(fed, (NOT_ASSESSED, ""))
                out.append((view.id, req.id, title, fed, req_status, ctl.control_id, status_text(status),
                            ctl.rationale, EVIDENCE_FILE if uid else "", uid))
    return out


def render_attestation_csv(result: RunResult, view: FrameworkView) -> bytes:
    """RFC 4180 CSV (UTF-8 with BOM, for Excel), formula-like cells neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for row in rows(result, view):
        w.writerow([_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def render_attestation_md(result: RunResult, view: FrameworkView) -> bytes:
    """A Markdown table per framework, with the run's identity and the coverage up front."""
    covered, total = view.coverage()
    lines = [f"# {md(view.name)} {md(view.version)}: attestation summary", "",
             f"- run: `{result.run_id}` ({result.started_at} to {result.finished_at}, auditor {result.tool_version})",
             f"- federations: {', '.join(md(f) for f in result.federations) or '(none)'}",
             f"- requirements covered by a control of this tool: {covered} of {total}; the other {total - covered} "
             f"are **{NOT_ASSESSED_TEXT}** and need evidence from elsewhere",
             f"- evidence: `{EVIDENCE_FILE}` (the collected state) and `report.json` (each finding by uid), "
             "with their SHA-256 in `manifest.json`", "",
             "| requirement | title | federation | requirement status | control | control status | "
             "evidence file | finding uid |",
             "|---|---|---|---|---|---|---|---|"]
    previous = None
    for row in rows(result, view):
        _, req, title, fed, req_status, ctl, ctl_status, _, evidence, uid = row
        shown = title if req != previous else "〃"  # the title once per requirement: the table stays readable
        previous = req
        lines.append(f"| {md(req)} | {md(shown)} | {md(fed)} | {md(req_status)} | {f'`{ctl}`' if ctl else '—'} | "
                     f"{md(ctl_status) or '—'} | {f'`{evidence}`' if evidence else '—'} | "
                     f"{md(uid) if uid else '—'} |")
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_attestations(result: RunResult, run_dir: Path) -> dict[str, Path]:
    """attestation-<framework>.md and .csv for every framework of the run; {name: path}."""
    written: dict[str, Path] = {}
    for view in result.frameworks:
        for ext, render in (("md", render_attestation_md), ("csv", render_attestation_csv)):
            path = run_dir / f"attestation-{view.id}.{ext}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(render(result, view))
            tmp.replace(path)
            written[f"attestation {view.id} ({ext})"] = path
    return written
