"""Matching discovered pieces into federations: pure, on plain inventories (no sandbox)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.config import CONFIG_SCHEMA
from auditor.discovery.match import match
from auditor.discovery.write import WriteRefused, write_blocks
from auditor.validation import schema_problems
from auditor.yamlio import Located

ORG = "https://acme.okta.com"
POOL = "us-east-1_Abc123"
ACS = "https://cc-a-login.auth.us-east-1.amazoncognito.com/saml2/idpresponse"
URL = f"{ORG}/app/exkA/sso/saml/metadata"


def _inventory() -> dict[str, Any]:
    app = {"id": "0oaA", "label": "Contact Center A", "status": "ACTIVE", "sign_on_mode": "SAML_2_0",
           "sso_acs_url": ACS, "audience": f"urn:amazon:cognito:sp:{POOL}", "kind": "cognito",
           "default_relay_state": None, "role_values": [],
           "metadata": {"entity_id": "http://www.okta.com/exkA", "fingerprints": ["f1"]}}
    pool = {"id": POOL, "name": "cc-a", "account_id": "111111111111", "region": "us-east-1",
            "domain": "cc-a-login", "custom_domain": None, "complete": True,
            "identity_providers": [{"name": "Okta", "type": "SAML", "metadata_url": URL, "metadata_file": None}],
            "app_clients": [{"id": "c1", "name": "app-client", "supported_identity_providers": ["COGNITO", "Okta"]}]}
    return {
        "scope": {"accounts": ["111111111111"], "regions": ["us-east-1"], "organization": False,
                  "role_name": "Audit"},
        "okta": {"org_url": ORG, "complete": True, "apps": [app]},
        "accounts": [{"account_id": "111111111111", "reached": True, "iam_complete": True, "saml_providers": [],
                      "saml_roles": [], "scps": None,
                      "regions": [{"region": "us-east-1", "complete": True, "user_pools": [pool],
                                   "connect_instances": []}]}],
        "metadata": {URL: {"entity_id": "http://www.okta.com/exkA", "fingerprints": ["f1"], "error": None,
                           "dangling": False}},
        "notices": [],
    }


def _pool(inv: dict[str, Any]) -> dict[str, Any]:
    pool: dict[str, Any] = inv["accounts"][0]["regions"][0]["user_pools"][0]
    return pool


def test_a_federation_is_matched_with_evidence_and_a_valid_block() -> None:
    cov = match(_inventory(), [], default_region="us-east-1")
    (fed,) = cov.federations
    assert fed["configured_as"] is None and fed["name"] == "contact-center-a"
    assert any("audience" in e for e in fed["evidence"]) and any("ACS" in e for e in fed["evidence"])
    assert any("MetadataURL" in e for e in fed["evidence"]) and any("enables IdP" in e for e in fed["evidence"])
    block = fed["config"]
    assert block == {"name": "contact-center-a", "okta_app": {"id": "0oaA"}, "user_pool_id": POOL,
                     "app_client": {"name": "app-client"}, "identity_provider": "Okta",
                     "aws": {"role_arn": "arn:aws:iam::111111111111:role/Audit"}}
    doc = {"version": 1, "okta": {"org_url": ORG, "auth": {"token_env": "T"}}, "aws": {"region": "us-east-1"},
           "federations": [block]}
    assert schema_problems(Located("c.yaml", doc, {}), CONFIG_SCHEMA) == []
    assert cov.dangling == []


def test_configured_federations_are_recognised_by_pool_and_app() -> None:
    configured = [{"name": "a", "okta_app": {"label": "Contact Center A"}, "user_pool_id": POOL},
                  {"name": "gone", "okta_app": {"id": "0oaGone"}, "user_pool_id": "us-east-1_Gone1"},
                  {"name": "far", "okta_app": {"id": "0oaFar"}, "user_pool_id": "eu-west-1_Far1"}]
    cov = match(_inventory(), configured, default_region="us-east-1")
    assert [f["configured_as"] for f in cov.federations] == ["a"]
    assert cov.unaudited == []
    status = {c["name"]: c["status"] for c in cov.configured}
    assert status == {"a": "found", "gone": "not found", "far": "not in scope"}


def test_each_dangling_kind() -> None:
    inv = _inventory()
    inv["okta"]["apps"][0]["audience"] = "urn:amazon:cognito:sp:us-east-1_Deleted9"
    inv["metadata"][URL] = {"entity_id": None, "fingerprints": [], "error": "HTTP 404 Not Found", "dangling": True}
    _pool(inv)["app_clients"][0]["supported_identity_providers"].append("Removed")
    inv["accounts"][0]["saml_providers"] = [{"arn": "arn:aws:iam::111111111111:saml-provider/Old",
                                             "entity_id": "http://www.okta.com/exkOld", "fingerprints": [],
                                             "error": None}]
    cov = match(inv, [], default_region="us-east-1")
    kinds = sorted(r["kind"] for r in cov.dangling)
    assert kinds == ["client-idp", "iam-provider", "idp-metadata", "okta-audience"]
    # The federation is still found through the ACS, with notes on what will fail.
    (fed,) = cov.federations
    assert any("OKTA-SAML-AUDIENCE" in n for n in fed["notes"])
    assert all(r["federation"] == fed["name"] for r in cov.dangling if r["kind"] != "iam-provider")


def test_nothing_unseen_is_reported_missing() -> None:
    inv = _inventory()
    inv["okta"]["apps"][0]["audience"] = "urn:amazon:cognito:sp:us-east-1_Deleted9"
    inv["okta"]["complete"] = False
    inv["accounts"][0]["regions"][0]["complete"] = False  # e.g. a denied ListUserPools elsewhere
    inv["metadata"][URL] = {"entity_id": None, "fingerprints": [], "error": "timed out", "dangling": False}
    inv["accounts"][0]["saml_providers"] = [{"arn": "arn:aws:iam::111111111111:saml-provider/Old",
                                             "entity_id": "http://www.okta.com/exkOld", "fingerprints": [],
                                             "error": None}]
    cov = match(inv, [{"name": "gone", "okta_app": {"id": "x"}, "user_pool_id": "us-east-1_Gone1"}],
                default_region="us-east-1")
    assert cov.dangling == []
    assert [c["status"] for c in cov.configured] == ["unknown"]


def test_decoys_are_not_federations() -> None:
    inv = _inventory()
    inv["okta"]["apps"].append({"id": "0oaW", "label": "Wiki", "sso_acs_url": "https://wiki.example/saml",
                                "audience": "https://wiki.example", "kind": None, "metadata": None,
                                "role_values": []})
    inv["accounts"][0]["regions"][0]["user_pools"].append(
        {"id": "us-east-1_Empty1", "name": "empty", "account_id": "111111111111", "region": "us-east-1",
         "domain": None, "custom_domain": None, "complete": True, "identity_providers": [], "app_clients": []})
    cov = match(inv, [], default_region="us-east-1")
    assert [f["user_pool"]["id"] for f in cov.federations] == [POOL]
    assert cov.dangling == []


def test_names_are_unique_against_the_config_and_each_other() -> None:
    inv = _inventory()
    second = copy.deepcopy(inv["okta"]["apps"][0])
    second["id"] = "0oaB"
    inv["okta"]["apps"].append(second)  # two apps on one pool: two federations, one label
    cov = match(inv, [{"name": "contact-center-a", "okta_app": {"id": "0oaZ"}, "user_pool_id": "us-east-1_Z1"}],
                default_region="us-east-1")
    names = [f["name"] for f in cov.federations]
    assert sorted(names) == ["contact-center-a-2", "contact-center-a-3"]


def test_connect_chain_is_paired_by_account_and_region() -> None:
    inv = _inventory()
    instance = {"id": "0f0f0f0f-0000-4000-8000-000000000001", "alias": "cc-a",
                "arn": "arn:aws:connect:us-east-1:111111111111:instance/0f0f0f0f-0000-4000-8000-000000000001",
                "status": "ACTIVE", "identity_management_type": "SAML"}
    inv["accounts"][0]["regions"][0]["connect_instances"] = [instance]
    provider = "arn:aws:iam::111111111111:saml-provider/OktaConnect"
    role = "arn:aws:iam::111111111111:role/ConnectUser"
    inv["accounts"][0]["saml_providers"] = [{"arn": provider, "entity_id": "http://www.okta.com/exkC",
                                             "fingerprints": ["old"], "error": None}]
    inv["accounts"][0]["saml_roles"] = [{"arn": role, "name": "ConnectUser", "providers": [provider]}]
    inv["okta"]["apps"].append({
        "id": "0oaC", "label": "Amazon Connect A", "kind": "iam", "sso_acs_url": "https://signin.aws.amazon.com/saml",
        "default_relay_state": f"https://us-east-1.console.aws.amazon.com/connect/federate/{instance['id']}",
        "role_values": [f"{role},{provider}"],
        "metadata": {"entity_id": "http://www.okta.com/exkC", "fingerprints": ["new"]}})
    (fed,) = match(inv, [], default_region="us-east-1").federations
    assert fed["connect"]["instance"]["id"] == instance["id"] and fed["connect"]["role_arn"] == role
    assert fed["config"]["scp"] == {"account_id": "111111111111", "connect_role_arn": role,
                                    "connect_instance_arn": instance["arn"]}
    assert any("current signing certificate" in n for n in fed["notes"])  # rotated in Okta, not in IAM


def test_write_adds_blocks_keeping_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", "x")
    cov = match(_inventory(), [], default_region="us-east-1")
    target = tmp_path / "config.yaml"
    original = (f"version: 1  # always 1\nokta:\n  org_url: {ORG}\n  auth: {{token_env: T}}\naws:\n"
                "  region: us-east-1\nfederations:\n    # the old one\n    -   name: old\n"
                "        okta_app: {id: 0oaOld}\n        user_pool_id: us-east-1_Old1\n"
                "        app_client: {name: c}\n        identity_provider: Okta\n\n# after the list\n")
    target.write_text(original, encoding="utf-8")
    written = write_blocks(target, cov.unaudited, source_config=target, comment="found")
    assert [b["name"] for b in written] == ["contact-center-a"]
    text = target.read_text()
    assert text.startswith(original.split("\n\n# after")[0]) and text.endswith("\n\n# after the list\n")
    assert "    # found\n    -   name: contact-center-a\n        okta_app: {id: 0oaA}\n" in text
    assert [f["name"] for f in yaml.safe_load(text)["federations"]] == ["old", "contact-center-a"]
    target.write_text("version: 1\nfederations: [{name: old}]\n", encoding="utf-8")
    with pytest.raises(WriteRefused):
        write_blocks(target, cov.unaudited, source_config=target)
