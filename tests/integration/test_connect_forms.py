"""The built-in Connect controls judge by what AWS documents: every valid form passes, what AWS
sign-in refuses fails. Each case cites its source (page title, section). Plain-data judgments of
the built-in catalogue first, then one end-to-end scan of the sandbox with alternative forms."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.evaluate.engine import evaluate
from auditor.models import Finding, Status
from auditor.policy.loader import load_policies
from auditor.sandbox.scenario import Sandbox, seed_federation
from tests import factories as f
from tests.conftest import by_control, scan_sandbox

NOW = datetime(2026, 11, 28, tzinfo=UTC)
POLICIES = load_policies()
CONNECT_GUIDE = "Amazon Connect: Configure SAML with IAM for Amazon Connect"
IAM_ASSERTIONS = "IAM: Configure SAML assertions for the authentication response"
IAM_TROUBLESHOOT = "IAM: Troubleshoot SAML 2.0 federation with AWS"
REGIONAL = "https://us-east-2.signin.aws.amazon.com/saml"
SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"


def judge(resources: dict[str, Any]) -> dict[str, Finding]:
    return {x.control_id: x for x in evaluate(f.snapshot(resources), POLICIES, now=NOW)}


def sign_on(r: dict[str, Any]) -> dict[str, Any]:
    return dict(r["okta.connect_app"]["settings"]["signOn"])


def _set_sign_on(**values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        r["okta.connect_app"]["settings"]["signOn"].update(values)
    return edit


def _trust_aud(value: Any, operator: str = "StringEquals") -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        r["iam.connect_role"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] = {operator: {"SAML:aud": value}}
    return edit


def _regional(r: dict[str, Any]) -> None:
    _trust_aud([f.AWS_SIGNIN, REGIONAL])(r)
    _set_sign_on(ssoAcsUrl=REGIONAL, recipient=REGIONAL, destination=REGIONAL)(r)


def _role_provider_first(r: dict[str, Any]) -> None:
    r["okta.connect_app"]["settings"]["signOn"]["attributeStatements"][0]["values"] = [
        f"{f.PROVIDER_ARN},{f.ROLE_ARN}"]


def _session_duration(seconds: str) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        r["okta.connect_app"]["settings"]["signOn"]["attributeStatements"].append(
            {"type": "EXPRESSION", "name": DURATION, "values": [seconds]})
    return edit


def _federation_by_instance_condition(ids: Any) -> Callable[[dict[str, Any]], None]:
    def edit(r: dict[str, Any]) -> None:
        r["iam.connect_role_policies"][0]["content"] = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "connect:GetFederationToken", "Resource": "*",
            "Condition": {"StringEquals": {"connect:InstanceId": ids}}}]}
    return edit


def _no_session_name(r: dict[str, Any]) -> None:
    statements = r["okta.connect_app"]["settings"]["signOn"]["attributeStatements"]
    statements[:] = [s for s in statements if s["name"] != SESSION_NAME]


BASE = f"https://{f.REGION}.console.aws.amazon.com/connect/federate/{f.INSTANCE_ID}"

# (control, edit, source): documented forms other than the one the sandbox seeds; each passes.
VALID = [
    ("CONNECT-ROLE-TRUST", _trust_aud([f.AWS_SIGNIN, REGIONAL]),
     f"{CONNECT_GUIDE}, regional SAML endpoints: a multivalued SAML:aud condition"),
    ("CONNECT-ROLE-TRUST", _trust_aud("https://*.signin.aws.amazon.com/saml", "StringLike"),
     f"{IAM_ASSERTIONS}, Mapping SAML attributes: StringEquals or StringLike"),
    ("CONNECT-ROLE-TRUST", _trust_aud([f.AWS_SIGNIN], "ForAnyValue:StringEquals"),
     f"{IAM_ASSERTIONS}, Mapping SAML attributes: the ForAnyValue set operator"),
    ("OKTA-CONNECT-APP", _regional, f"{CONNECT_GUIDE}, regional SAML endpoints (ACS override + trust policy)"),
    ("OKTA-CONNECT-APP", _role_provider_first,
     "AWS Managed Services: AD FS claim rule and SAML settings, Role claim (provider ARN first)"),
    ("OKTA-CONNECT-APP", _set_sign_on(defaultRelayState=f"{BASE}?destination=%2Fccp-v2%2Fchat&new_domain=true"),
     f"{CONNECT_GUIDE}, Use a destination in your relay state URL"),
    ("OKTA-CONNECT-APP", _session_duration("43200"), f"{IAM_ASSERTIONS}, SAML SessionDuration attribute"),
    ("CONNECT-ROLE-FEDERATION", _federation_by_instance_condition(f.INSTANCE_ID),
     f"{CONNECT_GUIDE}, IAM policy: Resource * with StringEquals connect:InstanceId"),
    ("CONNECT-ROLE-FEDERATION", _federation_by_instance_condition([f.INSTANCE_ID, "1234567-78a2-2e74-d572"]),
     f"{CONNECT_GUIDE}, IAM policy: several instance IDs in brackets"),
]


@pytest.mark.parametrize("control,edit,source", VALID, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(VALID)])
def test_documented_alternative_form_passes(control: str, edit: Callable[[dict[str, Any]], None],
                                            source: str) -> None:
    resources = f.compliant_resources()
    edit(resources)
    finding = judge(resources)[control]
    assert finding.status is Status.PASS, f"{source}: {finding.message}"


# (control, edit, words in the message, source): looks complete, but AWS sign-in refuses it.
REFUSED = [
    ("OKTA-CONNECT-APP", _no_session_name, "RoleSessionName is required",
     f"{IAM_TROUBLESHOOT}: 'RoleSessionName is required in AuthnResponse'"),
    ("OKTA-CONNECT-APP", _set_sign_on(ssoAcsUrl=REGIONAL, recipient=REGIONAL, destination=REGIONAL),
     "AWS sign-in refuses https://us-east-2.signin.aws.amazon.com/saml",
     f"{IAM_ASSERTIONS}, AudienceRestriction (saml:aud is the Recipient) with a trust policy listing only "
     "the global endpoint"),
    ("OKTA-CONNECT-APP", _session_duration("86400"), "from 900 to 43200",
     f"{IAM_ASSERTIONS}, SAML SessionDuration attribute"),
    ("OKTA-CONNECT-APP", _set_sign_on(defaultRelayState=f"{BASE}?destination=/ccp-v2"), "not URL-encoded",
     f"{CONNECT_GUIDE}, Use a destination: 'You must use URL encoding'"),
    ("CONNECT-ROLE-TRUST", _trust_aud("urn:amazon:webservices"), "Audience value",
     f"{IAM_ASSERTIONS}, AudienceRestriction: the Audience does not map to saml:aud"),
    ("CONNECT-ROLE-TRUST", _trust_aud(f.AWS_SIGNIN, "ForAllValues:StringEquals"), "no SAML:aud",
     "IAM: Multivalued context keys (ForAllValues holds when the key is missing)"),
    ("CONNECT-ROLE-FEDERATION", _federation_by_instance_condition("00000000-0000-0000-0000-000000000000"),
     "does not hold", f"{CONNECT_GUIDE}, IAM policy: the condition names another instance"),
]


@pytest.mark.parametrize("control,edit,words,source", REFUSED,
                         ids=[f"{c}-{i}" for i, (c, _, _, _) in enumerate(REFUSED)])
def test_refused_form_fails_even_when_it_looks_complete(control: str, edit: Callable[[dict[str, Any]], None],
                                                        words: str, source: str) -> None:
    resources = f.compliant_resources()
    edit(resources)
    finding = judge(resources)[control]
    assert finding.status is Status.FAIL, source
    assert words in finding.message


# ---------------------------------------------------------------------------------------------
# End to end: the real okta SDK against the simulator, boto3 against the local AWS.

CONNECT_CONTROLS = ("CONNECT-INSTANCE-SAML", "CONNECT-IAM-SAML-PROVIDER", "CONNECT-ROLE-TRUST",
                    "CONNECT-ROLE-FEDERATION", "OKTA-CONNECT-APP")


@pytest.mark.integration
def test_sandbox_scan_with_alternative_documented_forms(sandbox: Sandbox, tmp_path: Path) -> None:
    """A chain set up with the regional endpoint, provider-first Role pairs, a relay-state
    destination, SessionDuration and the connect:InstanceId policy passes all five controls
    (sources: the Connect guide's regional SAML endpoints, destination and IAM policy sections;
    the IAM assertions page's SessionDuration section; AMS's AD FS Role claim). Then the trust
    policy drops the regional endpoint: AWS would refuse the sign-in, and OKTA-CONNECT-APP fails."""
    fed = seed_federation(sandbox, "forms")
    iam = sandbox.aws.client("iam")
    role_name = fed.role_arn.rsplit("/", 1)[-1]
    instance_id = fed.instance_arn.rsplit("/", 1)[-1]
    region = fed.instance_arn.split(":")[3]
    provider = fed.config["connect_sso"]["saml_provider_arn"]

    def trust(audiences: list[str]) -> None:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": audiences}}}]}))

    trust(["https://signin.aws.amazon.com/saml", REGIONAL])
    iam.put_role_policy(RoleName=role_name, PolicyName="connect-federation", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "connect:GetFederationToken", "Resource": "*",
            "Condition": {"StringEquals": {"connect:InstanceId": [instance_id]}}}]}))
    app = sandbox.admin.call("GET", f"/api/v1/apps/{fed.connect_app_id}")
    signon = app["settings"]["signOn"]
    signon.update(ssoAcsUrl=REGIONAL, recipient=REGIONAL, destination=REGIONAL,
                  defaultRelayState=f"https://{region}.console.aws.amazon.com/connect/federate/{instance_id}"
                                    "?destination=%2Fccp-v2")
    for statement in signon["attributeStatements"]:
        if statement["name"].endswith("/Role"):
            statement["values"] = [f"{provider},{fed.role_arn}"]
    signon["attributeStatements"].append({"type": "EXPRESSION", "name": DURATION, "values": ["43200"],
                                          "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"})
    sandbox.admin.call("PUT", f"/api/v1/apps/{fed.connect_app_id}", app)

    (tmp_path / "valid").mkdir()
    findings = by_control(scan_sandbox(sandbox, [fed], tmp_path / "valid"), fed.name)
    assert {c: findings[c].status for c in CONNECT_CONTROLS} == dict.fromkeys(CONNECT_CONTROLS, Status.PASS), \
        {c: findings[c].message for c in CONNECT_CONTROLS if findings[c].status is not Status.PASS}

    trust(["https://signin.aws.amazon.com/saml"])
    (tmp_path / "refused").mkdir()
    findings = by_control(scan_sandbox(sandbox, [fed], tmp_path / "refused"), fed.name)
    assert findings["CONNECT-ROLE-TRUST"].status is Status.PASS  # the trust alone looks fine...
    app_finding = findings["OKTA-CONNECT-APP"]  # ...but it refuses the endpoint Okta posts to
    assert app_finding.status is Status.FAIL and f"AWS sign-in refuses {REGIONAL}" in app_finding.message
