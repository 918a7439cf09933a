"""The SCP controls through real Organizations calls: what the policy means, and where it is attached."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Status
from auditor.sandbox.scenario import ACCOUNT_ID, MANAGEMENT_ACCOUNT_ID, Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def unguarded(sandbox: Sandbox) -> Iterator[SeededFederation]:
    """A federation with no SCP of its own: each test attaches one and removes it afterwards."""
    sandbox.reset()
    yield seed_federation(sandbox, "scp", ["scp_missing_role", "scp_missing_instance"])


@pytest.fixture
def attach(sandbox: Sandbox) -> Iterator[Any]:
    org = sandbox.management_client("organizations")
    made: list[tuple[str, str | None]] = []

    def create(statements: list[dict[str, Any]], target: str | None) -> str:
        ids = {"root": sandbox.organization()["root"], "ou": sandbox.organization()["ou"], "account": ACCOUNT_ID}
        policy = org.create_policy(Name=f"p{len(made)}", Description="t", Type="SERVICE_CONTROL_POLICY",
                                   Content=json.dumps({"Version": "2012-10-17", "Statement": statements})
                                   )["Policy"]["PolicySummary"]["Id"]
        if target:
            org.attach_policy(PolicyId=policy, TargetId=ids[target])
        made.append((policy, ids[target] if target else None))
        return str(policy)

    yield create
    for policy, target in made:
        if target:
            org.detach_policy(PolicyId=policy, TargetId=target)
        org.delete_policy(PolicyId=policy)


def deny(fed: SeededFederation, **overrides: Any) -> dict[str, Any]:
    stmt = {"Effect": "Deny", "Action": ["iam:DeleteRole", "connect:DeleteInstance"],
            "Resource": [fed.role_arn, fed.instance_arn]}
    stmt.update(overrides)
    return {k: v for k, v in stmt.items() if v is not None}


def judge(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> tuple[Status, Status, str]:
    findings = by_control(scan_sandbox(sandbox, [fed], tmp_path), fed.name)
    role, inst = findings["SCP-DENY-ROLE-DELETION"], findings["SCP-DENY-INSTANCE-DELETION"]
    return role.status, inst.status, role.message + " | " + inst.message


CASES = {
    "exact ARNs on the OU": (lambda f: deny(f), "ou", Status.PASS, Status.PASS),
    "attached to the root": (lambda f: deny(f), "root", Status.PASS, Status.PASS),
    "attached to the account": (lambda f: deny(f), "account", Status.PASS, Status.PASS),
    "not attached": (lambda f: deny(f), None, Status.FAIL, Status.FAIL),
    "iam:Delete* and connect:Delete*": (
        lambda f: deny(f, Action=["iam:Delete*", "connect:Delete*"]), "ou", Status.PASS, Status.PASS),
    "all actions": (lambda f: deny(f, Action="*"), "ou", Status.PASS, Status.PASS),
    "NotAction excluding the role deletion": (
        lambda f: deny(f, Action=None, NotAction=["iam:DeleteRole"]), "ou", Status.FAIL, Status.PASS),
    "NotResource excluding the instance": (
        lambda f: deny(f, Resource=None, NotResource=[f.instance_arn]), "ou", Status.PASS, Status.FAIL),
    "resource wildcard that does not match": (
        lambda f: deny(f, Resource=["arn:aws:iam::999999999999:role/*", "arn:aws:connect:*:999999999999:*"]),
        "ou", Status.FAIL, Status.FAIL),
    "resource wildcard that matches": (
        lambda f: deny(f, Resource=["arn:aws:iam::*:role/AmazonConnect*", "arn:aws:connect:*:*:instance/*"]),
        "ou", Status.PASS, Status.PASS),
    "conditional deny": (
        lambda f: deny(f, Condition={"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlass"}}),
        "ou", Status.FAIL, Status.FAIL),
    "case-insensitive action names": (
        lambda f: deny(f, Action=["IAM:deleterole", "Connect:DELETEINSTANCE"]), "ou", Status.PASS, Status.PASS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_scp_semantics_and_attachment(sandbox: Sandbox, unguarded: SeededFederation, attach: Any,
                                      tmp_path: Path, case: str) -> None:
    make, target, role_expected, instance_expected = CASES[case]
    attach([make(unguarded)], target)
    role, inst, message = judge(sandbox, unguarded, tmp_path)
    assert (role, inst) == (role_expected, instance_expected), message
    if case == "conditional deny":
        assert "aws:PrincipalArn" in message


def test_scp_policy_type_disabled(sandbox: Sandbox, unguarded: SeededFederation, attach: Any, tmp_path: Path) -> None:
    attach([deny(unguarded)], "ou")
    org = sandbox.management_client("organizations")
    root = sandbox.organization()["root"]
    org.disable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    try:
        role, inst, message = judge(sandbox, unguarded, tmp_path)
    finally:
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    assert (role, inst) == (Status.FAIL, Status.FAIL)
    assert "not enabled" in message


def test_deny_split_over_two_levels(sandbox: Sandbox, unguarded: SeededFederation, attach: Any, tmp_path: Path) -> None:
    attach([deny(unguarded, Action="iam:DeleteRole")], "root")
    attach([deny(unguarded, Action="connect:DeleteInstance")], "ou")
    role, inst, message = judge(sandbox, unguarded, tmp_path)
    assert (role, inst) == (Status.PASS, Status.PASS), message


def test_scps_do_not_protect_the_management_account(sandbox: Sandbox, unguarded: SeededFederation, attach: Any,
                                                    tmp_path: Path) -> None:
    """AWS: "SCPs don't affect users or roles in the management account. They affect only the member
    accounts in your organization." (Organizations user guide, Service control policies.) A root SCP
    denying every deletion protects the member account's federation, not the management account's."""
    from auditor.remediate import RemediationOptions

    attach([{"Effect": "Deny", "Action": ["iam:DeleteRole", "connect:DeleteInstance"], "Resource": "*"}], "root")
    # The contact center of the management account: its role and instance live there, and the
    # scanner reads them through a read-only role in that account.
    iam = sandbox.management_client("iam")
    scanner = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    iam.create_role(RoleName="AuditorReadOnly", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": scanner, "Action": "sts:AssumeRole"}]}))
    role_arn = iam.create_role(RoleName="AmazonConnectUserRole-mgmt", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "connect.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    instance_arn = sandbox.management_client("connect").create_instance(
        IdentityManagementType="SAML", InstanceAlias="cc-mgmt", InboundCallsEnabled=True,
        OutboundCallsEnabled=True)["Arn"]

    def add_management_federation(doc: dict[str, Any]) -> None:
        member = doc["federations"][0]
        mgmt = {k: v for k, v in member.items() if k != "connect_sso"}
        mgmt.update(name="mgmt", aws={"role_arn": f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/AuditorReadOnly"},
                    scp={"account_id": MANAGEMENT_ACCOUNT_ID, "connect_role_arn": role_arn,
                         "connect_instance_arn": instance_arn})
        doc["federations"].append(mgmt)

    out = scan_sandbox(sandbox, [unguarded], tmp_path, edit=add_management_federation,
                       remediation=RemediationOptions(apply=False, allow_scp_changes=True))
    member, mgmt = by_control(out, unguarded.name), by_control(out, "mgmt")
    assert mgmt["SCP-PROTECTED-RESOURCES-EXIST"].status is Status.PASS, mgmt["SCP-PROTECTED-RESOURCES-EXIST"].message
    for control in ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION"):
        assert member[control].status is Status.PASS, member[control].message
        assert mgmt[control].status is Status.FAIL
        assert "management account" in mgmt[control].message and MANAGEMENT_ACCOUNT_ID in mgmt[control].message
    # --fix would attach an SCP that protects nothing there: it says so instead.
    assert out.result.remediation is not None
    reasons = {(u.federation, u.control_id): u.reason for u in out.result.remediation.plan.unfixable}
    assert "management account" in reasons[("mgmt", "SCP-DENY-ROLE-DELETION")]
