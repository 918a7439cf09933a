"""The objects remediation may write, one kind each: how to find, read, compare and write them.

Which resources `--fix` may write, and through which kind, is the resource catalogue's
(auditor/resources.py, `fix_target`); KINDS holds the implementation of each kind it names.

Every write is a read-modify-write of the whole object where the API replaces it (Okta's PUT
/api/v1/apps/{id}, Cognito's UpdateUserPoolClient, each UpdateIdentityProvider map that is
sent), so every field the plan does not name comes back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from auditor.collectors.aws import NOT_FOUND_CODES, AwsClients
from auditor.collectors.base import plain
from auditor.collectors.okta import OktaAPI, OktaError
from auditor.config import FederationConfig
from auditor.resources import RESOURCES, fix_targets

# Writable ProviderDetails keys of a SAML IdP; DescribeIdentityProvider also returns read-only
# ones (ActiveEncryptionCertificate, SSORedirectBindingURI, ...) that UpdateIdentityProvider
# refuses. (Amazon Cognito API reference, CreateIdentityProvider: ProviderDetails for SAML.)
SAML_PROVIDER_DETAIL_KEYS = ("MetadataFile", "MetadataURL", "IDPSignout", "IDPInit", "EncryptedResponses",
                             "RequestSigningAlgorithm")


class RemoteError(Exception):
    """A read or write failed; the message names the call."""


@dataclass
class Remote:
    """Live access for remediation: Okta (raw JSON through the SDK's executor) and AWS.

    Bound to one federation (`for_federation`), AWS calls use that federation's account and
    region (its `aws.role_arn`), exactly as the scan that planned the change did.
    """

    okta: OktaAPI
    aws: AwsClients
    federation: FederationConfig | None = None

    def for_federation(self, name: str) -> Remote:
        """The same access, with AWS calls made in the named federation's account."""
        feds = {f.name: f for f in self.aws.config.federations}
        return Remote(self.okta, self.aws, feds.get(name))

    def client(self, service: str) -> Any:
        """A boto3 client for this federation's account (or the default credentials); for
        Organizations, the `organizations.profile` account the scan read the organization with
        (policies are managed from the management account, not from a member)."""
        if service == "organizations":
            return self.aws.client(service, profile=self.aws.config.aws.organizations_profile)
        return self.aws.client(service, federation=self.federation)

    def aws_call(self, service: str, action: str, **kwargs: Any) -> Any:
        """One boto3 call; AWS errors become RemoteError naming the call and the permission."""
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        from auditor.collectors.aws import describe_aws_error

        method = getattr(self.client(service), xform_name(action))
        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RemoteError(describe_aws_error(exc, f"{service}:{action}")) from exc

    def aws_read(self, service: str, action: str, **kwargs: Any) -> Any:
        """A read that returns None for AWS's 'not found' answers (the object is gone)."""
        from botocore.exceptions import ClientError

        try:
            return self.aws_call(service, action, **kwargs)
        except RemoteError as exc:
            cause = exc.__cause__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            if code in NOT_FOUND_CODES:
                return None
            raise

    async def okta_call(self, method: str, path: str, body: Any = None) -> Any:
        """One Okta call; errors become RemoteError."""
        try:
            data, _ = await self.okta.send(method, path, body)
        except OktaError as exc:
            raise RemoteError(f"Okta: {exc}") from exc
        return data


# A target's identifiers (the plan's `target`) and its scan-time image.
Located = tuple[dict[str, str], Any]


class TargetKind:
    """Base: find, read, normalise, write one kind of object."""

    name = ""  # the kind, as the resource catalogue's `fix_target` names it
    # Fields of the API's answer that no write sets (hypermedia), beside the catalogue's volatile ones.
    read_only: tuple[str, ...] = ()
    # Why `--fix` cannot write the object when `locate` finds nothing to start from.
    missing = "the object does not exist (create it by hand)"

    @property
    def resource(self) -> str:
        """The resource key whose scan-time value this kind writes (the catalogue entry naming it)."""
        return fix_targets()[self.name]

    @property
    def volatile(self) -> tuple[str, ...]:
        """Top-level fields a plan and a precondition ignore: the catalogue's volatile fields of
        the resource (timestamps the server sets on every write) and the kind's `read_only` ones."""
        resource = RESOURCES.get(fix_targets().get(self.name, ""))
        return (resource.volatile if resource is not None else ()) + self.read_only

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        """The object's identifiers and scan-time image, from one federation's collected
        `resources` and its config; None when the scan saw no object to start from."""
        raise NotImplementedError

    def api_call(self, target: dict[str, str]) -> str:
        """The write call, for the plan output."""
        raise NotImplementedError

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        """The object as it is now (None when it does not exist)."""
        raise NotImplementedError

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        """Make the object `after`, given that it is `before` now."""
        raise NotImplementedError

    async def plan_image(self, remote: Remote, target: dict[str, str], collected: Any) -> Any:
        """The 'before' image a plan starts from: by default the scan's own copy."""
        return collected

    def comparable(self, obj: Any) -> Any:
        """The object without fields the server changes on every write (timestamps)."""
        if isinstance(obj, dict):
            return {k: v for k, v in obj.items() if k not in self.volatile}
        return obj


class OktaApp(TargetKind):
    """An Okta app: lifecycle for `status`, PUT of the whole raw JSON for everything else."""

    name = "okta.app"
    read_only = ("_links", "_embedded")
    missing = "the Okta app does not exist (create it by hand)"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        app = resources.get(self.resource)
        return None if app is None else ({"app_id": app["id"]}, app)

    def api_call(self, target: dict[str, str]) -> str:
        return f"okta PUT /api/v1/apps/{target['app_id']} (whole app, read-modify-write)"

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        try:
            data, _ = await remote.okta.get(f"/api/v1/apps/{quote(target['app_id'])}")
        except OktaError as exc:
            if exc.status == 404:
                return None
            raise RemoteError(f"Okta: {exc}") from exc
        return data

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        path = f"/api/v1/apps/{quote(target['app_id'])}"
        if before.get("status") != after.get("status"):
            verb = "activate" if after.get("status") == "ACTIVE" else "deactivate"
            await remote.okta_call("POST", f"{path}/lifecycle/{verb}")
        rest_before = {k: v for k, v in before.items() if k not in (*self.volatile, "status")}
        rest_after = {k: v for k, v in after.items() if k not in (*self.volatile, "status")}
        if rest_before != rest_after:
            # Send the app as read, changed only where planned: PUT replaces the whole app, and
            # the SDK's models would drop attributeStatements and fields they do not know.
            await remote.okta_call("PUT", path, after)


class OktaConnectApp(OktaApp):
    """The Amazon Connect sign-in app: the same API and rules as the Cognito one."""

    name = "okta.connect_app"
    missing = "the Okta Amazon Connect app does not exist (create it by hand)"


class IamSamlProvider(TargetKind):
    """An IAM SAML provider: {SAMLMetadataDocument}, replaced whole by UpdateSAMLProvider."""

    name = "iam.saml_provider"
    missing = "the IAM SAML provider does not exist (create it by hand)"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        provider = resources.get(self.resource)
        return None if provider is None else ({"arn": provider["Arn"]}, provider)

    def api_call(self, target: dict[str, str]) -> str:
        return f"iam:UpdateSAMLProvider ({target['arn']})"

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        resp = remote.aws_read("iam", "GetSAMLProvider", SAMLProviderArn=target["arn"])
        return None if resp is None else {"SAMLMetadataDocument": resp.get("SAMLMetadataDocument", "")}

    async def plan_image(self, remote: Remote, target: dict[str, str], collected: Any) -> Any:
        # The snapshot keeps the parsed metadata, not the document the API replaces: read it.
        return await self.read(remote, target)

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        remote.aws_call("iam", "UpdateSAMLProvider", SAMLProviderArn=target["arn"],
                        SAMLMetadataDocument=after["SAMLMetadataDocument"])


class OktaAssignments(TargetKind):
    """Direct user and group assignments of an app: {users: [ids], groups: [ids]}."""

    name = "okta.assignments"
    missing = "the Okta app or its assignments could not be read"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        app, assignments = resources.get("okta.app"), resources.get(self.resource)
        if app is None or assignments is None:
            return None
        # Only direct user assignments: the ones this kind adds (and a rollback removes).
        return {"app_id": app["id"]}, {
            "users": sorted(u["id"] for u in assignments["users"] if u.get("scope") == "USER"),
            "groups": sorted(g["id"] for g in assignments["groups"])}

    def api_call(self, target: dict[str, str]) -> str:
        return (f"okta POST /api/v1/apps/{target['app_id']}/users, "
                f"PUT /api/v1/apps/{target['app_id']}/groups/{{groupId}} (per missing assignment)")

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        app = quote(target["app_id"])
        try:
            users = await remote.okta.get_all(f"/api/v1/apps/{app}/users?limit=500")
            groups = await remote.okta.get_all(f"/api/v1/apps/{app}/groups?limit=200")
        except OktaError as exc:
            raise RemoteError(f"Okta: {exc}") from exc
        return {"users": sorted(u["id"] for u in users if u.get("scope") == "USER"),
                "groups": sorted(g["id"] for g in groups)}

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        app = quote(target["app_id"])
        for uid in sorted(set(after["users"]) - set(before["users"])):
            await remote.okta_call("POST", f"/api/v1/apps/{app}/users", {"id": uid, "scope": "USER"})
        for gid in sorted(set(after["groups"]) - set(before["groups"])):
            await remote.okta_call("PUT", f"/api/v1/apps/{app}/groups/{quote(gid)}", {})
        # Removals happen only in a rollback of assignments this tool added.
        for uid in sorted(set(before["users"]) - set(after["users"])):
            await remote.okta_call("DELETE", f"/api/v1/apps/{app}/users/{quote(uid)}")
        for gid in sorted(set(before["groups"]) - set(after["groups"])):
            await remote.okta_call("DELETE", f"/api/v1/apps/{app}/groups/{quote(gid)}")


class CognitoIdentityProvider(TargetKind):
    """A user pool's IdP: UpdateIdentityProvider with only the maps that change, each complete.

    ProviderDetails, AttributeMapping and IdpIdentifiers are each optional in the request
    ("Required: No"), and the API reference documents a complete ProviderDetails as the "create
    or update request", never a merge of keys, so a map that is sent is sent whole (its writable
    keys) and a map that does not change is not sent at all: writing ProviderDetails makes
    Cognito fetch the metadata again and re-derive the IdP's keys, a failure point that an
    AttributeMapping fix must not carry.
    https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UpdateIdentityProvider.html
    """

    name = "cognito.identity_provider"
    missing = "the identity provider does not exist (create it by hand)"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        idp = resources.get(self.resource)
        return None if idp is None else ({"user_pool_id": config.user_pool_id, "provider_name": idp["ProviderName"]},
                                         idp)

    def api_call(self, target: dict[str, str]) -> str:
        return "cognito-idp:UpdateIdentityProvider (only the maps that change, each complete)"

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        resp = remote.aws_read("cognito-idp", "DescribeIdentityProvider", UserPoolId=target["user_pool_id"],
                               ProviderName=target["provider_name"])
        return None if resp is None else plain(resp["IdentityProvider"])

    @staticmethod
    def _writable_details(provider: Any) -> dict[str, Any]:
        details = (provider or {}).get("ProviderDetails") or {}
        return {k: v for k, v in details.items() if k in SAML_PROVIDER_DETAIL_KEYS}

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        kwargs: dict[str, Any] = {}
        details = self._writable_details(after)
        if details != self._writable_details(before):
            kwargs["ProviderDetails"] = details
        mapping = after.get("AttributeMapping") or {}
        if mapping != ((before or {}).get("AttributeMapping") or {}):
            kwargs["AttributeMapping"] = mapping
        identifiers = after.get("IdpIdentifiers") or []
        if identifiers != ((before or {}).get("IdpIdentifiers") or []):
            kwargs["IdpIdentifiers"] = identifiers
        if not kwargs:
            return  # nothing this kind writes differs
        remote.aws_call("cognito-idp", "UpdateIdentityProvider", UserPoolId=target["user_pool_id"],
                        ProviderName=target["provider_name"], **kwargs)


class CognitoAppClient(TargetKind):
    """An app client: UpdateUserPoolClient resets every field it is not sent, so send them all."""

    name = "cognito.app_client"
    missing = "the app client does not exist"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        client = resources.get(self.resource)
        return None if client is None else ({"user_pool_id": config.user_pool_id, "client_id": client["ClientId"]},
                                            client)

    def api_call(self, target: dict[str, str]) -> str:
        return "cognito-idp:UpdateUserPoolClient (every updatable field, read-modify-write)"

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        resp = remote.aws_read("cognito-idp", "DescribeUserPoolClient", UserPoolId=target["user_pool_id"],
                               ClientId=target["client_id"])
        if resp is None:
            return None
        return plain({k: v for k, v in resp["UserPoolClient"].items() if k != "ClientSecret"})

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        client = remote.client("cognito-idp")
        # Every input member of UpdateUserPoolClient (from botocore's model, so fields AWS adds
        # later are carried too) that the described client has.
        members = client.meta.service_model.operation_model("UpdateUserPoolClient").input_shape.members
        kwargs = {k: after[k] for k in members if k in after and k not in ("UserPoolId", "ClientId")}
        remote.aws_call("cognito-idp", "UpdateUserPoolClient", UserPoolId=target["user_pool_id"],
                        ClientId=target["client_id"], **kwargs)


class DedicatedScp(TargetKind):
    """An SCP this tool creates and attaches to the account: {Name, Content} or None."""

    name = "organizations.scp"

    def locate(self, resources: Mapping[str, Any], config: FederationConfig) -> Located | None:
        # A new policy of its own: nothing collected to start from (the SCPs in effect stay as they are).
        scp = config.data.get("scp") or {}
        return {"account_id": scp["account_id"], "name": f"auditor-protect-{config.name}"}, None

    def api_call(self, target: dict[str, str]) -> str:
        return f"organizations:CreatePolicy + AttachPolicy (target {target['account_id']})"

    async def read(self, remote: Remote, target: dict[str, str]) -> Any:
        resp = remote.aws_call("organizations", "ListPoliciesForTarget", TargetId=target["account_id"],
                               Filter="SERVICE_CONTROL_POLICY")
        for summary in resp.get("Policies", []):
            if summary.get("Name") == target["name"]:
                policy = remote.aws_call("organizations", "DescribePolicy", PolicyId=summary["Id"])["Policy"]
                return {"Name": target["name"], "Content": json.loads(policy["Content"])}
        return None

    async def write(self, remote: Remote, target: dict[str, str], before: Any, after: Any) -> None:
        from auditor.remediate.scp import check_scp_limits

        account = target["account_id"]
        if before is None and after is not None:
            content = json.dumps(after["Content"], separators=(",", ":"))
            attached = remote.aws_call("organizations", "ListPoliciesForTarget", TargetId=account,
                                       Filter="SERVICE_CONTROL_POLICY").get("Policies", [])
            check_scp_limits(content, len(attached))
            policy = remote.aws_call("organizations", "CreatePolicy", Name=after["Name"], Type="SERVICE_CONTROL_POLICY",
                                     Description="Created by auditor --fix --allow-scp-changes", Content=content)
            remote.aws_call("organizations", "AttachPolicy", PolicyId=policy["Policy"]["PolicySummary"]["Id"],
                            TargetId=account)
        elif before is not None and after is None:
            # Only a rollback removes a policy, and only the one this tool created.
            resp = remote.aws_call("organizations", "ListPoliciesForTarget", TargetId=account,
                                   Filter="SERVICE_CONTROL_POLICY")
            for summary in resp.get("Policies", []):
                if summary.get("Name") == target["name"]:
                    remote.aws_call("organizations", "DetachPolicy", PolicyId=summary["Id"], TargetId=account)
                    remote.aws_call("organizations", "DeletePolicy", PolicyId=summary["Id"])
        else:
            raise RemoteError("changing an existing SCP is not supported; the plan only adds a dedicated one")


IMPLEMENTATIONS: tuple[TargetKind, ...] = (OktaApp(), OktaConnectApp(), OktaAssignments(), CognitoIdentityProvider(),
                                            CognitoAppClient(), IamSamlProvider(), DedicatedScp())
# The target kinds the resource catalogue names, in its order, each with its implementation (an
# implementation the catalogue does not name is unreachable: tests/unit/test_catalogue.py fails on it).
KINDS: dict[str, TargetKind] = {impl.name: impl for kind in fix_targets() for impl in IMPLEMENTATIONS
                                if impl.name == kind}
