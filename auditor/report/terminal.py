"""The terminal summary printed after a run: counts, then every finding that is not a PASS."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from auditor.diff import ELLIPSIS, elide_shared
from auditor.models import RunResult, Status

# A finding's message is cut to this many characters on the terminal (the reports have it whole).
MESSAGE_WIDTH = 160

_COLOURS = {Status.PASS: "32", Status.FAIL: "31", Status.ERROR: "33", Status.SKIPPED: "90", Status.WAIVED: "34"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def summary_text(result: RunResult, *, colour: bool = False, show_pass: bool = False) -> str:
    """A compact, readable table of the run."""
    def paint(status: Status, text: str) -> str:
        return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text

    lines = []
    for fed in result.federations:
        rows = [f for f in result.findings if f.federation == fed]
        tally = "  ".join(f"{s.value} {sum(1 for f in rows if f.status is s)}" for s in Status)
        lines.append(f"{fed}: {tally}")
        shown = [f for f in rows if show_pass or f.status is not Status.PASS]
        order = {Status.FAIL: 0, Status.ERROR: 1, Status.WAIVED: 2, Status.SKIPPED: 3, Status.PASS: 4}
        shown.sort(key=lambda f: (order[f.status], f.severity.rank, f.control_id))
        width = max((len(f.control_id) for f in shown), default=0)
        for f in shown:
            message = short_message(f.message)
            lines.append(f"  {paint(f.status, f.status.value.ljust(7))} {f.severity.value.ljust(8)} "
                         f"{f.control_id.ljust(width)}  {message}")
            if f.attribution is not None:  # who changed it, under the finding
                lines.append(f"  {' ' * 17}{' ' * width}  -> {f.attribution.summary}")
    counts = result.counts()
    lines.append("")
    lines.append("total: " + ", ".join(f"{counts[s.value]} {s.value}" for s in Status))
    return "\n".join(lines)


def short_message(message: str, width: int = MESSAGE_WIDTH) -> str:
    """The message within `width` characters, the difference of the values it quotes kept in view:
    the beginning two quoted values share is elided first ("is 'urn:amaz…8d13', expected
    'urn:amaz…8d13d'"), and only then is the end cut."""
    if len(message) <= width:
        return message
    message = elide_shared(message)
    return message if len(message) <= width else message[:width - 1] + ELLIPSIS


def print_summary(result: RunResult, stream: TextIO | None = None, *, show_pass: bool = False) -> None:
    """Print summary_text to the stream (default: sys.stdout as it is at the call, not at import:
    a caller that redirects stdout, as tests and embedding programs do, gets the summary too)."""
    stream = stream if stream is not None else sys.stdout
    print(summary_text(result, colour=use_colour(stream), show_pass=show_pass), file=stream)
