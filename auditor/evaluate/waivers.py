"""Waivers: an accepted risk, with a reason, an approver and an expiry date.

A waiver turns a FAIL into WAIVED (the message says why, who approved it and until when). It
never touches an ERROR: compliance there is unknown, and hiding it would change what exit code
2 means. A waiver past its expiry, or one that is malformed, hides nothing and is reported as a
notice in every format, so a forgotten waiver cannot silently keep a finding out of view.

The file (config key `waivers:`)::

    version: 1
    waivers:
      - control: OKTA-CERT-EXPIRY
        federation: staging          # or "*" for every federation
        reason: certificate rotation scheduled with the vendor (CHG-1234)
        approver: j.doe@example.com
        expires: 2026-01-31          # valid through this day (UTC)

Parsing works on an already loaded document (auditor/yamlio.py) so this module stays free of
I/O, like the rest of auditor/evaluate/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import InputProblem
from auditor.models import Finding, Status
from auditor.validation import schema_problems
from auditor.yamlio import Located

_CONTROL_ID = "^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"

WAIVER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["control", "federation", "reason", "approver", "expires"],
    "properties": {
        "control": {"type": "string", "pattern": _CONTROL_ID},
        "federation": {"type": "string", "minLength": 1},
        "reason": {"type": "string", "minLength": 3},
        "approver": {"type": "string", "minLength": 1},
        # YAML reads an unquoted 2026-01-31 as a date, a quoted one as a string: both are checked
        # by _as_date below, which JSON Schema cannot express.
        "expires": {},
    },
}

FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "auditor waivers",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "waivers"],
    "properties": {"version": {"const": 1}, "waivers": {"type": "array"}},
}


@dataclass(frozen=True)
class Waiver:
    """One accepted risk for one control in one federation ("*": all)."""

    control: str
    federation: str
    reason: str
    approver: str
    expires: dt.date
    where: str  # "file:line", for messages

    def matches(self, finding: Finding) -> bool:
        """True when the waiver is about this finding's control and federation."""
        return finding.control_id == self.control and self.federation in ("*", finding.federation)

    def expired(self, now: dt.datetime) -> bool:
        """Valid through the expiry day (UTC); expired from the next day on."""
        return now.astimezone(dt.UTC).date() > self.expires


@dataclass(frozen=True)
class WaiverSet:
    """The usable waivers, plus the problems of the entries that were rejected."""

    waivers: tuple[Waiver, ...] = ()
    problems: tuple[InputProblem, ...] = ()


def parse_waivers(doc: Located) -> WaiverSet:
    """Validate a loaded waivers file entry by entry.

    A broken file (not a mapping, no `waivers:` list) yields only problems; a broken entry is
    rejected on its own with file:line, and the valid ones still apply.
    """
    top = schema_problems(doc, FILE_SCHEMA)
    if top or not isinstance(doc.data, dict):
        return WaiverSet(problems=tuple(top) or (InputProblem(doc.file, 1, 1, "not a waivers file"),))
    waivers: list[Waiver] = []
    problems: list[InputProblem] = []
    for index, entry in enumerate(doc.data["waivers"]):
        path = ("waivers", index)
        found = schema_problems(doc, WAIVER_SCHEMA, base_path=path, data=entry)
        expires = _as_date(entry.get("expires")) if isinstance(entry, dict) else None
        if not found and expires is None:
            line, col = doc.line_of((*path, "expires"))
            found = [InputProblem(doc.file, line, col, f"waivers[{index}].expires: not a date",
                                  "write the expiry as YYYY-MM-DD")]
        if found:
            problems.extend(found)
            continue
        assert isinstance(entry, dict) and expires is not None
        line, _ = doc.line_of(path)
        waivers.append(Waiver(entry["control"], entry["federation"], entry["reason"].strip(),
                              entry["approver"], expires, f"{doc.file}:{line}"))
    return WaiverSet(tuple(waivers), tuple(problems))


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def apply_waivers(findings: Sequence[Finding], waivers: WaiverSet,
                  now: dt.datetime) -> tuple[list[Finding], list[str]]:
    """Return the findings with active waivers applied, and the notices for the report."""
    notices = [f"waiver ignored: {p}" for p in waivers.problems]
    for w in waivers.waivers:
        if w.expired(now):
            notices.append(f"waiver for {w.control} in {_scope(w)} expired on {w.expires.isoformat()} "
                           f"({w.where}; approved by {w.approver}): it no longer hides the finding")
    out: list[Finding] = []
    for finding in findings:
        matching = [w for w in waivers.waivers if w.matches(finding)]
        active = [w for w in matching if not w.expired(now)]
        expired = [w for w in matching if w.expired(now)]
        if finding.status is Status.FAIL and active:
            w = max(active, key=lambda x: x.expires)  # the longest-running approval speaks
            out.append(dataclasses.replace(
                finding, status=Status.WAIVED,
                message=(f"waived until {w.expires.isoformat()} by {w.approver}: {w.reason} "
                         f"[was FAIL: {finding.message}]")))
            continue
        if finding.status is Status.FAIL and expired:
            w = max(expired, key=lambda x: x.expires)
            out.append(dataclasses.replace(
                finding, message=(f"{finding.message} [waiver expired on {w.expires.isoformat()}; "
                                  f"approved by {w.approver}: {w.reason}]")))
            continue
        if finding.status is Status.ERROR and active:
            notices.append(f"waiver for {finding.control_id} in {finding.federation} not applied: the finding "
                           "is an ERROR (compliance unknown); a waiver only accepts a known failure")
        out.append(finding)
    for w in unused(waivers.waivers, findings):
        notices.append(f"waiver for {w.control} in {_scope(w)} ({w.where}) matches no finding: "
                       "check the control id and federation name")
    return out, notices


def _scope(w: Waiver) -> str:
    return "every federation" if w.federation == "*" else w.federation


def unused(waivers: Iterable[Waiver], findings: Iterable[Finding]) -> list[Waiver]:
    """Waivers that match no finding at all (a typo in a control id or federation name)."""
    seen = list(findings)
    return [w for w in waivers if not any(w.matches(f) for f in seen)]
