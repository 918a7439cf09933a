"""Collection against the sandbox: what reaches the servers, auth modes, pagination, and faults
that must become ERROR findings for exactly the controls that needed the data (never PASS)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Status
from auditor.sandbox.certs import make_service_app_keypair
from auditor.sandbox.scenario import SANDBOX_TOKEN, Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration

OKTA_DATA_CONTROLS = {
    "OKTA-APP-ACTIVE", "OKTA-SAML-ACS-URL", "OKTA-SAML-AUDIENCE", "OKTA-SAML-EMAIL-ATTRIBUTE",
    "OKTA-SAML-SIGNING", "OKTA-ASSIGNMENTS", "OKTA-CERT-EXPIRY", "COGNITO-DOMAIN", "COGNITO-IDP-METADATA",
    # The Amazon Connect chain: the Okta app itself, and the IAM provider checked against its metadata.
    "OKTA-CONNECT-APP", "CONNECT-IAM-SAML-PROVIDER",
}


@pytest.fixture(scope="module")
def fed(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.reset()
    yield seed_federation(sandbox, "collect")


@pytest.fixture(autouse=True)
def _clear_faults(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.okta.clear_faults()
    sandbox.aws.clear_faults()


def test_documented_ssws_header_reaches_okta(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK reads OKTA_CLIENT_* on its own; the scanner must not let them override the config.
    monkeypatch.setenv("OKTA_CLIENT_TOKEN", "wrong-token-from-env")
    monkeypatch.setenv("OKTA_CLIENT_AUTHORIZATIONMODE", "Bearer")
    before = len(sandbox.okta.requests)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    assert by_control(out, fed.name)["OKTA-APP-ACTIVE"].status is Status.PASS
    api = [r for r in sandbox.okta.requests[before:] if r.path.startswith("/api/v1/")]
    assert api, "the scan made no Okta API call"
    assert {r.headers.get("Authorization") for r in api} == {f"SSWS {SANDBOX_TOKEN}"}
    assert all(r.headers.get("User-Agent", "").find("auditor/") >= 0 for r in api)


def test_oauth_private_key_service_app(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> None:
    keys = make_service_app_keypair()
    sandbox.okta.register_service_app("0oaAuditorService", keys.public_jwk,
                                      ["okta.apps.read", "okta.users.read", "okta.groups.read"])
    key_file = tmp_path / "service.pem"
    key_file.write_bytes(keys.private_key_pem)

    def oauth(doc: dict[str, Any]) -> None:
        doc["okta"]["auth"] = {"client_id": "0oaAuditorService", "private_key_file": str(key_file),
                               "key_id": keys.kid}

    before = len(sandbox.okta.requests)
    out = scan_sandbox(sandbox, [fed], tmp_path, edit=oauth)
    findings = by_control(out, fed.name)
    assert {f.status for f in findings.values()} == {Status.PASS}
    requests = sandbox.okta.requests[before:]
    assert any(r.path == "/oauth2/v1/token" for r in requests)
    api = [r for r in requests if r.path.startswith("/api/v1/")]
    assert api and all(r.headers["Authorization"].startswith("Bearer ") for r in api)


def test_oauth_missing_scope_is_error(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> None:
    keys = make_service_app_keypair()
    sandbox.okta.register_service_app("0oaNarrow", keys.public_jwk, ["okta.apps.read"])
    key_file = tmp_path / "narrow.pem"
    key_file.write_bytes(keys.private_key_pem)

    def oauth(doc: dict[str, Any]) -> None:
        doc["okta"]["auth"] = {"client_id": "0oaNarrow", "private_key_file": str(key_file), "key_id": keys.kid,
                               "scopes": ["okta.apps.read", "okta.users.read", "okta.groups.read"]}

    out = scan_sandbox(sandbox, [fed], tmp_path, edit=oauth)
    findings = by_control(out, fed.name)
    assert findings["OKTA-APP-ACTIVE"].status is Status.ERROR
    assert out.result.exit_code == 2


def test_assignments_follow_every_page(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("auditor.collectors.okta.APP_USERS_PAGE", 2)
    monkeypatch.setattr("auditor.collectors.okta.APP_GROUPS_PAGE", 1)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    snapshot = out.files["snapshot"].read_text()
    import json

    assignments = json.loads(snapshot)["federations"][0]["resources"]["okta.assignments"]
    assert len(assignments["users"]) == 3  # 3 agents through the group, over 2 pages
    assert sorted(g["name"] for g in assignments["groups"]) == ["collect agents", "collect supervisors"]
    assert by_control(out, fed.name)["OKTA-ASSIGNMENTS"].status is Status.PASS


def test_unreachable_okta_is_error_for_exactly_the_okta_controls(sandbox: Sandbox, fed: SeededFederation,
                                                                  tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = scan_sandbox(sandbox, [fed], tmp_path,
                       edit=lambda doc: doc["okta"].update(org_url=f"http://127.0.0.1:{port}"))
    findings = by_control(out, fed.name)
    errors = {k for k, v in findings.items() if v.status is Status.ERROR}
    assert errors == OKTA_DATA_CONTROLS
    assert {v.status for k, v in findings.items() if k not in errors} == {Status.PASS}
    assert out.result.exit_code == 2
    assert out.files["json"].exists() and out.files["html"].exists()
    assert "okta.app" in findings["OKTA-APP-ACTIVE"].message


@pytest.mark.parametrize("kind", ["status", "garbage", "truncated", "reset"])
def test_okta_faults_become_errors(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path, kind: str) -> None:
    # Enough faults to outlast every call's retries (the collector retries transient faults).
    sandbox.okta.inject_fault(r"^/api/v1/apps$", kind=kind, status=503, times=100)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    assert findings["OKTA-APP-ACTIVE"].status is Status.ERROR, findings["OKTA-APP-ACTIVE"].message
    assert Status.PASS not in {findings[c].status for c in OKTA_DATA_CONTROLS}
    assert out.result.exit_code == 2


def test_aws_access_denied_names_the_permission(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> None:
    sandbox.aws.deny("DescribeIdentityProvider")
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    errors = {k for k, v in findings.items() if v.status is Status.ERROR}
    assert errors == {"COGNITO-IDP-SAML", "COGNITO-IDP-NAME", "COGNITO-IDP-METADATA", "COGNITO-IDP-EMAIL-MAPPING"}
    assert "cognito-idp:DescribeIdentityProvider" in findings["COGNITO-IDP-SAML"].message
    assert "AccessDenied" in findings["COGNITO-IDP-SAML"].message
    assert out.result.exit_code == 2 and out.files["json"].exists()


def test_denied_saml_provider_read_is_error_for_its_control_only(sandbox: Sandbox, fed: SeededFederation,
                                                                  tmp_path: Path) -> None:
    sandbox.aws.deny("GetSAMLProvider")
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    assert {k for k, v in findings.items() if v.status is Status.ERROR} == {"CONNECT-IAM-SAML-PROVIDER"}
    assert "iam:GetSAMLProvider" in findings["CONNECT-IAM-SAML-PROVIDER"].message
    assert findings["CONNECT-ROLE-TRUST"].status is Status.PASS


def test_aws_throttling_is_retried(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> None:
    sandbox.aws.throttle("DescribeUserPool", times=2)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    assert {f.status for f in by_control(out, fed.name).values()} == {Status.PASS}


@pytest.fixture
def garbage_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Sign in to continue</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    server.shutdown()
    server.server_close()


def test_metadata_url_serving_garbage_is_error(sandbox: Sandbox, tmp_path: Path, garbage_server: str) -> None:
    fed = seed_federation(sandbox, "garbage-metadata")
    sandbox.aws.client("cognito-idp").update_identity_provider(
        UserPoolId=fed.pool_id, ProviderName="Okta", ProviderDetails={"MetadataURL": garbage_server})
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    assert {k for k, v in findings.items() if v.status is Status.ERROR} == {"COGNITO-IDP-METADATA"}
    assert "html" in findings["COGNITO-IDP-METADATA"].message.lower()
    assert out.result.exit_code == 2
