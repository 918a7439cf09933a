"""The remediation plan: field-level changes per target object, and what became of them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

# The one diff type, importable from here too (a plan's fields are FieldChanges).
from auditor.diff import FieldChange


@dataclass(frozen=True)
class PlannedChange:
    """Every change one federation needs on one object, merged into one write.

    `before` is the whole object as the scan saw it; `after` the whole object to write. Several
    controls that edit the same object (ACS URL and audience both live in the Okta app) share
    one change, so the second write never trips over the first one's precondition.
    """

    id: str
    federation: str
    kind: str  # the target kind (auditor/remediate/targets.py), e.g. "cognito.app_client"
    target: dict[str, str]  # identifiers of the object
    api_call: str
    control_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    fields: tuple[FieldChange, ...]
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (plan.json, the journal)."""
        return {
            "id": self.id, "federation": self.federation, "kind": self.kind, "target": self.target,
            "api_call": self.api_call, "control_ids": list(self.control_ids), "reasons": list(self.reasons),
            "fields": [f.to_json() for f in self.fields], "before": self.before, "after": self.after,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedChange:
        """Inverse of to_json."""
        return cls(
            id=data["id"], federation=data["federation"], kind=data["kind"], target=dict(data["target"]),
            api_call=data["api_call"], control_ids=tuple(data["control_ids"]), reasons=tuple(data["reasons"]),
            fields=tuple(FieldChange(f["path"], f["before"], f["after"]) for f in data["fields"]),
            before=data["before"], after=data["after"],
        )


@dataclass(frozen=True)
class Unfixable:
    """A FAIL the plan cannot fix, and why (no action, needs an opt-in flag, ...)."""

    federation: str
    control_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """Plain JSON form."""
        return {"federation": self.federation, "control_id": self.control_id, "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    """All planned changes of a run, plus the failures left for a human."""

    changes: tuple[PlannedChange, ...] = ()
    unfixable: tuple[Unfixable, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (plan.json)."""
        return {"changes": [c.to_json() for c in self.changes], "unfixable": [u.to_json() for u in self.unfixable]}

    def for_control(self, federation: str, control_id: str) -> PlannedChange | None:
        """The change that fixes this control, if any."""
        for change in self.changes:
            if change.federation == federation and control_id in change.control_ids:
                return change
        return None


class OutcomeState(enum.StrEnum):
    """What became of one planned change (the value is how the reports word it)."""

    APPLIED_VERIFIED = "applied and verified"
    APPLIED_UNVERIFIED = "applied, not verified"
    SKIPPED = "skipped"
    FAILED = "failed"
    # A write abandoned in flight by a stop signal whose effect a re-read could not settle.
    UNKNOWN = "unknown"
    # A rollback put the object back as it was before the fix (or found it so).
    RESTORED = "restored"

    @property
    def applied(self) -> bool:
        """True for a change that was written."""
        return self in (OutcomeState.APPLIED_VERIFIED, OutcomeState.APPLIED_UNVERIFIED)


class SkipReason(enum.Enum):
    """Why a change was skipped (in the outcome's detail for people; typed for the code)."""

    INTERRUPTED = "interrupted"  # a stop signal came before the change started
    EARLIER_FAILURE = "earlier failure"  # an earlier change of the same federation failed
    CONFLICT = "conflict"  # the object changed since the scan (or, in a rollback, since the fix)
    NOTHING_TO_UNDO = "nothing to undo"  # a rollback: the journal shows the change never sent


@dataclass(frozen=True)
class ChangeOutcome:
    """What happened to one planned change."""

    change: PlannedChange
    state: OutcomeState
    detail: str = ""
    after_actual: Any = field(default=None, compare=False)
    skipped: SkipReason | None = None  # set with state SKIPPED

    @property
    def change_id(self) -> str:
        """The id of the change (`federation:kind`)."""
        return self.change.id

    @property
    def federation(self) -> str:
        """The federation whose object the change is for."""
        return self.change.federation

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"change_id": self.change.id, "state": self.state.value, "detail": self.detail}


@dataclass(frozen=True)
class RemediationResult:
    """The plan, and (after an apply) what became of each change."""

    plan: Plan
    applied: bool = False
    declined: bool = False
    outcomes: tuple[ChangeOutcome, ...] = field(default_factory=tuple)
    # The signal that stopped the apply ("SIGINT", "SIGTERM"), or None when it ran to the end.
    interrupted: str | None = None

    def outcome_of(self, change_id: str) -> ChangeOutcome | None:
        """The outcome of the change with that id (None: not applied, or not tried)."""
        return next((o for o in self.outcomes if o.change_id == change_id), None)

    def applied_federations(self) -> frozenset[str]:
        """The federations at least one change was written to."""
        return frozenset(o.federation for o in self.outcomes if o.state.applied)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form, for report.json."""
        return {"plan": self.plan.to_json(), "applied": self.applied, "declined": self.declined,
                "outcomes": [o.to_json() for o in self.outcomes], "interrupted": self.interrupted}


@dataclass(frozen=True)
class FindingFix:
    """The change a finding's control is fixed by, as the finding carries it into the reports."""

    change: PlannedChange
    outcome: ChangeOutcome | None = None  # None: planned, not applied

    @property
    def state(self) -> str:
        """The outcome's state, or "planned"."""
        return self.outcome.state.value if self.outcome is not None else "planned"

    @property
    def detail(self) -> str:
        """What the outcome says beyond its state ("" when nothing)."""
        return self.outcome.detail if self.outcome is not None else ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (a finding's `remediation` in report.json)."""
        entry: dict[str, Any] = {
            "change_id": self.change.id, "api_call": self.change.api_call,
            "fields": [f.to_json() for f in self.change.fields], "state": self.state,
        }
        if self.detail:
            entry["detail"] = self.detail
        return entry
