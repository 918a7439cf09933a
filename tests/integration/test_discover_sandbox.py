"""`auditor discover` against the sandbox: several accounts reached through Organizations (an audit
role assumed in each), two Regions, decoys, and each kind of dangling piece; `--write` into a
config with comments; the scan integration (`discovery: {enabled: true}`)."""

from __future__ import annotations

import difflib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from auditor.cli import main
from auditor.config import load_config
from auditor.models import Status
from auditor.report import Format
from auditor.resources import RESOURCES
from auditor.runner import ScanOptions, scan
from auditor.sandbox.scenario import (
    ACCOUNT_ID,
    AUDIT_ROLE,
    EMAIL_CLAIM,
    REGION,
    Sandbox,
    account_client,
    config_document,
    create_audit_role,
    public_metadata_url,
    seed_dangling_idp,
    seed_estate_federation,
)

OTHER_REGION = "eu-central-1"
AWS_SIGNIN_URL = "https://signin.aws.amazon.com/saml"


@dataclass
class Estate:
    audited: Any
    unaudited: Any
    second: Any
    member: str
    ghost_pool: str
    legacy_pool: str
    gone_idp_pool: str
    orphan_provider: str


@pytest.fixture(scope="module")
def estate(sandbox: Sandbox) -> Iterator[Estate]:
    sandbox.reset()
    sandbox.organization()  # management 111122223333, member 123456789012
    org = sandbox.management_client("organizations")
    member = org.create_account(Email="cc-apac@example.com", AccountName="cc-apac")["CreateAccountStatus"]["AccountId"]
    for account in ("111122223333", ACCOUNT_ID, member):
        create_audit_role(sandbox, account)
    audited = seed_estate_federation(sandbox, "dsc-amer")
    unaudited = seed_estate_federation(sandbox, "dsc-apac", account=member, region=OTHER_REGION)
    second = seed_estate_federation(sandbox, "dsc-lab", account=member, region=REGION, connect=False)
    # Decoys: an Okta SAML app for something else, a pool without IdP, a pool with an OIDC IdP.
    sandbox.admin.call("POST", "/api/v1/apps", {"label": "Dsc Wiki", "signOnMode": "SAML_2_0", "settings": {
        "signOn": {"ssoAcsUrl": "https://wiki.example.com/saml/acs", "audience": "https://wiki.example.com"}}})
    cognito = sandbox.aws.client("cognito-idp")
    cognito.create_user_pool(PoolName="dsc-decoy-empty")
    oidc = cognito.create_user_pool(PoolName="dsc-decoy-oidc")["UserPool"]["Id"]
    cognito.create_identity_provider(UserPoolId=oidc, ProviderName="Google", ProviderType="OIDC", ProviderDetails={
        "client_id": "x", "client_secret": "y", "authorize_scopes": "openid", "oidc_issuer": "https://accounts.example",
        "attributes_request_method": "GET"})
    # Dangling: an app whose audience names a pool that does not exist (in a scanned Region) ...
    ghost = f"{REGION}_0000000000000000000000000000dead"
    ghost_acs = f"https://dsc-ghost.auth.{REGION}.amazoncognito.com/saml2/idpresponse"
    sandbox.admin.call("POST", "/api/v1/apps", {"label": "Dsc Ghost", "signOnMode": "SAML_2_0", "settings": {
        "signOn": {"ssoAcsUrl": ghost_acs, "recipient": ghost_acs, "audience": f"urn:amazon:cognito:sp:{ghost}"}}})
    # ... an IdP reading a deleted app's metadata, in the member account ...
    legacy = seed_dangling_idp(sandbox, "dsc-legacy", account=member)
    # ... an app client enabling an IdP that was deleted afterwards ...
    gone = cognito.create_user_pool(PoolName="dsc-gone-idp")["UserPool"]["Id"]
    cognito.create_identity_provider(UserPoolId=gone, ProviderName="OldOkta", ProviderType="SAML",
                                     ProviderDetails={"MetadataURL": public_metadata_url(sandbox, audited.app_id)},
                                     AttributeMapping={"email": EMAIL_CLAIM})
    cognito.create_user_pool_client(UserPoolId=gone, ClientName="kiosk", SupportedIdentityProviders=["OldOkta"])
    cognito.delete_identity_provider(UserPoolId=gone, ProviderName="OldOkta")
    # ... and an IAM SAML provider carrying the metadata of an Okta app that was deleted.
    temp = sandbox.admin.call("POST", "/api/v1/apps", {"label": "Dsc Temp", "signOnMode": "SAML_2_0",
                                                       "settings": {"signOn": {"ssoAcsUrl": AWS_SIGNIN_URL,
                                                                               "audience": "urn:amazon:webservices"}}})
    with urllib.request.urlopen(public_metadata_url(sandbox, temp["id"]), timeout=30) as resp:
        account_client(sandbox, "iam", member).create_saml_provider(
            Name="OktaOrphan", SAMLMetadataDocument=resp.read().decode())
    sandbox.admin.call("POST", f"/api/v1/apps/{temp['id']}/lifecycle/deactivate")
    sandbox.admin.call("DELETE", f"/api/v1/apps/{temp['id']}")
    yield Estate(audited, unaudited, second, member, ghost, legacy, gone,
                 f"arn:aws:iam::{member}:saml-provider/OktaOrphan")


def _config(sandbox: Sandbox, estate: Estate, tmp_path: Path, *, enabled: bool = False) -> Path:
    doc = config_document(sandbox, [], reports_dir=str(tmp_path / "reports"))
    doc["federations"] = [{
        "name": "amer", "okta_app": {"label": "Contact Center dsc-amer"}, "user_pool_id": estate.audited.pool_id,
        "app_client": {"name": "app-client"}, "identity_provider": "Okta"}]
    doc["discovery"] = {"organization": True, "role_name": AUDIT_ROLE, "regions": [REGION, OTHER_REGION],
                        **({"enabled": True} if enabled else {})}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    # A commented config, as people write them: the comments must survive --write.
    text = text.replace("federations:\n",
                        "# our contact centers (keep this comment)\nfederations:\n  # amer: the US one\n")
    path.write_text("# hand-written config\n" + text + "# trailing comment\n", encoding="utf-8")
    return path


def _ours(subject: str) -> bool:
    """AWS was reset for this module, the Okta simulator was not: apps other test modules left
    behind (their pools gone) rightly dangle too; the assertions count this module's pieces."""
    return not subject.startswith("Okta app") or "'Dsc " in subject or "dsc-" in subject


def test_discover_finds_every_federation_and_each_dangling_kind(
        sandbox: Sandbox, estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(sandbox, estate, tmp_path)
    code = main(["discover", "-c", str(config), "--format", "json", "-q"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # unaudited and dangling pieces, nothing unread
    assert doc["notices"] == []
    assert sorted(doc["scope"]["accounts"]) == sorted(["111122223333", ACCOUNT_ID, estate.member])
    feds = {f["user_pool"]["id"]: f for f in doc["federations"] if f["user_pool"]}
    # Exactly the three real federations; no decoy became one.
    assert set(feds) == {estate.audited.pool_id, estate.unaudited.pool_id, estate.second.pool_id}
    amer = feds[estate.audited.pool_id]
    assert amer["configured_as"] == "amer"
    assert amer["connect"]["instance"]["id"] == estate.audited.instance_id
    assert amer["connect"]["role_arn"] == estate.audited.role_arn
    apac = feds[estate.unaudited.pool_id]
    assert apac["configured_as"] is None
    assert (apac["account_id"], apac["region"]) == (estate.member, OTHER_REGION)
    assert apac["okta_app"]["id"] == estate.unaudited.app_id and apac["identity_provider"] == "Okta"
    assert apac["connect"]["saml_provider_arn"] == estate.unaudited.provider_arn
    assert any("audience" in e for e in apac["evidence"]) and any("relay state" in e for e in apac["evidence"])
    assert apac["config"]["aws"] == {"role_arn": f"arn:aws:iam::{estate.member}:role/{AUDIT_ROLE}",
                                     "region": OTHER_REGION}
    assert apac["config"]["scp"]["connect_instance_arn"] == estate.unaudited.instance_arn
    assert feds[estate.second.pool_id]["connect"] is None
    dangling = {(r["kind"], r["subject"]) for r in doc["references"] if not r["resolves"] and _ours(r["subject"])}
    kinds = {k for k, _ in dangling}
    assert kinds == {"okta-audience", "idp-metadata", "client-idp", "iam-provider"}, dangling
    assert any(estate.legacy_pool in s for k, s in dangling if k == "idp-metadata")
    assert any(estate.gone_idp_pool in s for k, s in dangling if k == "client-idp")
    assert any(estate.orphan_provider in s for k, s in dangling if k == "iam-provider")
    assert len(dangling) == 4  # nothing false: the decoys and the real chains resolve
    assert [c["status"] for c in doc["configured"]] == ["found"]


def test_write_keeps_comments_and_the_written_config_scans(
        sandbox: Sandbox, estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(sandbox, estate, tmp_path)
    before = config.read_text()
    main(["discover", "-c", str(config), "--write", str(config), "-q"])
    after = config.read_text()
    # Only lines were added: every line that was there is still there, in its order.
    changes = [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]
    assert changes and all(d.startswith("+ ") for d in changes), changes
    assert "  # amer: the US one" in after and after.endswith("# trailing comment\n")
    loaded = load_config(config)
    names = [f.name for f in loaded.federations]
    assert names[0] == "amer" and len(names) == 3  # only the two unaudited blocks were added
    assert {f.user_pool_id for f in loaded.federations} == {estate.audited.pool_id, estate.unaudited.pool_id,
                                                             estate.second.pool_id}
    # Again: nothing new to add, nothing changed.
    main(["discover", "-c", str(config), "--write", str(config), "-q"])
    assert config.read_text() == after
    out = scan(loaded, ScanOptions(formats=(Format.JSON,)))
    apac = next(f.name for f in loaded.federations if f.user_pool_id == estate.unaudited.pool_id)
    statuses = {f.control_id: f.status for f in out.result.findings if f.federation == apac}
    assert statuses["COGNITO-IDP-METADATA"] is Status.PASS and statuses["CONNECT-ROLE-TRUST"] is Status.PASS
    assert statuses["OKTA-SAML-AUDIENCE"] is Status.PASS


def test_write_refuses_a_flow_style_list(sandbox: Sandbox, estate: Estate, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(sandbox, estate, tmp_path)
    target = tmp_path / "flow.yaml"
    doc = yaml.safe_load(config.read_text())
    target.write_text("# mine\n" + yaml.safe_dump(doc, default_flow_style=True), encoding="utf-8")
    before = target.read_text()
    assert main(["discover", "-c", str(config), "--write", str(target), "-q"]) == 3
    assert "flow style" in capsys.readouterr().err
    assert target.read_text() == before


def test_a_new_config_with_no_federations_is_filled_by_discover(
        sandbox: Sandbox, estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A first config names the org and the accounts, `federations: []`: validate says what to do,
    a scan is refused naming the fix (exit 3, before any call), and `discover --write` fills it."""
    config = _config(sandbox, estate, tmp_path)
    text = config.read_text()
    start, end = text.index("federations:\n"), text.index("discovery:")
    config.write_text(text[:start] + "federations: []  # none yet\n" + text[end:], encoding="utf-8")
    assert main(["validate", "-c", str(config)]) == 0
    assert "lists no federations yet" in capsys.readouterr().err
    calls = len(sandbox.aws.calls)
    assert main(["scan", "-c", str(config), "-q"]) == 3
    err = capsys.readouterr().err
    assert "lists no federations: there is nothing to scan" in err and "auditor discover" in err
    assert len(sandbox.aws.calls) == calls
    assert main(["discover", "-c", str(config), "--write", str(config), "-q"]) in (0, 1)
    written = config.read_text()
    assert written.startswith("# hand-written config\n") and written.endswith("# trailing comment\n")
    assert "# none yet" in written
    loaded = load_config(config)
    assert {f.user_pool_id for f in loaded.federations} == {estate.audited.pool_id, estate.unaudited.pool_id,
                                                             estate.second.pool_id}


def test_scan_with_discovery_reports_coverage(sandbox: Sandbox, estate: Estate, tmp_path: Path) -> None:
    plain = scan(load_config(_config(sandbox, estate, tmp_path / "off")), ScanOptions(formats=(Format.JSON,)))
    assert not [f for f in plain.result.findings if f.control_id.startswith("COVERAGE-")]
    enabled = load_config(_config(sandbox, estate, tmp_path / "on", enabled=True))
    out = scan(enabled, ScanOptions(formats=(Format.JSON,)))
    cov = [f for f in out.result.findings if f.control_id.startswith("COVERAGE-")]
    unaudited = [f for f in cov if f.control_id == "COVERAGE-UNAUDITED-FEDERATION" and f.status is Status.FAIL]
    assert len(unaudited) == 2 and all("auditor discover --write" in f.message for f in unaudited)
    assert [f.federation for f in cov if f.control_id == "COVERAGE-UNAUDITED-FEDERATION"
            and f.status is Status.PASS] == ["amer"]
    dangling = [f for f in cov if f.control_id == "COVERAGE-DANGLING-REFERENCE" and f.status is Status.FAIL
                and _ours(f.message.split(": ", 1)[-1])]
    assert len(dangling) == 4, [f.message for f in dangling]
    assert out.result.exit_code == 1
    report = json.loads((out.run_dir / "report.json").read_text())
    assert {f["control_id"] for f in report["findings"]} >= {"COVERAGE-UNAUDITED-FEDERATION",
                                                            "COVERAGE-DANGLING-REFERENCE"}
    snapshot = json.loads((out.run_dir / "snapshot.json").read_text())
    assert len(snapshot["estate"]["resources"]["coverage.federation"]) == 3
    for key, items in snapshot["estate"]["resources"].items():  # the values match their shapes
        for item in items:
            assert not list(jsonschema.Draft202012Validator(RESOURCES[key].shape).iter_errors(item)), (key, item)


def test_a_denied_call_is_a_notice_and_discovery_goes_on(
        sandbox: Sandbox, estate: Estate, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(sandbox, estate, tmp_path)
    sandbox.aws.deny("connect:ListInstances", times=1)
    try:
        code = main(["discover", "-c", str(config), "--format", "json", "-q", "--concurrency", "1"])
    finally:
        sandbox.aws.clear_faults()
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    assert [n["permission"] for n in doc["notices"]] == ["connect:ListInstances"]
    # The rest was read: every Cognito federation is still found.
    assert len([f for f in doc["federations"] if f["user_pool"]]) == 3
