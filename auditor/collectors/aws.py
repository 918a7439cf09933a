"""The AWS collectors: Cognito (pool, domain, IdP, its metadata, app client) and Organizations
(the account's path to the root, SCP status, SCPs in effect), and IAM/Connect (the Amazon Connect
user role with its trust and permission policies, the IAM SAML provider, the Connect instance).
Real boto3 clients; `aws.endpoint_url` points them at a local AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from auditor import nesting
from auditor.collectors.aws_retries import CONNECT_TIMEOUT_S, fail_fast_when_unreachable
from auditor.collectors.base import CollectOptions, Collector, Sink
from auditor.collectors.pacing import KeyedLimiters, OnceCache
from auditor.collectors.saml_cache import MetadataCache
from auditor.collectors.saml_metadata import MetadataError, parse_metadata
from auditor.config import Config, FederationConfig

# AWS's documented "not found" codes per service call; anything else is a collection error (and,
# for remediation, a target that cannot be read).
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException"})


class AwsClients:
    """Creates boto3 clients from the config: profile, region, endpoint, timeouts, retries.

    A federation with an `aws:` override gets clients in its own account (the role assumed
    through STS, see aws_sessions.py) and region; sessions and clients are cached, so each role
    is assumed once per process and refreshed by botocore before it expires.
    """

    def __init__(self, config: Config) -> None:
        from auditor.collectors.aws_sessions import SessionCache

        self.config = config
        self.sessions = SessionCache(self._source_session, endpoint_url=config.aws.endpoint_url)
        self._clients: dict[tuple[str, str | None, str | None, str | None, str], Any] = {}
        self._lock = threading.Lock()
        self.max_pool_connections = 10

    def _source_session(self, profile: str | None) -> Any:
        import boto3
        import botocore.session

        from auditor.collectors.aws_sessions import share_loader

        core = share_loader(botocore.session.Session(profile=profile))
        return boto3.session.Session(botocore_session=core, region_name=self.config.aws.region)

    def session_for(self, federation: FederationConfig | None = None, *, profile: str | None = None) -> Any:
        """The boto3 session for a federation (its assumed role, if any) or for `profile`."""
        override = federation.aws if federation is not None else None
        return self.sessions.get(
            profile=profile if profile is not None else self.config.aws.profile,
            role_arn=override.role_arn if override else None,
            external_id=override.external_id if override else None,
            region=self.region_for(federation),
            federation=federation.name if federation is not None else "",
        )

    def region_for(self, federation: FederationConfig | None) -> str:
        """The federation's `aws.region`, else the global one."""
        override = federation.aws if federation is not None else None
        return (override.region if override else None) or self.config.aws.region

    def client(self, service: str, *, profile: str | None = None, federation: FederationConfig | None = None) -> Any:
        """A cached client for `service`: the federation's account and region, or `profile`."""
        from botocore.config import Config as BotoConfig

        override = federation.aws if federation is not None else None
        region = self.region_for(federation)
        key = (service, profile, override.role_arn if override else None,
               override.external_id if override else None, region)
        cached = self._clients.get(key)  # no lock once made: a paced call must not queue behind
        if cached is not None:           # another collector creating its client
            return cached
        with self._lock:  # boto3 sessions are not thread-safe when creating clients
            if key not in self._clients:
                # adaptive: standard retries plus a client-side rate limiter that slows down when
                # AWS throttles. The pool is sized for the collector threads sharing the client
                # (boto3 clients are thread-safe; the session that makes them is not, hence the lock).
                boto_cfg = BotoConfig(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=30,
                                      retries={"max_attempts": 5, "mode": "adaptive"},
                                      max_pool_connections=max(10, self.max_pool_connections),
                                      user_agent_extra="auditor")
                session = self.session_for(federation, profile=profile)
                self._clients[key] = fail_fast_when_unreachable(session.client(
                    service, region_name=region, endpoint_url=self.config.aws.endpoint_url, config=boto_cfg))
            return self._clients[key]


def describe_aws_error(exc: Exception, action: str) -> str:
    """One line naming the call, AWS's error code and message, and the permission it needs."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        text = f"{action}: {code}: {err.get('Message', '')}".rstrip(": ")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            text += f" (the scanner's credentials need {action})"
        return text
    if isinstance(exc, BotoCoreError):
        return f"{action}: {exc}"
    return f"{action}: {type(exc).__name__}: {exc}"


def _code(exc: Exception) -> str | None:
    from botocore.exceptions import ClientError

    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


def _call(action: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call fn; return None for AWS's 'not found'; raise _AwsFailure with a readable message."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        if _code(exc) in NOT_FOUND_CODES:
            return None
        raise _AwsFailure(describe_aws_error(exc, action)) from exc
    except BotoCoreError as exc:
        raise _AwsFailure(describe_aws_error(exc, action)) from exc
    except RecursionError:  # botocore parses (and JSON-decodes IAM policies) by recursion
        raise _AwsFailure(f"{action}: the answer nests too deeply to read") from None


class _AwsFailure(Exception):
    pass


def _read_once(once: OnceCache, clients: AwsClients, fed: FederationConfig, action: str, fn: Callable[..., Any],
               **kwargs: Any) -> Any:
    """`_call(action, fn, **kwargs)` made once per scan for the federation's credentials and Region:
    federations naming the same object (a shared role, instance or user pool) share one read, and
    its failure. Callers must not change what it returns (the sink copies what it stores)."""
    override = fed.aws
    key = (override.role_arn if override else None, override.external_id if override else None,
           clients.region_for(fed), action, tuple(sorted(kwargs.items())))
    return once.get(key, lambda: _without_metadata(_call(action, fn, **kwargs)))


def _without_metadata(response: Any) -> Any:
    """A response kept for the rest of the scan, less botocore's ResponseMetadata (HTTP headers
    and request ids, ~1 KB a call, which no collector reads)."""
    if isinstance(response, dict):
        response.pop("ResponseMetadata", None)
    return response


def for_each_federation(collector: Collector, federations: Sequence[FederationConfig],
                        work: Callable[[FederationConfig], None]) -> None:
    """`work(fed)` for every federation, `options.concurrency` at a time on a thread pool (a plain
    loop at 1); tells `collector.on_done` after each. `work` must record its failures itself; an
    exception it lets out (a bug) is re-raised and the federation is left unfinished, so that
    collect() records the crash against the keys it did not get (had it been told done, they
    were only "not collected", without a reason)."""
    def run(fed: FederationConfig) -> None:
        work(fed)
        collector.on_done(fed.name)

    workers = min(collector.options.concurrency, len(federations))
    if workers <= 1:
        for fed in federations:
            run(fed)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{collector.name}-collector") as pool:
        for future in [pool.submit(run, fed) for fed in federations]:
            future.result()  # re-raise a bug: collect() turns it into errors for the missing keys


class CognitoCollector(Collector):
    """cognito.user_pool, .domain, .identity_provider, .idp_metadata and .app_client."""

    name = "cognito"  # provides: the catalogue's cognito.* keys

    def __init__(self, config: Config, clients: AwsClients, progress: Any = None,
                 options: CollectOptions | None = None, *, metadata: MetadataCache | None = None) -> None:
        super().__init__(config, progress, options)
        self.clients = clients
        self.clients.max_pool_connections = max(self.clients.max_pool_connections, self.options.concurrency)
        self._metadata = metadata or MetadataCache(config)
        # Cognito's request-rate quotas are per account and Region (per category of operations):
        # https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html. The scan keeps to
        # `aws.cognito_account_rps` there, and to `aws.cognito_pool_rps` (5) per user pool.
        self._per_pool = KeyedLimiters(self.options.cognito_pool_rps)
        self._per_account = KeyedLimiters(self.options.cognito_account_rps)
        self._once = OnceCache()  # each object read once per scan (see _read_once)

    def warm_up(self, federations: Sequence[FederationConfig]) -> None:
        """One Cognito client per account and Region (assuming each role once), so that the
        paced calls start at once (see Collector.warm_up)."""
        seen: set[tuple[str | None, str]] = set()
        for fed in federations:
            account = self._account(fed)
            if account not in seen:
                seen.add(account)
                self.clients.client("cognito-idp", federation=fed)

    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        """Collect every federation; each failure is recorded for exactly the keys it affects."""
        self._once = OnceCache()
        for_each_federation(self, federations, lambda fed: self._collect_one(fed, sinks[fed.name]))

    def _account(self, fed: FederationConfig) -> tuple[str | None, str]:
        """Whose Cognito quota a federation's calls use: its credentials (role) and Region."""
        return (fed.aws.role_arn if fed.aws else None, self.clients.region_for(fed))

    def _paced(self, fed: FederationConfig, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` behind the per-pool and per-account (credentials and Region) rate limiters."""
        account = self._account(fed)

        def call(**kwargs: Any) -> Any:
            self._per_account.acquire(account)
            self._per_pool.acquire(fed.user_pool_id)
            return fn(**kwargs)
        return call

    def _read(self, fed: FederationConfig, action: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """A paced Cognito read, made once per scan (_read_once)."""
        return _read_once(self._once, self.clients, fed, action, self._paced(fed, fn), **kwargs)

    def _collect_one(self, fed: FederationConfig, sink: Sink) -> None:
        idp = self.clients.client("cognito-idp", federation=fed)
        pool_id = fed.user_pool_id
        self.progress(fed.name, "cognito: user pool")
        try:
            resp = self._read(fed, "cognito-idp:DescribeUserPool", idp.describe_user_pool, UserPoolId=pool_id)
        except _AwsFailure as exc:
            for key in self.provides:
                sink.fail(key, str(exc))
            return
        if resp is None:
            for key in self.provides:
                sink.put(key, None)
            return
        pool = resp["UserPool"]
        sink.put("cognito.user_pool", pool)
        self._domain(fed, pool, sink)
        self._identity_provider(fed, sink)
        self._app_client(fed, sink)

    def _domain(self, fed: FederationConfig, pool: dict[str, Any], sink: Sink) -> None:
        domain = pool.get("Domain") or pool.get("CustomDomain")
        if not domain:
            sink.put("cognito.domain", None)
            return
        try:
            resp = self._read(fed, "cognito-idp:DescribeUserPoolDomain",
                              self.clients.client("cognito-idp", federation=fed).describe_user_pool_domain,
                              Domain=domain)
        except _AwsFailure as exc:
            sink.fail("cognito.domain", str(exc))
            return
        desc = (resp or {}).get("DomainDescription") or None
        # An empty DomainDescription is AWS's answer for "no such domain".
        sink.put("cognito.domain", desc if desc and desc.get("Domain") else None)

    def _identity_provider(self, fed: FederationConfig, sink: Sink) -> None:
        try:
            idp = self.clients.client("cognito-idp", federation=fed)
            resp = self._read(fed, "cognito-idp:DescribeIdentityProvider", idp.describe_identity_provider,
                              UserPoolId=fed.user_pool_id, ProviderName=fed.identity_provider)
        except _AwsFailure as exc:
            sink.fail("cognito.identity_provider", str(exc))
            sink.fail("cognito.idp_metadata", "the identity provider could not be read")
            return
        provider = (resp or {}).get("IdentityProvider")
        sink.put("cognito.identity_provider", provider)
        if provider is None:
            sink.put("cognito.idp_metadata", None)
            return
        details = provider.get("ProviderDetails") or {}
        try:
            if details.get("MetadataURL"):
                # Usually the URL the Okta collector reads too: fetched once per scan.
                sink.put("cognito.idp_metadata", {**self._metadata.get(details["MetadataURL"]), "source": "url"})
            elif details.get("MetadataFile"):
                parsed = parse_metadata(details["MetadataFile"].encode("utf-8"))
                sink.put("cognito.idp_metadata", {**parsed, "source": "file"})
            else:
                sink.fail("cognito.idp_metadata", "the identity provider has neither MetadataURL nor MetadataFile")
        except MetadataError as exc:
            where = details.get("MetadataURL") or "MetadataFile"
            sink.fail("cognito.idp_metadata", f"the IdP's SAML metadata ({where}): {exc}")

    def _app_client(self, fed: FederationConfig, sink: Sink) -> None:
        client = self.clients.client("cognito-idp", federation=fed)
        ref = fed.data["app_client"]
        try:
            client_id = ref.get("id")
            if client_id is None:
                client_id = self._client_id_by_name(fed, ref["name"])
            if client_id is None:
                sink.put("cognito.app_client", None)
                return
            resp = self._read(fed, "cognito-idp:DescribeUserPoolClient", client.describe_user_pool_client,
                              UserPoolId=fed.user_pool_id, ClientId=client_id)
        except _AwsFailure as exc:
            sink.fail("cognito.app_client", str(exc))
            return
        app_client = (resp or {}).get("UserPoolClient")
        if app_client is not None:
            app_client = {k: v for k, v in app_client.items() if k != "ClientSecret"}
        sink.put("cognito.app_client", app_client)

    def _client_id_by_name(self, fed: FederationConfig, name: str) -> str | None:
        client = self.clients.client("cognito-idp", federation=fed)
        pool_id = fed.user_pool_id
        token: str | None = None
        matches: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"UserPoolId": pool_id, "MaxResults": 60}
            if token:
                kwargs["NextToken"] = token
            resp = self._read(fed, "cognito-idp:ListUserPoolClients", client.list_user_pool_clients, **kwargs) or {}
            matches += [c["ClientId"] for c in resp.get("UserPoolClients", []) if c.get("ClientName") == name]
            token = resp.get("NextToken")
            if not token:
                break
        if len(matches) > 1:
            raise _AwsFailure(f"{len(matches)} app clients are named {name!r} ({', '.join(matches)}); "
                              "name the client by id in the config")
        return matches[0] if matches else None


class OrganizationsCollector(Collector):
    """organizations (the organization's management account, the account's path to the root and
    the SCPs in effect) for federations with an `scp` block."""

    name = "organizations"

    def __init__(self, config: Config, clients: AwsClients, progress: Any = None,
                 options: CollectOptions | None = None) -> None:
        super().__init__(config, progress, options)
        self.clients = clients
        # The organization tree and SCP contents are shared by every account of the scan: each
        # read (the roots, an account's or OU's parent, an OU, a target's SCP list, a policy's
        # content) is made once per scan, however many federations and accounts need it, and
        # concurrent askers wait for the first instead of asking again.
        self._once = OnceCache()

    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        """Collect every federation that has an `scp` block; others need none of this."""
        def one(fed: FederationConfig) -> None:
            scp = fed.data.get("scp")
            if not scp:
                return
            sink = sinks[fed.name]
            self.progress(fed.name, "organizations: SCPs in effect")
            try:
                org = self.organization(scp["account_id"])
            except _AwsFailure as exc:
                sink.fail("organizations", str(exc))
                return
            sink.put("organizations", org)

        for_each_federation(self, federations, one)

    def organization(self, account_id: str) -> dict[str, Any]:
        """The `organizations` value for one account (read once per collector, shared by every
        federation and by discovery); raises _AwsFailure."""
        result: dict[str, Any] = self._once.get(("account", account_id), lambda: self._organization(account_id))
        return result

    def _cached(self, key: tuple[str, ...], action: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """`_call` made once per scan for `key` (a failure is remembered too)."""
        return self._once.get(key, lambda: _call(action, fn, **kwargs))

    def _organization(self, account_id: str) -> dict[str, Any]:
        org = self.clients.client("organizations", profile=self.config.aws.organizations_profile)
        # The management account, which SCPs do not affect ("SCPs don't affect users or roles in
        # the management account. They affect only the member accounts in your organization."):
        # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
        # DescribeOrganization works from any account of the organization and names it as
        # MasterAccountId: https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeOrganization.html
        described = (self._cached(("organization",), "organizations:DescribeOrganization",
                                  org.describe_organization) or {}).get("Organization") or {}
        management = described.get("MasterAccountId")
        if not management:
            raise _AwsFailure("organizations:DescribeOrganization: the answer names no MasterAccountId")
        roots = (self._cached(("roots",), "organizations:ListRoots", org.list_roots) or {}).get("Roots", [])
        if not roots:
            raise _AwsFailure("organizations:ListRoots: the organization has no root")
        root = roots[0]
        enabled = any(t.get("Type") == "SERVICE_CONTROL_POLICY" and t.get("Status") == "ENABLED"
                      for t in root.get("PolicyTypes", []))
        path: list[dict[str, Any]] = [{"id": account_id, "type": "ACCOUNT", "name": None}]
        child = account_id
        for _ in range(10):  # AWS allows at most five OU levels under the root
            parents = (self._cached(("parents", child), "organizations:ListParents", org.list_parents,
                                    ChildId=child) or {}).get("Parents", [])
            if not parents:
                raise _AwsFailure(f"organizations:ListParents: account {account_id} is not in this organization")
            parent = parents[0]
            if parent["Type"] == "ROOT":
                path.append({"id": parent["Id"], "type": "ROOT", "name": root.get("Name")})
                break
            ou = (self._cached(("ou", parent["Id"]), "organizations:DescribeOrganizationalUnit",
                               org.describe_organizational_unit,
                               OrganizationalUnitId=parent["Id"]) or {}).get("OrganizationalUnit", {})
            path.append({"id": parent["Id"], "type": "ORGANIZATIONAL_UNIT", "name": ou.get("Name")})
            child = parent["Id"]
        policies: dict[str, dict[str, Any]] = {}
        for target in path:
            target_id = str(target["id"])
            summaries = self._once.get(("policies", target_id), partial(self._policies_for, org, target_id))
            for summary in summaries:
                entry = policies.get(summary["Id"])
                if entry is None:
                    described = (self._cached(("policy", summary["Id"]), "organizations:DescribePolicy",
                                              org.describe_policy, PolicyId=summary["Id"]) or {}).get("Policy", {})
                    content_text = described.get("Content", "")
                    try:
                        content: Any = nesting.loads(content_text, nesting.MAX_POLICY_DEPTH)
                    except ValueError:  # NestingTooDeep included: kept as text, never as a deep object
                        content = content_text  # the evaluator reports it as malformed or too deep (ERROR)
                    entry = {"id": summary["Id"], "name": summary.get("Name"), "arn": summary.get("Arn"),
                             "aws_managed": summary.get("AwsManaged", False), "content": content, "targets": []}
                    policies[summary["Id"]] = entry
                entry["targets"].append(target["id"])
        return {"account_id": account_id, "management_account_id": str(management),
                "policy_type_enabled": enabled, "path": path, "policies": list(policies.values())}

    @staticmethod
    def _policies_for(org: Any, target_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"TargetId": target_id, "Filter": "SERVICE_CONTROL_POLICY"}
            if token:
                kwargs["NextToken"] = token
            resp = _call("organizations:ListPoliciesForTarget", org.list_policies_for_target, **kwargs) or {}
            out += resp.get("Policies", [])
            token = resp.get("NextToken")
            if not token:
                return out


class IamConnectCollector(Collector):
    """The Amazon Connect user role and instance (for `scp` and `connect_sso`), and for
    `connect_sso` the role's permission policies and the IAM SAML provider.

    One small step per resource, each failing on its own: a denied `iam:GetSAMLProvider` must
    not hide the role's trust policy.
    """

    name = "iam/connect"

    def __init__(self, config: Config, clients: AwsClients, progress: Any = None,
                 options: CollectOptions | None = None) -> None:
        super().__init__(config, progress, options)
        self.clients = clients
        self.clients.max_pool_connections = max(self.clients.max_pool_connections, self.options.concurrency)
        self._once = OnceCache()  # each object read once per scan (see _read_once)

    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        """Collect every federation that has an `scp` or a `connect_sso` block."""
        self._once = OnceCache()
        for_each_federation(self, federations, lambda fed: self._collect_one(fed, sinks[fed.name]))

    def _collect_one(self, fed: FederationConfig, sink: Sink) -> None:
        sso = fed.data.get("connect_sso")
        role_arn, instance_id = fed.connect_role_arn, fed.connect_instance_id
        if role_arn is None or instance_id is None:
            return
        self.progress(fed.name, "iam/connect: role and instance")
        self._role(fed, role_arn, sink)
        self._instance(fed, instance_id, sink)
        if sso:
            self.progress(fed.name, "iam: role policies and SAML provider")
            self._role_policies(fed, role_arn, sink)
            self._saml_provider(fed, sso["saml_provider_arn"], sink)

    def _role(self, fed: FederationConfig, arn: str, sink: Sink) -> None:
        name = arn.rsplit("/", 1)[-1]
        try:
            resp = _read_once(self._once, self.clients, fed, "iam:GetRole",
                              self.clients.client("iam", federation=fed).get_role, RoleName=name)
        except _AwsFailure as exc:
            sink.fail("iam.connect_role", str(exc))
            return
        role = (resp or {}).get("Role")
        if role is not None:
            # The API returns the trust policy URL-encoded; boto3 decodes it to a dict, but keep
            # both spellings working for snapshots written by other tools. (A copy: the read is shared.)
            role = {**role, "AssumeRolePolicyDocument": _policy_document(role.get("AssumeRolePolicyDocument"))}
        sink.put("iam.connect_role", role)

    def _instance(self, fed: FederationConfig, instance_id: str, sink: Sink) -> None:
        try:
            resp = _read_once(self._once, self.clients, fed, "connect:DescribeInstance",
                              self.clients.client("connect", federation=fed).describe_instance, InstanceId=instance_id)
        except _AwsFailure as exc:
            sink.fail("connect.instance", str(exc))
            return
        sink.put("connect.instance", (resp or {}).get("Instance"))

    def _role_policies(self, fed: FederationConfig, arn: str, sink: Sink) -> None:
        """Inline and attached managed policies, as [{id, name, type, content}] for the evaluator."""
        iam = self.clients.client("iam", federation=fed)
        name = arn.rsplit("/", 1)[-1]
        policies: list[dict[str, Any]] = []
        try:
            inline_names = self._pages(fed, "iam:ListRolePolicies", iam.list_role_policies, "PolicyNames",
                                       RoleName=name)
            if inline_names is None:  # the role does not exist: nothing can be attached to it
                sink.put("iam.connect_role_policies", None)
                return
            for policy_name in inline_names:
                got = _read_once(self._once, self.clients, fed, "iam:GetRolePolicy", iam.get_role_policy,
                                 RoleName=name, PolicyName=policy_name) or {}
                policies.append({"id": f"{name}/inline/{policy_name}", "name": policy_name, "type": "inline",
                                 "content": _policy_document(got.get("PolicyDocument"))})
            attached = self._pages(fed, "iam:ListAttachedRolePolicies", iam.list_attached_role_policies,
                                   "AttachedPolicies", RoleName=name) or []
            for item in attached:
                policy = (_read_once(self._once, self.clients, fed, "iam:GetPolicy", iam.get_policy,
                                     PolicyArn=item["PolicyArn"]) or {}).get("Policy")
                if policy is None:
                    raise _AwsFailure(f"iam:GetPolicy: attached policy {item['PolicyArn']} does not exist")
                version = (_read_once(self._once, self.clients, fed, "iam:GetPolicyVersion", iam.get_policy_version,
                                      PolicyArn=item["PolicyArn"], VersionId=policy["DefaultVersionId"])
                           or {}).get("PolicyVersion") or {}
                policies.append({"id": item["PolicyArn"], "name": item.get("PolicyName"), "type": "managed",
                                 "content": _policy_document(version.get("Document"))})
        except _AwsFailure as exc:
            sink.fail("iam.connect_role_policies", str(exc))
            return
        sink.put("iam.connect_role_policies", policies)

    def _pages(self, fed: FederationConfig, action: str, fn: Callable[..., Any], key: str,
               **kwargs: Any) -> list[Any] | None:
        """Every item of an IAM list call (Marker/IsTruncated paging, each page read once per scan);
        None when AWS says 'not found'."""
        items: list[Any] = []
        marker: str | None = None
        while True:
            resp = _read_once(self._once, self.clients, fed, action, fn, **kwargs,
                              **({"Marker": marker} if marker else {}))
            if resp is None:
                return None
            items += resp.get(key, [])
            if not resp.get("IsTruncated"):
                return items
            marker = resp.get("Marker")

    def _saml_provider(self, fed: FederationConfig, arn: str, sink: Sink) -> None:
        try:
            resp = _read_once(self._once, self.clients, fed, "iam:GetSAMLProvider",
                              self.clients.client("iam", federation=fed).get_saml_provider, SAMLProviderArn=arn)
        except _AwsFailure as exc:
            sink.fail("iam.saml_provider", str(exc))
            return
        if resp is None:
            sink.put("iam.saml_provider", None)
            return
        try:
            metadata = parse_metadata(str(resp.get("SAMLMetadataDocument") or "").encode("utf-8"))
        except MetadataError as exc:
            sink.fail("iam.saml_provider", f"iam:GetSAMLProvider: the provider's SAMLMetadataDocument: {exc}")
            return
        sink.put("iam.saml_provider", {
            "Arn": arn, "CreateDate": resp.get("CreateDate"), "ValidUntil": resp.get("ValidUntil"),
            "Tags": resp.get("Tags", []), "metadata": metadata})


def _policy_document(value: Any) -> Any:
    """A policy document as a JSON object: IAM's wire form is URL-encoded JSON text."""
    from urllib.parse import unquote

    if isinstance(value, str):
        for text in (value, unquote(value)):
            try:
                return nesting.loads(text, nesting.MAX_POLICY_DEPTH)
            except nesting.NestingTooDeep:
                return value  # kept as text: the evaluator reports it as too deep (ERROR)
            except ValueError:
                continue
    if isinstance(value, dict | list) and nesting.exceeds_depth(value, nesting.MAX_POLICY_DEPTH):
        # botocore parsed it; kept as text it cannot break the snapshot writer, and the evaluator
        # reports it as too deep (ERROR).
        try:
            return json.dumps(value)
        except RecursionError:
            return "(a policy document nested too deeply to keep)"
    return value  # left as is: the evaluator reports a malformed document as ERROR
