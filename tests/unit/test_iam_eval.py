"""Tests for auditor.evaluate.iam: what an SCP / identity policy means for one action+resource."""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditor.evaluate.iam import (
    PolicyDocumentError,
    StatementRef,
    Verdict,
    action_matches,
    describe_conditions,
    evaluate_allow,
    evaluate_deny,
    normalize_policy,
    resource_matches,
    statement_matches,
)

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/AmazonConnectServiceRole"
INSTANCE_ARN = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/11111111-2222-3333-4444-555555555555"
DELETE_ROLE = "iam:DeleteRole"
DELETE_INSTANCE = "connect:DeleteInstance"

FULL_AWS_ACCESS = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def scp(
    *statements: dict[str, Any],
    pid: str = "p-123",
    name: str = "protect-connect",
    targets: tuple[Any, ...] = ("ou-abcd-1234",),
    version: str | None = "2012-10-17",
) -> dict[str, Any]:
    """A policy record as the collector hands it over."""
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        doc["Version"] = version
    return {"id": pid, "name": name, "content": doc, "targets": list(targets)}


def deny(action: Any = DELETE_ROLE, resource: Any = ROLE_ARN, **extra: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "DenyDelete", "Effect": "Deny", "Action": action, "Resource": resource}
    stmt.update(extra)
    return stmt


def full_access() -> dict[str, Any]:
    return {
        "id": "p-FullAWSAccess",
        "name": "FullAWSAccess",
        "content": FULL_AWS_ACCESS,
        "targets": ["r-root"],
    }


# --------------------------------------------------------------------------------------------
# action_matches


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("iam:DeleteRole", "iam:DeleteRole", True),
        ("IAM:deleterole", "iam:DeleteRole", True),  # prefix and name are case insensitive
        ("iam:DeleteRole", "IAM:DELETEROLE", True),
        ("iam:Delete*", "iam:DeleteRole", True),
        ("iam:Delete*", "iam:DeleteRolePolicy", True),
        ("iam:Delete*", "iam:CreateRole", False),
        ("iam:*", "iam:DeleteRole", True),
        ("*", "iam:DeleteRole", True),
        ("*", "connect:DeleteInstance", True),
        ("iam:*Role", "iam:DeleteRole", True),
        ("iam:*Role", "iam:DeleteRolePolicy", False),
        ("iam:Delete?ole", "iam:DeleteRole", True),
        ("iam:Delete?ole", "iam:DeleteXXole", False),
        ("iam:DeleteRol?", "iam:DeleteRole", True),
        ("iam:DeleteRole?", "iam:DeleteRole", False),  # '?' is exactly one character
        ("iam:Delete*", "connect:DeleteInstance", False),  # service prefix must match
        ("connect:Delete*", "connect:DeleteInstance", True),
        ("connect:DeleteInstance", "connect:DeleteInstances", False),  # whole-name match
        ("iam:DeleteRole", "iam:DeleteRolePolicy", False),
        ("i?m:DeleteRole", "iam:DeleteRole", True),
        ("*:DeleteRole", "iam:DeleteRole", True),
        ("iam*", "iam:DeleteRole", False),  # no service prefix: not a valid action
        ("s3:*", "iam:DeleteRole", False),
        ("iam:Delete.*", "iam:DeleteRole", False),  # '.' is literal, not a regex
    ],
)
def test_action_matches(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


# --------------------------------------------------------------------------------------------
# resource_matches


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("*", ROLE_ARN, True),
        (ROLE_ARN, ROLE_ARN, True),
        ("arn:aws:iam::*:role/AmazonConnect*", ROLE_ARN, True),
        ("arn:aws:iam::*:role/Amazon*", ROLE_ARN, True),
        (f"arn:aws:iam::{ACCOUNT}:role/*", ROLE_ARN, True),
        ("arn:aws:iam::999999999999:role/AmazonConnectServiceRole", ROLE_ARN, False),  # wrong account
        ("arn:aws:iam::*:role/OtherRole*", ROLE_ARN, False),  # wrong role name
        ("arn:aws:iam::*:role/amazonconnect*", ROLE_ARN, False),  # case sensitive
        (ROLE_ARN.upper(), ROLE_ARN, False),
        ("arn:aws:iam::*:role/AmazonConnectServiceRol?", ROLE_ARN, True),
        ("arn:aws:iam::?????????????:role/AmazonConnectServiceRole", ROLE_ARN, False),  # 13 chars
        ("arn:aws:iam::????????????:role/AmazonConnectServiceRole", ROLE_ARN, True),  # 12 chars
        ("arn:aws:iam::*:role/AmazonConnectServiceRole/extra", ROLE_ARN, False),
        ("arn:aws:connect:*:123456789012:instance/*", INSTANCE_ARN, True),
        ("arn:aws:connect:us-west-2:123456789012:instance/*", INSTANCE_ARN, False),  # wrong region
        ("arn:aws:connect:*:*:instance/*", INSTANCE_ARN, True),
        ("arn:aws:connect:*:999999999999:instance/*", INSTANCE_ARN, False),
        ("arn:aws:connect:*:*:instance/11111111-*", INSTANCE_ARN, True),
        ("arn:aws:connect:*:*:instance/99999999-*", INSTANCE_ARN, False),
        ("arn:aws:connect:*", INSTANCE_ARN, True),  # trailing '*' crosses ':' boundaries
        ("arn:aws:*", ROLE_ARN, True),
        # '*' that ends a segment may cross ':'; one in the middle of a segment may not.
        ("arn:aws:iam::1*2:role/X", "arn:aws:iam::1:2:role/X", False),
        ("arn:aws:iam::1*:role/X", "arn:aws:iam::1:2:role/X", True),
        ("arn:aws:iam::*:role/Amazon.onnect*", ROLE_ARN, False),  # '.' is literal
        ("arn:aws:connect:*:*:instance/*", ROLE_ARN, False),
    ],
)
def test_resource_matches(pattern: str, arn: str, expected: bool) -> None:
    assert resource_matches(pattern, arn) is expected


@pytest.mark.parametrize(
    ("pattern", "arn", "variables", "expected"),
    [
        # A policy variable may resolve to anything: reported as a possible match.
        ("arn:aws:iam::${aws:PrincipalAccount}:role/AmazonConnect*", ROLE_ARN, True, True),
        ("arn:aws:iam::${aws:PrincipalAccount}:role/Other", ROLE_ARN, True, False),
        # Escapes for literal special characters.
        ("arn:aws:iam::*:role/a${*}b", "arn:aws:iam::1:role/a*b", True, True),
        ("arn:aws:iam::*:role/a${*}b", "arn:aws:iam::1:role/axxb", True, False),
        ("arn:aws:iam::*:role/a${?}", "arn:aws:iam::1:role/a?", True, True),
        ("arn:aws:iam::*:role/a${?}", "arn:aws:iam::1:role/ab", True, False),
        ("arn:aws:iam::*:role/a${$}", "arn:aws:iam::1:role/a$", True, True),
        # Without Version 2012-10-17, "${...}" is literal text.
        ("arn:aws:iam::${aws:PrincipalAccount}:role/X", "arn:aws:iam::1:role/X", False, False),
        (
            "arn:aws:iam::${aws:PrincipalAccount}:role/X",
            "arn:aws:iam::${aws:PrincipalAccount}:role/X",
            False,
            True,
        ),
    ],
)
def test_resource_matches_policy_variables(pattern: str, arn: str, variables: bool, expected: bool) -> None:
    assert resource_matches(pattern, arn, policy_variables=variables) is expected


# --------------------------------------------------------------------------------------------
# statement_matches


@pytest.mark.parametrize(
    ("stmt", "action", "resource", "expected"),
    [
        (deny(), DELETE_ROLE, ROLE_ARN, True),
        (deny(action=[DELETE_ROLE]), DELETE_ROLE, ROLE_ARN, True),  # list form
        (deny(resource=[ROLE_ARN]), DELETE_ROLE, ROLE_ARN, True),
        (
            deny(action=["s3:*", "iam:Delete*"], resource=["arn:aws:s3:::b", ROLE_ARN]),
            DELETE_ROLE,
            ROLE_ARN,
            True,
        ),
        (deny(action=["s3:*"]), DELETE_ROLE, ROLE_ARN, False),
        ({"Effect": "Deny", "Action": DELETE_ROLE}, DELETE_ROLE, ROLE_ARN, True),  # Resource omitted = "*"
        ({"Effect": "Deny", "Action": DELETE_ROLE}, DELETE_INSTANCE, INSTANCE_ARN, False),
        ({"Effect": "Deny", "NotAction": DELETE_ROLE, "Resource": "*"}, DELETE_ROLE, ROLE_ARN, False),
        ({"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}, DELETE_ROLE, ROLE_ARN, True),
        ({"Effect": "Deny", "Action": "*", "NotResource": ROLE_ARN}, DELETE_ROLE, ROLE_ARN, False),
        ({"Effect": "Deny", "Action": "*", "NotResource": [INSTANCE_ARN]}, DELETE_ROLE, ROLE_ARN, True),
        (
            {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::*"},
            DELETE_ROLE,
            ROLE_ARN,
            True,
        ),
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, DELETE_ROLE, ROLE_ARN, True),  # Effect ignored
    ],
)
def test_statement_matches(stmt: dict[str, Any], action: str, resource: str, expected: bool) -> None:
    assert statement_matches(stmt, action, resource) is expected


def test_statement_matches_rejects_malformed_statement() -> None:
    with pytest.raises(PolicyDocumentError, match="both Action and NotAction"):
        statement_matches({"Effect": "Deny", "Action": "*", "NotAction": "s3:*"}, DELETE_ROLE, ROLE_ARN)


# --------------------------------------------------------------------------------------------
# normalize_policy


def test_normalize_policy_from_json_string_with_single_statement_object() -> None:
    doc = normalize_policy(json.dumps({"Version": "2012-10-17", "Statement": deny()}))
    assert doc["Version"] == "2012-10-17"
    assert doc["Statement"] == [
        {
            "Sid": "DenyDelete",
            "Effect": "Deny",
            "Action": [DELETE_ROLE],
            "Resource": [ROLE_ARN],
            "Condition": {},
        }
    ]


def test_normalize_policy_defaults_missing_resource_to_star_for_scps_only() -> None:
    doc = normalize_policy(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": DELETE_ROLE}]}
    )
    assert doc["Statement"][0]["Resource"] == ["*"]
    with pytest.raises(PolicyDocumentError, match="neither Resource nor NotResource"):
        normalize_policy(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": DELETE_ROLE}]},
            require_resource=True,
        )


def test_normalize_policy_keeps_not_elements_and_condition() -> None:
    cond = {"StringNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/Admin"]}}
    doc = normalize_policy(
        {"Statement": [{"Effect": "Deny", "NotAction": "s3:*", "NotResource": ROLE_ARN, "Condition": cond}]}
    )
    stmt = doc["Statement"][0]
    assert doc["Version"] is None
    assert stmt["NotAction"] == ["s3:*"] and stmt["NotResource"] == [ROLE_ARN]
    assert "Action" not in stmt and "Resource" not in stmt
    assert stmt["Condition"] == cond and stmt["Sid"] is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('"a string"', "not a JSON object"),
        ('{"Version":"2012-10-17"}', "no Statement"),
        ('{"Version":"2012-10-17","Statement":[]}', "Statement is empty"),
        ('{"Version":"2012-10-17","Statement":"Deny"}', "Statement must be an object or a list"),
        ('{"Version":"2012-10-17","Statement":["x"]}', "statement #1 is not an object"),
        ('{"Version":"2019-01-01","Statement":[]}', "unsupported Version"),
        ('{"Version":"2012-10-17","Statment":[]}', "unknown top-level element"),
        ('{"Version":"2012-10-17","Statement":[{"Effect":"deny","Action":"*","Resource":"*"}]}', "Effect"),
        ('{"Version":"2012-10-17","Statement":[{"Effect":"Block","Action":"*","Resource":"*"}]}', "Effect"),
        ('{"Version":"2012-10-17","Statement":[{"Action":"*","Resource":"*"}]}', "Effect"),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","NotAction":"s3:*","Resource":"*"}]}',
            "both Action and NotAction",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Resource":"*"}]}',
            "neither Action nor NotAction",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","NotResource":"*"}]}',
            "both Resource and NotResource",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":[],"Resource":"*"}]}',
            "Action is empty",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":[1],"Resource":"*"}]}',
            "not a non-empty",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":{"a":1},"Resource":"*"}]}',
            "string or a list",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"DeleteRole","Resource":"*"}]}',
            "service:action",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"role/X"}]}',
            "neither an ARN",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":"x"}]}',
            "Condition",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":"x"}}]}',
            "Condition operator",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Principal":"*"}]}',
            "Principal",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Foo":1}]}',
            "unknown element",
        ),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Sid":5}]}',
            "Sid",
        ),
        ('{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}', "duplicate key 'Version'"),
        (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}]}',
            "duplicate key 'Effect'",
        ),
    ],
)
def test_normalize_policy_rejects_malformed_documents(content: str, problem: str) -> None:
    with pytest.raises(PolicyDocumentError, match=problem):
        normalize_policy(content)


# --------------------------------------------------------------------------------------------
# evaluate_deny: the matrix


def _denied(policies: list[dict[str, Any]], action: str = DELETE_ROLE, resource: str = ROLE_ARN) -> bool:
    return evaluate_deny(policies, action, resource).denied


@pytest.mark.parametrize(
    ("statement", "action", "resource", "expected"),
    [
        pytest.param(deny(), DELETE_ROLE, ROLE_ARN, True, id="exact-arn"),
        pytest.param(deny(action="iam:Delete*"), DELETE_ROLE, ROLE_ARN, True, id="iam-delete-star"),
        pytest.param(deny(action="*", resource="*"), DELETE_ROLE, ROLE_ARN, True, id="star-star"),
        pytest.param(deny(action="iam:*"), DELETE_ROLE, ROLE_ARN, True, id="iam-star"),
        pytest.param(
            deny(action="IAM:deleteROLE"), DELETE_ROLE, ROLE_ARN, True, id="case-insensitive-action"
        ),
        pytest.param(deny(action="iam:Delete?ole"), DELETE_ROLE, ROLE_ARN, True, id="question-mark-action"),
        pytest.param(deny(action="iam:DeleteRolePolicy"), DELETE_ROLE, ROLE_ARN, False, id="other-action"),
        pytest.param(deny(action="iam:Create*"), DELETE_ROLE, ROLE_ARN, False, id="other-action-wildcard"),
        pytest.param(deny(action=["s3:*", DELETE_ROLE]), DELETE_ROLE, ROLE_ARN, True, id="action-list"),
        pytest.param(
            deny(resource=[INSTANCE_ARN, ROLE_ARN]), DELETE_ROLE, ROLE_ARN, True, id="resource-list"
        ),
        pytest.param(
            deny(resource="arn:aws:iam::*:role/AmazonConnect*"),
            DELETE_ROLE,
            ROLE_ARN,
            True,
            id="resource-wildcard",
        ),
        pytest.param(
            deny(resource="arn:aws:iam::*:role/AmazonConnectServiceRol?"),
            DELETE_ROLE,
            ROLE_ARN,
            True,
            id="resource-question-mark",
        ),
        pytest.param(
            deny(resource="arn:aws:iam::999999999999:role/*"),
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="wrong-account",
        ),
        pytest.param(
            deny(resource="arn:aws:iam::*:role/Billing*"), DELETE_ROLE, ROLE_ARN, False, id="wrong-role-name"
        ),
        pytest.param(
            deny(resource="arn:aws:iam::*:role/amazonconnect*"),
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="resource-case",
        ),
        pytest.param(
            {"Effect": "Deny", "NotAction": [DELETE_ROLE], "Resource": "*"},
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="notaction-excludes",
        ),
        pytest.param(
            {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="notaction-excludes-wildcard",
        ),
        pytest.param(
            {"Effect": "Deny", "NotAction": ["s3:*"], "Resource": "*"},
            DELETE_ROLE,
            ROLE_ARN,
            True,
            id="notaction-does-not-exclude",
        ),
        pytest.param(
            {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"},
            DELETE_ROLE,
            ROLE_ARN,
            True,
            id="notaction-list-does-not-exclude",
        ),
        pytest.param(
            {"Effect": "Deny", "Action": "*", "NotResource": ROLE_ARN},
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="notresource-excludes",
        ),
        pytest.param(
            {"Effect": "Deny", "Action": "*", "NotResource": ["arn:aws:iam::*:role/Amazon*"]},
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="notresource-wildcard-excludes",
        ),
        pytest.param(
            {"Effect": "Deny", "Action": "*", "NotResource": [INSTANCE_ARN]},
            DELETE_ROLE,
            ROLE_ARN,
            True,
            id="notresource-does-not-exclude",
        ),
        pytest.param(
            {"Effect": "Deny", "Action": DELETE_ROLE}, DELETE_ROLE, ROLE_ARN, True, id="resource-omitted"
        ),
        pytest.param(
            {"Effect": "Allow", "Action": DELETE_ROLE, "Resource": ROLE_ARN},
            DELETE_ROLE,
            ROLE_ARN,
            False,
            id="allow-never-denies",
        ),
        pytest.param(
            deny(action="connect:DeleteInstance", resource="arn:aws:connect:*:123456789012:instance/*"),
            DELETE_INSTANCE,
            INSTANCE_ARN,
            True,
            id="connect-instance",
        ),
        pytest.param(
            deny(action="connect:Delete*", resource="arn:aws:connect:*:*:instance/*"),
            DELETE_INSTANCE,
            INSTANCE_ARN,
            True,
            id="connect-delete-star",
        ),
        pytest.param(
            deny(action="iam:Delete*", resource="*"),
            DELETE_INSTANCE,
            INSTANCE_ARN,
            False,
            id="service-prefix-must-match",
        ),
        pytest.param(
            deny(action="connect:DeleteInstance", resource="arn:aws:connect:*:999999999999:instance/*"),
            DELETE_INSTANCE,
            INSTANCE_ARN,
            False,
            id="connect-wrong-account",
        ),
    ],
)
def test_evaluate_deny_matrix(statement: dict[str, Any], action: str, resource: str, expected: bool) -> None:
    verdict = evaluate_deny([scp(statement)], action, resource)
    assert verdict.denied is expected
    assert bool(verdict.denying) is expected
    assert verdict.conditional == ()
    assert verdict.action == action and verdict.resource == resource


def test_full_aws_access_denies_nothing() -> None:
    verdict = evaluate_deny([full_access()], DELETE_ROLE, ROLE_ARN)
    assert verdict == Verdict(
        action=DELETE_ROLE,
        resource=ROLE_ARN,
        denied=False,
        denying=(),
        conditional=(),
        explanation=verdict.explanation,
    )
    assert "no Deny statement" in verdict.explanation
    assert verdict.allowed is None  # evaluate_deny does not judge allows


def test_no_policies_denies_nothing() -> None:
    verdict = evaluate_deny([], DELETE_ROLE, ROLE_ARN)
    assert not verdict.denied
    assert "no policies" in verdict.explanation


def test_deny_in_one_policy_and_allow_in_another() -> None:
    policies = [full_access(), scp(deny(), targets=("ou-abcd-1234", "123456789012"))]
    verdict = evaluate_deny(policies, DELETE_ROLE, ROLE_ARN)
    assert verdict.denied
    assert verdict.denying == (
        StatementRef(
            policy_id="p-123",
            policy_name="protect-connect",
            sid="DenyDelete",
            effect="Deny",
            conditions={},
            attached_to=("ou-abcd-1234", "123456789012"),
            index=1,
        ),
    )
    assert verdict.explanation == (
        f'{DELETE_ROLE} on {ROLE_ARN} is denied by policy p-123 "protect-connect", statement DenyDelete.'
    )


def test_explicit_deny_wins_regardless_of_order() -> None:
    a = evaluate_deny([scp(deny()), full_access()], DELETE_ROLE, ROLE_ARN)
    b = evaluate_deny([full_access(), scp(deny())], DELETE_ROLE, ROLE_ARN)
    assert a.denied and b.denied


def test_policy_content_as_json_string() -> None:
    policy = scp(deny())
    policy["content"] = json.dumps(policy["content"])
    assert _denied([policy])


def test_statement_as_single_object() -> None:
    policy = {
        "id": "p-1",
        "name": "n",
        "content": {"Version": "2012-10-17", "Statement": deny()},
        "targets": [],
    }
    assert _denied([policy])


def test_multiple_statements_and_policies_all_reported_in_order() -> None:
    policies = [
        scp(deny(Sid="A"), deny(Sid="NotThis", action="s3:*"), pid="p-1", name="one"),
        full_access(),
        scp({"Effect": "Deny", "Action": "iam:*", "Resource": "*"}, pid="p-2", name="two"),
    ]
    verdict = evaluate_deny(policies, DELETE_ROLE, ROLE_ARN)
    assert [(r.policy_id, r.sid, r.index) for r in verdict.denying] == [("p-1", "A", 1), ("p-2", None, 1)]
    assert 'policy p-1 "one", statement A' in verdict.explanation
    assert 'policy p-2 "two", statement #1' in verdict.explanation


def test_targets_passed_through_from_strings_or_organizations_dicts() -> None:
    policy = scp(deny(), targets=({"TargetId": "ou-1", "Type": "ORGANIZATIONAL_UNIT"}, "r-root"))
    verdict = evaluate_deny([policy], DELETE_ROLE, ROLE_ARN)
    assert verdict.denying[0].attached_to == ("ou-1", "r-root")


# --------------------------------------------------------------------------------------------
# evaluate_deny: conditions and policy variables


ADMIN_EXEMPTION = {"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}


def test_conditional_deny_is_not_a_deny() -> None:
    verdict = evaluate_deny([scp(deny(Condition=ADMIN_EXEMPTION))], DELETE_ROLE, ROLE_ARN)
    assert verdict.denied is False
    assert verdict.denying == ()
    assert len(verdict.conditional) == 1
    ref = verdict.conditional[0]
    assert ref.conditions == ADMIN_EXEMPTION and ref.sid == "DenyDelete" and ref.effect == "Deny"
    assert verdict.explanation == (
        f"{DELETE_ROLE} on {ROLE_ARN} is denied only when aws:PrincipalArn StringNotLike "
        'arn:aws:iam::*:role/Admin (policy p-123 "protect-connect", statement DenyDelete).'
    )


def test_conditional_and_unconditional_deny_both_reported() -> None:
    policies = [scp(deny(Sid="Cond", Condition=ADMIN_EXEMPTION), deny(Sid="Hard"))]
    verdict = evaluate_deny(policies, DELETE_ROLE, ROLE_ARN)
    assert verdict.denied
    assert [r.sid for r in verdict.denying] == ["Hard"]
    assert [r.sid for r in verdict.conditional] == ["Cond"]
    assert "aws:PrincipalArn" in verdict.explanation


def test_conditional_deny_that_does_not_match_is_not_reported() -> None:
    verdict = evaluate_deny([scp(deny(action="s3:*", Condition=ADMIN_EXEMPTION))], DELETE_ROLE, ROLE_ARN)
    assert verdict.conditional == () and not verdict.denied


def test_empty_condition_block_is_unconditional() -> None:
    assert _denied([scp(deny(Condition={}))])


def test_condition_explanation_with_several_keys_and_values() -> None:
    cond = {
        "StringNotEquals": {"aws:PrincipalTag/team": ["platform", "security"]},
        "Bool": {"aws:MultiFactorAuthPresent": False},
    }
    assert describe_conditions(cond) == (
        "aws:PrincipalTag/team StringNotEquals platform or security and aws:MultiFactorAuthPresent Bool false"
    )
    verdict = evaluate_deny([scp(deny(Condition=cond))], DELETE_ROLE, ROLE_ARN)
    assert "aws:PrincipalTag/team StringNotEquals platform or security" in verdict.explanation
    assert "aws:MultiFactorAuthPresent Bool false" in verdict.explanation


def test_policy_variable_in_resource_is_conditional_not_denied() -> None:
    stmt = deny(resource="arn:aws:iam::${aws:PrincipalAccount}:role/AmazonConnect*")
    verdict = evaluate_deny([scp(stmt)], DELETE_ROLE, ROLE_ARN)
    assert not verdict.denied
    assert len(verdict.conditional) == 1
    assert verdict.conditional[0].notes
    assert "${aws:PrincipalAccount}" in verdict.explanation


def test_policy_variable_in_notresource_makes_applicability_uncertain() -> None:
    stmt = {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}
    verdict = evaluate_deny([scp(stmt)], DELETE_ROLE, ROLE_ARN)
    assert not verdict.denied and len(verdict.conditional) == 1


def test_policy_variable_is_literal_without_version_2012() -> None:
    stmt = deny(resource="arn:aws:iam::${aws:PrincipalAccount}:role/AmazonConnect*")
    verdict = evaluate_deny([scp(stmt, version=None)], DELETE_ROLE, ROLE_ARN)
    assert not verdict.denied and verdict.conditional == ()


def test_unconditional_match_beats_variable_match_in_same_statement() -> None:
    stmt = deny(resource=["arn:aws:iam::${aws:PrincipalAccount}:role/X", ROLE_ARN])
    assert _denied([scp(stmt)])


# --------------------------------------------------------------------------------------------
# evaluate_deny: explanations when nothing denies


def test_explanation_names_near_misses() -> None:
    policies = [scp(deny(resource="arn:aws:iam::999999999999:role/*")), full_access()]
    verdict = evaluate_deny(policies, DELETE_ROLE, ROLE_ARN)
    assert not verdict.denied
    assert verdict.explanation.startswith(
        f"Nothing denies {DELETE_ROLE} on {ROLE_ARN}: none of the 1 Deny statement"
    )
    assert "in 2 policies" in verdict.explanation
    assert 'policy p-123 "protect-connect", statement DenyDelete covers the action but not the resource' in (
        verdict.explanation
    )


def test_explanation_for_notaction_exclusion() -> None:
    verdict = evaluate_deny(
        [scp({"Sid": "AllButIam", "Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})],
        DELETE_ROLE,
        ROLE_ARN,
    )
    assert "statement AllButIam covers the resource but not the action" in verdict.explanation


# --------------------------------------------------------------------------------------------
# evaluate_deny: malformed input


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"id": "p-bad", "name": "x", "content": "{oops", "targets": []}, "not valid JSON"),
        ({"id": "p-bad", "name": "x", "content": '{"Version":"2012-10-17"}', "targets": []}, "no Statement"),
        ({"id": "p-bad", "name": "x", "targets": []}, "no policy content"),
        (
            {"id": "p-bad", "name": "x", "content": {"Statement": [{"Effect": "DENY", "Action": "*"}]}},
            "Effect",
        ),
        (
            {
                "id": "p-bad",
                "name": "x",
                "content": {"Statement": [{"Effect": "Deny", "Action": "*", "NotAction": "s3:*"}]},
            },
            "both Action and NotAction",
        ),
        (
            {"id": "p-bad", "name": "x", "content": {"Statement": [{"Effect": "Deny"}]}},
            "neither Action nor NotAction",
        ),
    ],
)
def test_evaluate_deny_raises_naming_the_policy(policy: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyDocumentError, match=problem) as info:
        evaluate_deny([full_access(), policy], DELETE_ROLE, ROLE_ARN)
    assert info.value.policy_id == "p-bad"
    assert str(info.value).startswith("policy p-bad: ")


def test_malformed_policy_is_not_ignored_even_when_another_denies() -> None:
    bad = {"id": "p-bad", "name": "x", "content": {"Statement": [{"Effect": "Deny"}]}}
    with pytest.raises(PolicyDocumentError):
        evaluate_deny([scp(deny()), bad], DELETE_ROLE, ROLE_ARN)


@pytest.mark.parametrize("action", ["DeleteRole", "iam:Delete*", "", "iam:"])
def test_evaluate_rejects_non_concrete_action(action: str) -> None:
    with pytest.raises(ValueError, match="action"):
        evaluate_deny([full_access()], action, ROLE_ARN)


# --------------------------------------------------------------------------------------------
# evaluate_allow


GET_TOKEN = "connect:GetFederationToken"


def identity(*statements: dict[str, Any], pid: str = "p-id", name: str = "connect-agent") -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "content": {"Version": "2012-10-17", "Statement": list(statements)},
        "targets": ["role/ConnectAgent"],
    }


def allow(action: Any = GET_TOKEN, resource: Any = INSTANCE_ARN + "/user/*", **extra: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "AllowFed", "Effect": "Allow", "Action": action, "Resource": resource}
    stmt.update(extra)
    return stmt


USER_ARN = INSTANCE_ARN + "/user/agent-1"


@pytest.mark.parametrize(
    ("statements", "expected_allowed", "expected_denied"),
    [
        pytest.param([allow()], True, False, id="exact-allow"),
        pytest.param([allow(action="connect:*", resource="*")], True, False, id="wildcard-allow"),
        pytest.param([allow(action="CONNECT:getfederationtoken")], True, False, id="case-insensitive"),
        pytest.param([allow(action="connect:List*")], False, False, id="other-action"),
        pytest.param(
            [allow(resource="arn:aws:connect:*:999999999999:instance/*")], False, False, id="other-account"
        ),
        pytest.param([], False, False, id="no-statements-implicit-deny"),
        pytest.param(
            [allow(), {"Effect": "Deny", "Action": GET_TOKEN, "Resource": "*"}],
            False,
            True,
            id="deny-overrides",
        ),
        pytest.param(
            [allow(), {"Effect": "Deny", "NotAction": "connect:*", "Resource": "*"}],
            True,
            False,
            id="notaction-deny-excludes",
        ),
        pytest.param(
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], True, False, id="notaction-allow"
        ),
        pytest.param(
            [{"Effect": "Allow", "Action": "*", "NotResource": INSTANCE_ARN + "/*"}],
            False,
            False,
            id="notresource-allow-excludes",
        ),
    ],
)
def test_evaluate_allow_matrix(
    statements: list[dict[str, Any]], expected_allowed: bool, expected_denied: bool
) -> None:
    policies = [identity(*statements)] if statements else []
    verdict = evaluate_allow(policies, GET_TOKEN, USER_ARN)
    assert verdict.allowed is expected_allowed
    assert verdict.denied is expected_denied


def test_evaluate_allow_deny_in_other_policy_overrides() -> None:
    policies = [
        identity(allow()),
        identity(
            {"Sid": "NoFed", "Effect": "Deny", "Action": "connect:Get*", "Resource": "*"},
            pid="p-guard",
            name="guard",
        ),
    ]
    verdict = evaluate_allow(policies, GET_TOKEN, USER_ARN)
    assert not verdict.allowed and verdict.denied
    assert [r.policy_id for r in verdict.allowing] == ["p-id"]
    assert [r.policy_id for r in verdict.denying] == ["p-guard"]
    assert "explicitly denied" in verdict.explanation and "overrides" in verdict.explanation


def test_evaluate_allow_conditional_allow_reported() -> None:
    cond = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    verdict = evaluate_allow([identity(allow(Condition=cond))], GET_TOKEN, USER_ARN)
    assert verdict.allowed is False
    assert [r.effect for r in verdict.conditional] == ["Allow"]
    assert "allowed only when aws:SourceIp IpAddress 10.0.0.0/8" in verdict.explanation


def test_evaluate_allow_conditional_deny_does_not_block_but_is_reported() -> None:
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    policies = [
        identity(allow(), {"Sid": "MFA", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond})
    ]
    verdict = evaluate_allow(policies, GET_TOKEN, USER_ARN)
    assert verdict.allowed is True and verdict.denied is False
    assert [r.sid for r in verdict.conditional] == ["MFA"]
    assert "except that it is denied when aws:MultiFactorAuthPresent Bool false" in verdict.explanation


def test_evaluate_allow_requires_resource_in_identity_policies() -> None:
    with pytest.raises(PolicyDocumentError, match="neither Resource nor NotResource") as info:
        evaluate_allow([identity({"Effect": "Allow", "Action": GET_TOKEN})], GET_TOKEN, USER_ARN)
    assert info.value.policy_id == "p-id"


def test_evaluate_allow_explanation_when_nothing_allows() -> None:
    verdict = evaluate_allow([identity(allow(action="connect:List*"))], GET_TOKEN, USER_ARN)
    assert verdict.explanation.startswith(f"{GET_TOKEN} on {USER_ARN} is not allowed (implicit deny)")
    assert "covers the resource but not the action" in verdict.explanation
