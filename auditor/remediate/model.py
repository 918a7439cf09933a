"""The remediation plan: field-level changes per target object, and what became of them."""

from __future__ import annotations

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


# Outcome states, as the report words them.
APPLIED_VERIFIED = "applied and verified"
APPLIED_UNVERIFIED = "applied, not verified"
SKIPPED = "skipped"
FAILED = "failed"
# A write abandoned in flight by a stop signal whose effect a re-read could not settle.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ChangeOutcome:
    """What happened to one planned change."""

    change_id: str
    state: str  # one of the constants above
    detail: str = ""
    after_actual: Any = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"change_id": self.change_id, "state": self.state, "detail": self.detail}
