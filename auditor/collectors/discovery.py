"""Discovery's collector: the federation pieces of the whole estate, as one plain-JSON inventory.

Read-only, and built from the scan's parts: the Okta client (`OktaAPI`, paced by `OktaPacer`
from the rate-limit headers), the AWS client cache with its assumed-role sessions (`AwsClients`,
one session per account), the Cognito quotas per account and Region and per pool
(`KeyedLimiters`), the organization reads shared by every account (`OrganizationsCollector`), and
SAML metadata fetched once per URL. It matches nothing: `auditor.discovery.match` does that, on
this plain data.

A call that fails becomes a *notice* (where, what, and for a denied call the permission it
needs) and discovery goes on with the rest; what could not be read is marked incomplete so that
nothing unseen is ever reported as absent.

The inventory (every value plain JSON)::

    {scope: {accounts, regions, organization, role_name},
     okta: {org_url, complete, apps: [app_summary + {kind, metadata: {entity_id, fingerprints} | None}]},
     accounts: [{account_id, reached, iam_complete, saml_providers: [{arn, entity_id, fingerprints, error}],
                 saml_roles: [{arn, name, providers: [arn]}], scps: {names, management_account_id} | None,
                 regions: [{region, complete, user_pools: [pool], connect_instances: [instance]}]}],
     metadata: {url: {entity_id, fingerprints, error, dangling}},
     notices: [{where, message, permission}]}
    pool = {id, name, account_id, region, domain, custom_domain, complete,
            identity_providers: [{name, type, metadata_url, metadata_file: {entity_id, fingerprints} | None}],
            app_clients: [{id, name, supported_identity_providers}]}
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.collectors.aws import AwsClients, OrganizationsCollector, _AwsFailure, _call, _policy_document
from auditor.collectors.base import CollectOptions, Progress
from auditor.collectors.okta import APPS_PAGE, OktaAPI, OktaError
from auditor.collectors.okta_metadata import metadata_api_url
from auditor.collectors.pacing import KeyedLimiters, OktaPacer, OnceCache
from auditor.collectors.saml_metadata import MetadataError, fetch_metadata, parse_metadata
from auditor.config import AppClientRef, AppRef, Config, FederationAws, FederationConfig
from auditor.discovery.patterns import app_kind, app_summary

_PERMISSION = re.compile(r"\(the scanner's credentials need ([\w:-]+)\)")
# Cognito's list calls take at most 60 per page (ListUserPools: MaxResults 1-60).
COGNITO_PAGE = 60


@dataclass(frozen=True)
class DiscoveryScope:
    """Where discovery looks: the accounts (the organization's, listed ones, or the scanner's
    own), the Regions, and the role assumed in each account."""

    organization: bool = False
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    role_name: str | None = None
    external_id: str | None = None


def scope_from(config: Config, *, organization: bool | None = None, accounts: Sequence[str] = (),
               regions: Sequence[str] = ()) -> DiscoveryScope:
    """The config's `discovery` block, overridden by the command line where given."""
    d = config.discovery
    if organization or accounts:
        org, accts = bool(organization), tuple(accounts)
    else:
        org, accts = d.organization, d.accounts
    return DiscoveryScope(organization=org, accounts=accts,
                          regions=tuple(regions) or d.regions or (config.aws.region,),
                          role_name=d.role_name, external_id=d.external_id)


class _Notices:
    """Thread-safe list of what could not be read."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, where: str, message: str, permission: str | None = None) -> None:
        if permission is None:
            match = _PERMISSION.search(message)
            permission = match.group(1) if match else None
        with self._lock:
            self.items.append({"where": where, "message": message, "permission": permission})


class Discoverer:
    """Reads the estate once; `run()` returns the inventory. Use one per discovery."""

    def __init__(self, config: Config, okta_secret: str | None, scope: DiscoveryScope, *,
                 progress: Progress | None = None, options: CollectOptions | None = None,
                 clients: AwsClients | None = None) -> None:
        self.config = config
        self.scope = scope
        self.options = options or CollectOptions()
        self.progress = progress or (lambda where, msg: None)
        self._secret = okta_secret
        self.clients = clients or AwsClients(config)
        self.clients.max_pool_connections = max(self.clients.max_pool_connections, self.options.concurrency)
        self.notices = _Notices()
        self._per_account = KeyedLimiters(self.options.cognito_account_rps)
        self._per_pool = KeyedLimiters(self.options.cognito_pool_rps)
        self._organizations = OrganizationsCollector(config, self.clients, None, self.options)
        self._metadata = OnceCache()
        self._metadata_docs: dict[str, dict[str, Any]] = {}
        self.okta_calls = 0
        self.metadata_fetches = 0

    # --- the whole run ---------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Read Okta and every account and Region (side by side); never raises for API failures."""
        okta: dict[str, Any] = {}
        okta_thread = threading.Thread(target=lambda: okta.update(self._okta()), name="discover-okta")
        okta_thread.start()
        listed = self._accounts()
        reachable = self._reachable(listed)
        accounts = [a for a in listed if reachable[a]]
        start = getattr(self.progress, "start", None)
        if callable(start):  # one step per account (IAM, SCPs), per account and Region, and Okta
            start(1 + len(accounts) * (1 + len(self.scope.regions)))
        done = getattr(self.progress, "collected", None)
        tell: Callable[[str, str], None] = done if callable(done) else (lambda c, w: None)
        results: dict[str, dict[str, Any]] = {a: {"account_id": a, "reached": True, "regions": []} for a in accounts}
        units: list[tuple[str, str | None]] = [(a, None) for a in accounts]
        units += [(a, r) for a in accounts for r in self.scope.regions]
        workers = max(1, min(self.options.concurrency, len(units)))

        def unit(account: str, region: str | None) -> None:
            try:
                if region is None:
                    results[account].update(self._account(account))
                else:
                    results[account]["regions"].append(self._region(account, region))
            except Exception as exc:  # a bug in one unit must not lose the others
                self.notices.add(_where(account, region), f"discovery failed: {type(exc).__name__}: {exc}")
                if region is not None:
                    results[account]["regions"].append({"region": region, "complete": False,
                                                        "user_pools": [], "connect_instances": []})
                else:
                    results[account].update(iam_complete=False, saml_providers=[], saml_roles=[], scps=None)
            finally:
                tell("discovery", _where(account, region))

        if workers == 1:
            for a, r in units:
                unit(a, r)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discover") as pool:
                list(pool.map(lambda u: unit(*u), units))
        okta_thread.join()
        tell("discovery", "okta")
        finish = getattr(self.progress, "finish", None)
        if callable(finish):
            finish()
        for acct in results.values():
            acct["regions"].sort(key=lambda r: r["region"])
        for account in listed:
            if not reachable[account]:
                results[account] = {"account_id": account, "reached": False, "iam_complete": False,
                                    "saml_providers": [], "saml_roles": [], "scps": None, "regions": []}
        return {
            "scope": {"organization": self.scope.organization, "accounts": listed,
                      "regions": list(self.scope.regions), "role_name": self.scope.role_name},
            "okta": okta,
            "accounts": [results[a] for a in listed],
            "metadata": self._metadata_results(),
            "notices": sorted(self.notices.items, key=lambda n: (n["where"], n["message"])),
        }

    # --- accounts ----------------------------------------------------------------------------

    def _accounts(self) -> list[str]:
        """The accounts in scope: the organization's active accounts, the listed ones, or the
        scanner's own (sts:GetCallerIdentity)."""
        accounts: list[str] = list(self.scope.accounts)
        if self.scope.organization:
            self.progress("organizations", "listing the accounts")
            org = self.clients.client("organizations", profile=self.config.aws.organizations_profile)
            token: str | None = None
            try:
                while True:
                    resp = _call("organizations:ListAccounts", org.list_accounts,
                                 **({"NextToken": token} if token else {})) or {}
                    accounts += [a["Id"] for a in resp.get("Accounts", [])
                                 if (a.get("State") or a.get("Status")) == "ACTIVE"]
                    token = resp.get("NextToken")
                    if not token:
                        break
            except _AwsFailure as exc:
                self.notices.add("organizations", str(exc))
        if not accounts and not self.scope.organization:
            try:
                ident = _call("sts:GetCallerIdentity", self.clients.client("sts").get_caller_identity) or {}
                accounts.append(str(ident["Account"]))
            except (_AwsFailure, KeyError) as exc:
                self.notices.add("sts", f"cannot tell the scanner's own account: {exc}")
        return sorted(dict.fromkeys(accounts))

    def _reachable(self, accounts: Sequence[str]) -> dict[str, bool]:
        """Assume the role in each account once (in parallel); an account whose role cannot be
        assumed is a notice naming sts:AssumeRole, and is not read further."""
        if not self.scope.role_name:
            return {a: True for a in accounts}
        from botocore.exceptions import BotoCoreError, ClientError

        def reach(account: str) -> bool:
            fed = self._session_fed(account, self.config.aws.region)
            try:
                self.clients.session_for(fed).get_credentials().get_frozen_credentials()
                return True
            except (ClientError, BotoCoreError) as exc:
                detail = exc.response.get("Error", {}).get("Message", "") if isinstance(exc, ClientError) else str(exc)
                assert fed.aws is not None
                self.notices.add(_where(account, None), f"cannot assume {fed.aws.role_arn}: {detail}".rstrip(": "),
                                 "sts:AssumeRole")
                return False

        workers = max(1, min(self.options.concurrency, len(accounts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discover-sts") as pool:
            return dict(zip(accounts, pool.map(reach, accounts), strict=True))

    def _session_fed(self, account: str, region: str) -> FederationConfig:
        """A stand-in federation whose `aws` block reaches `account` in `region` (the client cache
        and the assumed-role sessions key on it: one session per account)."""
        role = f"arn:aws:iam::{account}:role/{self.scope.role_name}" if self.scope.role_name else None
        # Only `name` and `aws` are read by the client cache; the rest is a placeholder (no federation is audited).
        return FederationConfig(name=f"discover-{account}", data={}, okta_app=AppRef(label="-"), user_pool_id="-",
                                app_client=AppClientRef(name="-"), identity_provider="-",
                                aws=FederationAws(role_arn=role, external_id=self.scope.external_id if role else None,
                                                  region=region))

    def _client(self, service: str, account: str, region: str | None = None) -> Any:
        return self.clients.client(service, federation=self._session_fed(account, region or self.config.aws.region))

    def _account(self, account: str) -> dict[str, Any]:
        """IAM (global: once per account) and the SCPs in effect on the account."""
        where = _where(account, None)
        self.progress(where, "iam: SAML providers and the roles trusting them")
        iam = self._client("iam", account)
        out: dict[str, Any] = {"iam_complete": True, "saml_providers": [], "saml_roles": [], "scps": None}
        try:
            listed = _call("iam:ListSAMLProviders", iam.list_saml_providers) or {}
        except _AwsFailure as exc:
            self.notices.add(where, str(exc))
            out["iam_complete"] = False
            listed = {}
        for entry in listed.get("SAMLProviderList", []):
            arn = entry["Arn"]
            provider: dict[str, Any] = {"arn": arn, "entity_id": None, "fingerprints": [], "error": None}
            try:
                got = _call("iam:GetSAMLProvider", iam.get_saml_provider, SAMLProviderArn=arn) or {}
                parsed = parse_metadata(str(got.get("SAMLMetadataDocument") or "").encode("utf-8"))
                provider.update(entity_id=parsed["entity_id"], fingerprints=_fingerprints(parsed))
            except _AwsFailure as exc:
                self.notices.add(where, str(exc))
                provider["error"] = str(exc)
                out["iam_complete"] = False
            except MetadataError as exc:
                provider["error"] = f"its SAMLMetadataDocument: {exc}"
            out["saml_providers"].append(provider)
        try:
            out["saml_roles"] = self._saml_roles(iam)
        except _AwsFailure as exc:
            self.notices.add(where, str(exc))
            out["iam_complete"] = False
        try:
            org = self._organizations.organization(account)
            out["scps"] = {"management_account_id": org.get("management_account_id"),
                           "policy_type_enabled": org.get("policy_type_enabled"),
                           "policies": [{"id": p["id"], "name": p.get("name"), "targets": p.get("targets", [])}
                                        for p in org.get("policies", [])]}
        except _AwsFailure as exc:
            self.notices.add(where, f"the SCPs in effect: {exc}")
        return out

    @staticmethod
    def _saml_roles(iam: Any) -> list[dict[str, Any]]:
        """Roles whose trust policy lets a SAML provider call sts:AssumeRoleWithSAML."""
        roles: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            resp = _call("iam:ListRoles", iam.list_roles, **({"Marker": marker} if marker else {})) or {}
            for role in resp.get("Roles", []):
                providers = trusted_saml_providers(_policy_document(role.get("AssumeRolePolicyDocument")))
                if providers:
                    roles.append({"arn": role["Arn"], "name": role.get("RoleName"), "providers": providers})
            if not resp.get("IsTruncated"):
                return roles
            marker = resp.get("Marker")

    # --- one account and Region --------------------------------------------------------------

    def _region(self, account: str, region: str) -> dict[str, Any]:
        where = _where(account, region)
        out: dict[str, Any] = {"region": region, "complete": True, "user_pools": [], "connect_instances": []}
        self.progress(where, "cognito: user pools")
        idp = self._client("cognito-idp", account, region)
        quota = (account, region)
        pool_ids: list[tuple[str, str | None]] = []
        token: str | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {"MaxResults": COGNITO_PAGE, **({"NextToken": token} if token else {})}
                resp = self._paced(quota, None, "cognito-idp:ListUserPools", idp.list_user_pools, **kwargs)
                pool_ids += [(p["Id"], p.get("Name")) for p in resp.get("UserPools", [])]
                token = resp.get("NextToken")
                if not token:
                    break
        except _AwsFailure as exc:
            self.notices.add(where, str(exc))
            out["complete"] = False
        workers = max(1, min(self.options.concurrency, len(pool_ids)))
        if workers == 1:
            pools = [self._pool(idp, quota, account, region, p, n) for p, n in pool_ids]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discover-pool") as ex:
                pools = list(ex.map(lambda item: self._pool(idp, quota, account, region, *item), pool_ids))
        out["user_pools"] = pools
        if any(not p["complete"] for p in pools):
            out["complete"] = False
        self.progress(where, "connect: instances")
        connect = self._client("connect", account, region)
        token = None
        try:
            while True:
                resp = _call("connect:ListInstances", connect.list_instances,
                             **({"NextToken": token} if token else {})) or {}
                for inst in resp.get("InstanceSummaryList", []):
                    out["connect_instances"].append({
                        "id": inst.get("Id"), "arn": inst.get("Arn"), "alias": inst.get("InstanceAlias"),
                        "status": inst.get("InstanceStatus"),
                        "identity_management_type": inst.get("IdentityManagementType")})
                token = resp.get("NextToken")
                if not token:
                    break
        except _AwsFailure as exc:
            self.notices.add(where, str(exc))
            out["complete"] = False
        return out

    def _paced(self, quota: tuple[str, str], pool_id: str | None, action: str, fn: Callable[..., Any],
               **kwargs: Any) -> dict[str, Any]:
        """A Cognito call within the account-and-Region quota (and the pool's, for a pool's calls)."""
        self._per_account.acquire(quota)
        if pool_id is not None:
            self._per_pool.acquire(pool_id)
        return _call(action, fn, **kwargs) or {}

    def _pool(self, idp: Any, quota: tuple[str, str], account: str, region: str, pool_id: str,
              name: str | None) -> dict[str, Any]:
        where = _where(account, region)
        pool: dict[str, Any] = {"id": pool_id, "name": name, "account_id": account, "region": region,
                                "domain": None, "custom_domain": None, "complete": True,
                                "identity_providers": [], "app_clients": []}

        def failed(exc: Exception) -> None:
            self.notices.add(f"{where} {pool_id}", str(exc))
            pool["complete"] = False

        try:
            described = self._paced(quota, pool_id, "cognito-idp:DescribeUserPool", idp.describe_user_pool,
                                    UserPoolId=pool_id).get("UserPool") or {}
            pool.update(name=described.get("Name") or name, domain=described.get("Domain"),
                        custom_domain=described.get("CustomDomain"))
        except _AwsFailure as exc:
            failed(exc)
        try:
            for summary in self._pages(quota, pool_id, "cognito-idp:ListIdentityProviders",
                                       idp.list_identity_providers, "Providers", UserPoolId=pool_id):
                provider: dict[str, Any] = {"name": summary.get("ProviderName"), "type": summary.get("ProviderType"),
                                            "metadata_url": None, "metadata_file": None}
                if provider["type"] == "SAML":  # only SAML ones: an OIDC IdP's details hold its client secret
                    got = self._paced(quota, pool_id, "cognito-idp:DescribeIdentityProvider",
                                      idp.describe_identity_provider, UserPoolId=pool_id,
                                      ProviderName=provider["name"]).get("IdentityProvider") or {}
                    details = got.get("ProviderDetails") or {}
                    provider["metadata_url"] = details.get("MetadataURL")
                    if details.get("MetadataURL"):
                        self._read_metadata(details["MetadataURL"])
                    elif details.get("MetadataFile"):
                        try:
                            parsed = parse_metadata(str(details["MetadataFile"]).encode("utf-8"))
                            provider["metadata_file"] = {"entity_id": parsed["entity_id"],
                                                         "fingerprints": _fingerprints(parsed)}
                        except MetadataError as exc:
                            provider["metadata_file"] = {"entity_id": None, "fingerprints": [], "error": str(exc)}
                pool["identity_providers"].append(provider)
        except _AwsFailure as exc:
            failed(exc)
        try:
            for summary in self._pages(quota, pool_id, "cognito-idp:ListUserPoolClients",
                                       idp.list_user_pool_clients, "UserPoolClients", UserPoolId=pool_id):
                got = self._paced(quota, pool_id, "cognito-idp:DescribeUserPoolClient", idp.describe_user_pool_client,
                                  UserPoolId=pool_id, ClientId=summary["ClientId"]).get("UserPoolClient") or {}
                pool["app_clients"].append({"id": summary["ClientId"], "name": summary.get("ClientName"),
                                            "supported_identity_providers": list(
                                                got.get("SupportedIdentityProviders") or [])})
        except _AwsFailure as exc:
            failed(exc)
        return pool

    def _pages(self, quota: tuple[str, str], pool_id: str, action: str, fn: Callable[..., Any], key: str,
               **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            resp = self._paced(quota, pool_id, action, fn, MaxResults=COGNITO_PAGE, **kwargs,
                               **({"NextToken": token} if token else {}))
            items += resp.get(key, [])
            token = resp.get("NextToken")
            if not token:
                return items

    # --- SAML metadata, once per URL -----------------------------------------------------------

    def _read_metadata(self, url: str) -> dict[str, Any]:
        """A MetadataURL's entity ID and certificates, or why it serves none: `dangling` when the
        answer is final (an HTTP 4xx, a document that is not metadata), not when it may pass (a
        timeout, a refused connection): then it is a notice and the IdP's match stays unknown."""
        def load() -> dict[str, Any]:
            self.metadata_fetches += 1
            okta = self.config.okta
            try:
                xml = fetch_metadata(url, timeout=okta.timeout_seconds, allow_insecure_http=okta.allow_insecure_http)
            except MetadataError as exc:
                final = exc.message.startswith("HTTP 4")
                if not final:
                    self.notices.add("metadata", str(exc))
                return {"entity_id": None, "fingerprints": [], "error": str(exc), "dangling": final}
            try:
                parsed = parse_metadata(xml, url=url)
            except MetadataError as exc:
                return {"entity_id": None, "fingerprints": [], "error": f"not usable SAML metadata: {exc}",
                        "dangling": True}
            return {"entity_id": parsed["entity_id"], "fingerprints": _fingerprints(parsed), "error": None,
                    "dangling": False}

        def remember() -> dict[str, Any]:
            doc = load()
            self._metadata_docs[url] = doc
            return doc

        result: dict[str, Any] = self._metadata.get(url, remember)
        return result

    def _metadata_results(self) -> dict[str, Any]:
        return dict(sorted(self._metadata_docs.items()))

    # --- Okta ------------------------------------------------------------------------------------

    def _okta(self) -> dict[str, Any]:
        self.progress("okta", "apps")
        try:
            return asyncio.run(self._okta_async())
        except Exception as exc:  # the SDK's configuration, a bug: a notice, never a traceback
            self.notices.add("okta", f"{type(exc).__name__}: {exc}")
            return {"org_url": self.config.okta.org_url, "complete": False, "apps": []}

    async def _okta_async(self) -> dict[str, Any]:
        org_url = self.config.okta.org_url
        out: dict[str, Any] = {"org_url": org_url, "complete": True, "apps": []}
        async with OktaAPI(self.config, self._secret, pacer=OktaPacer(self.options.okta_rate_limit_share)) as api:
            try:
                raw = await api.get_all(f"/api/v1/apps?limit={APPS_PAGE}")
            except OktaError as exc:
                self.notices.add("okta", f"GET /api/v1/apps: {exc}",
                                 "okta.apps.read" if exc.status in (401, 403) else None)
                self.okta_calls = api.calls
                out["complete"] = False
                return out
            apps = []
            for app in raw:
                if not isinstance(app, dict) or app.get("signOnMode") != "SAML_2_0":
                    continue
                summary = app_summary(app)
                summary["kind"] = app_kind(summary)
                summary["metadata"] = None
                summary["metadata_api_url"] = metadata_api_url(org_url, app)
                apps.append(summary)
            gate = asyncio.Semaphore(self.options.concurrency)

            async def metadata(summary: dict[str, Any]) -> None:
                if summary["kind"] is None:
                    return  # neither Cognito nor AWS: not read further
                async with gate:
                    try:
                        xml, _ = await api.get_xml(summary["metadata_api_url"])
                        parsed = parse_metadata(xml)
                        summary["metadata"] = {"entity_id": parsed["entity_id"], "fingerprints": _fingerprints(parsed)}
                    except OktaError as exc:
                        self.notices.add("okta", f"the metadata of app {summary['id']}: {exc}",
                                         "okta.apps.read" if exc.status in (401, 403) else None)
                        out["complete"] = False
                    except MetadataError as exc:
                        self.notices.add("okta", f"the metadata of app {summary['id']}: {exc}")

            await asyncio.gather(*(metadata(a) for a in apps))
            for summary in apps:
                summary.pop("metadata_api_url", None)
            out["apps"] = sorted(apps, key=lambda a: a["id"])
            self.okta_calls = api.calls
        return out


def trusted_saml_providers(document: Any) -> list[str]:
    """The SAML provider ARNs a trust policy lets call sts:AssumeRoleWithSAML (Allow statements
    with a Federated principal; Deny and malformed statements are not trust)."""
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    found: list[str] = []
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if not any(isinstance(a, str) and a.lower() in ("sts:assumerolewithsaml", "sts:*", "*") for a in actions):
            continue
        federated = (st.get("Principal") or {}).get("Federated") if isinstance(st.get("Principal"), dict) else None
        for arn in federated if isinstance(federated, list) else [federated]:
            if isinstance(arn, str) and ":saml-provider/" in arn and arn not in found:
                found.append(arn)
    return found


def _fingerprints(parsed: dict[str, Any]) -> list[str]:
    return [c["fingerprint_sha256"] for c in parsed.get("signing_certificates") or []]


def _where(account: str, region: str | None) -> str:
    return f"account {account}" + (f" {region}" if region else "")
