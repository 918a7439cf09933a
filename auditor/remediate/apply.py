"""Applying a plan (with preconditions and the journal) and rolling a run's changes back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.remediate.interrupt import DEFAULT_GRACE_S, StopRequest, settle
from auditor.remediate.journal import JOURNAL_NAME, UNDOABLE_STATES, Journal, read_journal
from auditor.remediate.model import ChangeOutcome, OutcomeState, Plan, PlannedChange, SkipReason
from auditor.remediate.plan import field_changes
from auditor.remediate.scp import ScpLimitError
from auditor.remediate.targets import KINDS, Remote, RemoteError


def _differences(kind_name: str, expected: Any, current: Any) -> str:
    kind = KINDS[kind_name]
    diffs = field_changes(kind.comparable(expected) or {}, kind.comparable(current) or {})
    return ", ".join(d.path for d in diffs[:5]) + (" ..." if len(diffs) > 5 else "")


# How long an abandoned call's object may take to re-read before its outcome is recorded unknown.
REREAD_TIMEOUT_S = 15.0


async def apply_plan(plan: Plan, remote: Remote, journal: Journal, stop: StopRequest | None = None,
                     grace_s: float = DEFAULT_GRACE_S) -> list[ChangeOutcome]:
    """Apply each change under its precondition; a failure stops that federation's other changes.

    With `stop`, a stop signal ends the apply: no further change starts, and the call in flight
    finishes within `grace_s` or is abandoned and its object re-read (see _apply_one).
    """
    outcomes: list[ChangeOutcome] = []
    stopped: dict[str, str] = {}
    for change in plan.changes:
        if stop is not None and stop.signal is not None:
            reason = f"not started: the run was interrupted ({stop.signal})"
            journal.write("skipped", change.id, reason=reason)
            outcomes.append(ChangeOutcome(change, OutcomeState.SKIPPED, reason, skipped=SkipReason.INTERRUPTED))
            continue
        if change.federation in stopped:
            reason = f"an earlier change failed: {stopped[change.federation]}"
            journal.write("skipped", change.id, reason=reason)  # the journal says what was never tried
            outcomes.append(ChangeOutcome(change, OutcomeState.SKIPPED, reason, skipped=SkipReason.EARLIER_FAILURE))
            continue
        outcomes.append(await _apply_one(change, remote.for_federation(change.federation), journal, stopped,
                                         stop, grace_s))
    return outcomes


async def _apply_one(change: PlannedChange, remote: Remote, journal: Journal, stopped: dict[str, str],
                     stop: StopRequest | None = None, grace_s: float = DEFAULT_GRACE_S) -> ChangeOutcome:
    kind = KINDS[change.kind]
    try:
        current = await kind.read(remote, change.target)
    except (RemoteError, ScpLimitError) as exc:
        stopped[change.federation] = str(exc)
        journal.write("failed", change.id, error=f"re-read before the write failed: {exc}")
        return ChangeOutcome(change, OutcomeState.FAILED, f"re-read failed: {exc}")
    if kind.comparable(current) != kind.comparable(change.before):
        # Someone changed the object since the scan: the plan's "before" is stale.
        detail = f"changed since the scan ({_differences(change.kind, change.before, current)}); not overwritten"
        journal.write("conflict", change.id, change=change.to_json(), current=current)
        return ChangeOutcome(change, OutcomeState.SKIPPED, detail, skipped=SkipReason.CONFLICT)
    if stop is not None and stop.signal is not None:  # the signal came during the re-read: send nothing
        reason = f"not started: the run was interrupted ({stop.signal})"
        journal.write("skipped", change.id, reason=reason)
        return ChangeOutcome(change, OutcomeState.SKIPPED, reason, skipped=SkipReason.INTERRUPTED)
    journal.write("pending", change.id, change=change.to_json())
    call = asyncio.ensure_future(kind.write(remote, change.target, current, change.after))
    if not await settle(call, stop, grace_s):
        return await _abandoned(change, remote, journal, stop)
    try:
        call.result()
    except (RemoteError, ScpLimitError) as exc:
        stopped[change.federation] = str(exc)
        journal.write("failed", change.id, error=str(exc))
        return ChangeOutcome(change, OutcomeState.FAILED, str(exc))
    try:
        after_actual = await kind.read(remote, change.target)
    except (RemoteError, ScpLimitError):
        after_actual = change.after
    journal.write("done", change.id, after_actual=after_actual)
    return ChangeOutcome(change, OutcomeState.APPLIED_UNVERIFIED, "", after_actual)


async def _abandoned(change: PlannedChange, remote: Remote, journal: Journal,
                     stop: StopRequest | None) -> ChangeOutcome:
    """A write abandoned in flight: re-read the object to learn its outcome, never guess it.

    Even an object re-read unchanged stays "unknown": the server may have received the call
    and still apply it. `auditor rollback` re-reads it again and restores it if it did.
    """
    kind = KINDS[change.kind]
    why = f"interrupted ({stop.signal if stop else 'stopped'}) while the call was in flight; the call was abandoned"
    try:
        current = await asyncio.wait_for(kind.read(remote, change.target), REREAD_TIMEOUT_S)
    except (RemoteError, ScpLimitError, TimeoutError) as exc:
        detail = f"{why} and the re-read failed ({exc or 'timed out'}): whether it was applied is unknown"
        journal.write("abandoned", change.id, outcome="unknown", error=str(exc) or "re-read timed out")
        return ChangeOutcome(change, OutcomeState.UNKNOWN, detail)
    now = kind.comparable(current)
    if now == kind.comparable(change.after):
        journal.write("done", change.id, after_actual=current, note=f"{why}; a re-read shows it applied")
        return ChangeOutcome(change, OutcomeState.APPLIED_UNVERIFIED, f"{why}; a re-read shows it applied",
                             current)
    if now == kind.comparable(change.before):
        detail = f"{why}; a re-read shows it not applied, but the server may still apply it"
    else:
        detail = f"{why}; a re-read shows it partly applied ({_differences(change.kind, change.after, current)})"
    journal.write("abandoned", change.id, outcome=detail, current=current)
    return ChangeOutcome(change, OutcomeState.UNKNOWN, detail)


async def rollback_run(fix_run_dir: Path, remote: Remote, journal: Journal) -> list[ChangeOutcome]:
    """Restore the before images of every change the run in `fix_run_dir` applied, newest first.

    A change is restored only when the object is still as the fix left it; anything else is an
    outside edit since the fix, reported as a conflict and left alone; an object already as
    before the fix (rolled back earlier, or never applied) is left as it is. The fix run's folder
    is only read: the rollback is journaled in `journal`, in the rollback run's own folder.
    """
    outcomes: list[ChangeOutcome] = []
    for entry in reversed(read_journal(fix_run_dir / JOURNAL_NAME)):
        change = entry.change
        bound = remote.for_federation(change.federation)
        if entry.state not in UNDOABLE_STATES:
            outcomes.append(ChangeOutcome(change, OutcomeState.SKIPPED, f"nothing to undo ({entry.state})",
                                          skipped=SkipReason.NOTHING_TO_UNDO))
            continue
        kind = KINDS[change.kind]
        try:
            current = await kind.read(bound, change.target)
        except (RemoteError, ScpLimitError) as exc:
            journal.write("rollback-failed", change.id, error=str(exc))
            outcomes.append(ChangeOutcome(change, OutcomeState.FAILED, f"re-read failed: {exc}"))
            continue
        now, before = kind.comparable(current), kind.comparable(change.before)
        left_by_fix = [kind.comparable(change.after)]
        if entry.after_actual is not None:
            left_by_fix.append(kind.comparable(entry.after_actual))
        if now == before:
            journal.write("rollback-noop", change.id, change=change.to_json())
            outcomes.append(ChangeOutcome(change, OutcomeState.RESTORED, "already as before the fix"))
            continue
        if now not in left_by_fix:
            left = entry.after_actual or change.after
            detail = f"changed since the fix ({_differences(change.kind, left, current)}); not overwritten"
            journal.write("rollback-conflict", change.id, change=change.to_json(), current=current)
            outcomes.append(ChangeOutcome(change, OutcomeState.SKIPPED, detail, skipped=SkipReason.CONFLICT))
            continue
        journal.write("rollback-pending", change.id, change=change.to_json(), current=current)
        try:
            await kind.write(bound, change.target, current, change.before)
        except (RemoteError, ScpLimitError) as exc:
            journal.write("rollback-failed", change.id, error=str(exc))
            outcomes.append(ChangeOutcome(change, OutcomeState.FAILED, str(exc)))
            continue
        journal.write("rollback-done", change.id)
        outcomes.append(ChangeOutcome(change, OutcomeState.RESTORED, ""))
    return outcomes


def outcome_lines(outcomes: Sequence[ChangeOutcome]) -> list[str]:
    """`~ staging:cognito.app_client: applied and verified` lines for the terminal."""
    return [f"  {o.change_id} ({', '.join(o.change.control_ids)}): {o.state}" + (f" — {o.detail}" if o.detail else "")
            for o in outcomes]
