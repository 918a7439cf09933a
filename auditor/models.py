"""Core value types shared by every stage of the pipeline.

They are plain frozen dataclasses: the evaluator produces them, the reports and the CLI read
them, nothing mutates them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    """The outcome of one control on one resource."""

    PASS = "PASS"
    FAIL = "FAIL"
    # The data the control needs could not be collected: compliance is unknown. Never a pass.
    ERROR = "ERROR"
    # Not applicable to this federation (the reason is in the message).
    SKIPPED = "SKIPPED"
    WAIVED = "WAIVED"


class Severity(enum.StrEnum):
    """How bad a failure of the control is."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: critical first."""
        return list(Severity).index(self)


# Exit codes are a public interface (README, `auditor --help`).
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2
EXIT_UNUSABLE = 3


@dataclass(frozen=True)
class Finding:
    """One control judged against one resource of one federation."""

    uid: str
    control_id: str
    title: str
    severity: Severity
    status: Status
    federation: str
    resource: str
    expected: Any
    actual: Any
    message: str
    remediation: dict[str, Any] | None = None
    references: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears in `report.json` (see auditor/schemas/report.schema.json)."""
        return {
            "uid": self.uid,
            "control_id": self.control_id,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status.value,
            "federation": self.federation,
            "resource": self.resource,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
            "remediation": self.remediation,
            "references": list(self.references),
        }


def finding_uid(control_id: str, federation: str, resource: str) -> str:
    """A uid that is the same for the same control, federation and resource on every run."""
    return f"auditor-{control_id}-{federation}-{resource}"


def exit_code_for(statuses: list[Status]) -> int:
    """0 all pass/waived/skipped, 1 any FAIL, 2 any ERROR (wins over 1)."""
    if Status.ERROR in statuses:
        return EXIT_ERROR
    if Status.FAIL in statuses:
        return EXIT_FAIL
    return EXIT_OK


@dataclass(frozen=True)
class RunResult:
    """Everything the report writers need about one run. Writers only read it."""

    run_id: str
    started_at: str  # ISO 8601 UTC
    finished_at: str  # ISO 8601 UTC
    tool_version: str
    federations: tuple[str, ...]
    findings: tuple[Finding, ...]
    # Collection errors per federation: {federation: [{source, message}]}.
    collection_errors: dict[str, list[dict[str, str]]]
    # {"snapshot_sha256": ..., "policy_files": {path: sha256}, "config_sha256": ...}
    evidence: dict[str, Any]
    # Where the run came from: "scan", "evaluate" (offline, from a snapshot file) or "demo".
    mode: str = "scan"

    @property
    def exit_code(self) -> int:
        """The exit code this run maps to (0/1/2; 3 never reaches a report)."""
        return exit_code_for([f.status for f in self.findings])

    def counts(self) -> dict[str, int]:
        """Number of findings per status, every status present (zeros included)."""
        out = {s.value: 0 for s in Status}
        for f in self.findings:
            out[f.status.value] += 1
        return out
