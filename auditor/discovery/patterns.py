"""What a federation's pieces look like, as AWS and Okta document them. Pure: no I/O.

- Cognito as a SAML service provider: audience (SP entity ID) `urn:amazon:cognito:sp:<poolId>`
  and ACS `https://<domain prefix>.auth.<region>.amazoncognito.com/saml2/idpresponse`, or
  `https://<custom domain>/saml2/idpresponse` (Cognito Developer Guide, "Adding SAML identity
  providers to a user pool").
- AWS IAM federation: the sign-in SAML endpoint (`auditor.evaluate.aws_signin`), the Role
  attribute `<role ARN>,<provider ARN>` (either order), and for Amazon Connect the relay state
  `https://<region>.console.aws.amazon.com/connect/federate/<instance id>` (Connect
  Administrator Guide, "Configure SAML with IAM for Amazon Connect").
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from auditor.evaluate.aws_signin import ROLE_ATTRIBUTE, signin_endpoint_problem

COGNITO_AUDIENCE = re.compile(r"^urn:amazon:cognito:sp:(?P<pool>[\w-]+_[0-9a-zA-Z]+)$")
COGNITO_ACS = re.compile(r"^https://(?P<prefix>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.auth\.(?P<region>[a-z]{2}(?:-gov)?"
                         r"-[a-z]+-\d)\.amazoncognito\.com/saml2/idpresponse/?$")
CUSTOM_ACS = re.compile(r"^https://(?P<host>[^/]+)/saml2/idpresponse/?$")
RELAY_STATE = re.compile(r"^https://(?:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d)\.console\.aws\.amazon\.com|"
                         r"console\.amazonaws-us-gov\.com)/connect/federate/(?P<instance>[0-9a-f-]{36})(?:[/?#].*)?$")
ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(?P<account>\d{12}):role/.+$")
PROVIDER_ARN = re.compile(r"^arn:aws[\w-]*:iam::(?P<account>\d{12}):saml-provider/.+$")

COGNITO = "cognito"
IAM = "iam"


def app_kind(app: dict[str, Any]) -> str | None:
    """`cognito`, `iam` or None (neither: the app is not part of a federation we audit), from a
    SAML app's audience and ACS (its sign-on settings as `app_summary` keeps them)."""
    audience, acs = str(app.get("audience") or ""), str(app.get("sso_acs_url") or "")
    if COGNITO_AUDIENCE.match(audience) or COGNITO_ACS.match(acs):
        return COGNITO
    if acs and signin_endpoint_problem(acs) is None:
        return IAM
    if CUSTOM_ACS.match(acs):  # a custom Cognito domain: only known once the pools are read
        return COGNITO
    return None


def app_summary(app: dict[str, Any]) -> dict[str, Any]:
    """The fields of an Okta app (GET /api/v1/apps) that matching reads, as plain data."""
    sign_on = ((app.get("settings") or {}).get("signOn") or {})
    roles: list[str] = []
    for statement in sign_on.get("attributeStatements") or []:
        if isinstance(statement, dict) and statement.get("name") == ROLE_ATTRIBUTE:
            roles += [str(v) for v in statement.get("values") or []]
    return {
        "id": str(app.get("id") or ""), "label": app.get("label"), "name": app.get("name"),
        "status": app.get("status"), "sign_on_mode": app.get("signOnMode"),
        "sso_acs_url": sign_on.get("ssoAcsUrl"), "audience": sign_on.get("audience"),
        "recipient": sign_on.get("recipient"), "default_relay_state": sign_on.get("defaultRelayState"),
        "role_values": roles,
    }


def role_pairs(values: list[str]) -> list[tuple[str, str]]:
    """(role ARN, provider ARN) of each Role attribute value, in either documented order."""
    pairs = []
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            continue
        role = next((p for p in parts if ROLE_ARN.match(p)), None)
        provider = next((p for p in parts if PROVIDER_ARN.match(p)), None)
        if role and provider:
            pairs.append((role, provider))
    return pairs


def host_of(url: str) -> str:
    """The lower-case host of a URL ('' when none)."""
    return (urlsplit(url).hostname or "").lower()
