"""Building the plan: for every fixable FAIL, the field-level change its action makes.

Nothing is written here; the only calls are reads (e.g. resolving a required user's login).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor.config import FederationConfig

# field_changes stays importable from here (apply.py and the tests import it from this module).
from auditor.diff import field_changes, shorten_pair
from auditor.evaluate.engine import resolve_assertions
from auditor.models import Finding, Status
from auditor.policy.loader import PolicySet
from auditor.remediate.actions import ACTIONS, ActionContext, CannotFix, working_copy
from auditor.remediate.model import Plan, PlannedChange, Unfixable
from auditor.remediate.targets import KINDS, Remote
from auditor.snapshot import FederationSnapshot, Snapshot


@dataclass
class _Pending:
    kind: str
    target: dict[str, str]
    before: Any
    working: Any
    controls: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def target_for(kind: str, fed: FederationSnapshot) -> tuple[dict[str, str], Any]:
    """The identifiers and the scan-time image of the object an action of `kind` edits: the
    target kind (the one the resource catalogue names) locates it in the federation's snapshot."""
    target = KINDS.get(kind)
    if target is None:
        raise CannotFix(f"no target kind {kind!r}")
    located = target.locate(fed.resources, FederationConfig.from_data(fed.name, fed.config))
    if located is None:
        raise CannotFix(target.missing)
    return located


async def build_plan(snapshot: Snapshot, findings: Sequence[Finding], policies: PolicySet, remote: Remote, *,
                     allow_scp_changes: bool = False, now: datetime | None = None) -> Plan:
    """One merged change per federation and object, and the FAILs that stay for a human.

    Each action reads its control's assertions as evaluated at `now` (default: the current time).
    """
    now = now or datetime.now(UTC)
    changes: list[PlannedChange] = []
    unfixable: list[Unfixable] = []
    for fed in snapshot.federations:
        bound = remote.for_federation(fed.name)
        pending: dict[str, _Pending] = {}
        for finding in findings:
            if finding.federation != fed.name or finding.status is not Status.FAIL:
                continue
            try:
                control = policies.control(finding.control_id)
            except KeyError:
                continue
            if not control.remediation:
                unfixable.append(Unfixable(fed.name, finding.control_id, "no automatic remediation: fix by hand"))
                continue
            action = ACTIONS.get(control.remediation)
            if action is None:
                unfixable.append(Unfixable(fed.name, finding.control_id,
                                           f"remediation {control.remediation!r} is not available in this version"))
                continue
            try:
                if action.kind not in pending:
                    target, before = target_for(action.kind, fed)
                    before = await KINDS[action.kind].plan_image(bound, target, before)
                    pending[action.kind] = _Pending(action.kind, target, before,
                                                    working_copy(before) if before is not None else {})
                entry = pending[action.kind]
                ctx = ActionContext(fed, control, resolve_assertions(control, fed, snapshot.settings, now=now),
                                    bound, snapshot.settings, action.serves, allow_scp_changes)
                reason = await action.fn(entry.working, ctx)
            except CannotFix as exc:
                unfixable.append(Unfixable(fed.name, finding.control_id, str(exc)))
                continue
            entry.controls.append(finding.control_id)
            entry.reasons.append(f"{finding.control_id}: {reason}")
        for kind_name, entry in pending.items():
            kind = KINDS[kind_name]
            after = entry.working if (entry.before is not None or entry.working) else None
            fields = field_changes(entry.before or {}, after or {}, kind.volatile)
            if not fields or not entry.controls:
                continue
            changes.append(PlannedChange(
                id=f"{fed.name}:{kind_name}", federation=fed.name, kind=kind_name, target=entry.target,
                api_call=kind.api_call(entry.target), control_ids=tuple(entry.controls),
                reasons=tuple(entry.reasons), fields=tuple(fields), before=entry.before, after=after))
    return Plan(tuple(changes), tuple(unfixable))


def plan_text(plan: Plan) -> str:
    """The plan as a person reads it: per change, the call, the why, and path: before -> after."""
    if not plan.changes and not plan.unfixable:
        return "nothing to change: every fixable control passes"
    lines = []
    for change in plan.changes:
        lines.append(f"~ {change.federation}: {change.kind} {' '.join(f'{k}={v}' for k, v in change.target.items())}")
        lines.append(f"    call: {change.api_call}")
        for reason in change.reasons:
            lines.append(f"    why:  {reason}")
        for f in change.fields:
            before, after = shorten_pair(_shown(f.before), _shown(f.after), width=140)
            lines.append(f"    {f.path}: {before} -> {after}")
    if plan.unfixable:
        lines.append("")
        lines.append("not fixed automatically:")
        for u in plan.unfixable:
            lines.append(f"  {u.federation} {u.control_id}: {u.reason}")
    n = len(plan.changes)
    lines.append("")
    feds = len({c.federation for c in plan.changes})
    lines.append(f"plan: {n} change{'s' if n != 1 else ''} to {feds} federation(s)")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return "(absent)" if value is None else repr(value)
