"""Seeding the sandbox with a contact center, through the public APIs only.

Okta state is created with HTTP calls to the simulator's management API (as an admin would with
curl); AWS state with boto3 calls to the local AWS. Nothing is written into server internals,
except the one thing Okta's API cannot do: make a signing certificate that expires in 10 days
(`OktaSimulator.set_app_certificate_validity`).

Drift is applied the way it happens in real life: an admin edits the Okta app, a Terraform run
resets the app client (UpdateUserPoolClient without SupportedIdentityProviders), someone edits
the SCP.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from auditor.sandbox.local_aws import LocalAWS
from auditor.sandbox.okta_sim import OktaSimulator

ACCOUNT_ID = "123456789012"  # the contact center's account: a member of the organization
# The organization's management account, where nothing of the contact center lives: AWS
# recommends keeping workloads out of it, and SCPs do not affect it at all ("SCPs don't affect
# users or roles in the management account"),
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
# The scanner reads the organization there through the `organizations.profile` profile.
MANAGEMENT_ACCOUNT_ID = "111122223333"
MANAGEMENT_PROFILE = "sandbox-management"
REGION = "us-east-1"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
SANDBOX_TOKEN = "sandbox-api-token-0123456789"
# Drift is made by named actors, so that attribution ("who changed it") has someone to name: AWS
# drift by a Terraform pipeline's role session, Okta drift by an administrator's API token.
DRIFT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/terraform-ci"
DRIFT_SESSION = "terraform-ci"
DRIFT_OKTA_ADMIN = "jane.admin@example.com"
DRIFT_OKTA_TOKEN = "sandbox-drift-admin-token-42"
TOKEN_ENV = "AUDITOR_SANDBOX_OKTA_TOKEN"

# Every drift the scenario can seed, by the control it breaks.
DRIFTS = {
    "app_inactive": "OKTA-APP-ACTIVE",
    "acs_url": "OKTA-SAML-ACS-URL",
    "audience": "OKTA-SAML-AUDIENCE",
    "no_email_attribute": "OKTA-SAML-EMAIL-ATTRIBUTE",
    "sha1_signing": "OKTA-SAML-SIGNING",
    "missing_group": "OKTA-ASSIGNMENTS",
    "cert_expiring": "OKTA-CERT-EXPIRY",
    "no_domain": "COGNITO-DOMAIN",
    "idp_not_saml": "COGNITO-IDP-SAML",
    "idp_name_space": "COGNITO-IDP-NAME",
    "metadata_other_app": "COGNITO-IDP-METADATA",
    "email_mapping": "COGNITO-IDP-EMAIL-MAPPING",
    "client_lost_idp": "COGNITO-CLIENT-IDP-ENABLED",
    "scp_missing_role": "SCP-DENY-ROLE-DELETION",
    "scp_missing_instance": "SCP-DENY-INSTANCE-DELETION",
    "role_deleted": "SCP-PROTECTED-RESOURCES-EXIST",
    # The Amazon Connect sign-in chain (connect_sso).
    "instance_not_saml": "CONNECT-INSTANCE-SAML",
    "provider_old_cert": "CONNECT-IAM-SAML-PROVIDER",
    "trust_no_aud": "CONNECT-ROLE-TRUST",
    "trust_account_principal": "CONNECT-ROLE-TRUST",
    "federation_other_instance": "CONNECT-ROLE-FEDERATION",
    "relay_state_region": "OKTA-CONNECT-APP",
}

DEMO_DRIFTS = ("email_mapping", "client_lost_idp", "scp_missing_instance", "cert_expiring", "audience",
               "provider_old_cert")

# The AWS side of SAML sign-in: the endpoint Okta posts to, which is also the audience the role's
# trust checks (SAML:aud), and the attribute naming the role and provider to assume.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html
AWS_SIGNIN = "https://signin.aws.amazon.com/saml"
ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
ROLE_SESSION_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
OTHER_REGION = "eu-west-2"


class OktaAdmin:
    """A tiny admin client for seeding the simulator over HTTP (the scanner uses the okta SDK)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one JSON request; raise RuntimeError with Okta's error summary on failure."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers={
            "Authorization": f"SSWS {self.token}", "Accept": "application/json",
            "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        return json.loads(raw) if raw else None


@dataclass
class Sandbox:
    """The running sandbox: the Okta simulator and the local AWS, plus seeding helpers."""

    okta: OktaSimulator = field(default_factory=lambda: OktaSimulator(api_token=SANDBOX_TOKEN))
    aws: LocalAWS = field(default_factory=lambda: LocalAWS(region=REGION))
    _org: dict[str, str] = field(default_factory=dict)
    _users: dict[str, str] = field(default_factory=dict)
    _groups: dict[str, str] = field(default_factory=dict)
    # Holds the AWS shared credentials file with the management account's profile.
    _home: Path | None = None
    # Top-level keys every generated config gets (`config_document`); the test suite turns
    # attribution off here (each CloudTrail lookup is paced to AWS's 2 per second) except where a
    # test asks for it.
    config_defaults: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Sandbox:
        """Start both servers (and point boto3's default credential chain at dummy keys)."""
        self._home = Path(tempfile.mkdtemp(prefix="auditor-sandbox-"))
        self.credentials_file.write_text("", encoding="utf-8")
        self.okta.start()
        self.okta.add_api_token(DRIFT_OKTA_TOKEN, login=DRIFT_OKTA_ADMIN, display_name="Jane Admin")
        self.aws.start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        self.okta.stop()
        self.aws.stop()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    @property
    def credentials_file(self) -> Path:
        """The AWS shared credentials file holding the `MANAGEMENT_PROFILE` profile."""
        if self._home is None:
            raise RuntimeError("the sandbox is not started")
        return self._home / "credentials"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all AWS state (the Okta simulator keeps its apps; seed new names instead)."""
        self.aws.reset()
        self._org.clear()
        self.credentials_file.write_text("", encoding="utf-8")  # its keys died with the reset

    @property
    def admin(self) -> OktaAdmin:
        """An Okta admin client for the simulator."""
        return OktaAdmin(self.okta.url, SANDBOX_TOKEN)

    @property
    def drift_admin(self) -> OktaAdmin:
        """The Okta administrator who makes the scenario's Okta drift (DRIFT_OKTA_ADMIN)."""
        return OktaAdmin(self.okta.url, DRIFT_OKTA_TOKEN)

    def terraform_client(self, service: str) -> Any:
        """A boto3 client acting as a Terraform pipeline: the role `terraform-ci` assumed with
        session name `terraform-ci` (moto's AssumeRole does not need the role to exist) and
        Terraform's user agent; CloudTrail records its calls under that session."""
        from botocore.config import Config

        creds = self.aws.client("sts").assume_role(RoleArn=DRIFT_ROLE_ARN, RoleSessionName=DRIFT_SESSION)["Credentials"]
        return self.aws.client(service, aws_access_key_id=creds["AccessKeyId"],
                               aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                               config=Config(user_agent_extra="Terraform/1.9.5 terraform-provider-aws/5.70.0"))

    def environment(self) -> dict[str, str]:
        """Environment variables a scan of the sandbox needs (token and dummy AWS keys)."""
        return {TOKEN_ENV: SANDBOX_TOKEN, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file)}

    # --- Okta ------------------------------------------------------------------------------

    def user(self, login: str) -> str:
        """Create (once) an active Okta user; return its id."""
        if login not in self._users:
            first = login.split("@")[0]
            created = self.admin.call("POST", "/api/v1/users?activate=true", {"profile": {
                "firstName": first.title(), "lastName": "Agent", "email": login, "login": login}})
            self._users[login] = created["id"]
        return self._users[login]

    def group(self, name: str, members: Iterable[str] = ()) -> str:
        """Create (once) an Okta group with members; return its id."""
        if name not in self._groups:
            created = self.admin.call("POST", "/api/v1/groups", {"profile": {"name": name, "description": name}})
            self._groups[name] = created["id"]
            for login in members:
                self.admin.call("PUT", f"/api/v1/groups/{created['id']}/users/{self.user(login)}")
        return self._groups[name]

    # --- AWS organization ------------------------------------------------------------------

    def management_client(self, service: str) -> Any:
        """A boto3 client acting in the organization's management account."""
        return self.aws.client(service, **self.aws.account_credentials(MANAGEMENT_ACCOUNT_ID))

    def organization(self) -> dict[str, str]:
        """Create (once) the organization, as an administrator would: from the management account,
        with SCPs enabled on the root; the contact center's account joins by invitation and is
        moved into the OU 'contact-center'. Writes the management account's profile."""
        if not self._org:
            org = self.management_client("organizations")
            org.create_organization(FeatureSet="ALL")
            root = org.list_roots()["Roots"][0]["Id"]
            org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
            invite = org.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": ACCOUNT_ID})
            self.aws.client("organizations").accept_handshake(HandshakeId=invite["Handshake"]["Id"])
            ou = org.create_organizational_unit(ParentId=root, Name="contact-center")["OrganizationalUnit"]["Id"]
            org.move_account(AccountId=ACCOUNT_ID, SourceParentId=root, DestinationParentId=ou)
            keys = self.aws.account_credentials(MANAGEMENT_ACCOUNT_ID)
            self.credentials_file.write_text(
                f"[{MANAGEMENT_PROFILE}]\naws_access_key_id = {keys['aws_access_key_id']}\n"
                f"aws_secret_access_key = {keys['aws_secret_access_key']}\n", encoding="utf-8")
            self._org.update(root=root, ou=ou)
        return self._org

    def attach_scp(self, name: str, statements: list[dict[str, Any]], target: str) -> str:
        """Create an SCP and attach it to a target ('root', 'ou', 'account' or an id); return its id."""
        org = self.management_client("organizations")
        ids = {"root": self.organization()["root"], "ou": self.organization()["ou"], "account": ACCOUNT_ID}
        content = json.dumps({"Version": "2012-10-17", "Statement": statements})
        policy = org.create_policy(Name=name, Description=name, Type="SERVICE_CONTROL_POLICY",
                                   Content=content)["Policy"]["PolicySummary"]["Id"]
        org.attach_policy(PolicyId=policy, TargetId=ids.get(target, target))
        return str(policy)


def public_metadata_url(sb: Sandbox, app_id: str) -> str:
    """The app's "Metadata URL" as Okta's Sign On tab shows it: `{org}/app/{entityKey}/sso/saml/metadata`.

    An admin copies it from the Admin Console; the API does not return the entity key, so the
    simulator's seeding helper stands in for the console here.
    """
    return f"{sb.okta.url}/app/{sb.okta.app_external_key(app_id)}/sso/saml/metadata"


@dataclass(frozen=True)
class SeededFederation:
    """What seeding created for one federation, and its config block."""

    name: str
    app_id: str
    pool_id: str
    client_id: str
    domain: str | None
    role_arn: str
    instance_arn: str
    scp_id: str | None
    config: dict[str, Any]
    connect_app_id: str = ""
    saml_provider_arn: str = ""


def seed_federation(sb: Sandbox, name: str, drifts: Iterable[str] = (), *, scp_target: str = "ou",
                    agents: int = 3) -> SeededFederation:
    """Create one contact center's whole sign-in chain, then apply the named drifts."""
    drift = set(drifts)
    unknown = drift - set(DRIFTS)
    if unknown:
        raise ValueError(f"unknown drift(s) {sorted(unknown)}; known: {sorted(DRIFTS)}")
    aws = sb.aws
    cognito = aws.client("cognito-idp")
    slug = name.lower()

    # Amazon Connect instance, and the Okta app -> IAM SAML provider -> role chain agents use to open it.
    iam = aws.client("iam")
    identity = "CONNECT_MANAGED" if "instance_not_saml" in drift else "SAML"
    instance = aws.client("connect").create_instance(IdentityManagementType=identity, InstanceAlias=f"cc-{slug}",
                                                     InboundCallsEnabled=True, OutboundCallsEnabled=True)
    instance_arn = instance["Arn"]
    role_name = f"AmazonConnectUserRole-{slug}"

    # Cognito user pool with its hosted-UI domain.
    pool_id = cognito.create_user_pool(PoolName=f"cc-{slug}")["UserPool"]["Id"]
    domain = None if "no_domain" in drift else f"cc-{slug}-login"
    if domain:
        cognito.create_user_pool_domain(Domain=domain, UserPoolId=pool_id)
    acs = f"https://{domain or f'cc-{slug}-login'}.auth.{REGION}.amazoncognito.com/saml2/idpresponse"

    # Okta: people, then the SAML app pointing at the pool.
    logins = [f"agent{i}.{slug}@example.com" for i in range(1, agents + 1)]
    group_id = sb.group(f"{name} agents", logins)
    supervisors = sb.group(f"{name} supervisors", [logins[0]])
    connect_app_id, provider_arn, role_arn = _seed_connect_chain(sb, name, role_name, instance["Id"], drift)
    sign_on = {
        "defaultRelayState": "", "ssoAcsUrl": acs, "idpIssuer": "http://www.okta.com/${org.externalKey}",
        "audience": f"urn:amazon:cognito:sp:{pool_id}", "recipient": acs, "destination": acs,
        "subjectNameIdTemplate": "${user.userName}",
        "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "responseSigned": True, "assertionSigned": True, "signatureAlgorithm": "RSA_SHA256",
        "digestAlgorithm": "SHA256", "honorForceAuthn": True,
        "authnContextClassRef": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "spIssuer": None, "requestCompressed": False, "allowMultipleAcsEndpoints": False,
        "acsEndpoints": [], "attributeStatements": [{
            "type": "EXPRESSION", "name": EMAIL_CLAIM,
            "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}],
    }
    app = sb.admin.call("POST", "/api/v1/apps", {
        "label": f"Contact Center {name}", "signOnMode": "SAML_2_0", "visibility": {"autoSubmitToolbar": False},
        "settings": {"signOn": sign_on}})
    app_id = app["id"]
    sb.admin.call("PUT", f"/api/v1/apps/{app_id}/groups/{group_id}", {})
    if "missing_group" not in drift:
        sb.admin.call("PUT", f"/api/v1/apps/{app_id}/groups/{supervisors}", {})
    metadata_url = public_metadata_url(sb, app_id)

    # Cognito's SAML IdP reads the app's metadata.
    idp_name = "Okta"
    if "metadata_other_app" in drift:
        other = sb.admin.call("POST", "/api/v1/apps", {"label": f"Old {name} app", "signOnMode": "SAML_2_0",
                                                       "settings": {"signOn": sign_on}})
        metadata_url = public_metadata_url(sb, other["id"])
    mapping = {"email": EMAIL_CLAIM}
    if "idp_not_saml" in drift:
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName=idp_name, ProviderType="OIDC",
            ProviderDetails={"client_id": "x", "client_secret": "y", "authorize_scopes": "openid",
                             "oidc_issuer": "https://issuer.example.com", "attributes_request_method": "GET"},
            AttributeMapping=mapping)
    else:
        cognito.create_identity_provider(UserPoolId=pool_id, ProviderName=idp_name, ProviderType="SAML",
                                         ProviderDetails={"MetadataURL": metadata_url}, AttributeMapping=mapping)
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app-client", SupportedIdentityProviders=["COGNITO", idp_name],
        CallbackURLs=[f"https://{slug}.contact-center.example.com/callback"],
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True,
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    client_id = client["ClientId"]

    # The SCP guarding the role and the instance.
    guarded = (("iam:DeleteRole", "scp_missing_role"), ("connect:DeleteInstance", "scp_missing_instance"))
    actions = [action for action, name in guarded if name not in drift]
    scp_id = None
    if actions:
        scp_id = sb.attach_scp(f"protect-connect-{slug}", [{
            "Sid": "ProtectContactCenter", "Effect": "Deny", "Action": actions,
            "Resource": [role_arn, instance_arn]}], scp_target)
    else:
        sb.organization()

    # --- drift, the way it happens (by named actors: see DRIFT_SESSION, DRIFT_OKTA_ADMIN) ---
    if {"email_mapping", "client_lost_idp"} & drift:
        cognito = sb.terraform_client("cognito-idp")
    if "email_mapping" in drift:  # someone "fixed" the mapping to the name claim
        cognito.update_identity_provider(
            UserPoolId=pool_id, ProviderName=idp_name,
            AttributeMapping={"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"})
    if "client_lost_idp" in drift:
        # A Terraform run that does not manage SupportedIdentityProviders: AWS resets it.
        cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id, ClientName="app-client",
                                        CallbackURLs=[f"https://{slug}.contact-center.example.com/callback"])
    edits: dict[str, Any] = {}
    if "acs_url" in drift:
        old = f"https://cc-{slug}-old.auth.{REGION}.amazoncognito.com/saml2/idpresponse"
        edits.update(ssoAcsUrl=old, recipient=old, destination=old)
    if "audience" in drift:
        edits["audience"] = f"urn:amazon:cognito:sp:{pool_id[:-1]}"
    if "no_email_attribute" in drift:
        edits["attributeStatements"] = []
    if "sha1_signing" in drift:
        edits.update(signatureAlgorithm="RSA_SHA1", digestAlgorithm="SHA1")
    if edits:  # read-modify-write: PUT replaces the whole app
        current = sb.drift_admin.call("GET", f"/api/v1/apps/{app_id}")
        current["settings"]["signOn"].update(edits)
        sb.drift_admin.call("PUT", f"/api/v1/apps/{app_id}", current)
    if "app_inactive" in drift:
        sb.drift_admin.call("POST", f"/api/v1/apps/{app_id}/lifecycle/deactivate")
    if "cert_expiring" in drift:
        now = datetime.now(UTC)
        sb.okta.set_app_certificate_validity(app_id, now - timedelta(days=355), now + timedelta(days=10))
    if "role_deleted" in drift:
        # IAM refuses to delete a role that still has policies (DeleteConflict): remove them first.
        for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role_name, PolicyName=policy_name)
        iam.delete_role(RoleName=role_name)

    config = {
        "name": name,
        "okta_app": {"label": f"Contact Center {name}"},
        "user_pool_id": pool_id,
        "app_client": {"name": "app-client"},
        "identity_provider": "Okta SSO" if "idp_name_space" in drift else idp_name,
        "required_assignments": {"users": [logins[0]], "groups": [f"{name} agents", f"{name} supervisors"]},
        "cert_min_days": 30,
        "connect_sso": {"okta_app": {"label": f"Amazon Connect {name}"}, "saml_provider_arn": provider_arn,
                        "instance_id": instance["Id"]},
        "scp": {"account_id": ACCOUNT_ID, "connect_role_arn": role_arn, "connect_instance_arn": instance_arn},
    }
    return SeededFederation(name, app_id, pool_id, client_id, domain, role_arn, instance_arn, scp_id, config,
                            connect_app_id, provider_arn)


def _seed_connect_chain(sb: Sandbox, name: str, role_name: str, instance_id: str,
                        drift: set[str]) -> tuple[str, str, str]:
    """The Okta app federated with AWS IAM, the IAM SAML provider, and the Amazon Connect user role.

    Built as the AWS and Okta guides lay it out, in the order real AWS needs (a trust policy may
    only name a SAML provider that exists, and the provider needs the app's metadata):
    - a custom SAML 2.0 app whose ACS is the AWS sign-in endpoint, whose default relay state is
      `https://<region>.console.aws.amazon.com/connect/federate/<instance id>`, and whose Role
      attribute is the literal pair "<role arn>,<provider arn>" (the IAM doc's Role attribute:
      "a comma-separated pair of ARNs"; AWS's Connect guide: "Configure SAML with IAM for Amazon
      Connect", https://docs.aws.amazon.com/connect/latest/adminguide/configure-saml.html);
    - `iam:CreateSAMLProvider` with that app's metadata;
    - the role, trusting that provider for sts:AssumeRoleWithSAML when SAML:aud is the sign-in
      endpoint, with an inline policy allowing connect:GetFederationToken on
      instance/<id>/user/${aws:userid} (the Connect guide's policy).
    Returns (Okta app id, provider ARN, role ARN).
    """
    iam = sb.aws.client("iam")
    slug = name.lower()
    provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/OktaConnect-{slug}"
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"
    region = OTHER_REGION if "relay_state_region" in drift else REGION
    sign_on = {
        "ssoAcsUrl": AWS_SIGNIN, "recipient": AWS_SIGNIN, "destination": AWS_SIGNIN,
        "audience": "urn:amazon:webservices",
        "defaultRelayState": f"https://{region}.console.aws.amazon.com/connect/federate/{instance_id}",
        "idpIssuer": "http://www.okta.com/${org.externalKey}", "subjectNameIdTemplate": "${user.userName}",
        "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "assertionSigned": True, "responseSigned": True, "signatureAlgorithm": "RSA_SHA256",
        "digestAlgorithm": "SHA256",
        "attributeStatements": [
            {"type": "EXPRESSION", "name": ROLE_ATTRIBUTE,
             "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": [f"{role_arn},{provider_arn}"]},
            {"type": "EXPRESSION", "name": ROLE_SESSION_ATTRIBUTE,
             "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}],
    }
    app = sb.admin.call("POST", "/api/v1/apps", {
        "label": f"Amazon Connect {name}", "signOnMode": "SAML_2_0", "visibility": {"autoSubmitToolbar": False},
        "settings": {"signOn": sign_on}})
    sb.admin.call("PUT", f"/api/v1/apps/{app['id']}/groups/{sb.group(f'{name} agents')}", {})
    with urllib.request.urlopen(public_metadata_url(sb, app["id"]), timeout=30) as resp:
        metadata = resp.read().decode("utf-8")
    iam.create_saml_provider(Name=f"OktaConnect-{slug}", SAMLMetadataDocument=metadata)

    saml = {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": AWS_SIGNIN}}}
    if "trust_no_aud" in drift:
        del saml["Condition"]
    statements: list[dict[str, Any]] = [saml]
    if "trust_account_principal" in drift:  # "so the ops team can test as the agent role"
        statements.append({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                           "Action": "sts:AssumeRole"})
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    target = "00000000-0000-0000-0000-000000000000" if "federation_other_instance" in drift else instance_id
    iam.put_role_policy(RoleName=role_name, PolicyName="connect-federation", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "ConnectFederation", "Effect": "Allow", "Action": "connect:GetFederationToken",
            "Resource": f"arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{target}/user/${{aws:userid}}"}]}))
    if "provider_old_cert" in drift:
        # Okta rolls the app's signing key over (POST /api/v1/apps/{id}/credentials/keys/generate,
        # then credentials.signing.kid); nobody uploads the new metadata to IAM. The simulator has
        # no key-rollover API, so its certificate knob stands in for it.
        now = datetime.now(UTC)
        sb.okta.set_app_certificate_validity(app["id"], now - timedelta(days=1), now + timedelta(days=3650))
    return str(app["id"]), provider_arn, role_arn


def config_document(sb: Sandbox, federations: Iterable[SeededFederation], *,
                    reports_dir: str = "reports") -> dict[str, Any]:
    """A config (as a dict) that scans the sandbox."""
    return {
        "version": 1,
        "reports": {"dir": reports_dir, "formats": ["html", "json"]},
        "okta": {"org_url": sb.okta.url, "auth": {"token_env": TOKEN_ENV}, "allow_insecure_http": True,
                 "timeout_seconds": 10},
        "aws": {"region": REGION, "endpoint_url": sb.aws.endpoint_url},
        # Organizations is read where AWS lets it be read: in the management account.
        "organizations": {"profile": MANAGEMENT_PROFILE},
        "federations": [f.config for f in federations],
        **copy.deepcopy(sb.config_defaults),
    }


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    """Write a config document as YAML."""
    path.write_text("# Generated for the sandbox by auditor.sandbox.scenario\n"
                    + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def seed_demo(sb: Sandbox) -> list[SeededFederation]:
    """The demo: one compliant federation ('prod') and one with realistic drift ('staging')."""
    return [
        seed_federation(sb, "prod", scp_target="ou"),
        seed_federation(sb, "staging", DEMO_DRIFTS, scp_target="root"),
    ]


def apply_environment(sb: Sandbox) -> None:
    """Set the sandbox's token and dummy AWS credentials in this process's environment."""
    os.environ.update(sb.environment())


# --- the wider estate, for `auditor discover` --------------------------------------------------

AUDIT_ROLE = "AuditorReadOnly"
DEMO_EXTRA_REGION = "eu-central-1"


def account_client(sb: Sandbox, service: str, account: str, region: str = REGION) -> Any:
    """A boto3 client acting in `account` (the default account's own keys, else an IAM user's
    there, see LocalAWS.account_credentials) in `region`."""
    if account == ACCOUNT_ID:
        return sb.aws.client(service, region_name=region)
    return sb.aws.client(service, region_name=region, **sb.aws.account_credentials(account))


def create_audit_role(sb: Sandbox, account: str, *, trusted_account: str = ACCOUNT_ID) -> str:
    """The read-only role discovery assumes in `account`, trusting the scanner's account (the
    sandbox's default credentials act in ACCOUNT_ID); returns its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"}, "Action": "sts:AssumeRole"}]}
    iam = account_client(sb, "iam", account)
    iam.create_role(RoleName=AUDIT_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    # The AWS managed ReadOnlyAccess policy covers every read discovery makes (docs/permissions).
    return f"arn:aws:iam::{account}:role/{AUDIT_ROLE}"


@dataclass(frozen=True)
class EstateFederation:
    """What `seed_estate_federation` created."""

    name: str
    account: str
    region: str
    app_id: str
    pool_id: str
    client_id: str
    connect_app_id: str | None = None
    instance_id: str | None = None
    instance_arn: str | None = None
    provider_arn: str | None = None
    role_arn: str | None = None


def seed_estate_federation(sb: Sandbox, name: str, *, account: str = ACCOUNT_ID, region: str = REGION,
                           connect: bool = True) -> EstateFederation:
    """A whole, compliant sign-in chain in `account` and `region`, as an admin would build it (the
    same shapes as `seed_federation`, which only seeds the demo's account and Region)."""
    cognito = account_client(sb, "cognito-idp", account, region)
    slug = name.lower()
    pool_id = cognito.create_user_pool(PoolName=f"cc-{slug}")["UserPool"]["Id"]
    domain = f"cc-{slug}-login"
    cognito.create_user_pool_domain(Domain=domain, UserPoolId=pool_id)
    acs = f"https://{domain}.auth.{region}.amazoncognito.com/saml2/idpresponse"
    app = sb.admin.call("POST", "/api/v1/apps", {
        "label": f"Contact Center {name}", "signOnMode": "SAML_2_0", "settings": {"signOn": {
            "ssoAcsUrl": acs, "recipient": acs, "destination": acs, "audience": f"urn:amazon:cognito:sp:{pool_id}",
            "idpIssuer": "http://www.okta.com/${org.externalKey}", "assertionSigned": True, "responseSigned": True,
            "signatureAlgorithm": "RSA_SHA256", "digestAlgorithm": "SHA256", "attributeStatements": [{
                "type": "EXPRESSION", "name": EMAIL_CLAIM,
                "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}]}}})
    group = sb.group(f"{name} agents", [f"agent1.{slug}@example.com"])
    sb.admin.call("PUT", f"/api/v1/apps/{app['id']}/groups/{group}", {})
    cognito.create_identity_provider(UserPoolId=pool_id, ProviderName="Okta", ProviderType="SAML",
                                     ProviderDetails={"MetadataURL": public_metadata_url(sb, app["id"])},
                                     AttributeMapping={"email": EMAIL_CLAIM})
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app-client", SupportedIdentityProviders=["COGNITO", "Okta"],
        CallbackURLs=[f"https://{slug}.contact-center.example.com/callback"], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"], AllowedOAuthFlowsUserPoolClient=True)["UserPoolClient"]["ClientId"]
    if not connect:
        return EstateFederation(name, account, region, str(app["id"]), pool_id, client_id)
    instance = account_client(sb, "connect", account, region).create_instance(
        IdentityManagementType="SAML", InstanceAlias=f"cc-{slug}", InboundCallsEnabled=True, OutboundCallsEnabled=True)
    iam = account_client(sb, "iam", account)
    provider_arn = f"arn:aws:iam::{account}:saml-provider/OktaConnect-{slug}"
    role_arn = f"arn:aws:iam::{account}:role/AmazonConnectUserRole-{slug}"
    connect_app = sb.admin.call("POST", "/api/v1/apps", {
        "label": f"Amazon Connect {name}", "signOnMode": "SAML_2_0", "settings": {"signOn": {
            "ssoAcsUrl": AWS_SIGNIN, "recipient": AWS_SIGNIN, "destination": AWS_SIGNIN,
            "audience": "urn:amazon:webservices", "idpIssuer": "http://www.okta.com/${org.externalKey}",
            "defaultRelayState": f"https://{region}.console.aws.amazon.com/connect/federate/{instance['Id']}",
            "assertionSigned": True, "responseSigned": True, "signatureAlgorithm": "RSA_SHA256",
            "digestAlgorithm": "SHA256", "attributeStatements": [
                {"type": "EXPRESSION", "name": ROLE_ATTRIBUTE,
                 "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                 "values": [f"{role_arn},{provider_arn}"]},
                {"type": "EXPRESSION", "name": ROLE_SESSION_ATTRIBUTE,
                 "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}]}}})
    with urllib.request.urlopen(public_metadata_url(sb, connect_app["id"]), timeout=30) as resp:
        iam.create_saml_provider(Name=f"OktaConnect-{slug}", SAMLMetadataDocument=resp.read().decode("utf-8"))
    iam.create_role(RoleName=f"AmazonConnectUserRole-{slug}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": AWS_SIGNIN}}}]}))
    iam.put_role_policy(RoleName=f"AmazonConnectUserRole-{slug}", PolicyName="connect-federation",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "connect:GetFederationToken",
                            "Resource": f"{instance['Arn']}/user/${{aws:userid}}"}]}))
    return EstateFederation(name, account, region, str(app["id"]), pool_id, client_id, str(connect_app["id"]),
                            instance["Id"], instance["Arn"], provider_arn, role_arn)


def seed_dangling_idp(sb: Sandbox, name: str, *, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    """A user pool whose SAML IdP still reads the metadata URL of an Okta app that was deleted
    (deactivated, then DELETE /api/v1/apps/{id}: Okta deletes inactive apps only); its app client
    still enables the IdP. Returns the pool id."""
    cognito = account_client(sb, "cognito-idp", account, region)
    slug = name.lower()
    pool_id = cognito.create_user_pool(PoolName=f"cc-{slug}")["UserPool"]["Id"]
    cognito.create_user_pool_domain(Domain=f"cc-{slug}-login", UserPoolId=pool_id)
    acs = f"https://cc-{slug}-login.auth.{region}.amazoncognito.com/saml2/idpresponse"
    sign_on = {"ssoAcsUrl": acs, "recipient": acs, "destination": acs, "audience": f"urn:amazon:cognito:sp:{pool_id}"}
    app = sb.admin.call("POST", "/api/v1/apps", {"label": f"Contact Center {name}", "signOnMode": "SAML_2_0",
                                                 "settings": {"signOn": sign_on}})
    cognito.create_identity_provider(UserPoolId=pool_id, ProviderName="Okta", ProviderType="SAML",
                                     ProviderDetails={"MetadataURL": public_metadata_url(sb, app["id"])},
                                     AttributeMapping={"email": EMAIL_CLAIM})
    cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="app-client",
                                    SupportedIdentityProviders=["COGNITO", "Okta"])
    sb.admin.call("POST", f"/api/v1/apps/{app['id']}/lifecycle/deactivate")
    sb.admin.call("DELETE", f"/api/v1/apps/{app['id']}")
    return str(pool_id)


@dataclass(frozen=True)
class DemoEstate:
    """The demo's pieces beyond the two configured federations."""

    emea: EstateFederation
    legacy_pool_id: str
    retired: dict[str, Any]  # a config block for a contact center decommissioned long ago


def seed_demo_estate(sb: Sandbox) -> DemoEstate:
    """What `auditor demo --discover` finds beyond 'prod' and 'staging' (which stay as they are):
    'emea', a whole federation nobody added to the config, in eu-central-1; 'legacy', a pool whose
    IdP still reads a deleted Okta app's metadata; and 'retired', a config block whose pool and
    app are gone. The audit role discovery assumes exists in both accounts of the organization."""
    sb.organization()
    for account in (MANAGEMENT_ACCOUNT_ID, ACCOUNT_ID):
        create_audit_role(sb, account)
    emea = seed_estate_federation(sb, "emea", region=DEMO_EXTRA_REGION)
    legacy = seed_dangling_idp(sb, "legacy")
    cognito = sb.aws.client("cognito-idp")
    gone = cognito.create_user_pool(PoolName="cc-retired")["UserPool"]["Id"]
    cognito.delete_user_pool(UserPoolId=gone)
    retired = {"name": "retired", "okta_app": {"label": "Contact Center retired"}, "user_pool_id": gone,
               "app_client": {"name": "app-client"}, "identity_provider": "Okta"}
    return DemoEstate(emea, legacy, retired)


def discovery_block(regions: Iterable[str] = (REGION, DEMO_EXTRA_REGION)) -> dict[str, Any]:
    """The config's `discovery` block for the sandbox's organization."""
    return {"organization": True, "role_name": AUDIT_ROLE, "regions": list(regions)}
