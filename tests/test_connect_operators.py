"""The `allows` and `trusts_only` operators on plain data (the Amazon Connect chain's IAM checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auditor.evaluate.operators import OPERATORS, OpContext, OperatorError, Outcome

CTX = OpContext(now=datetime(2026, 11, 28, tzinfo=UTC), settings={})
INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/i-1"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/OktaConnect"
AUD = {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
FEDERATE = {"action": "connect:GetFederationToken", "resource": f"{INSTANCE}/user/${{aws:userid}}"}
TRUST_ARG = {"principal": {"Federated": PROVIDER}, "action": "sts:AssumeRoleWithSAML", "condition": AUD}


def allows(*statements: dict[str, Any], arg: dict[str, str] = FEDERATE) -> Outcome:
    policies = [{"id": f"p{i}", "name": f"p{i}", "content": {"Version": "2012-10-17", "Statement": [s]}}
                for i, s in enumerate(statements)]
    return OPERATORS["allows"].fn(policies, arg, CTX)


def allow(resource: str, action: str = "connect:GetFederationToken", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize("resource", [
    f"{INSTANCE}/user/${{aws:userid}}",  # the documented policy
    f"{INSTANCE}/user/${{AWS:UserId}}",  # variable names are case-insensitive
    f"{INSTANCE}/user/*",
    f"{INSTANCE}/*",
    "*",
])
def test_allows_the_agents_own_user(resource: str) -> None:
    outcome = allows(allow(resource))
    assert outcome.ok, outcome.message


@pytest.mark.parametrize("resource,why", [
    ("arn:aws:connect:us-east-1:123456789012:instance/other/user/${aws:userid}", "not allowed"),
    ("arn:aws:connect:eu-west-2:123456789012:instance/i-1/user/${aws:userid}", "not allowed"),
    (f"{INSTANCE}/user/AIDAONEUSER", "not allowed"),  # one fixed user is not every agent
    (f"{INSTANCE}/user/${{aws:username}}", "only when"),  # another variable: may or may not match
])
def test_does_not_allow_every_agent(resource: str, why: str) -> None:
    outcome = allows(allow(resource))
    assert not outcome.ok
    assert why in outcome.message
    assert "auditor-variable" not in outcome.message  # the stand-in never leaks into messages


def test_explicit_deny_wins_and_conditions_are_not_allows() -> None:
    deny = {"Effect": "Deny", "Action": "connect:*", "Resource": "*"}
    assert not allows(allow("*"), deny).ok
    conditional = allow("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    outcome = allows(conditional)
    assert not outcome.ok and "aws:MultiFactorAuthPresent" in outcome.message


def test_allows_needs_policies_and_valid_documents() -> None:
    with pytest.raises(OperatorError):
        OPERATORS["allows"].fn({"not": "a list"}, FEDERATE, CTX)
    with pytest.raises(OperatorError):
        allows({"Effect": "Allow", "Action": "connect:*"})  # identity policies need a Resource


def trust(*statements: dict[str, Any], arg: dict[str, Any] = TRUST_ARG) -> Outcome:
    return OPERATORS["trusts_only"].fn({"Version": "2012-10-17", "Statement": list(statements)}, arg, CTX)


SAML = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": AUD}


def test_trusts_exactly_the_provider() -> None:
    outcome = trust(SAML)
    assert outcome.ok, outcome.message
    assert outcome.actual_summary == {"may_assume": [{
        "principal_type": "Federated", "principal": PROVIDER, "actions": ["sts:AssumeRoleWithSAML"],
        "conditions": AUD, "statement": "#1"}]}


def test_trust_accepts_text_and_case_insensitive_condition_keys() -> None:
    import json

    stmt = {**SAML, "Condition": {"StringEquals": {"saml:AUD": "https://signin.aws.amazon.com/saml"}}}
    assert OPERATORS["trusts_only"].fn(json.dumps({"Statement": stmt}), TRUST_ARG, CTX).ok


def test_trust_without_aud_condition_fails() -> None:
    outcome = trust({k: v for k, v in SAML.items() if k != "Condition"})
    assert not outcome.ok and "without the condition SAML:aud StringEquals" in outcome.message


def test_trust_with_wrong_audience_fails() -> None:
    outcome = trust({**SAML, "Condition": {"StringEquals": {"SAML:aud": "https://example.com/saml"}}})
    assert not outcome.ok and "https://example.com/saml" in outcome.message


def test_a_second_statement_without_the_condition_makes_it_moot() -> None:
    loose = {k: v for k, v in SAML.items() if k != "Condition"}
    assert not trust(SAML, {**loose, "Action": "sts:*"}).ok


@pytest.mark.parametrize("extra,named", [
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"},
     "AWS arn:aws:iam::123456789012:root"),
    ({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole*"}, "anyone"),
    ({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]},
     "Service ec2.amazonaws.com"),
    ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/x"}, "Action": "sts:AssumeRole"},
     "everyone except AWS arn:aws:iam::123456789012:user/x"),
    ({"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/Other"},
      "Action": "sts:AssumeRoleWithSAML", "Condition": AUD}, "saml-provider/Other"),
])
def test_other_principals_are_named(extra: dict[str, Any], named: str) -> None:
    outcome = trust(SAML, extra)
    assert not outcome.ok
    assert "other principals may assume the role" in outcome.message and named in outcome.message


def test_tag_session_alone_does_not_trust_anyone() -> None:
    tag = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:TagSession"}
    assert trust(SAML, tag).ok


def test_unconditional_deny_of_the_provider_fails() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRoleWithSAML"}
    outcome = trust(SAML, deny)
    assert not outcome.ok and "denies" in outcome.message


def test_no_statement_for_the_provider_fails() -> None:
    outcome = trust({**SAML, "Action": "sts:AssumeRoleWithWebIdentity"})
    assert not outcome.ok and f"no statement lets Federated {PROVIDER} call sts:AssumeRoleWithSAML" in outcome.message


def test_malformed_trust_policy_is_an_operator_error() -> None:
    with pytest.raises(OperatorError):
        OPERATORS["trusts_only"].fn("{not json", TRUST_ARG, CTX)
    with pytest.raises(OperatorError):
        trust({"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML"})  # no Principal
