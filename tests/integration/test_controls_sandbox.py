"""Every control of the catalogue, PASS and FAIL, through the real okta SDK and boto3 against
the sandbox. Drift is seeded the way it happens (admin edits, Terraform resets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Finding, Status
from auditor.sandbox.scenario import DRIFTS, Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration

# Drifts that can share a federation without one hiding another's control; each group is one
# federation. SCPs are spread over targets: at most 5 per target, FullAWSAccess included.
GROUPS = {
    "drift-a": (["app_inactive", "audience", "no_email_attribute", "missing_group", "cert_expiring",
                 "email_mapping", "client_lost_idp", "scp_missing_instance", "provider_old_cert",
                 "relay_state_region"], "root"),
    "drift-b": (["acs_url", "sha1_signing", "metadata_other_app", "scp_missing_role", "role_deleted",
                 "instance_not_saml"], "account"),
    "drift-c": (["no_domain", "trust_no_aud", "federation_other_instance"], "root"),
    "drift-d": (["idp_not_saml", "trust_account_principal"], "account"),
    "drift-e": (["idp_name_space"], "root"),
}
CONNECT_CONTROLS = {"CONNECT-INSTANCE-SAML", "CONNECT-IAM-SAML-PROVIDER", "CONNECT-ROLE-TRUST",
                    "CONNECT-ROLE-FEDERATION", "OKTA-CONNECT-APP"}


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> list[SeededFederation]:
    sandbox.reset()
    feds = [seed_federation(sandbox, "clean", scp_target="ou")]
    feds += [seed_federation(sandbox, name, drifts, scp_target=target) for name, (drifts, target) in GROUPS.items()]
    return feds


@pytest.fixture(scope="module")
def results(sandbox: Sandbox, seeded: list[SeededFederation],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Finding]]]:
    out = scan_sandbox(sandbox, seeded, tmp_path_factory.mktemp("controls"))
    yield {fed.name: by_control(out, fed.name) for fed in seeded}


def test_catalogue_is_covered_by_the_drift_groups() -> None:
    seeded = {d for drifts, _ in GROUPS.values() for d in drifts}
    assert seeded == set(DRIFTS)


@pytest.mark.parametrize("drift,control", sorted(DRIFTS.items(), key=lambda kv: kv[1]), ids=lambda v: v)
def test_control_passes_when_compliant_and_fails_on_its_drift(
        results: dict[str, dict[str, Finding]], drift: str, control: str) -> None:
    passing = results["clean"][control]
    assert passing.status is Status.PASS, passing.message
    group = next(name for name, (drifts, _) in GROUPS.items() if drift in drifts)
    failing = results[group][control]
    assert failing.status is Status.FAIL, f"{control} on {group}: {failing.status} {failing.message}"
    assert failing.expected is not None and failing.message


def test_clean_federation_is_all_pass(results: dict[str, dict[str, Finding]]) -> None:
    assert len(results["clean"]) == 21
    assert {f.status for f in results["clean"].values()} == {Status.PASS}


def test_specific_messages_explain_the_drift(results: dict[str, dict[str, Finding]]) -> None:
    a = results["drift-a"]
    assert "expires in 10 days" in a["OKTA-CERT-EXPIRY"].message
    assert a["COGNITO-IDP-EMAIL-MAPPING"].actual == {
        "cognito.identity_provider.AttributeMapping.email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"}
    assert "connect:DeleteInstance" in a["SCP-DENY-INSTANCE-DELETION"].message
    assert "drift-a supervisors" in a["OKTA-ASSIGNMENTS"].message
    b = results["drift-b"]
    assert "entity ID" in b["COGNITO-IDP-METADATA"].message
    assert b["SCP-PROTECTED-RESOURCES-EXIST"].message.startswith("iam.connect_role does not exist")


def test_connect_chain_messages_name_the_drift(sandbox: Sandbox, seeded: list[SeededFederation],
                                              results: dict[str, dict[str, Finding]]) -> None:
    import hashlib

    a = next(f for f in seeded if f.name == "drift-a")
    # A rotated certificate: the finding names the IAM provider's (old) and Okta's (new) fingerprints.
    new = hashlib.sha256(sandbox.okta.app_signing_certificate(a.connect_app_id)).hexdigest()
    provider = results["drift-a"]["CONNECT-IAM-SAML-PROVIDER"]
    [old] = provider.actual["iam.saml_provider.metadata.signing_certificates[*].fingerprint_sha256"]
    assert old != new and old in provider.message and new in provider.message
    relay = results["drift-a"]["OKTA-CONNECT-APP"].message
    assert "https://eu-west-2.console.aws.amazon.com/connect/federate/" in relay
    assert "expected 'https://us-east-1.console.aws.amazon.com/connect/federate/" in relay
    c = results["drift-c"]
    assert "no SAML:aud condition (e.g. StringEquals SAML:aud https://signin.aws.amazon.com/saml)" in \
        c["CONNECT-ROLE-TRUST"].message
    assert "not allowed" in c["CONNECT-ROLE-FEDERATION"].message
    assert c["CONNECT-ROLE-FEDERATION"].actual["iam.connect_role_policies"]["allowed"] is False
    d = results["drift-d"]["CONNECT-ROLE-TRUST"]
    assert "other principals may assume the role: AWS arn:aws:iam::123456789012:root" in d.message
    assert "CONNECT_MANAGED" in results["drift-b"]["CONNECT-INSTANCE-SAML"].message


def test_without_connect_sso_the_chain_is_skipped_with_the_reason(
        sandbox: Sandbox, seeded: list[SeededFederation], tmp_path: Path) -> None:
    def drop(doc: dict[str, Any]) -> None:
        for fed in doc["federations"]:
            fed.pop("connect_sso")

    out = scan_sandbox(sandbox, seeded[:1], tmp_path, edit=drop)
    findings = by_control(out, "clean")
    skipped = {k: v.message for k, v in findings.items() if v.status is Status.SKIPPED}
    assert set(skipped) == CONNECT_CONTROLS
    assert set(skipped.values()) == {"the federation has no `connect_sso` block in the config"}
    assert {v.status for k, v in findings.items() if k not in CONNECT_CONTROLS} == {Status.PASS}
    # Nothing of the chain is collected (no extra API calls or permissions), and nothing failed.
    snap = json.loads(out.files["snapshot"].read_text())["federations"][0]
    assert not snap["errors"]
    assert not {"okta.connect_app", "iam.saml_provider", "iam.connect_role_policies"} & set(snap["resources"])


def test_drift_fails_only_the_controls_it_touches(results: dict[str, dict[str, Finding]]) -> None:
    a = {k for k, v in results["drift-a"].items() if v.status is not Status.PASS}
    assert a == {DRIFTS[d] for d in GROUPS["drift-a"][0]}


def test_report_files_written(sandbox: Sandbox, tmp_path: Path) -> None:
    import json

    import jsonschema

    from auditor.report.json_report import report_schema

    out = scan_sandbox(sandbox, [], tmp_path, edit=lambda doc: doc.update(federations=[{
        "name": "ghost", "okta_app": {"id": "0oaDoesNotExist00000"}, "user_pool_id": "us-east-1_Nope",
        "app_client": {"name": "x"}, "identity_provider": "Okta"}]))
    doc = json.loads(out.files["json"].read_text())
    jsonschema.validate(doc, report_schema())
    statuses = {f["control_id"]: f["status"] for f in doc["findings"]}
    # Objects that do not exist are FAIL (we saw them missing), the SCP controls do not apply.
    assert statuses["OKTA-APP-ACTIVE"] == "FAIL" and statuses["COGNITO-IDP-SAML"] == "FAIL"
    assert statuses["SCP-DENY-ROLE-DELETION"] == "SKIPPED"
    assert out.files["html"].exists() and out.files["snapshot"].exists()
