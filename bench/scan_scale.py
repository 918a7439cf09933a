"""Benchmark: a scan of many federations over several AWS accounts and one Okta org, at the pace
the rate limits allow.

    .venv/bin/python bench/scan_scale.py                  # 200 federations, 4 accounts, 30 ms
    .venv/bin/python bench/scan_scale.py --federations 50 --memory-federations 0

What it does:
1. Starts the sandbox (Okta simulator, local AWS) with `--latency-ms` on every call, Cognito's
   request rates per pool and per account, and Okta's two app buckets as Okta's management rate
   limits page defines them (https://developer.okta.com/docs/reference/rl-global-mgmt/):
   `/api/v1/apps`, the app list *and* every `/api/v1/apps/{id}/...` (an app's users, groups,
   metadata and keys), `--okta-apps-limit` (100 a minute on most editions), and the item
   `/api/v1/apps/{id}`, `--okta-app-limit`.
2. Seeds N federations through the public APIs (concurrent seeding threads): each one a Cognito
   user pool with domain, SAML IdP and app client, an Amazon Connect instance, the Connect user
   role with its federation policy and an IAM SAML provider, in one of `--accounts` AWS accounts
   (real moto accounts: created in the organization, reached by AssumeRole, so the scanner uses
   `aws.role_arn` per federation); and in Okta the Cognito app and the Connect app, and a group
   assigned to both. One SCP on the OU protects every account's role and instance.
3. Scans, each in a fresh `python -m auditor scan` process, `--repeats` times interleaved (main,
   small, baseline, main, ...), with Okta's limits lifted: at the documented limits one org's app
   bucket allows ~8 federations a minute at the default share, whatever the scanner does, so
   these scale scans measure the rest (latency, Cognito's rates, the scanner's CPU): N
   federations at `--concurrency` (default 16); `--small-federations` of them at the same
   concurrency (the difference gives the scanner CPU per added federation, and the rest its
   fixed start-up cost); `--baseline-federations` at `--concurrency 1` (extrapolated linearly to
   N, the fixed start-up counted once: at concurrency 1 a scan is a sum of call latencies).
   Then once the Okta-bound scan:
   `--okta-federations` (default 12) at Okta's limits, fresh windows: its wall time against the
   app bucket's windows, and the 429s the simulator answered (none, if the scan kept to its
   share). Then once `--memory-federations` (default 1000) for the peak RSS: that config lists
   the seeded chains several times under different names (no latency and no Okta limits, since
   it measures memory).
4. Prints, per configuration, the median and range of wall time, of the scanner's CPU (its
   process's user + system time, start-up and exit included) apart from the sandbox's (this
   process serves Okta and AWS) and of the load the rest of the machine added meanwhile (from
   /proc/stat); API calls by endpoint against the minimum the scan needs; the lower bound on
   wall time implied by latency and rate limits; peak RSS; and whether the targets of issues 5
   and 17 are met, on the medians. On a shared machine the spread says how far to trust one run.

The scanner's peak RSS is its own (VmHWM, read in the scan process), not the sandbox's. The
package is byte-compiled first and the scans run without PYTHONDONTWRITEBYTECODE, so they load
their modules from `__pycache__` as a user's `pip install` does (bench/child_env.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.sandbox.okta_sim import okta_rate_limit_bucket  # noqa: E402
from auditor.sandbox.scenario import (  # noqa: E402 (after the path: runs from a checkout)
    AWS_SIGNIN,
    EMAIL_CLAIM,
    REGION,
    ROLE_ATTRIBUTE,
    ROLE_SESSION_ATTRIBUTE,
    Sandbox,
    apply_environment,
    config_document,
    public_metadata_url,
    write_config,
)
from bench.child_env import child_env, compile_package  # noqa: E402

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
    # The organization as an administrator makes it, from its management account (the scanner
    # reads it there, through the config's `organizations.profile`), and its OU for contact centers.
    ou = sb.organization()["ou"]
    org = sb.management_client("organizations")
    ids = []
    for i in range(accounts):
        aid = org.create_account(Email=f"cc{i}@example.com", AccountName=f"cc{i}")["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=aid, SourceParentId=sb.organization()["root"], DestinationParentId=ou)
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
                    "values": [f"{role_arn},{provider_arn}"]}, {
                    "type": "EXPRESSION", "name": ROLE_SESSION_ATTRIBUTE,
                    "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]}]}}})
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

# `python -m auditor` as a user runs it, plus one atexit hook writing the process's own peak RSS:
# not getrusage's ru_maxrss, which a child inherits from the forking parent (Linux keeps it
# across exec), and the parent holds the whole sandbox.
_CHILD = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as fh:
        kb = next((int(l.split()[1]) for l in fh if l.startswith("VmHWM:")), 0)
    with open(os.environ["SCAN_SCALE_STATS"], "w") as out:
        out.write(str(kb))
atexit.register(_peak)
sys.argv = ["auditor", *sys.argv[1:]]
runpy.run_module("auditor", run_name="__main__", alter_sys=True)
"""


class MachineLoad:
    """How busy the whole machine was between `start()` and `stop()`, from /proc/stat: cores
    busy on average (all processes: the scanner, the sandbox and anything else running)."""

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields) - idle, sum(fields)

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> float | None:
        """Busy cores on average since `start()` (None where /proc/stat cannot be read)."""
        end = self._read()
        if self._start is None or end is None or end[1] == self._start[1]:
            return None
        return (end[0] - self._start[0]) / (end[1] - self._start[1]) * (os.cpu_count() or 1)


def run_scan(config_path: Path, concurrency: int, out_dir: Path) -> dict[str, Any]:
    """One `auditor scan` in a fresh process (interpreter start-up and exit included, as a user
    pays them): wall time, the scanner's CPU (user + system, from wait4), its peak RSS, and its
    findings from report.json."""
    stats = out_dir / "peak-rss-kb"
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", _CHILD, "scan", "--config", str(config_path), "--format", "json", "-q",
           "--concurrency", str(concurrency), "-o", str(out_dir)]
    env = child_env(SCAN_SCALE_STATS=str(stats))
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    reports = sorted(out_dir.glob("*/report.json"))
    if not reports:
        raise RuntimeError(f"the scan wrote no report (exit {proc.returncode}): {stderr.strip()[-500:]}")
    findings = json.loads(reports[-1].read_text(encoding="utf-8"))["findings"]
    errors = [f"{f['federation']} {f['control_id']}: {f['message']}" for f in findings if f["status"] == "ERROR"]
    throttled = [e for e in errors if re.search(r"429|rate limit|Throttl|TooManyRequests", e, re.I)]
    return {"wall": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "exit": proc.returncode,
            "rss_mb": int(stats.read_text() or 0) / 1024 if stats.exists() else float("nan"),
            "errors": len(errors), "throttled": len(throttled), "error_samples": errors[:3],
            "statuses": dict(Counter(f["status"] for f in findings)),
            "failing_controls": dict(Counter(f["control_id"] for f in findings if f["status"] == "FAIL"))}


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
    m["aws organizations:DescribeOrganization"] = 1
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


def okta_buckets(counts: Counter[str]) -> Counter[str]:
    """Okta calls by rate-limit bucket, as Okta's management rate limits page defines them (the
    simulator's okta_rate_limit_bucket): the app list and every /api/v1/apps/{id}/... in one."""
    by_bucket: Counter[str] = Counter()
    for key, value in counts.items():
        if key.startswith("okta "):
            by_bucket[okta_rate_limit_bucket(key.split(" ", 2)[2])] += value
    return by_bucket


def lower_bound(counts: Counter[str], n: int, accounts: int, args: argparse.Namespace,
                okta_limited: bool = True) -> tuple[float, dict[str, float]]:
    """The wall time no scan can beat, given latency and the limits it must keep to."""
    lat = args.latency_ms / 1000
    parts = {
        # One federation's longest chain of dependent calls (Cognito: pool -> IdP -> metadata;
        # the client by name: list -> describe), each at least one latency.
        "latency: one federation's dependent calls": 3 * lat,
    }
    if okta_limited:
        by_bucket = okta_buckets(counts)
        parts["okta /api/v1/apps bucket (the list and every app's sub-resources)"] = window_bound(
            by_bucket["/api/v1/apps"], args.okta_apps_limit, args.share, args.okta_window_s)
        parts["okta /api/v1/apps/{id} bucket"] = window_bound(
            by_bucket["/api/v1/apps/{id}"], args.okta_app_limit, args.share, args.okta_window_s)
    cognito = sum(v for k, v in counts.items() if k.startswith("aws cognito-idp:"))
    burst = args.cognito_account_rps  # the token bucket starts full
    parts["cognito per-account rate"] = max(0.0, (math.ceil(cognito / accounts) - burst) / args.cognito_account_rps)
    parts["cognito per-pool rate"] = max(0.0, (len(COGNITO_CALLS) - args.cognito_pool_rps) / args.cognito_pool_rps)
    return max(parts.values()), parts


def set_okta_limits(sb: Sandbox, apps_limit: int, app_limit: int, window_s: float) -> None:
    """Okta's limits on its two app buckets (https://developer.okta.com/docs/reference/rl-global-mgmt/):
    `/api/v1/apps`, the list and every `/api/v1/apps/{id}/...` (users, groups, metadata, keys), and
    `/api/v1/apps/{id}`, the app itself. Setting them starts fresh windows."""
    sb.okta.set_template_rate_limit("/api/v1/apps", apps_limit, window_s)
    sb.okta.set_template_rate_limit("/api/v1/apps/{id}", app_limit, window_s)


def write_scan_config(sb: Sandbox, feds: list[dict[str, Any]], folder: Path, args: argparse.Namespace,
                      name: str) -> Path:
    doc = config_document(sb, [], reports_dir=str(folder / f"reports-{name}"))
    doc["federations"] = feds
    doc["okta"]["rate_limit_share"] = args.share
    doc["aws"]["cognito_pool_rps"] = args.cognito_pool_rps
    doc["aws"]["cognito_account_rps"] = args.cognito_account_rps
    doc["reports"]["history"] = f"history-{name}.sqlite"
    return write_config(folder / f"config-{name}.yaml", doc)


@dataclass
class Config:
    """One scan configuration of the benchmark, run `--repeats` times interleaved with the others."""

    name: str
    federations: int
    concurrency: int
    path: Path
    runs: list[dict[str, Any]]


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """`median (min-max)` of a list of figures."""
    if not values:
        return "-"
    return (f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
            if len(values) > 1 else fmt.format(values[0]))


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--federations", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=30.0, help="added to every Okta and AWS call")
    parser.add_argument("--okta-apps-limit", type=int, default=100,
                        help="requests per window on Okta's /api/v1/apps bucket: the list and every "
                             "/api/v1/apps/{id}/... (users, groups, metadata, keys); 100 on most editions")
    parser.add_argument("--okta-app-limit", type=int, default=600,
                        help="requests per window on /api/v1/apps/{id} itself (600 Enterprise, 500 Workforce)")
    parser.add_argument("--okta-federations", type=int, default=12,
                        help="federations of the Okta-bound scan, at the Okta limits above (six calls each in "
                             "the /api/v1/apps bucket; 12 need two windows at the default share); 0: skip")
    parser.add_argument("--okta-window-s", type=float, default=60.0, help="Okta's rate-limit window")
    parser.add_argument("--share", type=float, default=0.5, help="okta.rate_limit_share")
    parser.add_argument("--cognito-pool-rps", type=float, default=5.0)
    parser.add_argument("--cognito-account-rps", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small-federations", type=int, default=20,
                        help="federations of the small scan (at --concurrency): with the main scan it gives "
                             "the CPU per added federation and the fixed start-up CPU; 0: skip")
    parser.add_argument("--baseline-federations", type=int, default=20,
                        help="federations scanned at --concurrency 1 (extrapolated to --federations); 0: skip")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each configuration, interleaved (main, small, baseline, main, ...); "
                             "figures are medians with their range, and the targets are checked on medians")
    parser.add_argument("--memory-federations", type=int, default=1000, help="0: skip the memory scan")
    parser.add_argument("--seed-threads", type=int, default=8)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    n = args.federations
    compile_package()
    load_before = os.getloadavg()

    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="scan-scale-") as tmp:
        apply_environment(sb)
        folder = Path(tmp)
        t0 = time.perf_counter()
        seeded, accounts = seed(sb, n, args.accounts, args.seed_threads)
        seed_s = time.perf_counter() - t0
        apps_in_org = 2 * n
        feds = [s.config for s in seeded]

        print(f"seeded {n} federations over {len(accounts)} accounts ({', '.join(accounts)}) and one Okta org "
              f"({apps_in_org} apps) in {seed_s:.1f} s")
        print(f"limits: Cognito {args.cognito_pool_rps:g} rps per pool, {args.cognito_account_rps:g} rps per account; "
              f"latency {args.latency_ms:g} ms per call. Okta: {args.okta_apps_limit}/{args.okta_window_s:g}s on "
              f"/api/v1/apps (the list and every app's users, groups, metadata and keys), {args.okta_app_limit}/"
              f"{args.okta_window_s:g}s on /api/v1/apps/{{id}}, share {args.share}, in the Okta-bound scan only: at "
              f"those limits {n} federations need ~{math.ceil(6 * n / max(1, int(args.okta_apps_limit * args.share)))} "
              "windows whatever the scanner does, so the scale scans lift them and measure the rest")
        print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} / {load_before[1]:.2f} / "
              f"{load_before[2]:.2f} (1 / 5 / 15 min) before seeding; {args.repeats} interleaved run(s) of each "
              "configuration\n")

        configs = [Config("main", n, args.concurrency, write_scan_config(sb, feds, folder, args, "main"), [])]
        k_small = min(args.small_federations, n)
        if k_small and k_small < n:
            configs.append(Config("small", k_small, args.concurrency,
                                  write_scan_config(sb, feds[:k_small], folder, args, "small"), []))
        k_base = min(args.baseline_federations, n)
        if k_base:
            configs.append(Config("baseline", k_base, 1,
                                  write_scan_config(sb, feds[:k_base], folder, args, "baseline"), []))
        sb.okta.set_latency(args.latency_ms)
        sb.aws.set_latency(args.latency_ms)
        counts: Counter[str] = Counter()
        for repeat in range(args.repeats):
            for cfg in configs:
                # No Okta limits in the scale scans (the Okta-bound scan below measures them): at
                # Okta's documented limits the app bucket alone would set the pace.
                set_okta_limits(sb, 1_000_000, 1_000_000, args.okta_window_s)
                marks = (len(sb.okta.requests), len(sb.aws.calls))
                machine = MachineLoad()
                machine.start()
                cpu0 = time.process_time()
                run = run_scan(cfg.path, cfg.concurrency, folder / f"reports-{cfg.name}-{repeat}")
                run["sandbox_cpu_s"] = time.process_time() - cpu0
                busy = machine.stop()
                # Cores the rest of the machine kept busy meanwhile (other jobs than this benchmark).
                run["others_cores"] = (max(0.0, busy - (run["cpu_s"] + run["sandbox_cpu_s"]) / run["wall"])
                                       if busy is not None else float("nan"))
                run["calls"] = calls_since(sb, *marks)
                cfg.runs.append(run)
                if cfg.name == "main" and repeat == 0:
                    counts = run["calls"]
                print(f"  {cfg.name:8} run {repeat + 1}: wall {run['wall']:6.2f} s, scanner CPU {run['cpu_s']:5.2f} s, "
                      f"sandbox CPU {run['sandbox_cpu_s']:5.2f} s, other load {run['others_cores']:.2f} cores, "
                      f"ERROR findings {run['errors']}, exit {run['exit']}", flush=True)
        print()

        main_cfg = configs[0]
        main_runs = main_cfg.runs
        first = main_runs[0]
        minimum = minimum_calls(n, len(accounts), apps_in_org)
        bound, parts = lower_bound(counts, n, len(accounts), args, okta_limited=False)

        print(f"== scan, --concurrency {args.concurrency}, {n} federations")
        print(f"findings: {first['statuses']}; ERROR findings: {first['errors']}, of them caused by "
              f"rate limiting or throttling: {max(r['throttled'] for r in main_runs)}")
        for sample in first["error_samples"]:
            print(f"  ERROR {sample}")
        if first["failing_controls"]:
            print(f"  FAIL by control: {first['failing_controls']}")
        print(f"{'endpoint':52} {'calls':>6} {'minimum':>8}")
        for key in sorted(set(counts) | set(minimum)):
            print(f"{key:52} {counts.get(key, 0):>6} {minimum.get(key, 0):>8}")
        total, needed = sum(counts.values()), sum(minimum.values())
        same_calls = all(r["calls"] == counts for r in main_runs)
        over = {k: v - minimum.get(k, 0) for k, v in counts.items() if v > minimum.get(k, 0)}
        print(f"{'total':52} {total:>6} {needed:>8}   (every run the same: {same_calls})")
        print("lower bound on wall time:")
        for name, value in parts.items():
            print(f"  {name:50} {value:7.2f} s")
        time_ratio = median(main_runs, "wall") / bound if bound else float("inf")
        print(f"  => {bound:.2f} s; wall time / lower bound = {time_ratio:.2f} on the median "
              f"({spread([r['wall'] / bound for r in main_runs]) if bound else '-'})\n")

        print(f"== {len(main_runs)} run(s) of each; median (min-max)")
        print(f"{'configuration':34} {'wall s':>20} {'scanner CPU s':>20} {'sandbox CPU s':>20} {'other load':>12}")
        for cfg in configs:
            label = f"{cfg.name}: {cfg.federations} feds, -c {cfg.concurrency}"
            print(f"{label:34} {spread([r['wall'] for r in cfg.runs]):>20} "
                  f"{spread([r['cpu_s'] for r in cfg.runs]):>20} {spread([r['sandbox_cpu_s'] for r in cfg.runs]):>20} "
                  f"{spread([r['others_cores'] for r in cfg.runs]):>12}")
        print("(scanner CPU: the scan process's user + system time, interpreter start and exit included; sandbox "
              "CPU: this process, which serves Okta and AWS; other load: cores the rest of the machine kept busy)")
        print(f"peak RSS of the scanner, {n} federations: {spread([r['rss_mb'] for r in main_runs], '{:.0f}')} MB\n")

        marginal_ms = fixed_s = None
        small = next((c for c in configs if c.name == "small"), None)
        if small is not None:
            marginal_ms = (median(main_runs, "cpu_s") - median(small.runs, "cpu_s")) / (n - small.federations) * 1000
            fixed_s = median(small.runs, "cpu_s") - small.federations * marginal_ms / 1000
            print(f"scanner CPU per added federation ({small.federations} -> {n}, medians): {marginal_ms:.1f} ms; "
                  f"fixed (start-up, exit, the history): {fixed_s:.2f} s\n")

        speedup = None
        base = next((c for c in configs if c.name == "baseline"), None)
        if base is not None:
            # A scan pays its start-up once: only the per-federation part grows with N (the fixed
            # part, start-up CPU, is the small/main estimate above; 0 when it was not measured).
            once = min(fixed_s or 0.0, median(base.runs, "wall"))
            baseline_s = once + (median(base.runs, "wall") - once) * n / base.federations
            speedup = baseline_s / median(main_runs, "wall")
            print(f"== baseline, --concurrency 1, measured on {base.federations} of {n} federations and extrapolated "
                  f"linearly (start-up {once:.2f} s counted once): {baseline_s:.1f} s for {n} (estimate); speed-up "
                  f"on the medians: {speedup:.1f}x\n")

        okta_run = okta_bound = None
        k_okta = min(args.okta_federations, n)
        if k_okta:
            # Fresh windows at the documented limits, latency as above: the wall time is the app
            # bucket's windows, and the scan must stay inside its share (no 429 to retry).
            set_okta_limits(sb, args.okta_apps_limit, args.okta_app_limit, args.okta_window_s)
            marks = (len(sb.okta.requests), len(sb.aws.calls), len(sb.okta.rate_limited))
            okta_run = run_scan(write_scan_config(sb, feds[:k_okta], folder, args, "okta"), args.concurrency,
                                folder / "reports-okta")
            okta_counts = calls_since(sb, *marks[:2])
            okta_run["http_429"] = len(sb.okta.rate_limited) - marks[2]
            okta_accounts = len({s.account for s in seeded[:k_okta]})
            okta_bound, okta_parts = lower_bound(okta_counts, k_okta, okta_accounts, args)
            okta_min = minimum_calls(k_okta, okta_accounts, apps_in_org)
            okta_over = {k: v - okta_min.get(k, 0) for k, v in okta_counts.items() if v > okta_min.get(k, 0)}
            okta_run["calls_ok"] = not okta_over and sum(okta_counts.values()) == sum(okta_min.values())
            apps_bucket = okta_buckets(okta_counts)["/api/v1/apps"]
            print(f"== Okta-bound: {k_okta} federations at Okta's limits ({args.okta_apps_limit}/"
                  f"{args.okta_window_s:g}s on /api/v1/apps, share {args.share}), --concurrency {args.concurrency}")
            print(f"calls in the /api/v1/apps bucket {apps_bucket} (the list + 6 per federation); all calls "
                  f"{sum(okta_counts.values())} / minimum {sum(okta_min.values())}"
                  f"{'; over: ' + str(okta_over) if okta_over else ''}")
            for name, value in okta_parts.items():
                print(f"  {name:66} {value:7.2f} s")
            print(f"wall {okta_run['wall']:.1f} s / lower bound {okta_bound:.1f} s = "
                  f"{okta_run['wall'] / okta_bound if okta_bound else float('inf'):.2f}; HTTP 429 answered: "
                  f"{okta_run['http_429']}; ERROR findings {okta_run['errors']}; "
                  f"scanner CPU {okta_run['cpu_s']:.2f} s\n")

        memory = None
        if args.memory_federations:
            m = args.memory_federations
            sb.okta.set_latency(0)
            sb.aws.set_latency(0)
            # Nor rate limits: this run measures memory, and 1,000 federations at the main run's
            # Okta limits would spend minutes waiting for windows to reset (pacing is measured above).
            set_okta_limits(sb, 100_000, 100_000, args.okta_window_s)
            many = [{**feds[i % n], "name": f"{feds[i % n]['name']}-{i // n}"} for i in range(m)]
            memory = run_scan(write_scan_config(sb, many, folder, args, "memory"), args.concurrency,
                              folder / "reports-memory")
            print(f"== memory, {m} federations (the {n} seeded chains listed {math.ceil(m / n)} times under other "
                  "names; no latency, no Okta rate limits)")
            print(f"wall time {memory['wall']:.1f} s; scanner CPU {memory['cpu_s']:.1f} s; peak RSS "
                  f"{memory['rss_mb']:.0f} MB; ERROR findings {memory['errors']}\n")

        elapsed = time.perf_counter() - began
        load_after = os.getloadavg()
        print("== targets (on the medians)")
        checks = [
            (f"wall time within 1.3x of the lower bound ({time_ratio:.2f}x)", time_ratio <= 1.3),
            (f"API calls = the minimum ({total} / {needed}{'; over: ' + str(over) if over else ''})",
             not over and total == needed and same_calls),
            (f"no ERROR from rate limiting or throttling ({max(r['throttled'] for r in main_runs)})",
             all(r["throttled"] == 0 for r in main_runs)),
        ]
        if marginal_ms is not None and fixed_s is not None:
            checks.append((f"scanner CPU per added federation <= 15 ms ({marginal_ms:.1f} ms)", marginal_ms <= 15))
            checks.append((f"fixed scanner CPU of a scan <= 0.6 s ({fixed_s:.2f} s)", fixed_s <= 0.6))
        if speedup is not None:
            checks.append((f">= 10x faster than --concurrency 1 ({speedup:.1f}x, baseline extrapolated)",
                           speedup >= 10))
        if okta_run is not None and okta_bound:
            ratio = okta_run["wall"] / okta_bound
            checks.append((f"Okta-bound scan within 1.3x of its lower bound ({ratio:.2f}x), no 429 "
                           f"({okta_run['http_429']}), no ERROR ({okta_run['errors']}), calls = the minimum "
                           f"({okta_run['calls_ok']})",
                           ratio <= 1.3 and okta_run["http_429"] == 0 and okta_run["errors"] == 0
                           and okta_run["calls_ok"]))
        if memory is not None:
            checks.append((f"peak RSS <= 200 MB for {args.memory_federations} federations ({memory['rss_mb']:.0f} MB)",
                           memory["rss_mb"] <= 200))
        checks.append((f"benchmark under 5 minutes ({elapsed:.0f} s)", elapsed < 300))
        for text, ok in checks:
            print(f"  [{'ok' if ok else 'MISSED'}] {text}")
        print(f"(on {os.cpu_count()} CPUs; load average {load_after[0]:.2f} / {load_after[1]:.2f} / "
              f"{load_after[2]:.2f} at the end)")
        return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
