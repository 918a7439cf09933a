"""The assertion operators of the policy language, in one registry.

Each operator is a function `(actual, arg, ctx) -> Outcome`, registered with the JSON Schema of
its argument and a one-line description. The policy-file schema is generated from this registry
(auditor/policy/schema.py) and the docs list it, so adding an operator here is all it takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditor.diff import shorten_pair
from auditor.evaluate.paths import MISSING


@dataclass(frozen=True)
class OpContext:
    """What an operator may know besides the value: the evaluation time and global settings."""

    now: datetime
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """The result of one operator: whether it held, what was expected, and a readable message."""

    ok: bool
    expected: Any
    message: str
    # What the report shows as "actual" when the raw value is too large to be useful (the
    # whole organization for `denies`); None means: show the value itself.
    actual_summary: Any = None


class OperatorError(Exception):
    """The operator could not judge the value (malformed data): the finding is an ERROR."""


OperatorFn = Callable[[Any, Any, OpContext], Outcome]
# (the current value, or None when the path is missing; the rendered argument) -> the value that
# makes the assertion hold.
SatisfyingFn = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Operator:
    """A registered operator."""

    name: str
    fn: OperatorFn
    arg_schema: dict[str, Any]
    doc: str
    # True when a missing path is a legitimate input (exists/absent); otherwise MISSING fails.
    accepts_missing: bool = False
    # The one value that makes the assertion hold, for operators that can name it (`equals`: the
    # argument). Remediation writes it (auditor/remediate/actions.py); None: no single value does.
    # It raises OperatorError when the argument is malformed, like `fn`.
    satisfying: SatisfyingFn | None = None


OPERATORS: dict[str, Operator] = {}


def operator(name: str, arg_schema: dict[str, Any], doc: str, *, accepts_missing: bool = False,
             satisfying: SatisfyingFn | None = None) -> Callable[[OperatorFn], OperatorFn]:
    """Register an operator under `name`."""
    def register(fn: OperatorFn) -> OperatorFn:
        if name in OPERATORS:
            raise ValueError(f"operator {name!r} registered twice")
        OPERATORS[name] = Operator(name, fn, arg_schema, doc, accepts_missing, satisfying)
        return fn
    return register


def show(value: Any) -> str:
    """Short readable rendering of a value for messages."""
    if value is MISSING:
        return "(missing)"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def show_pair(actual: Any, expected: Any) -> tuple[str, str]:
    """`show` of two values compared with each other: when they must be shortened, both keep the
    place where they first differ in view (a shared beginning is elided, not the difference)."""
    if actual is MISSING:
        return show(actual), show(expected)
    return shorten_pair(repr(actual), repr(expected), width=200)


_ANY: dict[str, Any] = {}


@operator("equals", _ANY, "the value equals the argument (templates allowed)",
          satisfying=lambda actual, arg: arg)
def _equals(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    return Outcome(actual == arg, arg, "is {}, expected {}".format(*show_pair(actual, arg)))


@operator("not_equals", _ANY, "the value differs from the argument")
def _not_equals(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    return Outcome(actual != arg, {"not": arg}, f"is {show(actual)}, must not be {show(arg)}")


@operator("in", {"anyOf": [{"type": "array"}, {"type": "string"}]},
          "the value is one of the listed values")
def _in(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    choices = arg if isinstance(arg, list) else [arg]
    return Outcome(actual in choices, {"one of": choices}, f"is {show(actual)}, expected one of {show(choices)}")


@operator("not_in", {"anyOf": [{"type": "array"}, {"type": "string"}]},
          "the value is none of the listed values")
def _not_in(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    choices = arg if isinstance(arg, list) else [arg]
    return Outcome(actual not in choices, {"none of": choices}, f"is {show(actual)}, which is not allowed")


@operator("contains", _ANY, "a list holds the argument as an item, or a string holds it as a substring")
def _contains(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    if isinstance(actual, str):
        ok = isinstance(arg, str) and arg in actual
    elif isinstance(actual, list):
        ok = arg in actual
    else:
        ok = False
    return Outcome(ok, {"contains": arg}, f"{show(actual)} does not contain {show(arg)}")


@operator("contains_all", {"type": "array"}, "a list holds every item of the argument")
def _contains_all(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    items = actual if isinstance(actual, list) else []
    missing = [a for a in arg if a not in items]
    return Outcome(not missing, {"contains all": arg}, f"missing {show(missing)}")


def _matches_pattern(item: Any, pattern: Any) -> bool:
    """Sub-object match: dicts match key by key, lists need every pattern item matched."""
    if isinstance(pattern, dict):
        return isinstance(item, dict) and all(
            k in item and _matches_pattern(item[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(item, list) and all(
            any(_matches_pattern(i, p) for i in item) for p in pattern)
    return bool(item == pattern)


@operator("has_item", {"type": "object"},
          "a list holds an item that matches the sub-object (extra keys and list items allowed)")
def _has_item(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    items = actual if isinstance(actual, list) else []
    ok = any(_matches_pattern(i, arg) for i in items)
    return Outcome(ok, {"has item": arg}, f"no item matches {show(arg)}; items: {show(items)}")


@operator("matches", {"type": "string", "format": "regex"}, "the string value matches the regex (search)")
def _matches(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    ok = isinstance(actual, str) and re.search(arg, actual) is not None
    return Outcome(ok, {"matches": arg}, f"{show(actual)} does not match /{arg}/")


@operator("not_matches", {"type": "string", "format": "regex"}, "the string value does not match the regex")
def _not_matches(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    ok = isinstance(actual, str) and re.search(arg, actual) is None
    return Outcome(ok, {"not matches": arg}, f"{show(actual)} matches /{arg}/, which is not allowed")


@operator("starts_with", {"type": "string"}, "the string value starts with the argument")
def _starts_with(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    ok = isinstance(actual, str) and actual.startswith(arg)
    return Outcome(ok, {"starts with": arg}, f"{show(actual)} does not start with {show(arg)}")


@operator("exists", {"type": "boolean"}, "the path exists and is not null (true) / does not (false)",
          accepts_missing=True)
def _exists(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    present = actual is not MISSING and actual is not None
    return Outcome(present == bool(arg), "present" if arg else "absent",
                   "is missing" if arg else f"is present ({show(actual)})")


@operator("absent", {"type": "boolean"}, "the path is missing or null", accepts_missing=True)
def _absent(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    return _exists(actual, not arg, ctx)


@operator("length", {"type": "object", "additionalProperties": False, "minProperties": 1,
                     "properties": {"min": {"type": "integer", "minimum": 0},
                                    "max": {"type": "integer", "minimum": 0}}},
          "a list's or string's length is within {min, max}")
def _length(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    if not isinstance(actual, list | str | dict):
        return Outcome(False, arg, f"{show(actual)} has no length")
    n = len(actual)
    ok = arg.get("min", 0) <= n <= arg.get("max", n)
    return Outcome(ok, {"length": arg}, f"length is {n}, expected {arg}")


@operator("secure_url", {"type": "object", "additionalProperties": False,
                         "properties": {"allow_loopback_http": {}}},
          "an https URL (plain http only to a loopback host when allow_loopback_http is true)")
def _secure_url(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    from auditor.config import is_loopback_url

    if not isinstance(actual, str):
        return Outcome(False, "an https URL", f"{show(actual)} is not a URL")
    if actual.startswith("https://"):
        return Outcome(True, "an https URL", "uses https")
    allow = _truthy(arg.get("allow_loopback_http", False))
    if actual.startswith("http://") and allow and is_loopback_url(actual):
        return Outcome(True, "an https URL (loopback http allowed)", "loopback http allowed by config")
    return Outcome(False, "an https URL", f"{show(actual)} is not https")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def parse_time(value: Any) -> datetime:
    """Parse an ISO 8601 timestamp (with Z or offset); naive times are taken as UTC."""
    if not isinstance(value, str):
        raise OperatorError(f"{show(value)} is not a timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise OperatorError(f"{show(value)} is not an ISO 8601 timestamp") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@operator("days_until_at_least", {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
          "the timestamp is at least N days after the evaluation time (certificate expiry)")
def _days_until(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    try:
        days = int(arg)
    except (TypeError, ValueError) as exc:
        raise OperatorError(f"days_until_at_least needs a whole number of days, got {show(arg)}") from exc
    when = parse_time(actual)
    left = (when - ctx.now).total_seconds() / 86400
    if left < 0:
        msg = f"expired {-left:.0f} days ago ({actual})"
    else:
        msg = f"expires in {left:.0f} days ({actual}); at least {days} required"
    return Outcome(left >= days, f"valid for at least {days} days", msg)


@operator("denies", {"type": "object", "additionalProperties": False, "required": ["action", "resource"],
                     "properties": {"action": {"type": "string"}, "resource": {"type": "string"}}},
          "the service control policies in effect deny the action on the resource unconditionally "
          "(never in the organization's management account, which SCPs do not affect)")
def _denies(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    from auditor.evaluate.iam import PolicyDocumentError, evaluate_deny

    if not isinstance(actual, dict) or "policies" not in actual:
        raise OperatorError("denies needs the organizations resource (policy_type_enabled, policies)")
    expected = {"denied": True, "action": arg["action"], "resource": arg["resource"]}
    # "SCPs don't affect users or roles in the management account. They affect only the member
    # accounts in your organization." Whatever the policies say, nothing is denied there.
    # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
    account, management = actual.get("account_id"), actual.get("management_account_id")
    if not management:
        raise OperatorError("the organizations data does not name the organization's management account "
                            "(a snapshot from an older auditor?), so whether SCPs apply to the account is unknown")
    if account == management:
        return Outcome(False, expected,
                       f"account {account} is the organization's management account, and SCPs do not affect "
                       "users or roles in the management account: no SCP can deny this there (move the "
                       "resources to a member account)",
                       {"denied": False, "action": arg["action"], "resource": arg["resource"],
                        "account_id": account, "management_account_id": management})
    if not actual.get("policy_type_enabled", False):
        return Outcome(False, expected,
                       "the SERVICE_CONTROL_POLICY type is not enabled on the root: no SCP is in effect")
    try:
        verdict = evaluate_deny(actual["policies"], arg["action"], arg["resource"])
    except PolicyDocumentError as exc:
        raise OperatorError(str(exc)) from exc
    except ValueError as exc:  # not a concrete action (`iam:Put*`): no single request to judge
        raise OperatorError(f"denies: {exc}") from exc
    summary = {
        "denied": verdict.denied,
        "action": arg["action"],
        "resource": arg["resource"],
        "denying_statements": [_ref(r) for r in verdict.denying],
        "conditional_statements": [_ref(r) for r in verdict.conditional],
        "policies_in_effect": [p.get("name") or p.get("id") for p in actual["policies"]],
    }
    return Outcome(verdict.denied, expected, verdict.explanation, summary)


def _ref(ref: Any) -> dict[str, Any]:
    return {"policy": ref.policy_name or ref.policy_id, "sid": ref.sid, "conditions": ref.conditions}


# A request-time stand-in for a policy variable in `allows`' resource: plain characters only, so
# it cannot be mistaken for a wildcard and no literal ARN in a real policy contains it.
_VARIABLE_IN_REQUEST = re.compile(r"\$\{([^}*?$]+)\}")


@operator("allows", {"type": "object", "additionalProperties": False, "required": ["action", "resource"],
                     "properties": {"action": {"type": "string"}, "resource": {"type": "string"},
                                    "context": {"type": "object", "additionalProperties": {"type": "string"}}}},
          "identity policies (a list of {id, name, content}) allow the action on the resource unconditionally; "
          "a ${variable} in the resource stands for the caller's own value; {context} gives request context "
          "keys whose value is known, so conditions on them are decided")
def _allows(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    """Allow side of the IAM evaluator, explicit denies included.

    A policy variable in the requested resource (`.../user/${aws:userid}`) means "for every
    caller, its own value": the variable gets an opaque value that a policy matches only through
    a wildcard or through the same variable, never through one fixed user's ARN. `context`
    (`{"connect:InstanceId": "<id>"}`) lets a statement conditioned on those keys count as an
    unconditional allow (or deny) when its condition holds for them, and not count when it does
    not: the Connect guide's `Resource: "*"` + `connect:InstanceId` policy.
    """
    from auditor.evaluate.iam import PolicyDocumentError, evaluate_allow

    if not isinstance(actual, list):
        raise OperatorError("allows needs a list of policies ({id, name, content})")
    values = {name: f"auditor-variable-{i}" for i, name in
              enumerate(dict.fromkeys(m.group(1) for m in _VARIABLE_IN_REQUEST.finditer(arg["resource"])))}
    resource = _VARIABLE_IN_REQUEST.sub(lambda m: values[m.group(1)], arg["resource"])
    expected = {"allowed": True, "action": arg["action"], "resource": arg["resource"]}
    try:
        context = {str(k): str(v) for k, v in (arg.get("context") or {}).items()}
        verdict = evaluate_allow(actual, arg["action"], resource, variables=values, context=context)
    except PolicyDocumentError as exc:
        raise OperatorError(str(exc)) from exc
    except ValueError as exc:  # not a concrete action
        raise OperatorError(f"allows: {exc}") from exc
    explanation = verdict.explanation
    for name, token in values.items():
        explanation = explanation.replace(token, "${" + name + "}")
    summary = {
        "allowed": verdict.allowed,
        "action": arg["action"],
        "resource": arg["resource"],
        "allowing_statements": [_ref(r) for r in verdict.allowing],
        "denying_statements": [_ref(r) for r in verdict.denying],
        "conditional_statements": [_ref(r) for r in verdict.conditional],
        "policies": [p.get("name") or p.get("id") for p in actual if isinstance(p, dict)],
    }
    return Outcome(bool(verdict.allowed), expected, explanation, summary)


_PRINCIPAL = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
              "properties": {k: {"type": "string"} for k in ("AWS", "Federated", "Service", "CanonicalUser")}}


@operator("trusts_only", {"type": "object", "additionalProperties": False, "required": ["principal", "action"],
                          "properties": {"principal": _PRINCIPAL, "action": {"type": "string"},
                                         "condition": {"type": "object"},
                                         "aws_signin_audience": {"type": "boolean"}}},
          "a role's trust policy lets exactly {principal} assume the role with {action}, every such grant "
          "carrying {condition} (and, with aws_signin_audience, restricting SAML:aud to AWS sign-in endpoints "
          "in a documented form); any other principal that may assume it is named")
def _trusts_only(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    """For a role's AssumeRolePolicyDocument (a JSON object or text)."""
    from auditor.evaluate.iam import PolicyDocumentError, evaluate_trust

    ((kind, principal),) = arg["principal"].items()
    try:
        verdict = evaluate_trust(actual, kind, principal, arg["action"], arg.get("condition"),
                                 aws_signin_audience=bool(arg.get("aws_signin_audience", False)))
    except PolicyDocumentError as exc:
        raise OperatorError(str(exc)) from exc
    expected: dict[str, Any] = {"only": {kind: principal}, "action": arg["action"],
                                "condition": arg.get("condition", {})}
    if arg.get("aws_signin_audience"):
        expected["SAML:aud"] = "AWS sign-in SAML endpoints only"
    summary = {"may_assume": [g.to_json() for g in verdict.grants]}
    return Outcome(verdict.ok, expected, verdict.explanation, summary)


# --- The Amazon Connect sign-in chain, by what AWS documents (auditor/evaluate/aws_signin.py) ---

_SIGNIN_FORMS = ["https://signin.aws.amazon.com/saml", "https://<region>.signin.aws.amazon.com/saml",
                 "either with /acs/<IdP-ID>", "https://signin.aws.amazon.com/static/saml"]


@operator("aws_signin_endpoint", {"type": "object", "additionalProperties": False,
                                  "dependentRequired": {"accepted_by": ["principal"]},
                                  "properties": {"accepted_by": {}, "principal": {"type": "string"}}},
          "the URL is an AWS sign-in SAML endpoint in a documented form (global or regional); with "
          "{accepted_by: <trust policy>, principal}, a SAML:aud condition of the principal's grant admits it")
def _aws_signin_endpoint(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    """For the ACS URL / Recipient an IdP posts to: AWS maps the Recipient to SAML:aud, so a
    trust policy whose SAML:aud does not admit it refuses the sign-in."""
    from auditor.evaluate.aws_signin import audience_admits, signin_endpoint_problem
    from auditor.evaluate.iam import PolicyDocumentError, describe_conditions, evaluate_trust

    expected: dict[str, Any] = {"one of": _SIGNIN_FORMS}
    problem = signin_endpoint_problem(actual)
    if problem:
        return Outcome(False, expected, problem)
    if "accepted_by" not in arg:
        return Outcome(True, expected, f"{actual} is an AWS sign-in SAML endpoint")
    expected["admitted by"] = f"SAML:aud of {arg['principal']}'s grant"
    try:
        verdict = evaluate_trust(arg["accepted_by"], "Federated", arg["principal"], "sts:AssumeRoleWithSAML")
    except PolicyDocumentError as exc:
        raise OperatorError(f"the trust policy: {exc}") from exc
    grants = [g for g in verdict.grants if (g.principal_type, g.principal) == ("Federated", arg["principal"])
              and "sts:AssumeRoleWithSAML" in g.actions]
    if not grants:
        return Outcome(False, expected, f"the trust policy does not let {arg['principal']} assume the role")
    verdicts = [audience_admits(g.conditions, actual) for g in grants]
    if any(v is True for v in verdicts):
        return Outcome(True, expected, f"{actual} is an AWS sign-in SAML endpoint the trust policy admits")
    if any(v is None for v in verdicts):
        raise OperatorError(f"the trust policy tests SAML:aud with an operator that cannot be judged "
                            f"for {actual}")
    admitted = "; ".join(describe_conditions(g.conditions) or "no condition" for g in grants)
    return Outcome(False, expected, f"AWS sign-in refuses {actual}: the role's trust policy admits only "
                                    f"{admitted} (SAML:aud is the assertion's Recipient)")


@operator("connect_relay_state", {"type": "object", "additionalProperties": False, "required": ["instance_arn"],
                                  "properties": {"instance_arn": {"type": "string"}}},
          "the relay state opens the Amazon Connect instance: https://<instance region>.console.aws.amazon.com"
          "/connect/federate/<instance id>, optionally with a URL-encoded ?destination=",
          satisfying=lambda actual, arg: _relay_state_to_write(actual, arg["instance_arn"]))
def _connect_relay_state(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    """Expected is the value to write (the documented base, the valid query kept), which the
    okta.connect_relay_state remediation sets."""
    from auditor.evaluate.aws_signin import relay_state_problems

    try:
        problems, fixed = relay_state_problems(actual, arg["instance_arn"])
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc
    if problems:
        return Outcome(False, fixed, f"is {show(actual)}, expected {show(fixed)}: " + "; ".join(problems))
    return Outcome(True, fixed, f"{actual} opens the instance")


def _relay_state_to_write(actual: Any, instance_arn: str) -> str:
    from auditor.evaluate.aws_signin import relay_state_problems

    try:
        return relay_state_problems(actual, instance_arn)[1]
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc


@operator("aws_saml_attributes", {"type": "object", "additionalProperties": False,
                                  "required": ["role_arn", "provider_arn"],
                                  "properties": {"role_arn": {"type": "string"}, "provider_arn": {"type": "string"}}},
          "SAML attribute statements AWS sign-in accepts: a Role attribute pairing {role_arn} and {provider_arn} "
          "(either order, other pairs allowed), a RoleSessionName, and SessionDuration 900-43200 if present")
def _aws_saml_attributes(actual: Any, arg: Any, ctx: OpContext) -> Outcome:
    from auditor.evaluate.aws_signin import (
        ROLE_ATTRIBUTE,
        ROLE_SESSION_NAME_ATTRIBUTE,
        SESSION_DURATION_ATTRIBUTE,
        saml_attribute_problems,
    )

    expected = {ROLE_ATTRIBUTE: f"{arg['role_arn']},{arg['provider_arn']} (either order)",
                ROLE_SESSION_NAME_ATTRIBUTE: "present, one value",
                SESSION_DURATION_ATTRIBUTE: "absent, or 900-43200"}
    problems = saml_attribute_problems(actual, arg["role_arn"], arg["provider_arn"])
    return Outcome(not problems, expected, "; ".join(problems) or "AWS sign-in accepts the attributes")
