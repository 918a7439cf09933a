"""What an IAM-language policy *means* for one action on one resource.

Pure logic, standard library only, no I/O. Used to judge whether the service control policies
(SCPs) in effect for an account explicitly deny an action on a resource (``evaluate_deny``), and
whether identity policies allow one (``evaluate_allow``). Policies are judged by meaning, not by
text: ``Action``/``NotAction``, ``Resource``/``NotResource``, wildcards, string-or-list values,
case rules and explicit-deny precedence are all modelled.

What is deliberately *not* modelled:

* Conditions are never evaluated. A statement that carries any condition is reported as
  *conditional*: it does not count as an unconditional deny (or allow), and the explanation names
  the condition so a human can judge it.
* Policy variables (``${aws:PrincipalAccount}`` ...) in a resource pattern are not resolved. They
  may match anything, so a statement that matches only thanks to a variable is treated like a
  conditional one (see ``resource_matches``).
* SCP *implicit* denies (an action that no ``Allow`` statement at some level of the organization
  tree permits) are out of scope: ``evaluate_deny`` reports explicit denies only.

Every rule below cites the AWS documentation page it follows.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from auditor import nesting
from auditor.evaluate.aws_signin import audience_condition_problems

__all__ = [
    "PolicyDocumentError",
    "StatementRef",
    "TrustGrant",
    "TrustVerdict",
    "Verdict",
    "action_matches",
    "describe_conditions",
    "evaluate_allow",
    "evaluate_deny",
    "evaluate_trust",
    "normalize_policy",
    "resource_matches",
    "statement_matches",
]

# Documentation pages the rules follow (cited next to each rule below).
DOC_ACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html"
DOC_NOTACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html"
DOC_RESOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
DOC_NOTRESOURCE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"
)
DOC_EFFECT = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_effect.html"
DOC_VERSION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html"
DOC_VARIABLES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"
DOC_GRAMMAR = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
DOC_EXPLICIT_DENY = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
    "reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html"
)
DOC_SCP_SYNTAX = (
    "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_syntax.html"
)
DOC_PRINCIPAL = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
DOC_NOTPRINCIPAL = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
)
DOC_CONDITION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html"
DOC_SCP_EVALUATION = (
    "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html"
)

ALLOW = "Allow"
DENY = "Deny"

# Version element: only these two values exist; policy variables need 2012-10-17, and a policy
# without Version is processed as 2008-10-17, where "${...}" is literal text.  [DOC_VERSION]
VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
_VERSIONS = (VERSION_2012, VERSION_2008)

# Top-level policy elements and statement elements of the policy grammar.  [DOC_GRAMMAR]
_POLICY_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
        "NotPrincipal",
    }
)


class PolicyDocumentError(ValueError):
    """A policy document is malformed, so what it means cannot be judged.

    Raised instead of silently skipping the bad part: a skipped Deny statement would make an
    account look less protected (or a skipped Allow more restricted) than it is. ``policy_id``
    is set when the error was raised while evaluating a named policy.
    """

    def __init__(self, message: str, policy_id: str | None = None) -> None:
        self.problem = message
        self.policy_id = policy_id
        super().__init__(f"policy {policy_id}: {message}" if policy_id is not None else message)


@dataclass(frozen=True)
class StatementRef:
    """One policy statement that matched the action and resource being judged.

    ``conditions`` is the statement's Condition block as written ({} when it has none);
    ``attached_to`` is the ids of the targets the policy is attached to, passed through from the
    input. ``index`` is the statement's 1-based position in its policy (for statements without a
    Sid) and ``notes`` says why a statement is conditional besides its Condition block (e.g. a
    policy variable in its resource pattern).
    """

    policy_id: str
    policy_name: str
    sid: str | None
    effect: str
    conditions: dict[str, Any]
    attached_to: tuple[str, ...]
    index: int = 0
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The statement named for a human: 'policy p-1 "name", statement Sid'."""
        stmt = f"statement {self.sid}" if self.sid else f"statement #{self.index}"
        name = f' "{self.policy_name}"' if self.policy_name else ""
        return f"policy {self.policy_id}{name}, {stmt}"

    @property
    def is_conditional(self) -> bool:
        """True when the statement applies only under a condition or an unresolved variable."""
        return _has_conditions(self.conditions) or bool(self.notes)


@dataclass(frozen=True)
class Verdict:
    """The judgement for one action on one resource.

    ``denied`` is True only when some Deny statement matches *unconditionally*; those statements
    are in ``denying``. Matching statements that carry a Condition (or match only through a
    policy variable) are in ``conditional`` and never make ``denied`` (or ``allowed``) True.
    ``allowed``/``allowing`` are set by ``evaluate_allow`` only (``None``/empty from
    ``evaluate_deny``, which does not judge allows).
    """

    action: str
    resource: str
    denied: bool
    denying: tuple[StatementRef, ...]
    conditional: tuple[StatementRef, ...]
    explanation: str
    allowed: bool | None = None
    allowing: tuple[StatementRef, ...] = ()


# ---------------------------------------------------------------------------------------------
# Pattern matching


class _Match(enum.Enum):
    """Tri-state outcome of matching a pattern whose policy variables cannot be resolved."""

    NO = 0
    YES = 1
    MAYBE = 2  # matches only if the policy variable(s) resolve suitably at request time


def _glob_to_regex(glob: str, *, any_char: str = ".") -> str:
    """Translate an IAM glob: '*' any run of characters, '?' exactly one character.

    ``any_char`` is the regex for "one character" (``[^:]`` to keep a match inside a segment).
    """
    out = []
    for ch in glob:
        if ch == "*":
            out.append(f"{any_char}*")
        elif ch == "?":
            out.append(any_char)
        else:
            out.append(re.escape(ch))
    return "".join(out)


@lru_cache(maxsize=1024)
def _action_regex(pattern: str) -> re.Pattern[str] | None:
    if pattern == "*":
        return re.compile(".*", re.DOTALL)
    service, sep, name = pattern.partition(":")
    if not sep or not service or not name:
        return None
    # The service prefix is globbed on its own (its wildcards cannot swallow the ':'), so the
    # service prefix always has to match: "iam:Delete*" never covers "connect:DeleteInstance".
    return re.compile(
        f"{_glob_to_regex(service, any_char='[^:]')}:{_glob_to_regex(name)}",
        re.IGNORECASE | re.DOTALL,
    )


def action_matches(pattern: str, action: str) -> bool:
    """Whether an Action/NotAction pattern covers ``action`` (e.g. ``iam:DeleteRole``).

    The service prefix and the action name are case insensitive ("iam:ListAccessKeys is the same
    as IAM:listaccesskeys") and both may use the wildcards '*' (any run of characters) and '?'
    (one character) [DOC_ACTION]. ``"*"`` alone matches every action. The service prefix must
    match: ``iam:Delete*`` does not cover ``connect:DeleteInstance``. A pattern without a
    ``service:`` prefix (other than ``"*"``) is not a valid action and matches nothing.
    """
    regex = _action_regex(pattern)
    return regex is not None and regex.fullmatch(action) is not None


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# Escapes for characters that are otherwise special in a policy: ${*} ${?} ${$}.  [DOC_VARIABLES]
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@lru_cache(maxsize=1024)
def _resource_regex(pattern: str, policy_variables: bool) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """Compile a Resource pattern; return the regex and the policy variables it contains.

    Wildcards follow [DOC_RESOURCE] "Using wildcards in resource ARNs": '*' and '?' may be used
    within the colon-separated segments of an ARN; '*' stands for any combination of characters
    *within its segment* (including '/'), and when '*' is the last character of a segment
    (followed by ':' or the end of the pattern) "it can expand to match beyond the colon
    boundaries". A '*' in the middle of a segment therefore never crosses a ':' here. This is
    the narrower reading of the doc, chosen on purpose: for a deny audit, over-matching would
    report protection that does not exist. '?' stands for any single character.
    Matching is case sensitive (e.g. "the IAM user name is case sensitive") [DOC_RESOURCE].
    """
    out: list[str] = []
    variables: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if policy_variables and ch == "$":
            m = _VARIABLE.match(pattern, i)
            if m is not None:
                inner = m.group(1)
                if inner in _ESCAPES:
                    out.append(re.escape(_ESCAPES[inner]))
                else:
                    # A variable is replaced at request time by a value we do not know: treat it
                    # as "could be anything" and remember it so the match is only a MAYBE.
                    variables.append(m.group(0))
                    out.append(".*")
                i = m.end()
                continue
        if ch == "*":
            at_segment_end = i + 1 == n or pattern[i + 1] == ":"
            out.append(".*" if at_segment_end else "[^:]*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL), tuple(variables)


def _substitute(pattern: str, values: Mapping[str, str]) -> str:
    """Resolve the policy variables whose request-time value the caller knows.

    Variable names are matched case-insensitively, like the condition keys they name ("Condition
    key names are not case-sensitive")  [DOC_CONDITION]. Unknown variables stay in place.
    """
    lowered = {k.lower(): v for k, v in values.items()}

    def repl(m: re.Match[str]) -> str:
        return lowered.get(m.group(1).lower(), m.group(0))
    return _VARIABLE.sub(repl, pattern)


def _resource_match(pattern: str, arn: str, policy_variables: bool = True,
                    values: Mapping[str, str] | None = None) -> tuple[_Match, tuple[str, ...]]:
    if pattern == "*":
        return _Match.YES, ()
    if values and policy_variables:
        pattern = _substitute(pattern, values)
    regex, variables = _resource_regex(pattern, policy_variables)
    if regex.fullmatch(arn) is None:
        return _Match.NO, ()
    if variables:
        return _Match.MAYBE, variables
    return _Match.YES, ()


def resource_matches(pattern: str, arn: str, *, policy_variables: bool = True) -> bool:
    """Whether a Resource/NotResource pattern covers ``arn``.

    Case sensitive; ``"*"`` matches every resource; '*' and '?' wildcards as described in
    ``_resource_regex`` [DOC_RESOURCE].

    Policy variables: in a policy with ``Version`` 2012-10-17 (``policy_variables=True``), a
    ``${...}`` placeholder is resolved by AWS at request time [DOC_VARIABLES]. We cannot know its
    value, so this function treats it as matching anything (it returns True if the pattern
    *could* match). The evaluators go further and flag such a match: a statement that applies
    only thanks to a variable lands in ``Verdict.conditional``, never in ``denying``. The escapes
    ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters. With
    ``policy_variables=False`` (Version 2008-10-17 or no Version) ``${...}`` is literal text
    [DOC_VERSION].
    """
    return _resource_match(pattern, arn, policy_variables)[0] is not _Match.NO


# ---------------------------------------------------------------------------------------------
# Normalizing documents


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise PolicyDocumentError(f"duplicate key {key!r} in the JSON document")
        seen[key] = value
    return seen


def _string_list(value: Any, element: str, where: str) -> list[str]:
    """An element that is "a string or a list of strings" [DOC_GRAMMAR], as a non-empty list."""
    if isinstance(value, str):
        values = [value]
    elif isinstance(value, list):
        values = value
    else:
        raise PolicyDocumentError(f"{where}: {element} must be a string or a list of strings")
    if not values:
        raise PolicyDocumentError(f"{where}: {element} is empty")
    for v in values:
        if not isinstance(v, str) or not v:
            raise PolicyDocumentError(f"{where}: {element} contains {v!r}, not a non-empty string")
    return list(values)


def _check_actions(actions: list[str], element: str, where: str) -> None:
    # "service-prefix:action-name", or "*" alone.  [DOC_ACTION]
    for a in actions:
        service, sep, name = a.partition(":")
        if a != "*" and (not sep or not service or not name or ":" in name):
            raise PolicyDocumentError(
                f"{where}: {element} value {a!r} is not of the form 'service:action' (or '*')"
            )


def _check_resources(resources: list[str], element: str, where: str) -> None:
    # A resource is specified by an ARN, or "*" for all resources.  [DOC_RESOURCE]
    for r in resources:
        if r != "*" and not r.startswith("arn:"):
            raise PolicyDocumentError(f"{where}: {element} value {r!r} is neither an ARN nor '*'")


def _check_condition(condition: Any, where: str) -> dict[str, Any]:
    # Condition: {operator: {key: value-or-list}}.  [DOC_GRAMMAR]
    if not isinstance(condition, dict):
        raise PolicyDocumentError(f"{where}: Condition must be an object")
    for operator, block in condition.items():
        if not isinstance(block, dict):
            raise PolicyDocumentError(f"{where}: Condition operator {operator!r} must map keys to values")
        for key, value in block.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if not isinstance(v, (str, bool, int, float)):
                    raise PolicyDocumentError(
                        f"{where}: Condition {operator} {key} has a value of unsupported type "
                        f"{type(v).__name__}"
                    )
    return condition


def _normalize_statement(stmt: Any, where: str, *, require_resource: bool) -> dict[str, Any]:
    """Validate one statement and return it with list-valued elements and a Condition dict."""
    if not isinstance(stmt, Mapping):
        raise PolicyDocumentError(f"{where} is not an object")
    unknown = sorted(set(stmt) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyDocumentError(f"{where}: unknown element(s) {', '.join(unknown)}")
    # Principal/NotPrincipal belong to resource-based policies; SCPs and identity policies do
    # not support them, and ignoring one would change the statement's meaning.  [DOC_SCP_SYNTAX]
    for key in ("Principal", "NotPrincipal"):
        if key in stmt:
            raise PolicyDocumentError(f"{where}: {key} is not supported in SCPs or identity policies")

    sid = stmt.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyDocumentError(f"{where}: Sid must be a string")
    if sid:
        where = f"{where} ({sid})"

    # Effect is required, "Allow" or "Deny", and case sensitive.  [DOC_EFFECT]
    effect = stmt.get("Effect")
    if effect not in (ALLOW, DENY):
        raise PolicyDocumentError(
            f"{where}: Effect must be 'Allow' or 'Deny' (case sensitive), not {effect!r}"
        )

    out: dict[str, Any] = {"Sid": sid, "Effect": effect}

    # Exactly one of Action / NotAction.  [DOC_ACTION] [DOC_NOTACTION]
    has_action, has_not_action = "Action" in stmt, "NotAction" in stmt
    if has_action and has_not_action:
        raise PolicyDocumentError(f"{where}: has both Action and NotAction")
    if not has_action and not has_not_action:
        raise PolicyDocumentError(f"{where}: has neither Action nor NotAction")
    action_key = "Action" if has_action else "NotAction"
    actions = _string_list(stmt[action_key], action_key, where)
    _check_actions(actions, action_key, where)
    out[action_key] = actions

    # At most one of Resource / NotResource.  [DOC_RESOURCE] [DOC_NOTRESOURCE]
    has_resource, has_not_resource = "Resource" in stmt, "NotResource" in stmt
    if has_resource and has_not_resource:
        raise PolicyDocumentError(f"{where}: has both Resource and NotResource")
    if has_resource or has_not_resource:
        resource_key = "Resource" if has_resource else "NotResource"
        resources = _string_list(stmt[resource_key], resource_key, where)
        _check_resources(resources, resource_key, where)
        out[resource_key] = resources
    elif require_resource:
        # Identity policies: "Statements must include either a Resource or a NotResource
        # element."  [DOC_RESOURCE]
        raise PolicyDocumentError(f"{where}: has neither Resource nor NotResource")
    else:
        # SCPs: the SCP syntax page states only one per-statement requirement ("each statement
        # must contain" Action, or NotAction in Deny statements) and, unlike the IAM Resource
        # page, does not require Resource/NotResource [DOC_SCP_SYNTAX]. The page does not say
        # what an omitted Resource means; we read it as "*" (all resources). Organizations only
        # stores SCPs it accepted, so such a statement exists only if AWS took it as valid.
        out["Resource"] = ["*"]

    condition = stmt.get("Condition", {})
    out["Condition"] = _check_condition(condition, where) if condition is not None else {}
    return out


def normalize_policy(content: str | Mapping[str, Any], *, require_resource: bool = False) -> dict[str, Any]:
    """Parse and validate a policy document; return it in a regular shape.

    ``content`` is the JSON text (as returned by Organizations ``DescribePolicy``) or an already
    parsed object. The result has ``Version`` (``None`` if absent), ``Statement`` as a list (a
    single statement object is accepted [DOC_GRAMMAR]) and each statement with ``Sid`` (or None),
    ``Effect``, one of ``Action``/``NotAction`` and one of ``Resource``/``NotResource`` as lists of
    strings, and ``Condition`` as a dict ({} when absent). A statement without Resource and
    NotResource gets ``Resource: ["*"]`` unless ``require_resource`` is set (identity policies).

    Raises ``PolicyDocumentError`` for anything malformed: not JSON, duplicate JSON keys, not an
    object, unknown or missing Version, missing or empty Statement, bad Effect, both or neither
    of Action/NotAction, both Resource and NotResource, malformed values, Principal elements.
    """
    if isinstance(content, (bytes, bytearray)):
        content = content.decode("utf-8", errors="replace")
    if isinstance(content, str):
        try:
            doc: Any = nesting.loads(content, nesting.MAX_POLICY_DEPTH, object_pairs_hook=_reject_duplicate_keys)
        except nesting.NestingTooDeep as exc:
            raise PolicyDocumentError(f"the document's {exc}: too deep to judge") from None
        except json.JSONDecodeError as exc:
            raise PolicyDocumentError(
                f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
    else:
        doc = content
        # Every step below walks one level at a time, but the message and report code that show
        # a document must not meet one Python cannot print (see auditor.nesting).
        if nesting.exceeds_depth(doc, nesting.MAX_POLICY_DEPTH):
            raise PolicyDocumentError(
                f"the document's {nesting.NestingTooDeep(nesting.MAX_POLICY_DEPTH)}: too deep to judge")
    if not isinstance(doc, Mapping):
        raise PolicyDocumentError("the policy document is not a JSON object")
    unknown = sorted(set(doc) - _POLICY_KEYS)
    if unknown:
        raise PolicyDocumentError(f"unknown top-level element(s) {', '.join(unknown)}")

    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise PolicyDocumentError(f"unsupported Version {version!r} (expected {VERSION_2012!r})")

    if "Statement" not in doc:
        raise PolicyDocumentError("no Statement element")
    raw = doc["Statement"]
    statements: Sequence[Any]
    if isinstance(raw, Mapping):
        statements = [raw]
    elif isinstance(raw, list):
        statements = raw
    else:
        raise PolicyDocumentError("Statement must be an object or a list of objects")
    if not statements:
        raise PolicyDocumentError("Statement is empty")

    out: dict[str, Any] = {
        "Version": version,
        "Statement": [
            _normalize_statement(s, f"statement #{i}", require_resource=require_resource)
            for i, s in enumerate(statements, start=1)
        ],
    }
    if "Id" in doc:
        out["Id"] = doc["Id"]
    return out


# ---------------------------------------------------------------------------------------------
# Statement matching


@dataclass(frozen=True)
class _StatementMatch:
    action: bool
    resource: _Match
    variables: tuple[str, ...]

    @property
    def applies(self) -> bool:
        return self.action and self.resource is not _Match.NO


def _match_statement(
    stmt: Mapping[str, Any], action: str, resource: str, policy_variables: bool,
    values: Mapping[str, str] | None = None,
) -> _StatementMatch:
    """Match a *normalized* statement (see ``_normalize_statement``)."""
    variables: tuple[str, ...]
    if "Action" in stmt:
        action_ok = any(action_matches(p, action) for p in stmt["Action"])
    else:
        # NotAction "explicitly matches everything except the specified list of actions": a
        # Deny with NotAction denies every action not listed.  [DOC_NOTACTION]
        action_ok = not any(action_matches(p, action) for p in stmt["NotAction"])

    if "Resource" in stmt:
        results = [_resource_match(p, resource, policy_variables, values) for p in stmt["Resource"]]
        if any(m is _Match.YES for m, _ in results):
            res, variables = _Match.YES, ()
        elif any(m is _Match.MAYBE for m, _ in results):
            res = _Match.MAYBE
            variables = tuple(v for m, vs in results if m is _Match.MAYBE for v in vs)
        else:
            res, variables = _Match.NO, ()
    else:
        # NotResource matches every resource except the listed ones.  [DOC_NOTRESOURCE]
        results = [_resource_match(p, resource, policy_variables, values) for p in stmt["NotResource"]]
        if any(m is _Match.YES for m, _ in results):
            res, variables = _Match.NO, ()
        elif any(m is _Match.MAYBE for m, _ in results):
            # Excluded only if the variable resolves to match: applicability is uncertain.
            res = _Match.MAYBE
            variables = tuple(v for m, vs in results if m is _Match.MAYBE for v in vs)
        else:
            res, variables = _Match.YES, ()
    return _StatementMatch(action_ok, res, variables)


def statement_matches(
    stmt: Mapping[str, Any], action: str, resource: str, *, policy_variables: bool = True
) -> bool:
    """Whether one statement covers ``action`` on ``resource`` (ignoring Effect and Condition).

    Handles Action/NotAction [DOC_NOTACTION], Resource/NotResource [DOC_NOTRESOURCE], string or
    list values, and a statement without Resource/NotResource, which in an SCP means "*"
    [DOC_SCP_SYNTAX]. Returns True when the statement *could* apply, including matches that
    depend on an unresolved policy variable (see ``resource_matches``). Raises
    ``PolicyDocumentError`` if the statement is malformed.
    """
    normalized = _normalize_statement(stmt, "statement", require_resource=False)
    return _match_statement(normalized, action, resource, policy_variables).applies


# ---------------------------------------------------------------------------------------------
# Evaluation


def _has_conditions(condition: Mapping[str, Any]) -> bool:
    return any(isinstance(block, Mapping) and len(block) > 0 for block in condition.values())


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_conditions(condition: Mapping[str, Any]) -> str:
    """A Condition block in words: 'aws:PrincipalArn StringNotLike arn:... and ...'.

    Several values for one key are alternatives ("or"); several keys or operators must all hold
    ("and").
    """
    parts: list[str] = []
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            values = value if isinstance(value, list) else [value]
            parts.append(f"{key} {operator} {' or '.join(_format_value(v) for v in values)}")
    return " and ".join(parts)


def _describe_when(ref: StatementRef) -> str:
    """The circumstances under which a conditional statement applies, in words."""
    parts = []
    if _has_conditions(ref.conditions):
        parts.append(describe_conditions(ref.conditions))
    parts.extend(ref.notes)
    return " and ".join(parts)


def _target_ids(targets: Any) -> tuple[str, ...]:
    if targets is None:
        return ()
    if isinstance(targets, (str, Mapping)):
        targets = [targets]
    ids = []
    for t in targets:
        if isinstance(t, Mapping):
            ids.append(str(t.get("TargetId") or t.get("id") or t.get("Id") or ""))
        else:
            ids.append(str(t))
    return tuple(ids)


def _check_request(action: str, resource: str) -> None:
    service, sep, name = action.partition(":") if isinstance(action, str) else ("", "", "")
    if not sep or not service or not name or "*" in action or "?" in action:
        raise ValueError(f"action must be a concrete 'service:Action' name, not {action!r}")
    if not isinstance(resource, str) or not resource:
        raise ValueError("resource must be a non-empty ARN (or '*')")


# String condition operators evaluated against a known request context (the rest stay unknown).
# "...IfExists" and the set operators on a present, single-valued key test like the plain
# operator.  [DOC_CONDITION]
_STRING_TESTS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                 "StringLike", "StringNotLike")


def _string_test(base: str, wanted: Sequence[str], actual: str) -> bool:
    negate = "Not" in base
    base = base.replace("Not", "", 1)
    if base == "StringEquals":
        ok = actual in wanted
    elif base == "StringEqualsIgnoreCase":
        ok = actual.lower() in (w.lower() for w in wanted)
    else:  # StringLike: '*' and '?' wildcards, case-sensitive
        ok = any(re.fullmatch(_glob_to_regex(w), actual, re.DOTALL) for w in wanted)
    return ok != negate


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    """Whether a Condition block holds for a request whose context keys are ``context``.

    Every operator and key must hold (AND); several values of one key are alternatives (OR)
    [DOC_CONDITION]. True/False when every test reads a known key with a string operator;
    None when any test cannot be decided (unknown key or operator) and no test is known False.
    Key names are not case-sensitive [DOC_CONDITION].
    """
    if not _has_conditions(condition):
        return True
    known = {k.lower(): v for k, v in context.items()}
    result: bool | None = True
    for operator, block in condition.items():
        _, _, base = str(operator).rpartition(":")
        base = base[: -len("IfExists")] if base.endswith("IfExists") else base
        for key, value in block.items():
            actual = known.get(str(key).lower())
            wanted = [_format_value(v) for v in (value if isinstance(value, list) else [value])]
            if actual is None or base not in _STRING_TESTS or any("${" in w for w in wanted):
                result = None
                continue
            if not _string_test(base, wanted, actual):
                return False
    return result


@dataclass(frozen=True)
class _Hit:
    ref: StatementRef
    conditional: bool


@dataclass
class _Scan:
    hits: list[_Hit]
    policies: int
    statements_by_effect: dict[str, int]
    near_misses: dict[str, list[tuple[StatementRef, str]]]


def _scan(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, *, require_resource: bool,
    values: Mapping[str, str] | None = None, context: Mapping[str, str] | None = None,
) -> _Scan:
    """Match every statement of every policy; raise PolicyDocumentError naming a bad policy."""
    _check_request(action, resource)
    scan = _Scan(
        hits=[], policies=0, statements_by_effect={ALLOW: 0, DENY: 0}, near_misses={ALLOW: [], DENY: []}
    )
    for position, policy in enumerate(policies, start=1):
        scan.policies += 1
        if not isinstance(policy, Mapping):
            raise PolicyDocumentError("not a policy object", policy_id=f"#{position}")
        policy_id = str(policy.get("id") or f"#{position}")
        policy_name = str(policy.get("name") or "")
        if "content" not in policy or policy["content"] is None:
            raise PolicyDocumentError("no policy content", policy_id=policy_id)
        try:
            doc = normalize_policy(policy["content"], require_resource=require_resource)
        except PolicyDocumentError as exc:
            raise PolicyDocumentError(exc.problem, policy_id=policy_id) from exc
        variables_on = doc["Version"] == VERSION_2012  # [DOC_VERSION]
        attached = _target_ids(policy.get("targets"))
        for index, stmt in enumerate(doc["Statement"], start=1):
            effect = stmt["Effect"]
            scan.statements_by_effect[effect] += 1
            match = _match_statement(stmt, action, resource, variables_on, values)
            notes = tuple(
                f"the policy variable {v} in the resource pattern resolves to match" for v in match.variables
            )
            ref = StatementRef(
                policy_id=policy_id,
                policy_name=policy_name,
                sid=stmt["Sid"],
                effect=effect,
                conditions=dict(stmt["Condition"]),
                attached_to=attached,
                index=index,
                notes=notes,
            )
            holds = _condition_holds(stmt["Condition"], context) if context else None
            if match.applies and holds is False:
                scan.near_misses[effect].append((ref, f"the action and the resource, but its condition "
                                            f"({describe_conditions(ref.conditions)}) does not hold"))
            elif match.applies:
                # A Condition that holds for the known request context is no condition at all.
                conditional = bool(ref.notes) if holds else ref.is_conditional
                scan.hits.append(_Hit(ref, conditional=conditional))
            elif match.action:
                scan.near_misses[effect].append((ref, "the action but not the resource"))
            elif match.resource is not _Match.NO:
                scan.near_misses[effect].append((ref, "the resource but not the action"))
    return scan


def _join_labels(refs: Sequence[StatementRef]) -> str:
    labels = [r.label for r in refs]
    if len(labels) <= 2:
        return " and ".join(labels)
    return ", ".join(labels[:-1]) + ", and " + labels[-1]


def _conditional_clause(refs: Sequence[StatementRef]) -> str:
    return "; or when ".join(f"{_describe_when(r)} ({r.label})" for r in refs)


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _nothing_matches(scan: _Scan, effect: str) -> str:
    count = scan.statements_by_effect[effect]
    if scan.policies == 0:
        return "no policies were given"
    if count == 0:
        verb = "contains" if scan.policies == 1 else "contain"
        return f"the {_plural(scan.policies, 'policy')} given {verb} no {effect} statement"
    statements = _plural(count, f"{effect} statement")
    text = f"none of the {statements} in {_plural(scan.policies, 'policy')} matches"
    misses = scan.near_misses[effect][:3]
    if misses:
        text += " (" + "; ".join(f"{r.label} covers {what}" for r, what in misses) + ")"
    return text


def evaluate_deny(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> Verdict:
    """Whether the given SCPs explicitly deny ``action`` on ``resource``.

    ``policies`` are ``{"id", "name", "content", "targets"}`` mappings; every policy given is
    taken to be in effect (the caller restricts to SCPs attached to the account, its OUs or the
    root). Only Deny statements count: an Allow statement in an SCP never denies anything, and an
    explicit deny in any policy wins [DOC_SCP_EVALUATION] [DOC_EXPLICIT_DENY]. So the managed
    ``FullAWSAccess`` SCP (Allow * on *) denies nothing.

    ``denied`` is True iff some matching Deny statement has no Condition (and matches without
    relying on a policy variable). Matching Deny statements with a Condition are listed in
    ``conditional`` and named in the explanation.

    Raises ``PolicyDocumentError`` (with ``policy_id`` set) if any policy is malformed, and
    ``ValueError`` if ``action`` is not a concrete ``service:Action`` name.
    """
    scan = _scan(policies, action, resource, require_resource=False)
    denies = [h for h in scan.hits if h.ref.effect == DENY]
    denying = tuple(h.ref for h in denies if not h.conditional)
    conditional = tuple(h.ref for h in denies if h.conditional)
    subject = f"{action} on {resource}"
    if denying:
        explanation = f"{subject} is denied by {_join_labels(denying)}"
        if conditional:
            explanation += f"; also denied when {_conditional_clause(conditional)}"
    elif conditional:
        explanation = f"{subject} is denied only when {_conditional_clause(conditional)}"
    else:
        explanation = f"Nothing denies {subject}: {_nothing_matches(scan, DENY)}"
    return Verdict(
        action=action,
        resource=resource,
        denied=bool(denying),
        denying=denying,
        conditional=conditional,
        explanation=explanation + ".",
    )


def evaluate_allow(policies: Iterable[Mapping[str, Any]], action: str, resource: str, *,
                   variables: Mapping[str, str] | None = None,
                   context: Mapping[str, str] | None = None) -> Verdict:
    """Whether the given identity policies allow ``action`` on ``resource``.

    Same input and structure as ``evaluate_deny``. ``allowed`` is True iff some Allow statement
    matches unconditionally and no Deny statement matches unconditionally: an explicit deny
    overrides any allow, and without a matching Allow the request is implicitly denied
    [DOC_EXPLICIT_DENY]. ``denied``/``denying`` report unconditional explicit denies,
    ``allowing`` the unconditional allows, and ``conditional`` every matching statement (Allow or
    Deny, see ``StatementRef.effect``) that carries a Condition. Identity policy statements must
    have Resource or NotResource [DOC_RESOURCE]; one without is a ``PolicyDocumentError``.

    ``variables`` gives request-time values of policy variables (``{"aws:userid": "..."}``): a
    resource pattern using one of them is resolved with that value and matches for certain,
    where an unresolved variable would only make the statement conditional [DOC_VARIABLES].

    ``context`` gives request context keys whose value is known (``{"connect:InstanceId":
    "..."}``): a statement whose Condition tests only such keys with string operators is decided
    (it applies unconditionally, or not at all) instead of being reported as conditional
    [DOC_CONDITION].
    """
    scan = _scan(policies, action, resource, require_resource=True, values=variables, context=context)
    denying = tuple(h.ref for h in scan.hits if h.ref.effect == DENY and not h.conditional)
    allowing = tuple(h.ref for h in scan.hits if h.ref.effect == ALLOW and not h.conditional)
    conditional = tuple(h.ref for h in scan.hits if h.conditional)
    cond_denies = [r for r in conditional if r.effect == DENY]
    cond_allows = [r for r in conditional if r.effect == ALLOW]
    allowed = bool(allowing) and not denying
    subject = f"{action} on {resource}"
    if denying:
        explanation = f"{subject} is explicitly denied by {_join_labels(denying)}"
        if allowing:
            explanation += f", which overrides the allow in {_join_labels(allowing)}"
    elif allowing:
        explanation = f"{subject} is allowed by {_join_labels(allowing)}"
        if cond_denies:
            explanation += f", except that it is denied when {_conditional_clause(cond_denies)}"
    elif cond_allows:
        explanation = f"{subject} is allowed only when {_conditional_clause(cond_allows)}"
        if cond_denies:
            explanation += f", and denied when {_conditional_clause(cond_denies)}"
    else:
        explanation = f"{subject} is not allowed (implicit deny): {_nothing_matches(scan, ALLOW)}"
    return Verdict(
        action=action,
        resource=resource,
        denied=bool(denying),
        denying=denying,
        conditional=conditional,
        explanation=explanation + ".",
        allowed=allowed,
        allowing=allowing,
    )


# ---------------------------------------------------------------------------------------------
# Trust policies (a role's resource-based policy: who may assume it)

# The STS actions that assume a role; sts:TagSession and sts:SetSourceIdentity only accompany one.
ASSUME_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")


@dataclass(frozen=True)
class TrustGrant:
    """One principal an Allow statement of a trust policy lets assume the role.

    ``principal_type`` is the Principal key (``AWS``, ``Federated``, ``Service``,
    ``CanonicalUser``), ``"*"`` for ``"Principal": "*"`` or ``NotPrincipal`` for an Allow with
    NotPrincipal (everyone except ``principal``).
    """

    principal_type: str
    principal: str
    actions: tuple[str, ...]
    conditions: dict[str, Any]
    sid: str | None
    index: int

    @property
    def label(self) -> str:
        """The statement, for a human."""
        return f"statement {self.sid}" if self.sid else f"statement #{self.index}"

    def describe(self) -> str:
        """'AWS arn:aws:iam::123456789012:root (statement #2: sts:AssumeRole, when ...)'."""
        who = "anyone" if self.principal_type == "*" else (
            f"everyone except {self.principal}" if self.principal_type == "NotPrincipal"
            else f"{self.principal_type} {self.principal}")
        when = f", only when {describe_conditions(self.conditions)}" if _has_conditions(self.conditions) else ""
        return f"{who} ({self.label}: {', '.join(self.actions)}{when})"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (for a finding's `actual`)."""
        return {"principal_type": self.principal_type, "principal": self.principal, "actions": list(self.actions),
                "conditions": self.conditions, "statement": self.sid or f"#{self.index}"}


@dataclass(frozen=True)
class TrustVerdict:
    """Whether a trust policy lets exactly one principal assume the role, under a condition."""

    ok: bool
    grants: tuple[TrustGrant, ...]
    problems: tuple[str, ...]
    explanation: str


def _principals(value: Any, where: str) -> list[tuple[str, str]]:
    # "Principal": "*" or {"AWS"|"Federated"|"Service"|"CanonicalUser": value-or-list}  [DOC_PRINCIPAL]
    if value == "*":
        return [("*", "*")]
    if not isinstance(value, Mapping):
        raise PolicyDocumentError(f"{where}: Principal must be \"*\" or an object")
    out: list[tuple[str, str]] = []
    for kind, ids in value.items():
        for ident in _string_list(ids, f"Principal.{kind}", where):
            out.append(("*", "*") if ident == "*" and kind == "AWS" else (str(kind), ident))
    return out


def _condition_values(condition: Mapping[str, Any], operator: str, key: str) -> set[str] | None:
    block = condition.get(operator)
    if not isinstance(block, Mapping):
        return None
    for k, v in block.items():
        if k.lower() == key.lower():  # condition key names are not case-sensitive  [DOC_CONDITION]
            return {_format_value(x) for x in (v if isinstance(v, list) else [v])}
    return None


def _aud_values(condition: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [(op, [_format_value(v) for v in (vals if isinstance(vals, list) else [vals])])
            for op, block in condition.items() if isinstance(block, Mapping)
            for key, vals in block.items() if str(key).lower() == "saml:aud" and "Not" not in op]


def evaluate_trust(document: str | Mapping[str, Any], principal_type: str, principal: str, action: str,
                   condition: Mapping[str, Any] | None = None, *, aws_signin_audience: bool = False) -> TrustVerdict:
    """Whether a role's trust policy lets *exactly* ``principal`` assume the role.

    Holds when (1) some Allow statement lets the principal call ``action`` (wildcards and
    NotAction as in [DOC_ACTION] [DOC_NOTACTION]); (2) every Allow statement that lets it assume
    the role carries each ``condition`` key (operator as written, key case-insensitive) with
    exactly the expected values -- one statement without it would make the condition moot;
    (3) no unconditional Deny statement takes that right away [DOC_EXPLICIT_DENY]; and (4) no
    other principal may assume the role by any of ``ASSUME_ACTIONS``: each one is named, with
    its statement and conditions. An Allow with NotPrincipal trusts everyone not listed
    [DOC_NOTPRINCIPAL], so it counts as another principal.

    With ``aws_signin_audience``, every grant of (2) must also restrict ``SAML:aud`` to AWS
    sign-in SAML endpoints in one of the documented forms (see
    ``aws_signin.audience_condition_problems``).

    Raises ``PolicyDocumentError`` for a document that is not a policy.
    """
    condition = dict(condition or {})
    if isinstance(document, (str, bytes, bytearray)):
        try:
            document = json.loads(document)
        except ValueError:
            raise PolicyDocumentError("the trust policy is not valid JSON") from None
    if not isinstance(document, Mapping) or "Statement" not in document:
        raise PolicyDocumentError("the trust policy is not a policy document (no Statement)")
    raw = document["Statement"]
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list):
        raise PolicyDocumentError("the trust policy's Statement must be an object or a list")
    grants: list[TrustGrant] = []
    denials: list[str] = []
    for index, stmt in enumerate(statements, start=1):
        where = f"statement #{index}"
        if not isinstance(stmt, Mapping):
            raise PolicyDocumentError(f"{where} is not an object")
        effect = stmt.get("Effect")
        if effect not in (ALLOW, DENY):
            raise PolicyDocumentError(f"{where}: Effect must be 'Allow' or 'Deny', not {effect!r}")
        if "Action" in stmt:
            patterns = _string_list(stmt["Action"], "Action", where)
            actions = tuple(a for a in ASSUME_ACTIONS if any(action_matches(p, a) for p in patterns))
        elif "NotAction" in stmt:
            patterns = _string_list(stmt["NotAction"], "NotAction", where)
            actions = tuple(a for a in ASSUME_ACTIONS if not any(action_matches(p, a) for p in patterns))
        else:
            raise PolicyDocumentError(f"{where}: has neither Action nor NotAction")
        if not actions:
            continue
        conditions = _check_condition(stmt.get("Condition") or {}, where)
        sid = stmt.get("Sid") if isinstance(stmt.get("Sid"), str) else None
        if "NotPrincipal" in stmt:
            excluded = ", ".join(f"{k} {v}" for k, v in _principals(stmt["NotPrincipal"], where))
            who = [("NotPrincipal", excluded)]
        elif "Principal" in stmt:
            who = _principals(stmt["Principal"], where)
        else:
            raise PolicyDocumentError(f"{where}: a trust policy statement needs Principal or NotPrincipal")
        if effect == DENY:
            covers = any(t == "*" or (t, v) == (principal_type, principal) for t, v in who)
            if covers and action in actions and not _has_conditions(conditions):
                denials.append(f"{sid or where} denies {principal_type} {principal} {action}")
            continue
        grants += [TrustGrant(t, v, actions, dict(conditions), sid, index) for t, v in who]

    expected = [g for g in grants if (g.principal_type, g.principal) == (principal_type, principal)
                and action in g.actions]
    others = [g for g in grants if (g.principal_type, g.principal) != (principal_type, principal)]
    problems: list[str] = []
    if not expected:
        problems.append(f"no statement lets {principal_type} {principal} call {action}")
    for g in expected:
        for op, block in condition.items():
            for key, want in block.items():
                wanted = {_format_value(x) for x in (want if isinstance(want, list) else [want])}
                have = _condition_values(g.conditions, op, key)
                if have is None:
                    problems.append(f"{g.label} lets {principal} assume the role without the condition "
                                    f"{key} {op} {' or '.join(sorted(wanted))}")
                elif have != wanted:
                    problems.append(f"{g.label} checks {key} {op} {' or '.join(sorted(have))}, "
                                    f"expected {' or '.join(sorted(wanted))}")
        if aws_signin_audience:
            problems += [f"{g.label} (letting {principal} assume the role): {p}"
                         for p in audience_condition_problems(g.conditions)]
    problems += denials
    if others:
        problems.append("other principals may assume the role: " + "; ".join(g.describe() for g in others))
    if problems:
        explanation = "; ".join(problems)
    else:
        when = f" when {describe_conditions(condition)}" if condition else ""
        if aws_signin_audience:
            audiences = sorted({v for g in expected for _, vs in _aud_values(g.conditions) for v in vs})
            when += f"{' and' if when else ' when'} SAML:aud is {' or '.join(audiences)}"
        explanation = f"only {principal_type} {principal} may assume the role ({action}{when})"
    return TrustVerdict(not problems, tuple(grants), tuple(problems), explanation)
