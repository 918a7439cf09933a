"""Remediation: plan (field-level before -> after), apply with preconditions, journal, rollback,
verify. Touches nothing a plan does not name; never deletes; additive and narrow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.remediate.model import ChangeOutcome, Plan, RemediationResult

if TYPE_CHECKING:  # types only: importing auditor.remediate.model must not load the collectors
    from auditor.config import Config
    from auditor.models import Finding
    from auditor.policy.loader import PolicySet
    from auditor.remediate.targets import Remote
    from auditor.snapshot import Snapshot

__all__ = ["RemediationOptions", "RemediationResult", "remediate", "rollback"]


@dataclass(frozen=True)
class RemediationOptions:
    """How remediation runs: plan only or apply, the SCP opt-in, and who confirms."""

    apply: bool = False
    allow_scp_changes: bool = False
    # Called with the plan before anything is written; False stops the apply.
    confirm: Callable[[Plan], bool] | None = None
    # Told of each SIGINT/SIGTERM received while applying: (signal name, whether it is a repeat).
    # The first stops the apply after the call in flight (given `grace_s` to finish); a repeat
    # abandons that call at once.
    on_signal: Callable[[str, bool], None] | None = None
    grace_s: float = 2.0


@contextlib.asynccontextmanager
async def _remote(config: Config, secret: str | None) -> AsyncIterator[Remote]:
    """Okta (one aiohttp session for the whole plan/apply) and AWS clients."""
    from auditor.collectors.aws import AwsClients
    from auditor.collectors.okta import OktaAPI
    from auditor.remediate.targets import Remote

    async with OktaAPI(config, secret) as okta:
        yield Remote(okta, AwsClients(config))


def remediate(config: Config, secret: str | None, snapshot: Snapshot, findings: Sequence[Finding],
              policies: PolicySet, run_dir: Path, options: RemediationOptions, *,
              now: datetime | None = None) -> RemediationResult:
    """Plan, and when asked and confirmed, apply (journaled in run_dir/journal.jsonl). `now`: the
    time `findings` were evaluated at (the plan reads the controls' assertions as of then).

    SIGINT/SIGTERM while applying do not interrupt: they stop the apply safely (see
    auditor/remediate/interrupt.py) and the result says which signal came.
    """
    from auditor.remediate.apply import apply_plan
    from auditor.remediate.interrupt import StopRequest, stop_on_signals
    from auditor.remediate.journal import JOURNAL_NAME, Journal
    from auditor.remediate.plan import build_plan

    async def run() -> RemediationResult:
        async with _remote(config, secret) as remote:
            plan = await build_plan(snapshot, findings, policies, remote,
                                    allow_scp_changes=options.allow_scp_changes, now=now)
            if not options.apply or not plan.changes:
                return RemediationResult(plan)
            if options.confirm is not None and not options.confirm(plan):
                return RemediationResult(plan, declined=True)
            stop = StopRequest(options.on_signal)
            with stop_on_signals(stop):
                outcomes = await apply_plan(plan, remote, Journal(run_dir / JOURNAL_NAME), stop, options.grace_s)
            return RemediationResult(plan, applied=True, outcomes=tuple(outcomes), interrupted=stop.signal)

    return asyncio.run(run())


def rollback(config: Config, secret: str | None, fix_run_dir: Path, journal_path: Path) -> list[ChangeOutcome]:
    """Restore the before images of the changes the run in fix_run_dir applied, journaling in
    `journal_path` (the rollback run's own folder: the fix run's folder is only read)."""
    from auditor.remediate.apply import rollback_run
    from auditor.remediate.journal import Journal

    async def run() -> list[ChangeOutcome]:
        async with _remote(config, secret) as remote:
            return await rollback_run(fix_run_dir, remote, Journal(journal_path))

    return asyncio.run(run())
