"""The evaluation engine on plain data: every control's PASS and FAIL, ERROR for unseen data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from auditor.evaluate.engine import evaluate
from auditor.models import Finding, Status
from auditor.policy.loader import load_policies
from tests import factories as f

NOW = datetime(2026, 11, 28, tzinfo=UTC)
POLICIES = load_policies()


def judge(resources: dict[str, Any] | None = None, **kw: Any) -> dict[str, Finding]:
    return {x.control_id: x for x in evaluate(f.snapshot(resources, **kw), POLICIES, now=NOW)}


def test_compliant_federation_is_all_pass() -> None:
    findings = judge()
    assert len(findings) == 21
    bad = {k: v.message for k, v in findings.items() if v.status is not Status.PASS}
    assert not bad


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    key, _, rest = path.partition(":")

    def mutate(res: dict[str, Any]) -> None:
        target = res[key]
        parts = rest.split(".")
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = value
    return mutate


def _statement(res: dict[str, Any]) -> dict[str, Any]:
    stmt: dict[str, Any] = res["organizations"]["policies"][0]["content"]["Statement"][0]
    return stmt


DRIFTS = [
    ("OKTA-APP-ACTIVE", _set("okta.app:status", "INACTIVE")),
    ("OKTA-SAML-ACS-URL",
     _set("okta.app:settings.signOn.ssoAcsUrl", "https://old.auth.us-east-1.amazoncognito.com/saml2/idpresponse")),
    ("OKTA-SAML-ACS-URL", _set("cognito.domain:Domain", "renamed")),
    ("OKTA-SAML-AUDIENCE", _set("okta.app:settings.signOn.audience", "urn:amazon:cognito:sp:us-east-1_X")),
    ("OKTA-SAML-EMAIL-ATTRIBUTE", _set("okta.app:settings.signOn.attributeStatements", [])),
    ("OKTA-SAML-SIGNING", _set("okta.app:settings.signOn.signatureAlgorithm", "RSA_SHA1")),
    ("OKTA-ASSIGNMENTS", _set("okta.assignments:group_refs", ["00g1"])),
    ("OKTA-CERT-EXPIRY", _set("okta.metadata:signing_certificate.not_after", "2026-12-08T00:00:00+00:00")),
    ("COGNITO-DOMAIN", _set("cognito.domain:Status", "DELETING")),
    ("COGNITO-IDP-SAML", _set("cognito.identity_provider:ProviderType", "OIDC")),
    ("COGNITO-IDP-NAME", _set("cognito.identity_provider:ProviderName", "Okta SSO")),
    ("COGNITO-IDP-METADATA", _set("cognito.idp_metadata:entity_id", "http://www.okta.com/other")),
    ("COGNITO-IDP-METADATA", _set("cognito.identity_provider:ProviderDetails.MetadataURL", "http://acme.okta.com/m")),
    ("COGNITO-IDP-EMAIL-MAPPING", _set("cognito.identity_provider:AttributeMapping.email", "email")),
    ("COGNITO-CLIENT-IDP-ENABLED", _set("cognito.app_client:SupportedIdentityProviders", ["COGNITO"])),
    ("SCP-DENY-ROLE-DELETION", lambda r: _statement(r).update(Action="connect:DeleteInstance")),
    ("SCP-DENY-INSTANCE-DELETION", lambda r: _statement(r).update(Action=["iam:DeleteRole", "s3:*"])),
    ("SCP-PROTECTED-RESOURCES-EXIST", _set("iam.connect_role:Arn", "arn:aws:iam::123456789012:role/Old")),
    ("CONNECT-INSTANCE-SAML", _set("connect.instance:IdentityManagementType", "CONNECT_MANAGED")),
    ("CONNECT-INSTANCE-SAML", _set("connect.instance:InstanceStatus", "CREATION_FAILED")),
    ("CONNECT-IAM-SAML-PROVIDER", _set("iam.saml_provider:metadata.signing_certificates", [f.CERT])),
    ("CONNECT-IAM-SAML-PROVIDER", _set("iam.saml_provider:metadata.entity_id", "http://www.okta.com/other")),
    ("CONNECT-ROLE-TRUST", lambda r: r["iam.connect_role"]["AssumeRolePolicyDocument"]["Statement"][0].pop(
        "Condition")),
    ("CONNECT-ROLE-FEDERATION", lambda r: r["iam.connect_role_policies"][0]["content"]["Statement"][0].update(
        Resource="arn:aws:connect:us-east-1:123456789012:instance/other/user/${aws:userid}")),
    ("OKTA-CONNECT-APP", _set("okta.connect_app:settings.signOn.defaultRelayState",
                              f"https://eu-west-2.console.aws.amazon.com/connect/federate/{f.INSTANCE_ID}")),
    ("OKTA-CONNECT-APP", _set("okta.connect_app:settings.signOn.attributeStatements", [])),
    ("OKTA-CONNECT-APP", _set("okta.connect_app:status", "INACTIVE")),
]


@pytest.mark.parametrize("control,mutate", DRIFTS, ids=[d[0] for d in DRIFTS])
def test_each_drift_fails_exactly_its_control(control: str, mutate: Callable[[dict[str, Any]], None]) -> None:
    resources = f.compliant_resources()
    mutate(resources)
    findings = judge(resources)
    assert findings[control].status is Status.FAIL, findings[control].message
    assert findings[control].expected is not None
    others = {k for k, v in findings.items() if v.status is not Status.PASS and k != control}
    # The ACS URL and the domain are one link seen from both sides.
    assert others <= {"OKTA-SAML-ACS-URL", "COGNITO-DOMAIN"}


def test_fail_carries_expected_and_actual() -> None:
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["AttributeMapping"]["email"] = "email"
    finding = judge(resources)["COGNITO-IDP-EMAIL-MAPPING"]
    key = "cognito.identity_provider.AttributeMapping.email"
    # report.json schema 2: every expected value is its operator and the value, in one shape.
    assert finding.expected == {key: {"operator": "equals", "value": f.EMAIL_CLAIM}}
    assert finding.actual == {key: "email"}
    assert finding.uid == "auditor-COGNITO-IDP-EMAIL-MAPPING-prod-cognito.identity_provider"


def test_expected_has_one_shape_whatever_the_operator() -> None:
    # Bug: `expected` was sometimes a value ("equals") and sometimes an operator object
    # ({"contains": "Okta"}), so a consumer could not read it without knowing every operator.
    resources = f.compliant_resources()
    resources["cognito.app_client"]["SupportedIdentityProviders"] = ["COGNITO"]
    resources["okta.app"]["settings"]["signOn"]["assertionSigned"] = None
    del resources["cognito.domain"]
    findings = judge(resources)
    for finding in findings.values():
        if finding.expected is None:
            continue
        for entry in finding.expected.values():
            assert set(entry) <= {"operator", "value", "detail"} and "operator" in entry and "value" in entry, entry
    client = findings["COGNITO-CLIENT-IDP-ENABLED"]
    [entry] = client.expected.values()
    assert entry == {"operator": "contains", "value": "Okta"}


def test_missing_data_is_error_for_exactly_the_controls_that_need_it() -> None:
    resources = f.compliant_resources()
    del resources["okta.metadata"]
    findings = judge(resources, errors=[("okta.metadata", "HTTP 500")])
    errors = {k for k, v in findings.items() if v.status is Status.ERROR}
    assert errors == {"OKTA-CERT-EXPIRY", "COGNITO-IDP-METADATA"}
    assert "HTTP 500" in findings["OKTA-CERT-EXPIRY"].message


def test_absent_object_is_fail_not_error() -> None:
    resources = f.compliant_resources()
    resources["cognito.app_client"] = None
    finding = judge(resources)["COGNITO-CLIENT-IDP-ENABLED"]
    assert finding.status is Status.FAIL and "does not exist" in finding.message


def test_no_domain_fails_the_acs_url_with_a_reason() -> None:
    resources = f.compliant_resources()
    resources["cognito.domain"] = None
    finding = judge(resources)["OKTA-SAML-ACS-URL"]
    assert finding.status is Status.FAIL and "cannot compute the expected value" in finding.message


CONNECT_CONTROLS = {"CONNECT-INSTANCE-SAML", "CONNECT-IAM-SAML-PROVIDER", "CONNECT-ROLE-TRUST",
                    "CONNECT-ROLE-FEDERATION", "OKTA-CONNECT-APP"}


def test_no_scp_block_skips_scp_controls() -> None:
    resources = f.compliant_resources()
    del resources["organizations"]
    findings = judge(resources, config=f.fed_config(scp=None))
    assert {k for k, v in findings.items() if v.status is Status.SKIPPED} == {
        "SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION", "SCP-PROTECTED-RESOURCES-EXIST"}
    assert {findings[c].status for c in CONNECT_CONTROLS} == {Status.PASS}


def test_no_connect_sso_block_skips_the_connect_chain_with_the_reason() -> None:
    resources = f.compliant_resources()
    for key in ("okta.connect_app", "okta.connect_metadata", "iam.saml_provider", "iam.connect_role_policies"):
        del resources[key]
    findings = judge(resources, config=f.fed_config(connect_sso=None))
    skipped = {k: v.message for k, v in findings.items() if v.status is Status.SKIPPED}
    assert set(skipped) == CONNECT_CONTROLS
    assert set(skipped.values()) == {"the federation has no `connect_sso` block in the config"}
    assert {v.status for k, v in findings.items() if k not in CONNECT_CONTROLS} == {Status.PASS}


def test_rotated_certificate_names_both_fingerprints() -> None:
    resources = f.compliant_resources()
    resources["iam.saml_provider"]["metadata"]["signing_certificates"] = [f.CERT]
    finding = judge(resources)["CONNECT-IAM-SAML-PROVIDER"]
    assert finding.status is Status.FAIL
    assert f.CERT["fingerprint_sha256"] in finding.message
    assert f.CONNECT_CERT["fingerprint_sha256"] in finding.message


def test_trust_naming_another_principal_fails_and_names_it() -> None:
    resources = f.compliant_resources()
    resources["iam.connect_role"]["AssumeRolePolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"})
    finding = judge(resources)["CONNECT-ROLE-TRUST"]
    assert finding.status is Status.FAIL
    assert "AWS arn:aws:iam::999999999999:root" in finding.message


def test_connect_data_not_collected_is_error() -> None:
    resources = f.compliant_resources()
    del resources["iam.saml_provider"]
    findings = judge(resources, errors=[("iam.saml_provider", "iam:GetSAMLProvider: AccessDenied")])
    assert {k for k, v in findings.items() if v.status is Status.ERROR} == {"CONNECT-IAM-SAML-PROVIDER"}
    assert "AccessDenied" in findings["CONNECT-IAM-SAML-PROVIDER"].message


def test_conditional_deny_fails_naming_the_condition() -> None:
    resources = f.compliant_resources()
    stmt = resources["organizations"]["policies"][0]["content"]["Statement"][0]
    stmt["Condition"] = {"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}
    finding = judge(resources)["SCP-DENY-ROLE-DELETION"]
    assert finding.status is Status.FAIL
    assert "aws:PrincipalArn" in finding.message


def test_malformed_scp_is_error() -> None:
    resources = f.compliant_resources()
    resources["organizations"]["policies"][0]["content"] = "{not json"
    assert judge(resources)["SCP-DENY-ROLE-DELETION"].status is Status.ERROR


def test_cert_expiry_uses_configured_days() -> None:
    resources = f.compliant_resources()
    resources["okta.metadata"]["signing_certificate"]["not_after"] = "2027-01-07T00:00:00+00:00"  # 40 days
    assert judge(resources)["OKTA-CERT-EXPIRY"].status is Status.PASS
    assert judge(resources, config=f.fed_config(cert_min_days=60))["OKTA-CERT-EXPIRY"].status is Status.FAIL


def test_loopback_http_metadata_allowed_only_with_flag() -> None:
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["ProviderDetails"]["MetadataURL"] = "http://127.0.0.1:9/app/m"
    assert judge(resources)["COGNITO-IDP-METADATA"].status is Status.FAIL
    snap = f.snapshot(resources)
    snap.settings["okta"]["allow_insecure_http"] = True
    finding = next(x for x in evaluate(snap, POLICIES, now=NOW) if x.control_id == "COGNITO-IDP-METADATA")
    assert finding.status is Status.PASS


def test_scp_type_disabled_fails_both_scp_controls() -> None:
    resources = f.compliant_resources()
    resources["organizations"]["policy_type_enabled"] = False
    findings = judge(resources)
    for control in ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION"):
        assert findings[control].status is Status.FAIL
        assert "not enabled" in findings[control].message


def test_scp_controls_fail_in_the_management_account_and_error_when_it_is_unknown() -> None:
    resources = f.compliant_resources()
    resources["organizations"]["management_account_id"] = resources["organizations"]["account_id"]
    findings = judge(resources)
    for control in ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION"):
        assert findings[control].status is Status.FAIL
        assert "management account" in findings[control].message
    # A snapshot that does not say which account manages the organization cannot be judged.
    del resources["organizations"]["management_account_id"]
    findings = judge(resources)
    for control in ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION"):
        assert findings[control].status is Status.ERROR
        assert "management account" in findings[control].message


def test_missing_field_message_says_what_was_expected() -> None:
    resources = f.compliant_resources()
    del resources["cognito.app_client"]["SupportedIdentityProviders"]  # AWS omits an emptied list
    finding = judge(resources)["COGNITO-CLIENT-IDP-ENABLED"]
    assert finding.status is Status.FAIL
    assert "is missing (expected {'contains': 'Okta'})" in finding.message


# Metadata with no usable signing certificate (issue 18): the parser states why in
# `signing_certificate_problem`; every control that needs the certificate FAILs saying so.
NO_CERTIFICATE = "the metadata carries no signing certificate (the IDPSSODescriptor has no KeyDescriptor)"


def _without_certificate(resources: dict[str, Any], where: str, *, stated: bool) -> None:
    metadata = resources["iam.saml_provider"]["metadata"] if where == "iam.saml_provider" else resources[where]
    metadata.update(signing_certificates=[], signing_certificate=None)
    if stated:  # False: a snapshot written before the parser stated the problem
        metadata["signing_certificate_problem"] = NO_CERTIFICATE


@pytest.mark.parametrize("stated", [True, False], ids=["stated", "older-snapshot"])
@pytest.mark.parametrize(("control", "where"), [
    ("OKTA-CERT-EXPIRY", "okta.metadata"),
    ("COGNITO-IDP-METADATA", "okta.metadata"),
    ("COGNITO-IDP-METADATA", "cognito.idp_metadata"),
    ("CONNECT-IAM-SAML-PROVIDER", "okta.connect_metadata"),
    ("CONNECT-IAM-SAML-PROVIDER", "iam.saml_provider"),
])
def test_metadata_without_signing_certificate_fails_saying_so(control: str, where: str, stated: bool) -> None:
    resources = f.compliant_resources()
    _without_certificate(resources, where, stated=stated)
    findings = judge(resources)
    finding = findings[control]
    assert finding.status is Status.FAIL, finding.message
    assert "the metadata carries no signing certificate" in finding.message
    assert ("has no KeyDescriptor" in finding.message) is stated
    assert "cannot compute" not in finding.message
    # Only the controls that need that certificate are disturbed by it.
    needs = {"okta.metadata": {"OKTA-CERT-EXPIRY", "COGNITO-IDP-METADATA"}}.get(where, {control})
    assert {k for k, v in findings.items() if v.status is not Status.PASS} == needs


def test_expected_value_of_a_missing_object_fails_instead_of_raising() -> None:
    # A lone `{{ okta.connect_metadata.entity_id }}` with no such app rendered to jinja's
    # Undefined object, which raised UndefinedError out of the `equals` operator.
    resources = f.compliant_resources()
    resources["okta.connect_metadata"] = None
    finding = judge(resources)["CONNECT-IAM-SAML-PROVIDER"]
    assert finding.status is Status.FAIL
    assert "cannot compute the expected value: okta.connect_metadata does not exist" in finding.message
def _custom(tmp_path: Any, controls: str) -> Any:
    path = tmp_path / "custom.yaml"
    path.write_text("version: 1\ncontrols:\n" + controls)
    return load_policies([path], include_builtin=False)


def test_expected_value_read_from_an_object_that_does_not_exist_is_fail_naming_it() -> None:
    resources = f.compliant_resources()
    resources["okta.metadata"] = None  # `equals: "{{ okta.metadata.entity_id }}"`: one native expression
    finding = judge(resources)["COGNITO-IDP-METADATA"]
    assert finding.status is Status.FAIL
    assert "cannot compute the expected value: okta.metadata does not exist" in finding.message


def test_undefined_or_failing_templates_are_errors_naming_the_template(tmp_path: Any) -> None:
    policies = _custom(tmp_path, """\
  - id: X-LIST
    title: a list holding an undefined field
    severity: low
    resource: okta.app
    assert:
      - path: status
        in: "{{ [okta.app.nonexistent, 'ACTIVE'] }}"
  - id: X-TYPE
    title: an expression that raises on live data
    severity: low
    resource: cognito.user_pool
    assert:
      - path: Id
        equals: "{{ cognito.user_pool.Id + 1 }}"
  - id: X-WHEN
    title: a condition reading an undefined field
    severity: low
    resource: okta.app
    when: okta.app.nonexistent == 'x'
    assert:
      - path: status
        equals: ACTIVE
  - id: X-MESSAGE
    title: a custom message reading an undefined field falls back to the generated one
    severity: low
    resource: okta.app
    assert:
      - path: status
        equals: INACTIVE
        message: "{{ okta.app.nonexistent }}"
""")
    found = {x.control_id: x for x in evaluate(f.snapshot(), policies, now=NOW)}
    assert found["X-LIST"].status is Status.ERROR
    assert "okta.app.nonexistent is undefined" in found["X-LIST"].message
    assert "custom.yaml:8" in found["X-LIST"].message
    assert found["X-TYPE"].status is Status.ERROR and "TypeError" in found["X-TYPE"].message
    assert "{{ cognito.user_pool.Id + 1 }}" in found["X-TYPE"].message
    assert found["X-WHEN"].status is Status.ERROR and "okta.app.nonexistent" in found["X-WHEN"].message
    assert found["X-MESSAGE"].status is Status.FAIL and "expected 'INACTIVE'" in found["X-MESSAGE"].message


def test_denies_with_a_wildcard_action_is_an_error_not_a_traceback(tmp_path: Any) -> None:
    # `iam:Put*` is no single request to judge: the IAM evaluator refused it with a ValueError that
    # escaped the engine and crashed the scan.
    policies = _custom(tmp_path, """\
  - id: X-WILDCARD
    title: a denies with a wildcard action
    severity: low
    resource: organizations
    assert:
      - denies: {action: "iam:Put*", resource: "*"}
""")
    [finding] = evaluate(f.snapshot(), policies, now=NOW)
    assert finding.status is Status.ERROR
    assert "concrete 'service:Action' name" in finding.message
