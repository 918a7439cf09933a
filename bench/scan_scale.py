"""Benchmark: a scan of many federations over several AWS accounts and one Okta org, at the pace
the rate limits allow.

    .venv/bin/python bench/scan_scale.py                  # 200 federations, 4 accounts, 30 ms
    .venv/bin/python bench/scan_scale.py --federations 50 --memory-federations 0

What it does:
1. Starts the sandbox (Okta simulator, local AWS) with `--latency-ms` on every call and Okta rate
   limits per endpoint template and window: the app list `/api/v1/apps` (`--okta-apps-limit`),
   `/api/v1/apps/{id}` (`--okta-app-limit`), and the app's `/users`, `/groups`, `/sso/saml/metadata`
   and `/credentials/keys` (same limit as the item).
2. Seeds N federations through the public APIs (concurrent seeding threads): each one a Cognito
   user pool with domain, SAML IdP and app client, an Amazon Connect instance, the Connect user
   role with its federation policy and an IAM SAML provider, in one of `--accounts` AWS accounts
   (real moto accounts: created in the organization, reached by AssumeRole, so the scanner uses
   `aws.role_arn` per federation); and in Okta the Cognito app and the Connect app, and a group
   assigned to both. One SCP on the OU protects every account's role and instance.
3. Scans with `--concurrency` (default 16), then `--concurrency 1` on `--baseline-federations`
   of them (extrapolated linearly to N: at concurrency 1 a scan is a sum of call latencies), and
   `--memory-federations` (default 1000) for the peak RSS: that config lists the seeded chains
   several times under different names (each entry is collected on its own; the caches that are
   per URL or per account still apply; no latency and no Okta limits, since it measures memory).
4. Prints wall time, API calls by endpoint against the minimum the scan needs, the lower bound
   on wall time implied by latency and rate limits, peak RSS, and whether the targets of issue 5
   are met.

Every scan runs in a fresh spawned process, so its peak RSS is the scanner's own (not the
sandbox's) and its timing excludes interpreter start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.sandbox.scenario import (
    AWS_SIGNIN,
    EMAIL_CLAIM,
    REGION,
    ROLE_ATTRIBUTE,
    Sandbox,
    apply_environment,
    config_document,
    public_metadata_url,
    write_config,
)

READ_ROLE = "AuditorReadOnly"
APPS_PAGE = 200  # auditor.collectors.okta.APPS_PAGE
COGNITO_CALLS = ("DescribeUserPool", "DescribeUserPoolDomain", "DescribeIdentityProvider", "ListUserPoolClients",
                 "DescribeUserPoolClient")
IAM_CALLS = ("GetRole", "DescribeInstance", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies",
             "GetSAMLProvider")


@dataclass
class Seeded:
    """One seeded federation's config block and where it lives."""

    config: dict[str, Any]
    account: str


# --- seeding (public APIs only) ---------------------------------------------------------------

def _account_clients(sb: Sandbox, account: str) -> Callable[[str], Any]:
    """A function giving the account's client for a service: made once, shared by every seeding
    thread (boto3 clients are thread-safe; making one per thread cost more than the seeding)."""
    sts = sb.aws.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                            RoleSessionName="bench-seed")["Credentials"]
    keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}
    from botocore.config import Config as BotoConfig

    clients = {service: sb.aws.client(service, config=BotoConfig(max_pool_connections=32), **keys)
               for service in ("cognito-idp", "iam", "connect")}
    return clients.__getitem__


def seed(sb: Sandbox, n: int, accounts: int, threads: int) -> tuple[list[Seeded], list[str]]:
    """Seed `n` federations over `accounts` new member accounts; returns them and the account ids."""
    org = sb.aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    ou = org.create_organizational_unit(ParentId=root, Name="contact-centers")["OrganizationalUnit"]["Id"]
    ids = []
    for i in range(accounts):
        aid = org.create_account(Email=f"cc{i}@example.com", AccountName=f"cc{i}")["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=aid, SourceParentId=root, DestinationParentId=ou)
        ids.append(aid)
    # One SCP for every account (AWS allows five per target): the meaning, not the text, is judged.
    scp = org.create_policy(Name="protect-contact-centers", Description="bench", Type="SERVICE_CONTROL_POLICY",
                            Content=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Sid": "ProtectContactCenters", "Effect": "Deny",
                                "Action": ["iam:DeleteRole", "connect:DeleteInstance"],
                                "Resource": ["arn:aws:iam::*:role/AmazonConnectUserRole-*",
                                             "arn:aws:connect:*:*:instance/*"]}]}))
    org.attach_policy(PolicyId=scp["Policy"]["PolicySummary"]["Id"], TargetId=ou)
    per_account = {aid: _account_clients(sb, aid) for aid in ids}
    admin = sb.admin

    def one(i: int) -> Seeded:
        name = f"cc{i:04d}"
        account = ids[i % len(ids)]
        client = per_account[account]
        cognito, iam = client("cognito-idp"), client("iam")
        instance = client("connect").create_instance(IdentityManagementType="SAML", InstanceAlias=f"cc-{name}",
                                                     InboundCallsEnabled=True, OutboundCallsEnabled=True)
        pool_id = cognito.create_user_pool(PoolName=f"cc-{name}")["UserPool"]["Id"]
        domain = f"cc-{name}-login"
        cognito.create_user_pool_domain(Domain=domain, UserPoolId=pool_id)
        acs = f"https://{domain}.auth.{REGION}.amazoncognito.com/saml2/idpresponse"
        group = admin.call("POST", "/api/v1/groups", {"profile": {"name": f"{name} agents", "description": name}})
        # A group with nobody in it assigns nobody: OKTA-ASSIGNMENTS would (rightly) fail.
        login = f"agent.{name}@example.com"
        agent = admin.call("POST", "/api/v1/users?activate=true", {"profile": {
            "firstName": "Agent", "lastName": name, "email": login, "login": login}})
        admin.call("PUT", f"/api/v1/groups/{group['id']}/users/{agent['id']}")
        app = admin.call("POST", "/api/v1/apps", {"label": f"Contact Center {name}", "signOnMode": "SAML_2_0",
                                                  "settings": {"signOn": {
            "ssoAcsUrl": acs, "recipient": acs, "destination": acs, "audience": f"urn:amazon:cognito:sp:{pool_id}",
            "assertionSigned": True, "responseSigned": True, "signatureAlgorithm": "RSA_SHA256",
            "digestAlgorithm": "SHA256", "attributeStatements": [{
                "type": "EXPRESSION", "name": EMAIL_CLAIM,
                "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}]}}})
        admin.call("PUT", f"/api/v1/apps/{app['id']}/groups/{group['id']}", {})
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName="Okta", ProviderType="SAML",
            ProviderDetails={"MetadataURL": public_metadata_url(sb, app["id"])},
            AttributeMapping={"email": EMAIL_CLAIM})
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="app-client",
                                        SupportedIdentityProviders=["COGNITO", "Okta"],
                                        CallbackURLs=[f"https://{name}.example.com/callback"],
                                        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"],
                                        AllowedOAuthFlowsUserPoolClient=True)
        role_name = f"AmazonConnectUserRole-{name}"
        role_arn = f"arn:aws:iam::{account}:role/{role_name}"
        provider_arn = f"arn:aws:iam::{account}:saml-provider/OktaConnect-{name}"
        connect_app = admin.call("POST", "/api/v1/apps", {
            "label": f"Amazon Connect {name}", "signOnMode": "SAML_2_0", "settings": {"signOn": {
                "ssoAcsUrl": AWS_SIGNIN, "recipient": AWS_SIGNIN, "destination": AWS_SIGNIN,
                "audience": "urn:amazon:webservices",
                "defaultRelayState": f"https://{REGION}.console.aws.amazon.com/connect/federate/{instance['Id']}",
                "assertionSigned": True, "responseSigned": True, "signatureAlgorithm": "RSA_SHA256",
                "digestAlgorithm": "SHA256", "attributeStatements": [{
                    "type": "EXPRESSION", "name": ROLE_ATTRIBUTE,
                    "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                    "values": [f"{role_arn},{provider_arn}"]}]}}})
        with urllib.request.urlopen(public_metadata_url(sb, connect_app["id"]), timeout=30) as r:
            iam.create_saml_provider(Name=f"OktaConnect-{name}", SAMLMetadataDocument=r.read().decode())
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": AWS_SIGNIN}}}]}
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=role_name, PolicyName="connect-federation", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "connect:GetFederationToken",
                "Resource": f"arn:aws:connect:{REGION}:{account}:instance/{instance['Id']}/user/${{aws:userid}}"}]}))
        return Seeded({
            "name": name, "okta_app": {"label": f"Contact Center {name}"}, "user_pool_id": pool_id,
            "app_client": {"name": "app-client"}, "identity_provider": "Okta",
            "required_assignments": {"users": [], "groups": [f"{name} agents"]},
            "aws": {"role_arn": f"arn:aws:iam::{account}:role/{READ_ROLE}"},
            "connect_sso": {"okta_app": {"label": f"Amazon Connect {name}"}, "saml_provider_arn": provider_arn,
                            "instance_id": instance["Id"]},
            "scp": {"account_id": account, "connect_role_arn": role_arn, "connect_instance_arn": instance["Arn"]},
        }, account)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(n))), ids


# --- one scan in a fresh process ----------------------------------------------------------------

def _scan_child(config_path: str, concurrency: int, queue: Any) -> None:
    """Runs in a spawned process: one scan, its timings, peak RSS and the ERROR findings."""
    import resource

    from auditor.config import load_config
    from auditor.report import Format
    from auditor.runner import ScanOptions, scan

    class Clock:
        """Times the collection stage through the runner's progress hooks."""

        def __init__(self) -> None:
            self.start_t = self.end_t = 0.0

        def __call__(self, federation: str, message: str) -> None:
            pass

        def start(self, total: int) -> None:
            self.start_t = time.perf_counter()

        def collected(self, collector: str, federation: str) -> None:
            pass

        def finish(self) -> None:
            self.end_t = time.perf_counter()

    config = load_config(Path(config_path))
    clock = Clock()
    began = time.perf_counter()
    out = scan(config, ScanOptions(formats=(Format.JSON,), concurrency=concurrency), progress=clock)
    wall = time.perf_counter() - began
    errors = [f"{f.federation} {f.control_id}: {f.message}" for f in out.result.findings if f.status.value == "ERROR"]
    throttled = [e for e in errors if re.search(r"429|rate limit|Throttl|TooManyRequests", e, re.I)]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put({"wall": wall, "collect": clock.end_t - clock.start_t, "cpu_s": usage.ru_utime + usage.ru_stime,
               "rss_mb": _peak_rss_mb(),
               "errors": len(errors), "throttled": len(throttled), "error_samples": errors[:3],
               "statuses": dict(Counter(f.status.value for f in out.result.findings)),
               "failing_controls": dict(Counter(f.control_id for f in out.result.findings
                                                if f.status.value == "FAIL"))})


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: a spawned child
    inherits the forking parent's peak there (Linux keeps it across exec), and the parent holds
    the whole sandbox."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scan(config_path: Path, concurrency: int) -> dict[str, Any]:
    """One scan in a spawned process (its RSS is the scanner's alone)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_scan_child, args=(str(config_path), concurrency, queue))
    proc.start()
    result: dict[str, Any] = queue.get(timeout=900)
    proc.join(timeout=60)
    return result


# --- counting and bounds ----------------------------------------------------------------------

def okta_endpoint(path: str) -> str:
    """The endpoint template of a request path (ids replaced)."""
    path = re.sub(r"^(/api/v1/(?:apps|users|groups))/[^/]+", r"\1/{id}", path)
    return re.sub(r"^/app/.+/sso/saml/metadata$", "/app/{entityKey}/sso/saml/metadata", path)


def calls_since(sb: Sandbox, okta_from: int, aws_from: int) -> Counter[str]:
    """API calls by endpoint since the two marks."""
    counts: Counter[str] = Counter()
    for req in sb.okta.requests[okta_from:]:
        counts[f"okta {req.method} {okta_endpoint(req.path)}"] += 1
    for service, operation in sb.aws.calls[aws_from:]:
        counts[f"aws {service}:{operation}"] += 1
    return counts


def minimum_calls(n: int, accounts: int, apps_in_org: int) -> Counter[str]:
    """What any scanner must call for these federations, given what it checks:
    the app list once (a label lookup must see every app, to catch two apps with one label),
    per federation the Cognito app's users and groups (groups embedded), both apps' metadata and
    keys through the API, Cognito's MetadataURL (the public form), 5 Cognito and 6 IAM/Connect
    reads; per account one
    AssumeRole and its parent and SCPs; the OU, the root and the two SCPs once."""
    m: Counter[str] = Counter()
    m["okta GET /api/v1/apps"] = math.ceil(apps_in_org / APPS_PAGE)
    m["okta GET /api/v1/apps/{id}/users"] = n
    m["okta GET /api/v1/apps/{id}/groups"] = n
    m["okta GET /api/v1/apps/{id}/sso/saml/metadata"] = 2 * n
    m["okta GET /api/v1/apps/{id}/credentials/keys"] = 2 * n
    m["okta GET /app/{entityKey}/sso/saml/metadata"] = n
    for op in COGNITO_CALLS:
        m[f"aws cognito-idp:{op}"] = n
    for op in IAM_CALLS:
        m[f"aws {'connect' if op == 'DescribeInstance' else 'iam'}:{op}"] = n
    m["aws sts:AssumeRole"] = accounts
    m["aws organizations:ListRoots"] = 1
    m["aws organizations:ListParents"] = accounts + 1  # each account, then the OU
    m["aws organizations:DescribeOrganizationalUnit"] = 1
    m["aws organizations:ListPoliciesForTarget"] = accounts + 2  # each account, the OU, the root
    m["aws organizations:DescribePolicy"] = 2  # FullAWSAccess and the contact centers' SCP
    return m


def window_bound(calls: int, limit: int, share: float, window_s: float) -> float:
    """Seconds `calls` into one Okta bucket need at `share` of `limit` per window."""
    per_window = max(1, int(limit * share))
    return (math.ceil(calls / per_window) - 1) * window_s if calls else 0.0


def lower_bound(counts: Counter[str], n: int, accounts: int,
                args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    """The wall time no scan can beat, given latency and the limits it must keep to."""
    lat = args.latency_ms / 1000
    parts = {
        # One federation's longest chain of dependent calls (Cognito: pool -> IdP -> metadata;
        # the client by name: list -> describe), each at least one latency.
        "latency: one federation's dependent calls": 3 * lat,
        "okta /api/v1/apps window": window_bound(counts["okta GET /api/v1/apps"], args.okta_apps_limit,
                                                 args.share, args.okta_window_s),
    }
    for sub in ("users", "groups", "sso/saml/metadata", "credentials/keys"):
        parts[f"okta /api/v1/apps/{{id}}/{sub} window"] = window_bound(
            counts[f"okta GET /api/v1/apps/{{id}}/{sub}"], args.okta_app_limit, args.share, args.okta_window_s)
    cognito = sum(v for k, v in counts.items() if k.startswith("aws cognito-idp:"))
    burst = args.cognito_account_rps  # the token bucket starts full
    parts["cognito per-account rate"] = max(0.0, (math.ceil(cognito / accounts) - burst) / args.cognito_account_rps)
    parts["cognito per-pool rate"] = max(0.0, (len(COGNITO_CALLS) - args.cognito_pool_rps) / args.cognito_pool_rps)
    return max(parts.values()), parts


def set_okta_limits(sb: Sandbox, apps_limit: int, app_limit: int, window_s: float) -> None:
    """Okta's per-template limits: the app list, and one app with (each) its /users, /groups,
    metadata and keys (sub-resources are counted apart, as Okta's buckets are per endpoint)."""
    sb.okta.set_template_rate_limit("/api/v1/apps", apps_limit, window_s)
    for template in ("/api/v1/apps/{id}", "/api/v1/apps/{id}/users", "/api/v1/apps/{id}/groups",
                     "/api/v1/apps/{id}/sso/saml/metadata", "/api/v1/apps/{id}/credentials/keys"):
        sb.okta.set_template_rate_limit(template, app_limit, window_s)


def write_scan_config(sb: Sandbox, feds: list[dict[str, Any]], folder: Path, args: argparse.Namespace,
                      name: str) -> Path:
    doc = config_document(sb, [], reports_dir=str(folder / f"reports-{name}"))
    doc["federations"] = feds
    doc["okta"]["rate_limit_share"] = args.share
    doc["aws"]["cognito_pool_rps"] = args.cognito_pool_rps
    doc["aws"]["cognito_account_rps"] = args.cognito_account_rps
    doc["reports"]["history"] = f"history-{name}.sqlite"
    return write_config(folder / f"config-{name}.yaml", doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--federations", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=30.0, help="added to every Okta and AWS call")
    parser.add_argument("--okta-apps-limit", type=int, default=100, help="requests per window on /api/v1/apps")
    parser.add_argument("--okta-app-limit", type=int, default=600,
                        help="requests per window on /api/v1/apps/{id} (and, each, its /users and /groups)")
    parser.add_argument("--okta-window-s", type=float, default=60.0, help="Okta's rate-limit window")
    parser.add_argument("--share", type=float, default=0.5, help="okta.rate_limit_share")
    parser.add_argument("--cognito-pool-rps", type=float, default=5.0)
    parser.add_argument("--cognito-account-rps", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline-federations", type=int, default=20,
                        help="federations scanned at --concurrency 1 (extrapolated to --federations); 0: skip")
    parser.add_argument("--memory-federations", type=int, default=1000, help="0: skip the memory scan")
    parser.add_argument("--seed-threads", type=int, default=8)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    n = args.federations

    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="scan-scale-") as tmp:
        apply_environment(sb)
        folder = Path(tmp)
        t0 = time.perf_counter()
        seeded, accounts = seed(sb, n, args.accounts, args.seed_threads)
        seed_s = time.perf_counter() - t0
        apps_in_org = 2 * n
        # Limits and latency only for the scans: seeding is not what is measured.
        set_okta_limits(sb, args.okta_apps_limit, args.okta_app_limit, args.okta_window_s)
        sb.okta.set_latency(args.latency_ms)
        sb.aws.set_latency(args.latency_ms)
        feds = [s.config for s in seeded]

        print(f"seeded {n} federations over {len(accounts)} accounts ({', '.join(accounts)}) and one Okta org "
              f"({apps_in_org} apps) in {seed_s:.1f} s")
        print(f"limits: Okta {args.okta_apps_limit}/{args.okta_window_s:g}s on /api/v1/apps, "
              f"{args.okta_app_limit}/{args.okta_window_s:g}s on /api/v1/apps/{{id}} (and on each of its /users, "
              f"/groups, metadata, keys), share {args.share}; Cognito {args.cognito_pool_rps:g} rps per pool, "
              f"{args.cognito_account_rps:g} rps per account; latency {args.latency_ms:g} ms per call\n")

        marks = (len(sb.okta.requests), len(sb.aws.calls))
        cpu0 = time.process_time()
        main_run = run_scan(write_scan_config(sb, feds, folder, args, "main"), args.concurrency)
        sandbox_cpu = time.process_time() - cpu0
        counts = calls_since(sb, *marks)
        minimum = minimum_calls(n, len(accounts), apps_in_org)
        bound, parts = lower_bound(counts, n, len(accounts), args)

        print(f"== scan, --concurrency {args.concurrency}, {n} federations")
        print(f"wall time: {main_run['wall']:.2f} s (collection {main_run['collect']:.2f} s; the rest is "
              "evaluation and the JSON report)")
        print(f"findings: {main_run['statuses']}; ERROR findings: {main_run['errors']}, of them caused by "
              f"rate limiting or throttling: {main_run['throttled']}")
        for sample in main_run["error_samples"]:
            print(f"  ERROR {sample}")
        if main_run["failing_controls"]:
            print(f"  FAIL by control: {main_run['failing_controls']}")
        print(f"{'endpoint':52} {'calls':>6} {'minimum':>8}")
        for key in sorted(set(counts) | set(minimum)):
            print(f"{key:52} {counts.get(key, 0):>6} {minimum.get(key, 0):>8}")
        total, needed = sum(counts.values()), sum(minimum.values())
        calls_ratio = total / needed
        print(f"{'total':52} {total:>6} {needed:>8}   ratio {calls_ratio:.3f}")
        print("lower bound on wall time:")
        for name, value in parts.items():
            print(f"  {name:50} {value:7.2f} s")
        time_ratio = main_run["wall"] / bound if bound else float("inf")
        print(f"  => {bound:.2f} s; wall time / lower bound = {time_ratio:.2f}")
        print(f"peak RSS (scanner process): {main_run['rss_mb']:.0f} MB; CPU: scanner {main_run['cpu_s']:.1f} s, "
              f"sandbox {sandbox_cpu:.1f} s\n")

        baseline_s = None
        if args.baseline_federations:
            k = min(args.baseline_federations, n)
            base = run_scan(write_scan_config(sb, feds[:k], folder, args, "baseline"), 1)
            baseline_s = base["wall"] * n / k
            print(f"== baseline, --concurrency 1, measured on {k} of {n} federations and extrapolated linearly")
            print(f"wall time: {base['wall']:.2f} s for {k} -> {baseline_s:.1f} s for {n} (estimate); "
                  f"ERROR findings {base['errors']}; peak RSS {base['rss_mb']:.0f} MB")
            print(f"speed-up: {baseline_s / main_run['wall']:.1f}x\n")

        memory = None
        if args.memory_federations:
            m = args.memory_federations
            sb.okta.set_latency(0)
            sb.aws.set_latency(0)
            # Nor rate limits: this run measures memory, and 1,000 federations at the main run's
            # Okta limits would spend minutes waiting for windows to reset (pacing is measured above).
            set_okta_limits(sb, 100_000, 100_000, args.okta_window_s)
            many = [{**feds[i % n], "name": f"{feds[i % n]['name']}-{i // n}"} for i in range(m)]
            memory = run_scan(write_scan_config(sb, many, folder, args, "memory"), args.concurrency)
            print(f"== memory, {m} federations (the {n} seeded chains listed {math.ceil(m / n)} times under other "
                  "names; no latency, no Okta rate limits)")
            print(f"wall time {memory['wall']:.1f} s; peak RSS {memory['rss_mb']:.0f} MB; ERROR findings "
                  f"{memory['errors']}\n")

        elapsed = time.perf_counter() - began
        print("== targets")
        checks = [
            (f"wall time within 1.3x of the lower bound ({time_ratio:.2f}x)", time_ratio <= 1.3),
            (f"API calls within 1.1x of the minimum ({calls_ratio:.3f}x)", calls_ratio <= 1.1),
            (f"no ERROR from rate limiting or throttling ({main_run['throttled']})", main_run["throttled"] == 0),
        ]
        if baseline_s is not None:
            speedup = baseline_s / main_run["wall"]
            checks.append((f">= 10x faster than --concurrency 1 ({speedup:.1f}x, baseline extrapolated)",
                           speedup >= 10))
        if memory is not None:
            checks.append((f"peak RSS < 300 MB for {args.memory_federations} federations ({memory['rss_mb']:.0f} MB)",
                           memory["rss_mb"] < 300))
        checks.append((f"benchmark under 5 minutes ({elapsed:.0f} s)", elapsed < 300))
        for text, ok in checks:
            print(f"  [{'ok' if ok else 'MISSED'}] {text}")
        print(f"(on {os.cpu_count()} CPUs)")
        return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
