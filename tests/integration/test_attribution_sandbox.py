"""Who changed it, end to end: a change made through the Okta API and through boto3 against the
local AWS, then the next scan's new FAIL carries its actor, time and event id (real okta SDK and
boto3 clients, the sandbox's System Log and CloudTrail)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.models import AttributionState, Status
from auditor.remediate import RemediationOptions
from auditor.runner import RunOutput
from auditor.sandbox.scenario import ACCOUNT_ID, REGION, Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}}]})
COLLEAGUE_TOKEN = "colleague-api-token"


@pytest.fixture(scope="module")
def world(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.okta.add_api_token(COLLEAGUE_TOKEN, login="colleague@example.com", display_name="A Colleague")
    iam = sandbox.aws.client("iam")
    iam.create_role(RoleName="terraform-ci", AssumeRolePolicyDocument=TRUST)
    yield seed_federation(sandbox, "attrib")
    sandbox.reset()


def terraform_cognito(sandbox: Sandbox, session: str) -> Any:
    creds = sandbox.aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/terraform-ci",
                                                  RoleSessionName=session)["Credentials"]
    from botocore.config import Config

    return sandbox.aws.client("cognito-idp", aws_access_key_id=creds["AccessKeyId"],
                              aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                              config=Config(user_agent_extra="Terraform/1.9.5"))


def client_config(sandbox: Sandbox, fed: SeededFederation) -> dict[str, Any]:
    return dict(sandbox.aws.client("cognito-idp").describe_user_pool_client(
        UserPoolId=fed.pool_id, ClientId=fed.client_id)["UserPoolClient"])


def update_client(cognito: Any, current: dict[str, Any], **changes: Any) -> None:
    keep = {k: current[k] for k in ("ClientName", "CallbackURLs", "AllowedOAuthFlows", "AllowedOAuthScopes",
                                    "AllowedOAuthFlowsUserPoolClient", "SupportedIdentityProviders") if k in current}
    cognito.update_user_pool_client(UserPoolId=current["UserPoolId"], ClientId=current["ClientId"],
                                    **{**keep, **changes})


def deactivate_as_colleague(sandbox: Sandbox, app_id: str) -> None:
    from auditor.sandbox.scenario import OktaAdmin

    OktaAdmin(sandbox.okta.url, COLLEAGUE_TOKEN).call("POST", f"/api/v1/apps/{app_id}/lifecycle/deactivate")


@pytest.fixture(scope="module")
def drifted(sandbox: Sandbox, world: SeededFederation,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunOutput, RunOutput]:
    """A clean scan, then drift by named actors, then the scan that attributes it."""
    tmp = tmp_path_factory.mktemp("attrib")
    first = scan_sandbox(sandbox, [world], tmp)
    assert by_control(first, "attrib")["COGNITO-CLIENT-IDP-ENABLED"].status is Status.PASS
    # Terraform removes the IdP from the app client; later a colleague's script touches the same
    # client without changing the IdP list: the first one changed the field.
    current = client_config(sandbox, world)
    update_client(terraform_cognito(sandbox, "tf-run-1"), current, SupportedIdentityProviders=["COGNITO"])
    update_client(sandbox.aws.client("cognito-idp"), client_config(sandbox, world),
                  CallbackURLs=["https://example.com/other"])
    deactivate_as_colleague(sandbox, world.app_id)
    second = scan_sandbox(sandbox, [world], tmp, attribute="new")
    return tmp, first, second


def test_each_drift_is_attributed_to_its_actor_and_event(sandbox: Sandbox, world: SeededFederation,
                                                         drifted: Any) -> None:
    _, _, out = drifted
    findings = by_control(out, "attrib")
    client = findings["COGNITO-CLIENT-IDP-ENABLED"]
    assert client.status is Status.FAIL and client.attribution is not None
    # This client's updates only: the trail is the account's, and other modules' fixes update theirs.
    updates = [r for r in sandbox.aws.trail_events(ACCOUNT_ID, REGION) if r["eventName"] == "UpdateUserPoolClient"
               and (r.get("requestParameters") or {}).get("clientId") == world.client_id]
    by_terraform = next(r for r in updates if "terraform-ci" in r["userIdentity"]["arn"])
    got = client.attribution
    assert (got.state, got.confidence, got.event_id) == (AttributionState.FOUND, "field", by_terraform["eventID"])
    assert got.actor == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/terraform-ci/tf-run-1"
    assert got.session == "tf-run-1" and got.client == "Terraform"
    assert got.time == by_terraform["eventTime"].replace("Z", "+00:00")

    app = findings["OKTA-APP-ACTIVE"]
    log = [e for e in sandbox.okta.log_events() if e["eventType"] == "application.lifecycle.deactivate"
           and any(t["id"] == app_id(out) for t in e["target"])]
    assert app.attribution is not None and app.attribution.actor == "colleague@example.com"
    assert (app.attribution.event_id, app.attribution.confidence) == (log[-1]["uuid"], "field")
    # Only new failures are attributed; passes never.
    assert all(f.attribution is None for f in out.result.findings if f.status is not Status.FAIL)


def fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def app_id(out: RunOutput) -> str:
    snapshot = json.loads((out.run_dir / "snapshot.json").read_text(encoding="utf-8"))
    return str(next(f for f in snapshot["federations"] if f["name"] == "attrib")["resources"]["okta.app"]["id"])


def test_reports_carry_the_attribution(drifted: Any) -> None:
    _, _, out = drifted
    report = json.loads((out.run_dir / "report.json").read_text(encoding="utf-8"))
    item = next(f for f in report["findings"] if f["control_id"] == "COGNITO-CLIENT-IDP-ENABLED")
    assert item["attribution"]["state"] == "found" and "tf-run-1" in item["attribution"]["summary"]
    html = (out.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Who changed it:" in html and "changed by arn:aws:sts::" in html


def test_pacing_keeps_to_two_lookups_a_second(sandbox: Sandbox, world: SeededFederation, drifted: Any) -> None:
    from auditor.collectors.change_events import ChangeEventReader
    from auditor.config import load_config
    from auditor.evaluate.attribution import ChangeQuery

    tmp, _, _ = drifted
    config = load_config(tmp / "config.yaml")
    names = ("UpdateUserPoolClient", "DeleteUserPoolClient", "UpdateIdentityProvider", "DeleteIdentityProvider",
             "UpdateUserPool")
    plan = {ChangeQuery("cloudtrail", n, "federation:attrib", REGION): datetime.now(UTC) - timedelta(hours=1)
            for n in names}
    time.sleep(1.0)  # the quota is per account and Region: let the scans' own lookups age out
    throttled = sandbox.aws.lookup_throttles
    calls = sandbox.aws.calls.count(("cloudtrail", "LookupEvents"))
    reader = ChangeEventReader(config, None)
    found = reader.read(plan, until=datetime.now(UTC))
    assert all(isinstance(v, list) for v in found.values()), found
    # Five lookups in one account and Region: more than two in a second would be refused. Sent
    # at once, three would be; paced, none - unless the machine delays one call's arrival until
    # it meets the next (the local AWS counts arrivals), which a loaded 2-core runner did once:
    # then botocore retries it. So: at most one refusal, and every extra call is such a retry.
    refused = sandbox.aws.lookup_throttles - throttled
    assert reader.cloudtrail_calls == 5
    assert refused <= 1 and sandbox.aws.calls.count(("cloudtrail", "LookupEvents")) - calls == 5 + refused


def test_a_drift_before_the_look_back_window_is_an_honest_absence(sandbox: Sandbox, world: SeededFederation,
                                                                     drifted: Any) -> None:
    tmp, _, _ = drifted
    later = datetime.now(UTC) + timedelta(days=8)  # the changes are 8 days old; the window is 7
    out = scan_sandbox(sandbox, [world], fresh(tmp / "later"), attribute="all", now=later)
    got = by_control(out, "attrib")["COGNITO-CLIENT-IDP-ENABLED"].attribution
    assert got is not None and got.state is AttributionState.NONE
    assert got.summary.startswith("no change event found in the look-back window")


def test_a_denied_lookup_is_a_notice_and_the_verdict_stands(sandbox: Sandbox, world: SeededFederation,
                                                            drifted: Any) -> None:
    tmp, _, before = drifted
    sandbox.aws.deny("LookupEvents")
    sandbox.okta.inject_fault(r"^/api/v1/logs", status=403, times=5)
    try:
        out = scan_sandbox(sandbox, [world], fresh(tmp / "denied"), attribute="all")
    finally:
        sandbox.aws.clear_faults()
        sandbox.okta.clear_faults()
    findings = by_control(out, "attrib")
    client, app = findings["COGNITO-CLIENT-IDP-ENABLED"], findings["OKTA-APP-ACTIVE"]
    assert client.status is Status.FAIL and app.status is Status.FAIL
    assert client.attribution is not None and client.attribution.state is AttributionState.UNAVAILABLE
    assert "cloudtrail:LookupEvents" in client.attribution.summary
    assert app.attribution is not None and "okta.logs.read" in app.attribution.summary
    assert out.result.exit_code == before.result.exit_code


def test_the_scanners_own_fix_is_attributed_to_the_scanner(sandbox: Sandbox, world: SeededFederation,
                                                          drifted: Any) -> None:
    tmp, _, _ = drifted
    scan_sandbox(sandbox, [world], fresh(tmp / "fix"), remediation=RemediationOptions(apply=True), attribute="none")
    from auditor.collectors.change_events import trail_event

    events = sandbox.aws.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "UpdateUserPoolClient"}])["Events"]
    newest = trail_event(events[0], REGION)
    assert newest is not None
    from auditor.evaluate.attribution import found_attribution

    assert found_attribution(newest, "field").client == "auditor --fix"
    assert "Okta" in newest.params.get("supportedIdentityProviders", [])


def test_diff_shows_who_made_each_new_failure(drifted: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.cli import main

    tmp, first, second = drifted
    config = tmp / "config.yaml"
    assert main(["diff", "-c", str(config), first.result.run_id, second.result.run_id]) == 0
    text = capsys.readouterr().out
    line = text.splitlines()[next(i for i, s in enumerate(text.splitlines()) if "COGNITO-CLIENT-IDP-ENABLED" in s) + 1]
    assert "-> changed by" in line and "tf-run-1" in line
    assert main(["diff", "-c", str(config), first.result.run_id, second.result.run_id, "--format", "json"]) == 0
    [fed] = [f for f in json.loads(capsys.readouterr().out)["federations"] if f["federation"] == "attrib"]
    assert "tf-run-1" in fed["attributions"]["COGNITO-CLIENT-IDP-ENABLED"]
