"""Plain-data builders for unit tests: a compliant federation's snapshot, ready to mutate."""

from __future__ import annotations

import copy
from typing import Any

from auditor.snapshot import CollectionError, FederationSnapshot, Snapshot

POOL = "us-east-1_Abc123"
DOMAIN = "acme-cc"
REGION = "us-east-1"
ACS = f"https://{DOMAIN}.auth.{REGION}.amazoncognito.com/saml2/idpresponse"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ROLE_ARN = "arn:aws:iam::123456789012:role/AmazonConnectUserRole"
INSTANCE_ARN = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555"
CERT = {"subject": "CN=okta", "issuer": "CN=okta", "serial": "1", "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2030-01-01T00:00:00+00:00", "fingerprint_sha256": "ab" * 32}
INSTANCE_ID = INSTANCE_ARN.rsplit("/", 1)[-1]
PROVIDER_ARN = "arn:aws:iam::123456789012:saml-provider/OktaConnect"
AWS_SIGNIN = "https://signin.aws.amazon.com/saml"
ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
ROLE_SESSION_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
CONNECT_CERT = {**CERT, "serial": "2", "fingerprint_sha256": "cd" * 32}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML",
                   "Condition": {"StringEquals": {"SAML:aud": AWS_SIGNIN}}}],
}
FEDERATE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "connect:GetFederationToken",
                   "Resource": f"{INSTANCE_ARN}/user/${{aws:userid}}"}],
}
PROTECT = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Protect", "Effect": "Deny", "Action": ["iam:DeleteRole", "connect:DeleteInstance"],
                   "Resource": [ROLE_ARN, INSTANCE_ARN]}],
}


def fed_config(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "prod", "okta_app": {"label": "Contact Center"}, "user_pool_id": POOL,
        "app_client": {"name": "app-client"}, "identity_provider": "Okta",
        "required_assignments": {"users": ["agent@example.com"], "groups": ["Agents"]},
        "cert_min_days": 30, "cloudformation_stack": None,
        "connect_sso": {"okta_app": {"label": "Amazon Connect"}, "saml_provider_arn": PROVIDER_ARN,
                        "instance_id": INSTANCE_ID, "role_arn": ROLE_ARN},
        "scp": {"account_id": "123456789012", "connect_role_arn": ROLE_ARN, "connect_instance_arn": INSTANCE_ARN},
    }
    base.update(overrides)
    return base


def compliant_resources() -> dict[str, Any]:
    # Shaped as the Okta collector writes them (auditor.snapshot): read through the API, with the
    # public Metadata URL of the app's Sign On tab beside it.
    metadata = {"url": "https://acme.okta.com/api/v1/apps/0oa1/sso/saml/metadata",
                "public_url": "https://acme.okta.com/app/exk1/sso/saml/metadata", "entity_id": "http://www.okta.com/exk1",
                "sso_urls": [], "signing_certificates": [CERT], "signing_certificate": CERT}
    connect_metadata = {"url": "https://acme.okta.com/api/v1/apps/0oa2/sso/saml/metadata",
                        "public_url": "https://acme.okta.com/app/exk2/sso/saml/metadata",
                        "entity_id": "http://www.okta.com/exk2", "sso_urls": [],
                        "signing_certificates": [CONNECT_CERT], "signing_certificate": CONNECT_CERT}
    return copy.deepcopy({
        "okta.app": {
            "id": "0oa1", "label": "Contact Center", "status": "ACTIVE", "signOnMode": "SAML_2_0",
            "settings": {"signOn": {
                "ssoAcsUrl": ACS, "recipient": ACS, "destination": ACS,
                "audience": f"urn:amazon:cognito:sp:{POOL}", "assertionSigned": True,
                "signatureAlgorithm": "RSA_SHA256", "digestAlgorithm": "SHA256",
                "attributeStatements": [
                    {"type": "EXPRESSION", "name": EMAIL_CLAIM,
                     "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}],
            }},
        },
        "okta.assignments": {
            "users": [{"id": "00u1", "login": "agent@example.com", "email": "agent@example.com", "status": "ACTIVE",
                       "scope": "USER"}],
            "groups": [{"id": "00g1", "name": "Agents"}],
            "user_refs": ["00u1", "agent@example.com"], "group_refs": ["00g1", "Agents"],
        },
        "okta.metadata": metadata,
        "cognito.user_pool": {"Id": POOL, "Name": "cc", "Domain": DOMAIN},
        "cognito.domain": {"Domain": DOMAIN, "UserPoolId": POOL, "Status": "ACTIVE"},
        "cognito.identity_provider": {
            "UserPoolId": POOL, "ProviderName": "Okta", "ProviderType": "SAML",
            "ProviderDetails": {"MetadataURL": metadata["public_url"]}, "AttributeMapping": {"email": EMAIL_CLAIM}},
        "cognito.idp_metadata": {**{k: v for k, v in metadata.items() if k != "public_url"},
                                 "url": metadata["public_url"], "source": "url"},
        "cognito.app_client": {"ClientId": "c1", "ClientName": "app-client", "UserPoolId": POOL,
                               "SupportedIdentityProviders": ["COGNITO", "Okta"]},
        "organizations": {
            "account_id": "123456789012", "management_account_id": "111122223333", "policy_type_enabled": True,
            "path": [{"id": "123456789012", "type": "ACCOUNT", "name": None},
                     {"id": "r-root", "type": "ROOT", "name": "Root"}],
            "policies": [{"id": "p-1", "name": "protect-connect", "arn": "arn", "aws_managed": False,
                          "content": PROTECT, "targets": ["r-root"]}],
        },
        "iam.connect_role": {"RoleName": "AmazonConnectUserRole", "Arn": ROLE_ARN, "AssumeRolePolicyDocument": TRUST},
        "connect.instance": {"Id": "11111111-2222-3333-4444-555555555555", "Arn": INSTANCE_ARN,
                             "InstanceStatus": "ACTIVE", "IdentityManagementType": "SAML"},
        "okta.connect_app": {
            "id": "0oa2", "label": "Amazon Connect", "status": "ACTIVE", "signOnMode": "SAML_2_0",
            "settings": {"signOn": {
                "ssoAcsUrl": AWS_SIGNIN, "recipient": AWS_SIGNIN, "destination": AWS_SIGNIN,
                "audience": "urn:amazon:webservices",
                "defaultRelayState": f"https://{REGION}.console.aws.amazon.com/connect/federate/{INSTANCE_ID}",
                "attributeStatements": [
                    {"type": "EXPRESSION", "name": ROLE_ATTRIBUTE,
                     "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                     "values": [f"{ROLE_ARN},{PROVIDER_ARN}"]},
                    {"type": "EXPRESSION", "name": ROLE_SESSION_ATTRIBUTE,
                     "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.login"]}],
            }},
        },
        "okta.connect_metadata": connect_metadata,
        "iam.saml_provider": {"Arn": PROVIDER_ARN, "CreateDate": "2026-01-01T00:00:00+00:00",
                              "ValidUntil": "2126-01-01T00:00:00+00:00", "Tags": [],
                              "metadata": copy.deepcopy(connect_metadata)},
        "iam.connect_role_policies": [
            {"id": "AmazonConnectUserRole/inline/federate", "name": "federate", "type": "inline",
             "content": FEDERATE}],
    })


def snapshot(resources: dict[str, Any] | None = None, *, errors: list[tuple[str, str]] = (),  # type: ignore[assignment]
             config: dict[str, Any] | None = None) -> Snapshot:
    fed = FederationSnapshot(
        name="prod", config=config or fed_config(),
        resources=compliant_resources() if resources is None else resources,
        errors=tuple(CollectionError(s, m) for s, m in errors))
    return Snapshot(run_id="r1", collected_at="2026-11-28T00:00:00+00:00", tool_version="test",
                    settings={"aws": {"region": REGION}, "okta": {"org_url": "https://acme.okta.com",
                                                                  "allow_insecure_http": False}},
                    federations=(fed,))


# The smallest config that validates (no API is called with it): for load-only tests.
MINIMAL_CONFIG = """\
version: 1
okta:
  org_url: https://example.okta.com
  auth: {token_env: OKTA_API_TOKEN}
aws: {region: us-east-1}
federations:
  - name: prod
    okta_app: {id: 0oa1example}
    user_pool_id: us-east-1_Example1
    app_client: {name: app-client}
    identity_provider: Okta
"""
