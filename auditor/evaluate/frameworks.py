"""A framework's requirements judged from the run's findings, per federation. Pure: no I/O.

A requirement is only as good as its worst control: any FAIL fails it, else any ERROR makes it
unknown (ERROR), else a waived failure makes it WAIVED, else it PASSes when at least one control
passed and the rest did not apply; when every control was SKIPPED it is SKIPPED. A requirement no
control of this tool covers is NOT_ASSESSED, never PASS; so is a federation that has no finding for
any of its controls.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.models import (
    NOT_ASSESSED,
    ControlEvidence,
    Finding,
    FrameworkView,
    RequirementView,
    Status,
)
from auditor.policy.frameworks import Framework, FrameworkSet

# Worst first: the first status present decides the requirement.
_PRECEDENCE = (Status.FAIL, Status.ERROR, Status.WAIVED, Status.PASS, Status.SKIPPED)
_KNOWN = frozenset(s.value for s in _PRECEDENCE)


def requirement_status(statuses: Sequence[str]) -> str:
    """The status of a requirement from its controls' statuses on one federation."""
    if not statuses:
        return NOT_ASSESSED
    if Status.FAIL.value in statuses:
        return Status.FAIL.value
    if any(s not in _KNOWN for s in statuses):  # a status this code does not know is never a pass
        return Status.ERROR.value
    for status in _PRECEDENCE:
        if status.value in statuses:
            return status.value
    return Status.ERROR.value


def framework_view(framework: Framework, findings: Sequence[Finding], federations: Sequence[str]) -> FrameworkView:
    """Every requirement of `framework`, its controls' findings and its status per federation."""
    by_key = {(f.federation, f.control_id): f for f in findings}
    requirements = []
    for req in framework.requirements:
        controls = tuple(
            ControlEvidence(m.control_id, m.rationale,
                            {fed: (by_key[(fed, m.control_id)].status.value, by_key[(fed, m.control_id)].uid)
                             for fed in federations if (fed, m.control_id) in by_key})
            for m in req.controls)
        status = {fed: requirement_status([c.findings[fed][0] for c in controls if fed in c.findings])
                  for fed in federations}
        requirements.append(RequirementView(req.id, req.title, controls, status))
    return FrameworkView(framework.id, framework.name, framework.version, tuple(requirements))


def framework_views(frameworks: FrameworkSet, selected: Sequence[str], findings: Sequence[Finding],
                    federations: Sequence[str]) -> tuple[FrameworkView, ...]:
    """The views of the selected frameworks, in the order asked (KeyError for an unknown id)."""
    return tuple(framework_view(frameworks.get(fid), findings, federations) for fid in dict.fromkeys(selected))
