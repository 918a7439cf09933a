"""`--fix` against the sandbox (AWS's reset semantics enforced): plan, apply with preconditions,
verification, the journal, rollback, and killing the process mid-apply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.history import History
from auditor.models import Status
from auditor.remediate import RemediationOptions
from auditor.remediate.model import OutcomeState, SkipReason
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration

NO_SCP = ["scp_missing_role", "scp_missing_instance"]  # keep SCP targets under AWS's 5-per-target limit
FIX = RemediationOptions(apply=True)
CLIENT_SETTINGS = {
    "CallbackURLs": ["https://agents.example.com/callback", "https://agents.example.com/cb2"],
    "LogoutURLs": ["https://agents.example.com/bye"], "AllowedOAuthFlows": ["code"],
    "AllowedOAuthScopes": ["openid", "email", "profile"], "AllowedOAuthFlowsUserPoolClient": True,
    "RefreshTokenValidity": 7, "AccessTokenValidity": 2, "IdTokenValidity": 3,
    "TokenValidityUnits": {"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"},
    "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"],
}


@pytest.fixture(scope="module", autouse=True)
def _clean_aws(sandbox: Sandbox) -> None:
    sandbox.reset()


@pytest.fixture(autouse=True)
def _clear_faults(sandbox: Sandbox) -> Any:
    yield
    sandbox.okta.clear_faults()


def drifted(sandbox: Sandbox, name: str, drifts: list[str]) -> SeededFederation:
    """A federation with fixable drift, an app client carrying non-default settings, and an
    Okta app field the SDK's models do not know."""
    fed = seed_federation(sandbox, name, [*drifts, *NO_SCP])
    sandbox.aws.client("cognito-idp").update_user_pool_client(
        UserPoolId=fed.pool_id, ClientId=fed.client_id, ClientName="app-client",
        SupportedIdentityProviders=["COGNITO"], **CLIENT_SETTINGS)
    app = sandbox.admin.call("GET", f"/api/v1/apps/{fed.app_id}")
    app["settings"].setdefault("app", {})["acmeVendorExtension"] = "keep-me"
    sandbox.admin.call("PUT", f"/api/v1/apps/{fed.app_id}", app)
    return fed


def objects(sandbox: Sandbox, fed: SeededFederation) -> dict[str, Any]:
    """The raw objects --fix may touch, as their APIs return them."""
    cognito = sandbox.aws.client("cognito-idp")
    client = cognito.describe_user_pool_client(UserPoolId=fed.pool_id, ClientId=fed.client_id)["UserPoolClient"]
    idp = cognito.describe_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta")["IdentityProvider"]
    users = sandbox.admin.call("GET", f"/api/v1/apps/{fed.app_id}/users")
    groups = sandbox.admin.call("GET", f"/api/v1/apps/{fed.app_id}/groups")
    return json.loads(json.dumps({
        "okta.app": sandbox.admin.call("GET", f"/api/v1/apps/{fed.app_id}"), "cognito.app_client": client,
        "cognito.identity_provider": idp,
        "okta.assignments": {"users": sorted(u["id"] for u in users if u["scope"] == "USER"),
                             "groups": sorted(g["id"] for g in groups)}}, default=str))


VOLATILE = {"lastUpdated", "LastModifiedDate", "_links"}


def changed_paths(before: Any, after: Any, prefix: str = "") -> set[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[str] = set()
        for key in set(before) | set(after):
            if not prefix and key in VOLATILE:
                continue
            out |= changed_paths(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return set() if before == after else {prefix}


def writes(sandbox: Sandbox, okta_from: int, aws_from: int) -> list[str]:
    okta = [f"{r.method} {r.path}" for r in sandbox.okta.requests[okta_from:] if r.method != "GET"]
    aws = [op for _, op in sandbox.aws.calls[aws_from:] if not op.startswith(("Describe", "List", "Get", "Lookup"))]
    return okta + aws


FIXABLE = ["email_mapping", "client_lost_idp", "audience", "acs_url", "no_email_attribute", "sha1_signing",
           "missing_group", "app_inactive", "metadata_other_app"]


def test_fix_verifies_and_changes_only_planned_fields_then_second_fix_writes_nothing(
        sandbox: Sandbox, tmp_path: Path) -> None:
    fed = drifted(sandbox, "fix-all", FIXABLE)
    before = objects(sandbox, fed)
    out = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    fix = out.result.remediation
    assert fix is not None and fix.applied
    assert {o.state for o in fix.outcomes} == {OutcomeState.APPLIED_VERIFIED}, fix.outcomes
    findings = by_control(out, fed.name)
    fixed = {"COGNITO-IDP-EMAIL-MAPPING", "COGNITO-CLIENT-IDP-ENABLED", "OKTA-SAML-AUDIENCE", "OKTA-SAML-ACS-URL",
             "OKTA-SAML-EMAIL-ATTRIBUTE", "OKTA-SAML-SIGNING", "OKTA-ASSIGNMENTS", "OKTA-APP-ACTIVE",
             "COGNITO-IDP-METADATA", "COGNITO-DOMAIN"}
    assert {c for c in fixed if findings[c].status is not Status.PASS} == set()
    assert findings["COGNITO-CLIENT-IDP-ENABLED"].remediation.state == OutcomeState.APPLIED_VERIFIED
    report = json.loads(out.files["json"].read_text())  # validated against the schema when written
    assert report["remediation"]["applied"] and len(report["remediation"]["outcomes"]) == len(fix.outcomes)
    html = out.files["html"].read_text()
    assert "Remediation results" in html and "applied and verified" in html
    assert (out.run_dir / "plan.json").exists() and (out.run_dir / "journal.jsonl").exists()

    after = objects(sandbox, fed)
    planned = {(c.kind, f.path) for c in fix.plan.changes for f in c.fields}
    for kind in after:
        for path in changed_paths(before[kind], after[kind]):
            assert any(path == p or path.startswith(p + ".") for k, p in planned if k == kind), (kind, path)
    # Everything the plan did not name survived the whole-object writes.
    for key, value in CLIENT_SETTINGS.items():
        assert after["cognito.app_client"][key] == value, key
    assert after["okta.app"]["settings"]["app"]["acmeVendorExtension"] == "keep-me"
    assert after["okta.app"]["settings"]["signOn"]["honorForceAuthn"] is True
    assert after["cognito.app_client"]["SupportedIdentityProviders"] == ["COGNITO", "Okta"]

    okta_from, aws_from = len(sandbox.okta.requests), len(sandbox.aws.calls)
    again = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    assert again.result.remediation is not None and again.result.remediation.plan.changes == ()
    assert writes(sandbox, okta_from, aws_from) == []


def test_idp_fix_sends_only_the_maps_that_change(sandbox: Sandbox, tmp_path: Path) -> None:
    """An AttributeMapping fix must not write ProviderDetails (a ProviderDetails write makes Cognito
    fetch the metadata again); a metadata fix sends the complete writable ProviderDetails."""
    email = seed_federation(sandbox, "idp-email", ["email_mapping", *NO_SCP])
    metadata = seed_federation(sandbox, "idp-metadata", ["metadata_other_app", *NO_SCP])
    cognito = sandbox.aws.client("cognito-idp")
    old_url = cognito.describe_identity_provider(UserPoolId=metadata.pool_id, ProviderName="Okta")[
        "IdentityProvider"]["ProviderDetails"]["MetadataURL"]
    cognito.update_identity_provider(UserPoolId=metadata.pool_id, ProviderName="Okta",
                                     ProviderDetails={"MetadataURL": old_url, "IDPSignout": "true"})
    start = len(sandbox.aws.requests)
    out = scan_sandbox(sandbox, [email, metadata], tmp_path, remediation=FIX)
    sent = {params["UserPoolId"]: params for service, op, params in sandbox.aws.requests[start:]
            if (service, op) == ("cognito-idp", "UpdateIdentityProvider")}
    assert set(sent) == {email.pool_id, metadata.pool_id}
    assert set(sent[email.pool_id]) == {"UserPoolId", "ProviderName", "AttributeMapping"}, sent[email.pool_id]
    new_details = sent[metadata.pool_id]["ProviderDetails"]
    assert set(sent[metadata.pool_id]) == {"UserPoolId", "ProviderName", "ProviderDetails"}
    assert new_details["IDPSignout"] == "true" and new_details["MetadataURL"] != old_url
    assert by_control(out, email.name)["COGNITO-IDP-EMAIL-MAPPING"].status is Status.PASS
    assert by_control(out, metadata.name)["COGNITO-IDP-METADATA"].status is Status.PASS


def test_outside_edit_between_plan_and_apply_is_skipped(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = drifted(sandbox, "fix-race", ["email_mapping", "audience"])
    cognito = sandbox.aws.client("cognito-idp")

    def colleague_edits_then_confirms(plan: Any) -> bool:
        cognito.update_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta",
                                         AttributeMapping={"email": "custom:colleague"})
        return True

    out = scan_sandbox(sandbox, [fed], tmp_path,
                       remediation=RemediationOptions(apply=True, confirm=colleague_edits_then_confirms))
    assert out.result.remediation is not None
    outcomes = {o.change_id: o for o in out.result.remediation.outcomes}
    conflict = outcomes[f"{fed.name}:cognito.identity_provider"]
    assert conflict.state is OutcomeState.SKIPPED and conflict.skipped is SkipReason.CONFLICT
    assert "changed since the scan" in conflict.detail
    assert outcomes[f"{fed.name}:okta.app"].state is OutcomeState.APPLIED_VERIFIED
    idp = cognito.describe_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta")["IdentityProvider"]
    assert idp["AttributeMapping"]["email"] == "custom:colleague"  # the colleague's edit stands
    journal = (out.run_dir / "journal.jsonl").read_text()
    assert '"event": "conflict"' in journal


def test_rollback_restores_exact_before_images_and_refuses_to_overwrite(sandbox: Sandbox, tmp_path: Path) -> None:
    from auditor.cli import main

    fed = drifted(sandbox, "fix-undo", ["email_mapping", "client_lost_idp", "audience", "missing_group"])
    before = objects(sandbox, fed)
    out = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    assert objects(sandbox, fed) != before
    config = str(tmp_path / "config.yaml")
    assert main(["rollback", "-c", config, out.result.run_id, "--yes"]) == 0
    restored = objects(sandbox, fed)
    for kind in before:
        assert changed_paths(before[kind], restored[kind]) == set(), kind
    assert main(["rollback", "-c", config, out.result.run_id, "--yes"]) == 0  # nothing left to undo

    # Fix again, then someone edits a fixed object: its rollback is a conflict, the others restore.
    out2 = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    cognito = sandbox.aws.client("cognito-idp")
    cognito.update_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta",
                                     AttributeMapping={"email": "custom:after-fix"})
    assert main(["rollback", "-c", config, out2.result.run_id, "--yes"]) == 1
    idp = cognito.describe_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta")["IdentityProvider"]
    assert idp["AttributeMapping"]["email"] == "custom:after-fix"
    assert changed_paths(before["okta.app"], objects(sandbox, fed)["okta.app"]) == set()
    # The conflict is journaled in the rollback run's own folder; the fix run's journal is untouched.
    assert '"event": "rollback-conflict"' not in (out2.run_dir / "journal.jsonl").read_text()
    [undo] = [r for r in History(tmp_path / "reports" / "history.sqlite").runs(mode="rollback")
              if r.undoes == out2.result.run_id]
    assert '"event": "rollback-conflict"' in (Path(undo.run_dir or "") / "journal.jsonl").read_text()


def _cli(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path, *args: str, stdin: Any = subprocess.DEVNULL,
         wait: bool = True) -> Any:
    config = write_config(tmp_path / "config.yaml", config_document(sandbox, [fed], reports_dir=str(tmp_path / "r")))
    cmd = [sys.executable, "-m", "auditor", *args, "-c", str(config)]
    env = {**os.environ, **sandbox.environment()}
    if wait:
        return subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=120, env=env)
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_fix_refuses_without_yes_on_a_pipe_and_dry_run_writes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = drifted(sandbox, "fix-guard", ["email_mapping"])
    okta_from, aws_from = len(sandbox.okta.requests), len(sandbox.aws.calls)
    proc = _cli(sandbox, fed, tmp_path, "scan", "--fix")
    assert proc.returncode == 3 and "--yes" in proc.stderr
    proc = _cli(sandbox, fed, tmp_path, "scan", "--fix", "--dry-run")
    assert proc.returncode == 1, proc.stderr
    assert "AttributeMapping.email" in proc.stdout and "nothing was changed in Okta or AWS" in proc.stdout
    assert "the plan is saved in " + str(tmp_path / "r") in proc.stdout
    proc = _cli(sandbox, fed, tmp_path, "plan")
    assert "cognito-idp:UpdateIdentityProvider" in proc.stdout
    assert list((tmp_path / "r").glob("*/plan.json"))
    assert writes(sandbox, okta_from, aws_from) == []


def test_fix_declined_at_the_prompt_shows_the_plan_once_and_changes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    import pty

    fed = drifted(sandbox, "fix-no", ["email_mapping"])
    okta_from, aws_from = len(sandbox.okta.requests), len(sandbox.aws.calls)
    controller, terminal = pty.openpty()  # the question is asked only on a terminal
    try:
        os.write(controller, b"n\n")
        proc = _cli(sandbox, fed, tmp_path, "scan", "--fix", stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 1, proc.stderr
    shown = proc.stdout + proc.stderr
    assert shown.count("call: cognito-idp:UpdateIdentityProvider") == 1 and shown.count("plan: ") == 1
    assert "change(s)? [y/N]" in shown
    assert "declined: nothing was changed in Okta or AWS" in proc.stdout
    assert writes(sandbox, okta_from, aws_from) == []


def test_killed_mid_apply_leaves_a_journal_that_rolls_back(sandbox: Sandbox, tmp_path: Path) -> None:
    from auditor.cli import main

    fed = drifted(sandbox, "fix-kill", ["email_mapping", "client_lost_idp", "audience"])
    before = objects(sandbox, fed)
    # The Okta app is written last: hold its PUT so the process is inside the apply when killed.
    sandbox.okta.inject_fault(f"^/api/v1/apps/{fed.app_id}$", kind="timeout", method="PUT")
    proc = _cli(sandbox, fed, tmp_path, "scan", "--fix", "--yes", wait=False)
    journal = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = list((tmp_path / "r").glob("*/journal.jsonl"))
        if found and f'"change_id": "{fed.name}:okta.app"' in found[0].read_text():
            journal = found[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert journal is not None, "the apply never reached the Okta app"
    events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
    assert events[-1] == "pending" and events.count("done") == 2
    sandbox.okta.clear_faults()
    assert main(["rollback", "-c", str(tmp_path / "config.yaml"), journal.parent.name, "--yes"]) == 0
    restored = objects(sandbox, fed)
    for kind in before:
        assert changed_paths(before[kind], restored[kind]) == set(), kind


def test_scp_fix_needs_the_flag_and_creates_a_dedicated_policy(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = seed_federation(sandbox, "fix-scp", NO_SCP)
    plain = scan_sandbox(sandbox, [fed], tmp_path, remediation=RemediationOptions(apply=False))
    assert plain.result.remediation is not None
    reasons = {u.control_id: u.reason for u in plain.result.remediation.plan.unfixable}
    assert "--allow-scp-changes" in reasons["SCP-DENY-ROLE-DELETION"]
    out = scan_sandbox(sandbox, [fed], tmp_path, remediation=RemediationOptions(apply=True, allow_scp_changes=True))
    findings = by_control(out, fed.name)
    assert findings["SCP-DENY-ROLE-DELETION"].status is Status.PASS
    assert findings["SCP-DENY-INSTANCE-DELETION"].status is Status.PASS
    assert out.result.remediation is not None
    [change] = out.result.remediation.plan.changes
    assert change.kind == "organizations.scp" and len(change.after["Content"]["Statement"]) == 2


def test_connect_chain_fixes_and_rollback(sandbox: Sandbox, tmp_path: Path) -> None:
    from auditor.cli import main

    fed = seed_federation(sandbox, "fix-connect", ["provider_old_cert", "relay_state_region", *NO_SCP])
    iam = sandbox.aws.client("iam")
    arn = fed.config["connect_sso"]["saml_provider_arn"]
    old_document = iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"]
    out = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    findings = by_control(out, fed.name)
    assert findings["CONNECT-IAM-SAML-PROVIDER"].status is Status.PASS
    assert findings["OKTA-CONNECT-APP"].status is Status.PASS
    assert out.result.remediation is not None
    kinds = {c.kind for c in out.result.remediation.plan.changes}
    assert kinds == {"iam.saml_provider", "okta.connect_app"}
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] != old_document
    assert main(["rollback", "-c", str(tmp_path / "config.yaml"), out.result.run_id, "--yes"]) == 0
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == old_document
