"""Core value types shared by every stage of the pipeline.

They are plain frozen dataclasses: the evaluator produces them, the reports and the CLI read
them, nothing mutates them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the remediation types are built by auditor/remediate/, which imports this module
    from auditor.remediate.model import FindingFix, RemediationResult

from auditor.diff import FieldChange


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


# Exit codes are a public interface: each one's meaning is written once, in EXIT_MEANINGS, which
# `auditor --help` and every report (json, markdown, html) show; README's table is tested against it.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_ERROR = 2
EXIT_UNUSABLE = 3
# A run stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it). A --fix run stopped so is
# still written and recorded whole, with this code in the history.
EXIT_INTERRUPTED = 130

# How a run came about (history, report.json `run.mode`, the HTML header, `history --mode`), with
# the words reports use for it: the one list of run modes.
RUN_MODES: dict[str, str] = {
    "scan": "live scan",
    "plan": "live scan and remediation plan; nothing changed in Okta or AWS",
    "dry-run": "live scan and remediation plan (a dry run of the fix); nothing changed in Okta or AWS",
    "fix": "live scan with remediation: fixes applied, then re-collected to verify",
    "rollback": "rollback of a --fix run (its changes restored)",
    "evaluate": "offline evaluation of a snapshot",
    "scheduled": "scheduled live scan",
    "demo": "demo against the local sandbox",
}

EXIT_MEANINGS: dict[int, str] = {
    EXIT_OK: "compliant: every control passes, is waived or does not apply",
    EXIT_FAIL: "drift: at least one control fails",
    EXIT_ERROR: "unknown: some data could not be collected (ERROR findings)",
    EXIT_UNUSABLE: "unusable config, policy or output location, or a usage error: nothing was scanned",
    EXIT_INTERRUPTED: "interrupted (SIGINT or SIGTERM); a --fix run stopped so is still reported and recorded",
}
# Which code a run with several kinds of finding gets (`exit_code_for`).
EXIT_PRECEDENCE = "2 wins over 1: with a FAIL and an ERROR, compliance is unknown"


@dataclass(frozen=True, order=True)
class RequirementRef:
    """A requirement of a compliance framework that a control gives evidence for
    (`framework` is the mapping's id, e.g. `pci-dss-4.0`; `id` as the standard numbers it)."""

    framework: str
    id: str

    def to_json(self) -> dict[str, str]:
        """Plain JSON form."""
        return {"framework": self.framework, "id": self.id}


class AttributionState(enum.StrEnum):
    """What looking for a finding's cause came to."""

    # A change event found: who, when, with what.
    FOUND = "found"
    # Looked through the look-back window, and no change event of the object is in it.
    NONE = "none"
    # Could not look (a denied or failed lookup): a notice, never a change of the verdict.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Attribution:
    """Who changed what a failing finding is about (auditor/evaluate/attribution.py matches the
    change events auditor/collectors/change_events.py reads from Okta's System Log and CloudTrail).

    `confidence` "field": the event's request shows it set the drifted field to what was found;
    "object": an event on this object in the window, its request does not show the field.
    """

    state: AttributionState
    # One line for people: "changed by ... at ... via ...", the honest absence, or why not.
    summary: str
    since: str | None = None  # the window searched, from (ISO 8601)
    source: str | None = None  # "okta" (System Log) or "cloudtrail"
    confidence: str | None = None  # "field" | "object"
    actor: str | None = None  # Okta actor.alternateId; AWS userIdentity ARN
    session: str | None = None  # AWS: the role session name (and source identity, when set)
    time: str | None = None
    client: str | None = None  # "Terraform", "console", "SDK/CLI", "auditor --fix", or "other"
    user_agent: str | None = None
    source_ip: str | None = None
    event_id: str | None = None
    event_name: str | None = None
    link: str | None = None  # the event in the Okta admin console / CloudTrail console

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (report.schema.json `findings[].attribution`)."""
        return {"state": self.state.value, "summary": self.summary, "since": self.since, "source": self.source,
                "confidence": self.confidence, "actor": self.actor, "session": self.session, "time": self.time,
                "client": self.client, "user_agent": self.user_agent, "source_ip": self.source_ip,
                "event_id": self.event_id, "event_name": self.event_name, "link": self.link}


# The flag `--fix` needs before it applies an action that changes an SCP.
SCP_OPT_IN = "--allow-scp-changes"


@dataclass(frozen=True)
class FixCapability:
    """What `--fix` can do about a control, whatever this run did: the remediation action its
    policy names (None: it is fixed by hand) and the command-line flag the action needs, if any."""

    action: str | None = None
    opt_in: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The part of a finding's `remediation` in report.json that every finding has."""
        return {"action": self.action, "automatic": self.action is not None,
                "needs_allow_scp_changes": self.opt_in == SCP_OPT_IN}


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
    # After a plan or --fix, the change that fixes this finding's control (and its outcome).
    remediation: FindingFix | None = None
    references: tuple[str, ...] = field(default_factory=tuple)
    # The framework requirements the control gives evidence for (policies/frameworks/).
    requirements: tuple[RequirementRef, ...] = field(default_factory=tuple)
    # Who changed it, for a FAIL new since the previous run (`scan --attribute`); None: not looked.
    attribution: Attribution | None = None
    # Whether --fix can apply the control's remediation (and with which flag), planned or not.
    fixable: FixCapability = field(default_factory=FixCapability)

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears in `report.json` (see auditor/schemas/report.schema.json);
        `attribution` only when it was looked for (reports of runs without it stay as they were)."""
        doc = {
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
            # What --fix can do (every finding), and after a plan or --fix the change and its outcome.
            "remediation": ({**self.fixable.to_json(), **self.remediation.to_json()} if self.remediation is not None
                            else self.fixable.to_json()),
            "references": list(self.references),
            "requirements": [r.to_json() for r in self.requirements],
        }
        if self.attribution is not None:
            doc["attribution"] = self.attribution.to_json()
        return doc


def finding_uid(control_id: str, federation: str, resource: str) -> str:
    """A uid that is the same for the same control, federation and resource on every run."""
    return f"auditor-{control_id}-{federation}-{resource}"


def exit_code_for(statuses: list[Status]) -> int:
    """EXIT_OK all pass/waived/skipped, EXIT_FAIL any FAIL, EXIT_ERROR any ERROR (EXIT_PRECEDENCE)."""
    if Status.ERROR in statuses:
        return EXIT_ERROR
    if Status.FAIL in statuses:
        return EXIT_FAIL
    return EXIT_OK


@dataclass(frozen=True)
class FederationChanges:
    """What changed in one federation between the previous run and this one.

    The three lists hold control ids; `state` is the field-level diff of the collected
    resources, which shows edits even where every control still passes.
    """

    federation: str
    new_failures: tuple[str, ...] = ()
    resolved_failures: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()
    state: tuple[FieldChange, ...] = ()
    # True when the federation was not in the previous run (everything is "new").
    first_seen: bool = False
    # Number of state changes left out of `state` to keep reports small.
    state_truncated: int = 0

    @property
    def has_changes(self) -> bool:
        """True when a control changed verdict or a collected field changed."""
        return bool(self.new_failures or self.resolved_failures or self.state or self.first_seen)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "federation": self.federation,
            "first_seen": self.first_seen,
            "new_failures": list(self.new_failures),
            "resolved_failures": list(self.resolved_failures),
            "still_failing": list(self.still_failing),
            "state": [c.to_json() for c in self.state],
            "state_truncated": self.state_truncated,
        }


@dataclass(frozen=True)
class RunChanges:
    """Changes since the previous run (`previous_run_id`), per federation."""

    previous_run_id: str
    previous_started_at: str
    federations: tuple[FederationChanges, ...]

    def for_federation(self, name: str) -> FederationChanges | None:
        """The changes of one federation, or None."""
        return next((f for f in self.federations if f.federation == name), None)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "previous_run_id": self.previous_run_id,
            "previous_started_at": self.previous_started_at,
            "federations": [f.to_json() for f in self.federations],
        }


@dataclass(frozen=True)
class TrendPoint:
    """One past run's status counts, for the trend chart."""

    run_id: str
    started_at: str
    counts: dict[str, int]
    mode: str = ""  # how the run came about (auditor.history.MODES); "" when not known

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"run_id": self.run_id, "started_at": self.started_at, "counts": dict(self.counts), "mode": self.mode}


# A requirement's status in a framework view: a Status value, or this when no control covers it.
NOT_ASSESSED = "NOT_ASSESSED"


@dataclass(frozen=True)
class ControlEvidence:
    """One control under a framework requirement: why it counts, and its finding per federation."""

    control_id: str
    rationale: str
    # {federation: (status, finding uid)}; a federation without a finding of the control is absent.
    findings: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"control_id": self.control_id, "rationale": self.rationale,
                "findings": {fed: {"status": s, "uid": uid} for fed, (s, uid) in self.findings.items()}}


@dataclass(frozen=True)
class RequirementView:
    """One requirement of a framework with its controls and its status per federation
    (NOT_ASSESSED when no control of this tool covers it: never a pass)."""

    id: str
    title: str | None
    controls: tuple[ControlEvidence, ...]
    status: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"id": self.id, "title": self.title, "status": dict(self.status),
                "controls": [c.to_json() for c in self.controls]}


@dataclass(frozen=True)
class FrameworkView:
    """A framework as the run saw it: every requirement of its mapping, judged per federation."""

    id: str
    name: str
    version: str
    requirements: tuple[RequirementView, ...]

    def coverage(self) -> tuple[int, int]:
        """(requirements some control covers, all requirements of the mapping)."""
        return sum(1 for r in self.requirements if r.controls), len(self.requirements)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        covered, total = self.coverage()
        return {"id": self.id, "name": self.name, "version": self.version,
                "coverage": {"covered": covered, "total": total},
                "requirements": [r.to_json() for r in self.requirements]}


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
    # How the run came about (auditor.history.MODES): "scan", "plan", "dry-run", "fix",
    # "scheduled", "evaluate" (offline, from a snapshot file) or "demo".
    mode: str = "scan"
    # What changed since the previous run of the same federations (None: no history, or the
    # first run). Filled by auditor/history.py after evaluation, before the reports.
    changes: RunChanges | None = None
    # Pass/fail counts of the last runs from the history, oldest first, this run last.
    trend: tuple[TrendPoint, ...] = ()
    # Things the reader must know that are not findings: an expired or malformed waiver, a
    # waiver that tried to hide an ERROR. Shown in every report.
    notices: tuple[str, ...] = ()
    # The remediation plan and, after `--fix`, each change's outcome (auditor/remediate/);
    # None when the run neither planned nor fixed.
    remediation: RemediationResult | None = None
    # The frameworks asked for (`scan --framework`, reports.frameworks), judged requirement by
    # requirement (auditor/evaluate/frameworks.py); empty when none was asked for.
    frameworks: tuple[FrameworkView, ...] = ()
    # How each loaded framework is named next to a requirement id ("PCI DSS v4.0"), by framework id:
    # for OCSF `compliance.requirements` and ASFF `Compliance.RelatedRequirements`.
    framework_labels: dict[str, str] = field(default_factory=dict)
    # Where ASFF findings go: {"region", "account_id", "partition"} (reports.security_hub or
    # `--security-hub`); None when neither Security Hub nor the asff format was asked for.
    aws_target: dict[str, str] | None = None

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
