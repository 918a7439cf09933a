"""Benchmark: `auditor discover` over an estate of many pools, accounts, Regions and Okta apps.

    .venv/bin/python bench/discover_scale.py                       # 200 pools, 4 accounts, 2 Regions
    .venv/bin/python bench/discover_scale.py --pools 8 --accounts 2 --latency-ms 0   # a quick check

What it does:
1. Starts the sandbox and seeds, through the public APIs: the organization (management account
   111122223333) with `--accounts` member accounts, the read-only audit role in each, and
   `--pools` user pools spread over the accounts and the two Regions, each with a domain, a SAML
   IdP reading its Okta app's public metadata URL and an app client; in Okta one SAML app per
   pool, plus `--decoy-apps` apps pointing elsewhere (200 apps in all by default).
2. Sets `--latency-ms` on every Okta and AWS call and Okta's per-template rate limits.
3. Runs discovery (`--organization`, both Regions) in a fresh spawned process.
4. Prints wall time, API calls per endpoint against the minimum discovery needs, and peak RSS.
   Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.sandbox.scenario import (
    ACCOUNT_ID,
    AUDIT_ROLE,
    EMAIL_CLAIM,
    MANAGEMENT_ACCOUNT_ID,
    REGION,
    Sandbox,
    account_client,
    apply_environment,
    config_document,
    create_audit_role,
    public_metadata_url,
    write_config,
)

SECOND_REGION = "eu-central-1"
APPS_PAGE = 200  # auditor.collectors.okta.APPS_PAGE
COGNITO_PAGE = 60  # auditor.collectors.discovery.COGNITO_PAGE
POOL_CALLS = ("DescribeUserPool", "ListIdentityProviders", "DescribeIdentityProvider", "ListUserPoolClients",
              "DescribeUserPoolClient")


def seed(sb: Sandbox, pools: int, accounts: int, decoys: int, threads: int) -> list[str]:
    """The estate; returns the member account ids."""
    sb.organization()
    org = sb.management_client("organizations")
    members = [ACCOUNT_ID]
    for i in range(accounts - 1):
        members.append(org.create_account(Email=f"cc{i}@example.com", AccountName=f"cc{i}")
                       ["CreateAccountStatus"]["AccountId"])
    for account in [MANAGEMENT_ACCOUNT_ID, *members]:
        create_audit_role(sb, account)
    clients = {(a, r): account_client(sb, "cognito-idp", a, r) for a in members for r in (REGION, SECOND_REGION)}

    def one(i: int) -> None:
        account, region = members[i % len(members)], (REGION, SECOND_REGION)[(i // len(members)) % 2]
        cognito = clients[(account, region)]
        name = f"cc{i:04d}"
        pool_id = cognito.create_user_pool(PoolName=name)["UserPool"]["Id"]
        cognito.create_user_pool_domain(Domain=f"{name}-login", UserPoolId=pool_id)
        acs = f"https://{name}-login.auth.{region}.amazoncognito.com/saml2/idpresponse"
        app = sb.admin.call("POST", "/api/v1/apps", {"label": f"Contact Center {name}", "signOnMode": "SAML_2_0",
                                                     "settings": {"signOn": {
                                                         "ssoAcsUrl": acs, "recipient": acs, "destination": acs,
                                                         "audience": f"urn:amazon:cognito:sp:{pool_id}"}}})
        cognito.create_identity_provider(UserPoolId=pool_id, ProviderName="Okta", ProviderType="SAML",
                                         ProviderDetails={"MetadataURL": public_metadata_url(sb, app["id"])},
                                         AttributeMapping={"email": EMAIL_CLAIM})
        cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="app-client",
                                        SupportedIdentityProviders=["COGNITO", "Okta"])

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(pools)))
    for i in range(decoys):
        sb.admin.call("POST", "/api/v1/apps", {"label": f"Wiki {i}", "signOnMode": "SAML_2_0", "settings": {
            "signOn": {"ssoAcsUrl": f"https://wiki{i}.example.com/saml", "audience": f"https://wiki{i}.example.com"}}})
    return members


def _child(config_path: str, concurrency: int, queue: Any) -> None:
    """In a spawned process: one discovery, its wall time, peak RSS and what it found."""
    from auditor.collectors.discovery import scope_from
    from auditor.config import load_config, okta_secret
    from auditor.discovery import run_discovery

    config = load_config(Path(config_path))
    began = time.perf_counter()
    coverage = run_discovery(config, okta_secret(config), scope_from(config), concurrency=concurrency)
    wall = time.perf_counter() - began
    rss = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    queue.put({"wall": wall, "rss_mb": rss, "federations": len(coverage.federations),
               "unaudited": len(coverage.unaudited), "dangling": len(coverage.dangling),
               "notices": [f"{n['where']}: {n['message']}" for n in coverage.notices][:5]})


def minimum_calls(pools: int, members: int, apps: int) -> Counter[str]:
    """What any discovery of this estate must call: the app list and each Cognito app's metadata,
    each IdP's MetadataURL once; per account one AssumeRole, the IAM lists, the SCP path; per
    account and Region the pool list pages and the Connect list; per pool five Cognito reads."""
    accounts = members + 1  # and the management account
    m: Counter[str] = Counter()
    m["okta GET /api/v1/apps"] = math.ceil(apps / APPS_PAGE)
    m["okta GET /api/v1/apps/{id}/sso/saml/metadata"] = pools
    m["okta GET /app/{entityKey}/sso/saml/metadata"] = pools
    m["aws organizations:ListAccounts"] = 1
    m["aws sts:AssumeRole"] = accounts
    m["aws iam:ListSAMLProviders"] = accounts
    m["aws iam:ListRoles"] = accounts
    per_unit = math.ceil(pools / (2 * members))
    m["aws cognito-idp:ListUserPools"] = accounts * 2 + members * 2 * max(0, math.ceil(per_unit / COGNITO_PAGE) - 1)
    m["aws connect:ListInstances"] = accounts * 2
    for op in POOL_CALLS:
        m[f"aws cognito-idp:{op}"] = pools
    m["aws organizations:DescribeOrganization"] = 1
    m["aws organizations:ListRoots"] = 1
    m["aws organizations:ListParents"] = accounts + 1  # each account, then the OU
    m["aws organizations:DescribeOrganizationalUnit"] = 1
    m["aws organizations:ListPoliciesForTarget"] = accounts + 2
    m["aws organizations:DescribePolicy"] = 1
    return m


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=4, help="member accounts (the management one is extra)")
    parser.add_argument("--decoy-apps", type=int, default=0,
                        help="Okta apps pointing elsewhere (default 0: 200 apps, one per pool)")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--okta-apps-limit", type=int, default=100)
    parser.add_argument("--okta-app-limit", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed-threads", type=int, default=8)
    args = parser.parse_args(argv)
    from bench.scan_scale import calls_since, set_okta_limits

    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="discover-scale-") as tmp:
        apply_environment(sb)
        t0 = time.perf_counter()
        members = seed(sb, args.pools, args.accounts, args.decoy_apps, args.seed_threads)
        apps = args.pools + args.decoy_apps
        print(f"seeded {args.pools} pools over {len(members)} member accounts and 2 Regions, {apps} Okta apps, "
              f"in {time.perf_counter() - t0:.1f} s")
        doc = config_document(sb, [], reports_dir=str(Path(tmp) / "reports"))
        doc["federations"] = [{"name": "placeholder", "okta_app": {"id": "0oaNone"},
                               "user_pool_id": "us-east-1_None1", "app_client": {"name": "x"},
                               "identity_provider": "Okta"}]
        doc["discovery"] = {"organization": True, "role_name": AUDIT_ROLE, "regions": [REGION, SECOND_REGION]}
        config = write_config(Path(tmp) / "config.yaml", doc)
        set_okta_limits(sb, args.okta_apps_limit, args.okta_app_limit, 60.0)
        sb.okta.set_latency(args.latency_ms)
        sb.aws.set_latency(args.latency_ms)
        marks = (len(sb.okta.requests), len(sb.aws.calls))
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(str(config), args.concurrency, queue))
        proc.start()
        result = queue.get(timeout=900)
        proc.join(timeout=60)
        counts = calls_since(sb, *marks)
    minimum = minimum_calls(args.pools, len(members), apps)
    print(f"\n== discover --organization, 2 Regions, --concurrency {args.concurrency}, latency {args.latency_ms:g} ms")
    print(f"wall time: {result['wall']:.2f} s; peak RSS (discovery process): {result['rss_mb']:.0f} MB")
    print(f"found: {result['federations']} federations ({result['unaudited']} unaudited), "
          f"{result['dangling']} dangling; notices: {len(result['notices'])}")
    for notice in result["notices"]:
        print(f"  notice: {notice}")
    print(f"{'endpoint':52} {'calls':>6} {'minimum':>8}")
    for key in sorted(set(counts) | set(minimum)):
        print(f"{key:52} {counts.get(key, 0):>6} {minimum.get(key, 0):>8}")
    total, needed = sum(counts.values()), sum(minimum.values())
    print(f"{'total':52} {total:>6} {needed:>8}   ratio {total / needed:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
