"""Least privilege, proven (issue 6): with IAM authorization enforced in the local AWS, credentials
that carry only docs/permissions/scan-readonly-iam-policy.json scan without a single ERROR;
`--fix` with them fails cleanly, naming the missing permission; with the fix policy added it
applies and verifies every change.

moto enforces IAM when its server is told so: `POST /moto-api/reset-auth` with the number of
requests still let through unchecked (`0`: check from the next one on; `inf`, moto's default:
never). The sandbox is shared by the whole test process, so enforcement is switched back off in
a `finally`, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.models import Status
from auditor.remediate import RemediationOptions
from auditor.remediate.model import OutcomeState
from auditor.sandbox.scenario import Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox
from tests.paths import ROOT

pytestmark = pytest.mark.integration

PERMISSIONS = ROOT / "docs" / "permissions"
SCAN_POLICY = PERMISSIONS / "scan-readonly-iam-policy.json"
FIX_POLICY = PERMISSIONS / "fix-iam-policy.json"
# Drift that --fix repairs on the AWS side: Cognito's IdP mapping and the IAM SAML provider.
DRIFTS = ["email_mapping", "provider_old_cert", "scp_missing_role", "scp_missing_instance"]


def _reset_auth(sandbox: Sandbox, unchecked: str) -> str:
    # text/plain: a form content type would make moto's Flask app read the body as a form, not data.
    request = urllib.request.Request(f"{sandbox.aws.endpoint_url}/moto-api/reset-auth", data=unchecked.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(json.loads(resp.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])


@contextlib.contextmanager
def iam_enforced(sandbox: Sandbox) -> Iterator[None]:
    """Every AWS call checked against the caller's IAM policies, until the block ends."""
    previous = _reset_auth(sandbox, "0")
    try:
        yield
    finally:
        _reset_auth(sandbox, previous if previous not in ("0", "0.0") else "inf")


def _user(sandbox: Sandbox, name: str, *policies: Path) -> tuple[str, str]:
    """An IAM user with exactly these managed policies; returns its access key pair."""
    iam = sandbox.aws.client("iam")
    iam.create_user(UserName=name)
    for path in policies:
        arn = iam.create_policy(PolicyName=f"{name}-{path.stem}", PolicyDocument=path.read_text())["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def fed(sandbox: Sandbox) -> SeededFederation:
    sandbox.reset()
    return seed_federation(sandbox, "least-priv", DRIFTS)


def _as(monkeypatch: pytest.MonkeyPatch, keys: tuple[str, str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[1])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_enforcement_is_real(sandbox: Sandbox, fed: SeededFederation, monkeypatch: pytest.MonkeyPatch,
                             tmp_path: Path) -> None:
    # The control: a user without any policy gets an ERROR for every AWS read.
    _as(monkeypatch, _user(sandbox, "auditor-nothing"))
    with iam_enforced(sandbox):
        out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    assert findings["COGNITO-IDP-SAML"].status is Status.ERROR
    message = findings["COGNITO-IDP-SAML"].message
    assert "AccessDeniedException" in message and "the scanner's credentials need cognito-idp:" in message, message
    # ... and enforcement is off again: the sandbox's dummy keys work.
    sandbox.aws.client("iam").list_users()


def test_read_only_policy_is_enough_to_scan_and_not_enough_to_fix(
        sandbox: Sandbox, fed: SeededFederation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scan_keys = _user(sandbox, "auditor-scan", SCAN_POLICY)
    fix_keys = _user(sandbox, "auditor-fix", SCAN_POLICY, FIX_POLICY)
    # Organizations is read in the management account (`organizations.profile`): the same
    # read-only policy there.
    management = sandbox.management_client("iam")
    arn = management.create_policy(PolicyName="auditor-scan", PolicyDocument=SCAN_POLICY.read_text())["Policy"]["Arn"]
    management.attach_user_policy(UserName="sandbox-admin", PolicyArn=arn)
    _as(monkeypatch, scan_keys)
    for sub in ("scan", "fix-ro", "fix"):
        (tmp_path / sub).mkdir()
    with iam_enforced(sandbox):
        scanned = scan_sandbox(sandbox, [fed], tmp_path / "scan")
        findings = by_control(scanned, fed.name)
        errors = {k: f.message for k, f in findings.items() if f.status is Status.ERROR}
        assert errors == {}, "\n".join(f"{k}: {v}" for k, v in errors.items())
        assert {k for k, f in findings.items() if f.status is Status.FAIL} == {
            "COGNITO-IDP-EMAIL-MAPPING", "CONNECT-IAM-SAML-PROVIDER", "SCP-DENY-ROLE-DELETION",
            "SCP-DENY-INSTANCE-DELETION"}

        # --fix with read-only keys: the first AWS write is refused, naming the permission; the
        # federation's other changes are skipped, and nothing is half-written.
        denied = scan_sandbox(sandbox, [fed], tmp_path / "fix-ro", remediation=RemediationOptions(apply=True))
        assert denied.result.remediation is not None
        outcomes = denied.result.remediation.outcomes
        assert outcomes and outcomes[0].state is OutcomeState.FAILED, outcomes
        assert "AccessDenied" in outcomes[0].detail
        assert any(p in outcomes[0].detail for p in ("cognito-idp:UpdateIdentityProvider", "iam:UpdateSAMLProvider"))
        assert "the scanner's credentials need" in outcomes[0].detail
        assert {o.state for o in outcomes[1:]} <= {OutcomeState.SKIPPED}
        assert "Traceback" not in json.dumps(denied.result.remediation.to_json())
        journal = (denied.run_dir / "journal.jsonl").read_text()
        assert '"event": "failed"' in journal

        # The fix policy on top: every planned change applies and verifies.
        _as(monkeypatch, fix_keys)
        fixed = scan_sandbox(sandbox, [fed], tmp_path / "fix", remediation=RemediationOptions(apply=True))
        assert fixed.result.remediation is not None
        states = {o.change_id: (o.state, o.detail) for o in fixed.result.remediation.outcomes}
        assert states and {s for s, _ in states.values()} == {OutcomeState.APPLIED_VERIFIED}, states
    after = by_control(fixed, fed.name)
    assert after["COGNITO-IDP-EMAIL-MAPPING"].status is Status.PASS
    assert after["CONNECT-IAM-SAML-PROVIDER"].status is Status.PASS
