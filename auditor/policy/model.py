"""The policy model: controls and their assertions, as loaded from YAML."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from auditor.models import FixCapability, RequirementRef, Severity
from auditor.resources import resource_keys

# Resource keys a control may name: the resource catalogue's (auditor/resources.py).
RESOURCE_KEYS = resource_keys()


@dataclass(frozen=True)
class Assertion:
    """One check: an operator applied to the value at `path` of a resource.

    `all`/`any` apply nested assertions to each item of the list at `path`.
    """

    op: str
    arg: Any
    path: str = ""
    resource: str | None = None  # default: the control's resource
    when: Assertion | None = None  # the assertion only applies when this guard holds
    message: str | None = None
    children: tuple[Assertion, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class Control:
    """One control of a policy file."""

    id: str
    title: str
    severity: Severity
    resource: str
    assertions: tuple[Assertion, ...]
    description: str = ""
    when: str | None = None  # a template expression; the control is SKIPPED when it is false
    skip_reason: str = "not applicable"
    remediation: str | None = None
    # The flag the remediation action needs (its registration's `opt_in`), set when the policy loads.
    remediation_opt_in: str | None = None
    references: tuple[str, ...] = ()
    # Every resource key the control reads (its own, assertion overrides, template references).
    needs: frozenset[str] = field(default_factory=frozenset)
    source: str = ""  # file:line, for messages
    # The framework requirements it gives evidence for (set from policies/frameworks/ at load time).
    requirements: tuple[RequirementRef, ...] = ()

    @functools.cached_property
    def fixable(self) -> FixCapability:
        """What `--fix` can do about this control (its findings carry it into report.json; one
        object shared by all of them)."""
        return FixCapability(self.remediation, self.remediation_opt_in)
