"""Remediation: plan (field-level before -> after), apply with preconditions, journal, rollback,
verify. Touches nothing a plan does not name; never deletes; additive and narrow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.config import Config
from auditor.models import Finding
from auditor.policy.loader import PolicySet
from auditor.remediate.model import ChangeOutcome, Plan
from auditor.remediate.targets import Remote
from auditor.snapshot import Snapshot


@dataclass(frozen=True)
class RemediationOptions:
    """How remediation runs: plan only or apply, the SCP opt-in, and who confirms."""

    apply: bool = False
    allow_scp_changes: bool = False
    # Called with the plan before anything is written; False stops the apply.
    confirm: Callable[[Plan], bool] | None = None


@dataclass(frozen=True)
class RemediationResult:
    """The plan, and (after an apply) what became of each change."""

    plan: Plan
    applied: bool = False
    declined: bool = False
    outcomes: tuple[ChangeOutcome, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form, for report.json and the HTML report."""
        return {"plan": self.plan.to_json(), "applied": self.applied, "declined": self.declined,
                "outcomes": [o.to_json() for o in self.outcomes]}


@contextlib.asynccontextmanager
async def _remote(config: Config, secret: str | None) -> AsyncIterator[Remote]:
    """Okta (one aiohttp session for the whole plan/apply) and AWS clients."""
    from auditor.collectors.aws import AwsClients
    from auditor.collectors.okta import OktaAPI

    async with OktaAPI(config, secret) as okta:
        yield Remote(okta, AwsClients(config))


def remediate(config: Config, secret: str | None, snapshot: Snapshot, findings: Sequence[Finding],
              policies: PolicySet, run_dir: Path, options: RemediationOptions) -> RemediationResult:
    """Plan, and when asked and confirmed, apply (journaled in run_dir/journal.jsonl)."""
    from auditor.remediate.apply import apply_plan
    from auditor.remediate.journal import JOURNAL_NAME, Journal
    from auditor.remediate.plan import build_plan

    async def run() -> RemediationResult:
        async with _remote(config, secret) as remote:
            plan = await build_plan(snapshot, findings, policies, remote,
                                    allow_scp_changes=options.allow_scp_changes)
            if not options.apply or not plan.changes:
                return RemediationResult(plan)
            if options.confirm is not None and not options.confirm(plan):
                return RemediationResult(plan, declined=True)
            outcomes = await apply_plan(plan, remote, Journal(run_dir / JOURNAL_NAME))
            return RemediationResult(plan, applied=True, outcomes=tuple(outcomes))

    return asyncio.run(run())


def rollback(config: Config, secret: str | None, run_dir: Path) -> list[ChangeOutcome]:
    """Restore the before images of the changes the run in run_dir applied."""
    from auditor.remediate.apply import rollback_run

    async def run() -> list[ChangeOutcome]:
        async with _remote(config, secret) as remote:
            return await rollback_run(run_dir, remote)

    return asyncio.run(run())
