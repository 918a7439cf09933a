"""Applying a plan (with preconditions and the journal) and rolling a run's changes back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.remediate.journal import JOURNAL_NAME, Journal, read_journal
from auditor.remediate.model import APPLIED_UNVERIFIED, FAILED, SKIPPED, ChangeOutcome, Plan, PlannedChange
from auditor.remediate.plan import field_changes
from auditor.remediate.scp import ScpLimitError
from auditor.remediate.targets import KINDS, Remote, RemoteError


def _differences(kind_name: str, expected: Any, current: Any) -> str:
    kind = KINDS[kind_name]
    diffs = field_changes(kind.comparable(expected) or {}, kind.comparable(current) or {})
    return ", ".join(d.path for d in diffs[:5]) + (" ..." if len(diffs) > 5 else "")


async def apply_plan(plan: Plan, remote: Remote, journal: Journal) -> list[ChangeOutcome]:
    """Apply each change under its precondition; a failure stops that federation's other changes."""
    outcomes: list[ChangeOutcome] = []
    stopped: dict[str, str] = {}
    for change in plan.changes:
        if change.federation in stopped:
            reason = f"an earlier change failed: {stopped[change.federation]}"
            journal.write("skipped", change.id, reason=reason)  # the journal says what was never tried
            outcomes.append(ChangeOutcome(change.id, SKIPPED, reason))
            continue
        outcomes.append(await _apply_one(change, remote.for_federation(change.federation), journal, stopped))
    return outcomes


async def _apply_one(change: PlannedChange, remote: Remote, journal: Journal,
                     stopped: dict[str, str]) -> ChangeOutcome:
    kind = KINDS[change.kind]
    try:
        current = await kind.read(remote, change.target)
    except (RemoteError, ScpLimitError) as exc:
        stopped[change.federation] = str(exc)
        journal.write("failed", change.id, error=f"re-read before the write failed: {exc}")
        return ChangeOutcome(change.id, FAILED, f"re-read failed: {exc}")
    if kind.comparable(current) != kind.comparable(change.before):
        # Someone changed the object since the scan: the plan's "before" is stale.
        detail = f"changed since the scan ({_differences(change.kind, change.before, current)}); not overwritten"
        journal.write("conflict", change.id, change=change.to_json(), current=current)
        return ChangeOutcome(change.id, SKIPPED, detail)
    journal.write("pending", change.id, change=change.to_json())
    try:
        await kind.write(remote, change.target, current, change.after)
    except (RemoteError, ScpLimitError) as exc:
        stopped[change.federation] = str(exc)
        journal.write("failed", change.id, error=str(exc))
        return ChangeOutcome(change.id, FAILED, str(exc))
    try:
        after_actual = await kind.read(remote, change.target)
    except (RemoteError, ScpLimitError):
        after_actual = change.after
    journal.write("done", change.id, after_actual=after_actual)
    return ChangeOutcome(change.id, APPLIED_UNVERIFIED, "", after_actual)


async def rollback_run(run_dir: Path, remote: Remote) -> list[ChangeOutcome]:
    """Restore the before images of every change the run applied, newest first.

    A change is restored only when the object is still as the fix left it; anything else is an
    outside edit since the fix, reported as a conflict and left alone. The rollback is journaled
    in the same journal.
    """
    path = run_dir / JOURNAL_NAME
    journal = Journal(path)
    outcomes: list[ChangeOutcome] = []
    for entry in reversed(read_journal(path)):
        change = entry.change
        bound = remote.for_federation(change.federation)
        if entry.state not in ("done", "pending", "failed"):
            outcomes.append(ChangeOutcome(change.id, SKIPPED, f"nothing to undo ({entry.state})"))
            continue
        kind = KINDS[change.kind]
        try:
            current = await kind.read(bound, change.target)
        except (RemoteError, ScpLimitError) as exc:
            journal.write("rollback-failed", change.id, error=str(exc))
            outcomes.append(ChangeOutcome(change.id, FAILED, f"re-read failed: {exc}"))
            continue
        now, before = kind.comparable(current), kind.comparable(change.before)
        left_by_fix = [kind.comparable(change.after)]
        if entry.after_actual is not None:
            left_by_fix.append(kind.comparable(entry.after_actual))
        if now == before:
            journal.write("rollback-noop", change.id)
            outcomes.append(ChangeOutcome(change.id, "restored", "already as before the fix"))
            continue
        if now not in left_by_fix:
            left = entry.after_actual or change.after
            detail = f"changed since the fix ({_differences(change.kind, left, current)}); not overwritten"
            journal.write("rollback-conflict", change.id, current=current)
            outcomes.append(ChangeOutcome(change.id, SKIPPED, detail))
            continue
        journal.write("rollback-pending", change.id, before=change.before, current=current)
        try:
            await kind.write(bound, change.target, current, change.before)
        except (RemoteError, ScpLimitError) as exc:
            journal.write("rollback-failed", change.id, error=str(exc))
            outcomes.append(ChangeOutcome(change.id, FAILED, str(exc)))
            continue
        journal.write("rollback-done", change.id)
        outcomes.append(ChangeOutcome(change.id, "restored", ""))
    return outcomes


def outcome_lines(changes: Sequence[PlannedChange], outcomes: Sequence[ChangeOutcome]) -> list[str]:
    """`~ staging:cognito.app_client: applied and verified` lines for the terminal."""
    by_id = {c.id: c for c in changes}
    lines = []
    for o in outcomes:
        change = by_id.get(o.change_id)
        controls = f" ({', '.join(change.control_ids)})" if change else ""
        lines.append(f"  {o.change_id}{controls}: {o.state}" + (f" — {o.detail}" if o.detail else ""))
    return lines
