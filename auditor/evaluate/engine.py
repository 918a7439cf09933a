"""Judging a snapshot against the controls: one finding per control and federation.

Pure: reads the Snapshot and the PolicySet, returns Findings. No I/O.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

from auditor.config import FederationConfig
from auditor.evaluate.operators import OPERATORS, OpContext, Operator, OperatorError, show
from auditor.evaluate.paths import MISSING, resolve
from auditor.models import Finding, Status, finding_uid
from auditor.policy.loader import PolicySet
from auditor.policy.model import Assertion, Control
from auditor.policy.templates import TemplateFailure, UndefinedValue, holds, render, undefined_reads
from auditor.resources import ESTATE_RESOURCES, resource_label
from auditor.snapshot import FederationSnapshot, Snapshot

# The federation name of estate findings that belong to no federation (a dangling piece of
# nothing found, or what discovery could not read).
ESTATE = "estate"


@dataclass
class _Check:
    """The outcome of one top-level assertion."""

    ok: bool
    path: str
    expected: Any
    actual: Any
    message: str


class _Unknown(Exception):
    """Compliance cannot be judged (missing data, malformed data): an ERROR finding."""


class _TemplateProblem(Exception):
    """A template of `assertion` could not be rendered; `_template_problem` decides what that
    means (FAIL when an object the expected value depends on does not exist, else ERROR)."""

    def __init__(self, error: UndefinedValue | TemplateFailure, assertion: Assertion) -> None:
        super().__init__(str(error))
        self.error = error
        self.assertion = assertion


def evaluate(snapshot: Snapshot, policies: PolicySet, *, now: datetime | None = None) -> list[Finding]:
    """Every control against every federation of the snapshot, in a stable order."""
    now = now or datetime.now(UTC)
    findings = []
    for fed in snapshot.federations:
        findings += evaluate_federation(fed, snapshot.settings, policies, now=now)
    return findings + evaluate_estate(snapshot, policies, now=now)


def is_estate_control(control: Control) -> bool:
    """True for a control on an estate-level resource (judged per item, not per federation)."""
    return control.resource in ESTATE_RESOURCES


def evaluate_estate(snapshot: Snapshot, policies: PolicySet, *, now: datetime) -> list[Finding]:
    """The estate-level controls, once per item of their resource (a scan with discovery): each
    item is judged like a federation holding just that item, and its finding carries the item's
    federation (its name, or ESTATE) and id. What discovery could not read is one ERROR finding
    per control: a coverage nobody could see is never a PASS. No estate: no findings."""
    estate = snapshot.estate
    if estate is None:
        return []
    ctx = OpContext(now=now, settings=snapshot.settings)
    out: list[Finding] = []
    for control in policies.controls:
        if not is_estate_control(control):
            continue
        key = control.resource
        problems = [e.message for k in sorted(control.needs | {key}) for e in estate.errors_for(k)]
        if not estate.has(key) or problems:
            label = f"{key}:unread"
            out.append(Finding(
                uid=finding_uid(control.id, ESTATE, label), control_id=control.id, title=control.title,
                severity=control.severity, status=Status.ERROR, federation=ESTATE, resource=label,
                expected=None, actual=None, remediation=None, references=control.references, fixable=control.fixable,
                message="discovery could not read everything, so what it did not see is unknown: "
                        + ("; ".join(problems) if problems else f"{key} was not collected")))
        items = estate.resources.get(key) or []
        for item in items if isinstance(items, list) else []:
            name = str(item.get("name") or item.get("federation") or ESTATE)
            one = FederationSnapshot(name=name, config={}, resources={key: item})
            label = f"{key}:{item.get('id')}"
            judged = _judge(control, one, label, _template_context(snapshot.settings, one), ctx)
            out.append(dataclasses.replace(judged, uid=finding_uid(control.id, name, label), resource=label))
    return out


def evaluate_federation(fed: FederationSnapshot, settings: dict[str, Any], policies: PolicySet, *,
                        now: datetime) -> list[Finding]:
    """Every control against one federation, in policy order (`settings`: the snapshot's).

    A federation's findings depend on its own state and the global settings only, which is what
    lets a scan judge each federation as soon as it is collected.
    """
    ctx = OpContext(now=now, settings=settings)
    template_ctx = _template_context(settings, fed)
    # The typed view of the config the snapshot kept (what the scan ran with): findings name their
    # resource from it.
    config = FederationConfig.from_data(fed.name, fed.config)
    # One label string per resource for all the federation's findings (memory: 21,000 findings
    # of 1,000 federations otherwise each hold their own copy).
    labels: dict[str, str] = {}
    findings = []
    for control in policies.controls:
        if is_estate_control(control):
            continue
        if control.resource not in labels:
            labels[control.resource] = resource_label(control.resource, config)
        findings.append(_judge(control, fed, labels[control.resource], template_ctx, ctx))
    return findings


def _template_context(settings: dict[str, Any], fed: FederationSnapshot) -> dict[str, Any]:
    # A federation in another account may live in another region (its `aws.region` override).
    aws = {**settings.get("aws", {}), **{k: v for k, v in (fed.config.get("aws") or {}).items()
                                          if k == "region"}}
    context: dict[str, Any] = {
        "config": fed.config,
        "federation": fed.name,
        "aws": aws,
        "settings": {
            "region": aws.get("region"),
            "org_url": settings.get("okta", {}).get("org_url"),
            "allow_insecure_http": settings.get("okta", {}).get("allow_insecure_http", False),
        },
    }
    for key, value in fed.resources.items():
        if "." in key:
            root, leaf = key.split(".", 1)
            context.setdefault(root, {})[leaf] = value
        else:
            context[key] = value
    return context


def _judge(control: Control, fed: FederationSnapshot, label: str, template_ctx: dict[str, Any],
           ctx: OpContext) -> Finding:
    """One control against one federation; `label` is what the finding names as its resource."""

    def finding(status: Status, message: str, expected: Any = None, actual: Any = None) -> Finding:
        return Finding(
            uid=finding_uid(control.id, fed.name, control.resource), control_id=control.id,
            title=control.title, severity=control.severity, status=status, federation=fed.name,
            resource=label, expected=expected, actual=actual, message=message,
            remediation=None, references=control.references, requirements=control.requirements,
            fixable=control.fixable,
        )

    if control.when is not None:
        try:
            applies = holds(control.when, template_ctx)
        except jinja2.TemplateError as exc:
            return finding(Status.ERROR, f"cannot decide whether the control applies (when: {control.when} "
                                         f"at {control.source}): {exc.message}")
        if not applies:
            return finding(Status.SKIPPED, control.skip_reason)

    # Missing data is ERROR, never PASS: name what could not be collected and why.
    not_collected = sorted(k for k in control.needs if not fed.has(k))
    if not_collected:
        reasons = [f"{e.source}: {e.message}" for k in not_collected for e in fed.errors_for(k)]
        detail = "; ".join(reasons) if reasons else "not collected"
        return finding(Status.ERROR, f"could not collect {', '.join(not_collected)} ({detail})")

    if fed.resources.get(control.resource) is None:
        return finding(Status.FAIL, _does_not_exist(fed, control.resource, alone=True),
                       expected={control.resource: EXISTS}, actual={control.resource: None})

    checks: list[_Check] = []
    try:
        for assertion in control.assertions:
            check = _run_top(assertion, control, fed, template_ctx, ctx)
            if check is not None:
                checks.append(check)
    except _Unknown as exc:
        return finding(Status.ERROR, str(exc))
    except _TemplateProblem as exc:
        status, message = _template_problem(exc, control, fed)
        return finding(status, message)

    failed = [c for c in checks if not c.ok]
    chosen = failed or checks
    expected = {c.path: c.expected for c in chosen}
    actual = {c.path: c.actual for c in chosen}
    if failed:
        return finding(Status.FAIL, "; ".join(f"{c.path}: {c.message}" for c in failed), expected, actual)
    return finding(Status.PASS, "all assertions hold", expected, actual)


def _run_top(a: Assertion, control: Control, fed: FederationSnapshot, template_ctx: dict[str, Any],
             ctx: OpContext) -> _Check | None:
    resource_key = a.resource or control.resource
    root = fed.resources.get(resource_key)
    # Interned: the same few labels key every federation's expected and actual values.
    label = sys.intern(f"{resource_key}.{a.path}") if a.path else resource_key
    if root is None:
        return _Check(False, label, EXISTS, None, _does_not_exist(fed, resource_key))
    if not _guard_holds(a, root, fed, template_ctx, ctx):
        return None
    ok, expected, actual, message = _apply(a, root, template_ctx, ctx)
    return _Check(ok, label, expected, actual, _message(a.message, template_ctx) or message)


def _guard_holds(a: Assertion, root: Any, fed: FederationSnapshot, template_ctx: dict[str, Any],
                 ctx: OpContext) -> bool:
    """True when the assertion applies: it has no `when` guard, or the guard holds."""
    if a.when is None:
        return True
    # A guard may read another resource (`when: {resource: okta.metadata, ...}`): the schema
    # allows it and the loader counts it among the control's needs.
    guard_root = fed.resources.get(a.when.resource) if a.when.resource else root
    return _holds(a.when, guard_root, template_ctx, ctx)


@dataclass(frozen=True)
class ResolvedAssertion:
    """One top-level operator assertion of a control on one federation, its templates rendered
    with the context the judgement uses: what remediation reads (auditor/remediate/actions.py),
    never the finding's report form."""

    assertion: Assertion
    resource: str  # the resource key the assertion reads
    path: str
    arg: Any  # the operator's argument, rendered
    value: Any  # the value at `path` now; None when it is missing
    holds: bool


def resolve_assertions(control: Control, fed: FederationSnapshot, settings: dict[str, Any], *,
                       now: datetime) -> tuple[ResolvedAssertion, ...]:
    """The control's top-level operator assertions that apply to `fed`, in policy order, each
    rendered and judged as `evaluate_federation` does (`settings`: the snapshot's).

    Left out: `all`/`any` composites, assertions whose guard does not hold, whose resource does
    not exist, or that cannot be judged (a template or the operator failed): none of them names
    a value to write.
    """
    template_ctx = _template_context(settings, fed)
    ctx = OpContext(now=now, settings=settings)
    out: list[ResolvedAssertion] = []
    for a in control.assertions:
        resource_key = a.resource or control.resource
        root = fed.resources.get(resource_key)
        if a.op not in OPERATORS or root is None:
            continue
        try:
            if not _guard_holds(a, root, fed, template_ctx, ctx):
                continue
            value = resolve(root, a.path)
            arg = _rendered_arg(a, template_ctx)
            holds = _operate(OPERATORS[a.op], value, arg, ctx)[0]
        except (_Unknown, _TemplateProblem):
            continue
        out.append(ResolvedAssertion(a, resource_key, a.path, arg, _plain(value), holds))
    return tuple(out)


def _message(text: str | None, template_ctx: dict[str, Any]) -> str | None:
    """A custom message, rendered when it is a template (so it can name the values involved)."""
    if text is None:
        return None
    try:
        return str(render(text, template_ctx))
    except jinja2.TemplateError:  # cannot name the values: the generated message still does
        return None


def _holds(a: Assertion, root: Any, template_ctx: dict[str, Any], ctx: OpContext) -> bool:
    return _apply(a, root, template_ctx, ctx)[0]


def _apply(a: Assertion, root: Any, template_ctx: dict[str, Any], ctx: OpContext) -> tuple[bool, Any, Any, str]:
    value = resolve(root, a.path)
    if a.op in ("all", "any"):
        expected = expected_entry(a.op, [_nested(child, template_ctx) for child in a.children])
        if not isinstance(value, list):
            return False, expected, _plain(value), f"is {show(value)}, not a list"
        results = []
        for item in value:
            item_ok = all(_apply(child, item, template_ctx, ctx)[0] for child in a.children
                          if child.when is None or _holds(child.when, item, template_ctx, ctx))
            results.append(item_ok)
        ok = all(results) if a.op == "all" else any(results)
        bad = [i for i, r in enumerate(results) if not r]
        message = ("items " + ", ".join(map(str, bad)) + " do not satisfy the nested assertions"
                   if a.op == "all" else "no item satisfies the nested assertions")
        return ok, expected, _plain(value), message
    return _operate(OPERATORS[a.op], value, _rendered_arg(a, template_ctx), ctx)


def _rendered_arg(a: Assertion, template_ctx: dict[str, Any]) -> Any:
    try:
        return render(a.arg, template_ctx)
    except (UndefinedValue, TemplateFailure) as exc:
        raise _TemplateProblem(exc, a) from exc
    except jinja2.TemplateError as exc:
        raise _Unknown(f"template error: {exc}") from exc


def _operate(op: Operator, value: Any, arg: Any, ctx: OpContext) -> tuple[bool, Any, Any, str]:
    """One operator on a value with its rendered argument: (ok, expected, actual, message)."""
    if value is MISSING and not op.accepts_missing:
        expected = expected_entry(op.name, arg)
        shown = arg if op.name == "equals" else {op.name: arg}
        return False, expected, None, f"is missing (expected {show(shown)})"
    try:
        outcome = op.fn(value, arg, ctx)
    except OperatorError as exc:
        raise _Unknown(str(exc)) from exc
    actual = outcome.actual_summary if outcome.actual_summary is not None else _plain(value)
    return outcome.ok, expected_entry(op.name, arg, outcome.expected), actual, outcome.message


def _does_not_exist(fed: FederationSnapshot, key: str, *, alone: bool = False) -> str:
    """Why `key` is None: the collector's note when it left one (snapshot `absent`), e.g. "no app
    with label 'X' in Okta; similar: ...", else "KEY does not exist". `alone`: the note stands
    by itself (the finding is about that very object)."""
    note = fed.absent.get(key) or {}
    reason = note.get("reason")
    if not reason:
        return f"{key} does not exist"
    similar = note.get("similar") or []
    text = f"{reason}; similar: {', '.join(map(str, similar))}" if similar else reason
    return text if alone else f"{key} does not exist ({text})"


def _template_problem(exc: _TemplateProblem, control: Control, fed: FederationSnapshot) -> tuple[Status, str]:
    """A template that could not be rendered at evaluation time.

    Read from an object that does not exist (`okta.metadata.entity_id`, no metadata): FAIL by the
    dependency rule, naming the object. Any other undefined name or field, or an expression that
    raised: ERROR (compliance unknown), naming the template, where it is written and what it read.
    """
    error = exc.error
    template = error.template or ""
    where = f"{control.source.rsplit(':', 1)[0]}:{exc.assertion.line}" if exc.assertion.line else control.source
    if isinstance(error, UndefinedValue):
        read = undefined_reads(template, error.name) if template else []
        if error.of_none:
            missing = [_does_not_exist(fed, owner) for owner in sorted({owner for _, owner in read})]
            detail = "; ".join(missing) or f"{error.message} (an object it depends on does not exist)"
            return Status.FAIL, f"cannot compute the expected value: {detail}"
        names = ", ".join(chain for chain, _ in read)
        what = f"{names} is undefined ({error.message})" if names else str(error.message)
        return Status.ERROR, f"template {template!r} at {where}: {what}"
    return Status.ERROR, f"template {template!r} at {where} failed: {error.message}"


def expected_entry(op: str, value: Any, stated: Any = None) -> dict[str, Any]:
    """What a finding's `expected` holds for one assertion, in the one shape report.json documents
    (schema version 2): the `operator` and its rendered argument as `value`; plus `detail`, the
    operator's own statement of what holds, when it says more than its argument (the exact relay
    state URL, the sign-in endpoints a trust policy admits, "valid for at least 30 days")."""
    wraps_value = isinstance(stated, dict) and len(stated) == 1 and next(iter(stated.values())) == value
    if stated is not None and stated != value and not wraps_value and op not in ("exists", "absent"):
        return {"operator": op, "value": value, "detail": stated}
    if not isinstance(value, _SHARED_SCALARS):
        return {"operator": op, "value": value}
    # Entries of a plain value are shared by every finding stating them, like EXISTS (read-only,
    # as findings are): most are, and 1,000 federations' findings hold ~50,000. Keyed by type
    # too, since True == 1 == 1.0 and each is written differently.
    key = (op, type(value), value)
    entry = _SHARED_ENTRIES.get(key)
    if entry is None:
        if len(_SHARED_ENTRIES) >= _SHARED_ENTRIES_MAX:
            return {"operator": op, "value": value}
        entry = _SHARED_ENTRIES.setdefault(key, {"operator": op, "value": value})
    return entry


_SHARED_SCALARS = (str, int, float, bool, type(None))
_SHARED_ENTRIES: dict[tuple[str, type, Any], dict[str, Any]] = {}
_SHARED_ENTRIES_MAX = 10_000  # rendered values differ per federation (a URL, an ARN): bounded


# The expected value of an object that must exist (its control or assertion reads it).
EXISTS = {"operator": "exists", "value": True}


def _nested(a: Assertion, template_ctx: dict[str, Any]) -> dict[str, Any]:
    """A nested assertion of `all`/`any` as its expected value names it: path, operator, value."""
    if a.op in ("all", "any"):
        value: Any = [_nested(child, template_ctx) for child in a.children]
    else:
        try:
            value = render(a.arg, template_ctx)
        except jinja2.TemplateError:  # a template reading the item: shown as written
            value = a.arg
    return {"path": a.path, **expected_entry(a.op, value)}


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def expected_argument(assertion: Assertion, fed: FederationSnapshot, settings: dict[str, Any]) -> Any:
    """`assertion`'s argument with its templates rendered for `fed` (`settings`: the snapshot's):
    what the evaluator compares the live value with. `auditor handover` prints these values, so
    the sheet and the audit cannot disagree. Raises UndefinedValue or TemplateFailure when the
    value cannot be computed (e.g. it reads an object that does not exist)."""
    return render(assertion.arg, _template_context(settings, fed))
