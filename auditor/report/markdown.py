"""`report.md`: a short summary for a ticket or a chat message.

Verdict, counts, what changed since the previous run, then the failures (capped: the HTML
report has the rest). Text from live APIs is escaped so it cannot break the table or inject
links.
"""

from __future__ import annotations

import re

from auditor.models import EXIT_MEANINGS, RunResult, Status

MAX_ROWS = 50
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md(text: str) -> str:
    """Escape Markdown syntax and keep the text on one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def render_markdown(result: RunResult) -> bytes:
    """Render the summary as GitHub-flavoured Markdown."""
    counts = result.counts()
    lines = [f"## auditor run `{result.run_id}`", "",
             f"**exit {result.exit_code}** — {EXIT_MEANINGS.get(result.exit_code, '')}", "",
             "| " + " | ".join(s.value for s in Status) + " |",
             "|" + "---:|" * len(Status),
             "| " + " | ".join(str(counts[s.value]) for s in Status) + " |", ""]
    if result.changes is not None:
        lines.append(f"### Changes since `{result.changes.previous_run_id}`")
        lines.append("")
        for fc in result.changes.federations:
            parts = []
            if fc.first_seen:
                parts.append("first run of this federation")
            if fc.new_failures:
                parts.append("new failures: " + ", ".join(f"`{c}`" for c in fc.new_failures))
            if fc.resolved_failures:
                parts.append("resolved: " + ", ".join(f"`{c}`" for c in fc.resolved_failures))
            if fc.still_failing:
                parts.append(f"{len(fc.still_failing)} still failing")
            if fc.state or fc.state_truncated:
                parts.append(f"{len(fc.state) + fc.state_truncated} collected field(s) changed")
            lines.append(f"- **{md(fc.federation)}**: " + ("; ".join(parts) if parts else "no change"))
        lines.append("")
    bad = [f for f in result.findings if f.status in (Status.FAIL, Status.ERROR)]
    bad.sort(key=lambda f: (f.status is not Status.FAIL, f.severity.rank, f.federation, f.control_id))
    if bad:
        lines += ["### Needs attention", "", "| status | severity | federation | control | message |",
                  "|---|---|---|---|---|"]
        for f in bad[:MAX_ROWS]:
            message = f.message if len(f.message) <= 200 else f.message[:197] + "..."
            lines.append(f"| {f.status.value} | {f.severity.value} | {md(f.federation)} | `{f.control_id}` | "
                         f"{md(message)} |")
        if len(bad) > MAX_ROWS:
            lines.append(f"\n…and {len(bad) - MAX_ROWS} more in report.html.")
        lines.append("")
    if result.notices:
        lines += ["### Notices", ""] + [f"- {md(n)}" for n in result.notices] + [""]
    return ("\n".join(lines) + "\n").encode("utf-8")
