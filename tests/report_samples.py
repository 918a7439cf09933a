"""Sample report data shared by the report tests (unit and integration): two federations, findings
of every status, and hostile text as 'live' APIs might return it."""

from __future__ import annotations

from typing import Any

from auditor.models import (
    Finding,
    RunResult,
    Severity,
    Status,
    finding_uid,
)
from auditor.remediate.model import FieldChange, FindingFix, PlannedChange

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(1)>'
PROD = "contact-center-prod"
EU = "contact-center-eu"

SAMPLE_CONTROLS: list[tuple[str, str, Severity, str]] = [
    ("OKTA-APP-ACTIVE", "Okta SAML app is active", Severity.HIGH, "okta.app"),
    ("OKTA-SAML-ACS-URL", "Okta sends assertions to the pool's SAML endpoint", Severity.CRITICAL, "okta.app"),
    ("OKTA-SAML-AUDIENCE", "Audience is the user pool's URN", Severity.CRITICAL, "okta.app"),
    ("OKTA-SAML-EMAIL-ATTRIBUTE", "Email attribute statement is sent", Severity.HIGH, "okta.app"),
    ("OKTA-SAML-SIGNING", "Assertions signed with SHA-256", Severity.HIGH, "okta.app"),
    ("OKTA-ASSIGNMENTS", "Required people are assigned", Severity.MEDIUM, "okta.assignments"),
    ("OKTA-CERT-EXPIRY", "Signing certificate valid for 30+ days", Severity.HIGH, "okta.metadata"),
    ("COGNITO-DOMAIN", "Pool has the hosted-UI domain Okta targets", Severity.HIGH, "cognito.domain"),
    ("COGNITO-IDP-SAML", "SAML identity provider exists", Severity.CRITICAL, "cognito.identity_provider"),
    ("COGNITO-IDP-NAME", "IdP name meets Cognito's rules", Severity.LOW, "cognito.identity_provider"),
    ("COGNITO-IDP-METADATA", "IdP metadata is this Okta app's", Severity.HIGH, "cognito.identity_provider"),
    (
        "COGNITO-IDP-EMAIL-MAPPING",
        "email is mapped from the claim",
        Severity.MEDIUM,
        "cognito.identity_provider",
    ),
    ("COGNITO-CLIENT-IDP-ENABLED", "App client enables the IdP", Severity.HIGH, "cognito.app_client"),
    ("SCP-DENY-ROLE-DELETION", "SCP denies deleting the Connect role", Severity.HIGH, "organizations"),
    ("SCP-DENY-INSTANCE-DELETION", "SCP denies deleting the instance", Severity.HIGH, "organizations"),
    ("CONNECT-INSTANCE-SAML", "Connect instance uses SAML", Severity.INFO, "connect.instance"),
]


def sample_finding(
    control: tuple[str, str, Severity, str],
    federation: str,
    status: Status,
    *,
    expected: Any = None,
    actual: Any = None,
    message: str = "",
    title: str | None = None,
    references: tuple[str, ...] = (),
    remediation: FindingFix | None = None,
) -> Finding:
    control_id, default_title, severity, resource = control
    if expected is not None:  # report.json schema 2: per path, the operator and its value
        if not isinstance(expected, dict):
            expected, actual = {resource: expected}, {resource: actual}
        expected = {k: {"operator": "equals", "value": v} for k, v in expected.items()}
    return Finding(
        uid=finding_uid(control_id, federation, resource),
        control_id=control_id,
        title=title if title is not None else default_title,
        severity=severity,
        status=status,
        federation=federation,
        resource=resource,
        expected=expected,
        actual=actual,
        message=message or f"{control_id} is {status.value.lower()}",
        remediation=remediation,
        references=references,
    )


def sample_result() -> RunResult:
    """Two federations, 32 findings of every status, hostile text from 'live' APIs."""
    findings: list[Finding] = []
    prod_status = {
        "OKTA-APP-ACTIVE": Status.FAIL,
        "OKTA-SAML-ACS-URL": Status.FAIL,
        "OKTA-SAML-SIGNING": Status.WAIVED,
        "OKTA-CERT-EXPIRY": Status.FAIL,
        "SCP-DENY-ROLE-DELETION": Status.FAIL,
        "CONNECT-INSTANCE-SAML": Status.SKIPPED,
    }
    for control in SAMPLE_CONTROLS:
        cid = control[0]
        status = prod_status.get(cid, Status.PASS)
        kwargs: dict[str, Any] = {}
        if cid == "OKTA-APP-ACTIVE":
            kwargs = {
                "title": f"Okta app {HOSTILE_SCRIPT} is active",
                "expected": {"status": "ACTIVE", "signOnMode": "SAML_2_0", "label": "Contact Center"},
                "actual": {"status": "INACTIVE", "signOnMode": "SAML_2_0", "label": HOSTILE_SCRIPT},
                "message": f"app {HOSTILE_SCRIPT} is INACTIVE {HOSTILE_IMG}",
                "references": ("Okta SAML app, step 1", HOSTILE_IMG),
            }
        elif cid == "OKTA-SAML-ACS-URL":
            kwargs = {
                "expected": {
                    "settings.signOn.ssoAcsUrl": "https://cc-prod.auth.us-east-1.amazoncognito.com/saml2/idpresponse",
                    "settings.signOn.recipient": "https://cc-prod.auth.us-east-1.amazoncognito.com/saml2/idpresponse",
                    "settings.signOn.destination": "https://cc-prod.auth.us-east-1.amazoncognito.com/saml2/idpresponse",
                },
                "actual": {
                    "settings.signOn.ssoAcsUrl": "https://cc-old.auth.us-east-1.amazoncognito.com/saml2/idpresponse",
                    "settings.signOn.recipient": "https://cc-prod.auth.us-east-1.amazoncognito.com/saml2/idpresponse",
                    "settings.signOn.destination": None,
                },
                "message": "Okta posts assertions to a domain the user pool does not own",
                "references": ("Okta SAML app, step 2",),
                "remediation": FindingFix(PlannedChange(
                    "prod:okta.app", "prod", "okta.app", {"app_id": "0oa1"}, "okta PUT /api/v1/apps/0oa1",
                    ("OKTA-SAML-ACS-URL",), (f"OKTA-SAML-ACS-URL: set {HOSTILE_SCRIPT}",),
                    (FieldChange("settings.signOn.ssoAcsUrl", HOSTILE_IMG, "https://cc-prod.example"),), {}, {})),
            }
        elif cid == "OKTA-CERT-EXPIRY":
            kwargs = {
                "expected": ">= 30 days",
                "actual": "12 days (2025-12-10T00:00:00Z)",
                "message": "Signing certificate expires in 12 days",
            }
        elif cid == "SCP-DENY-ROLE-DELETION":
            kwargs = {
                "expected": {"effect": "Deny", "action": "iam:DeleteRole", "unconditional": True},
                "actual": {
                    "effect": "Deny",
                    "action": "iam:DeleteRole",
                    "unconditional": False,
                    "conditions": ["StringNotEquals aws:PrincipalTag/team=platform"],
                },
                "message": "The deny holds only under a condition (StringNotEquals aws:PrincipalTag/team)",
            }
        elif cid == "OKTA-SAML-SIGNING":
            kwargs = {
                "message": "Waived by j.doe until 2026-01-31: vendor migration",
                "expected": ["RSA_SHA256", "SHA256"],
                "actual": ["RSA_SHA1", "SHA1"],
            }
        elif cid == "CONNECT-INSTANCE-SAML":
            kwargs = {"message": "No connect_sso block configured for this federation"}
        elif status is Status.PASS:
            kwargs = {"expected": "ok", "actual": "ok"}
        findings.append(sample_finding(control, PROD, status, **kwargs))
    eu_status = {
        "COGNITO-IDP-SAML": Status.ERROR,
        "COGNITO-IDP-METADATA": Status.ERROR,
        "COGNITO-IDP-NAME": Status.FAIL,
        "OKTA-ASSIGNMENTS": Status.FAIL,
        "CONNECT-INSTANCE-SAML": Status.SKIPPED,
    }
    for control in SAMPLE_CONTROLS:
        cid = control[0]
        status = eu_status.get(cid, Status.PASS)
        kwargs = {}
        if status is Status.ERROR:
            kwargs = {
                "message": "cognito-idp:DescribeIdentityProvider failed: AccessDenied",
                "expected": {"ProviderType": "SAML"},
                "actual": None,
            }
        elif cid == "COGNITO-IDP-NAME":
            kwargs = {
                "expected": "no spaces, 3-32 chars",
                "actual": "Okta EU",
                "message": "IdP name 'Okta EU' has a space",
            }
        elif cid == "OKTA-ASSIGNMENTS":
            kwargs = {
                "expected": {"groups": ["cc-agents-eu", "cc-supervisors"]},
                "actual": {"groups": ["cc-agents-eu"]},
                "message": "group cc-supervisors is not assigned",
            }
        elif cid == "CONNECT-INSTANCE-SAML":
            kwargs = {"message": "No connect_sso block configured for this federation"}
        findings.append(sample_finding(control, EU, status, **kwargs))
    return RunResult(
        run_id="20251128T084200Z-7f3a",
        started_at="2025-11-28T08:42:00+00:00",
        finished_at="2025-11-28T08:42:07.400000+00:00",
        tool_version="0.1.0",
        federations=(PROD, EU),
        findings=tuple(findings),
        collection_errors={
            EU: [
                {
                    "source": "cognito.identity_provider",
                    "message": f"AccessDenied: not authorized {HOSTILE_SCRIPT}",
                }
            ],
        },
        evidence={
            "snapshot_sha256": "9f2c" + "0" * 60,
            "config_sha256": "41ab" + "1" * 60,
            "policy_files": {"policies/okta.yaml": "aa" * 32, "policies/scp.yaml": "bb" * 32},
            "snapshot_file": "reports/20251128T084200Z-7f3a/snapshot.json",
            "collectors": {"okta": "3.0.0", "boto3": "1.35.0"},
        },
        mode="scan",
    )
