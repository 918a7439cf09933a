"""Okta's metadata only where Okta documents it (issue 11).

Okta publishes an app's SAML metadata in two ways: publicly at the "Metadata URL" of the app's
Sign On tab, `{org}/app/{entityKey}/sso/saml/metadata` (also `/app/{appName}/{entityKey}/...`),
and through the management API, `GET /api/v1/apps/{appId}/sso/saml/metadata` (management.yaml).
`/app/{appId}/sso/saml/metadata` (the 0oa... id) is neither. These tests drive the real okta SDK
against a simulator that serves only the documented forms, and check every path the product asks
Okta for against management.yaml and the public forms.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Status
from auditor.remediate import RemediationOptions
from auditor.sandbox.scenario import Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox
from tests.paths import ROOT

pytestmark = pytest.mark.integration

# ../shared beside the checkout; AUDITOR_OKTA_OPENAPI names it elsewhere (a git worktree).
OPENAPI = Path(os.environ.get("AUDITOR_OKTA_OPENAPI")
               or ROOT.parent / "shared/okta-openapi/management.yaml")
NO_SCP = ["scp_missing_role", "scp_missing_instance"]  # keep SCP targets under AWS's 5-per-target limit
# The public forms (Okta's Sign On tab): the entity key is the `exk...` tail of the IdP entity ID.
PUBLIC_METADATA = (re.compile(r"^/app/exk[0-9A-Za-z]+/sso/saml/metadata$"),
                   re.compile(r"^/app/[^/]+/exk[0-9A-Za-z]+/sso/saml/metadata$"))


@cache
def documented_scopes() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """(METHOD, path regex, the OAuth 2.0 scopes management.yaml lists) of every operation;
    `{x}` and `${x}` are one segment."""
    if not OPENAPI.is_file():
        pytest.skip(f"Okta OpenAPI description not found at {OPENAPI} (expected ../shared beside the checkout)")
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAPI.open("rb") as fh:
        paths = yaml.load(fh, Loader=loader)["paths"]
    ops = []
    for template, item in paths.items():
        segments = re.split(r"\$?\{[^}]+\}", template)
        pattern = re.compile("^" + "[^/]+".join(re.escape(s) for s in segments) + "$")
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            scopes = frozenset(scope for req in op.get("security") or [] for scope in req.get("oauth2") or [])
            ops.append((method.upper(), pattern, scopes))
    return tuple(ops)


def documented_operations() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(METHOD, path regex) of every operation in management.yaml."""
    return tuple((method, pattern) for method, pattern, _ in documented_scopes())


def test_the_simulator_accepts_the_scopes_okta_documents_for_each_read(sandbox: Sandbox, fed: SeededFederation,
                                                                       tmp_path: Path) -> None:
    """An OAuth 2.0 service app granted what management.yaml lists for each operation a scan
    calls is let through by the simulator (e.g. okta.apps.read for the metadata preview): the
    simulator asks for no more than Okta documents."""
    from types import SimpleNamespace

    from auditor.sandbox.okta_sim import OktaSimulator

    start = len(sandbox.okta.requests)
    scan_sandbox(sandbox, [fed], tmp_path)
    checked = 0
    for r in sandbox.okta.requests[start:]:
        if not r.path.startswith("/api/v1/"):
            continue
        scopes = next(s for m, p, s in documented_scopes() if m == r.method and p.match(r.path))
        accepted = OktaSimulator._required_scopes(SimpleNamespace(path=r.path, method=r.method))  # type: ignore[arg-type]
        assert scopes and scopes <= accepted, (r.method, r.path, sorted(scopes), sorted(accepted))
        checked += 1
    assert checked >= 6  # the app list, users, groups, metadata and keys of both apps


def undocumented(requests: list[Any]) -> list[str]:
    """The requests that match no management.yaml operation and no public metadata form."""
    out = []
    for r in requests:
        if any(m == r.method and p.match(r.path) for m, p in documented_operations()):
            continue
        if r.method == "GET" and any(p.match(r.path) for p in PUBLIC_METADATA):
            continue
        out.append(f"{r.method} {r.path}")
    return out


def get(url: str, accept: str = "application/json", auth: str | None = None) -> tuple[int, str, bytes]:
    headers = {"Accept": accept}
    if auth:
        headers["Authorization"] = auth
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.fixture(scope="module")
def fed(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.reset()
    yield seed_federation(sandbox, "documented", NO_SCP)


def test_the_simulator_serves_metadata_only_at_documented_forms(sandbox: Sandbox, fed: SeededFederation) -> None:
    base, app_id = sandbox.okta.url, fed.app_id
    app = sandbox.admin.call("GET", f"/api/v1/apps/{app_id}")
    exk = sandbox.okta.app_external_key(app_id)
    # The undocumented form is gone.
    assert get(f"{base}/app/{app_id}/sso/saml/metadata")[0] == 404
    by_key = get(f"{base}/app/{exk}/sso/saml/metadata")
    by_name = get(f"{base}/app/{app['name']}/{exk}/sso/saml/metadata")
    assert by_key[0] == by_name[0] == 200 and by_key[2] == by_name[2]
    assert f'entityID="http://www.okta.com/{exk}"'.encode() in by_key[2]
    # The authenticated form answers text/xml (management.yaml) and refuses a JSON-only Accept
    # with E0000019, as Okta does (okta/okta-sdk-golang#446, okta/okta-sdk-java#1635).
    token = f"SSWS {sandbox.admin.token}"
    status, _, body = get(f"{base}/api/v1/apps/{app_id}/sso/saml/metadata", auth=token)
    assert status == 400 and json.loads(body)["errorCode"] == "E0000019"
    status, content_type, body = get(f"{base}/api/v1/apps/{app_id}/sso/saml/metadata", "text/xml", token)
    assert status == 200 and content_type.startswith("text/xml") and body == by_key[2]


def test_a_cognito_metadata_url_in_the_app_name_form_passes(sandbox: Sandbox, fed: SeededFederation,
                                                           tmp_path: Path) -> None:
    app = sandbox.admin.call("GET", f"/api/v1/apps/{fed.app_id}")
    exk = sandbox.okta.app_external_key(fed.app_id)
    cognito = sandbox.aws.client("cognito-idp")
    idp = cognito.describe_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta")["IdentityProvider"]
    url = f"{sandbox.okta.url}/app/{app['name']}/{exk}/sso/saml/metadata"
    cognito.update_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta",
                                     ProviderDetails={**idp["ProviderDetails"], "MetadataURL": url})
    try:
        out = scan_sandbox(sandbox, [fed], tmp_path)
    finally:
        cognito.update_identity_provider(UserPoolId=fed.pool_id, ProviderName="Okta",
                                         ProviderDetails=idp["ProviderDetails"])
    finding = by_control(out, fed.name)["COGNITO-IDP-METADATA"]
    assert finding.status is Status.PASS, finding.message


def test_okta_metadata_comes_from_the_api_and_the_app_keys(sandbox: Sandbox, fed: SeededFederation,
                                                          tmp_path: Path) -> None:
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    for control in ("OKTA-CERT-EXPIRY", "COGNITO-IDP-METADATA", "CONNECT-IAM-SAML-PROVIDER"):
        assert findings[control].status is Status.PASS, (control, findings[control].message)
    resources = json.loads(out.files["snapshot"].read_text())["federations"][0]["resources"]
    base = sandbox.okta.url
    for key, app_id in (("okta.metadata", fed.app_id), ("okta.connect_metadata", fed.connect_app_id)):
        metadata = resources[key]
        app = sandbox.admin.call("GET", f"/api/v1/apps/{app_id}")
        exk = sandbox.okta.app_external_key(app_id)
        assert metadata["url"] == f"{base}/api/v1/apps/{app_id}/sso/saml/metadata"
        assert metadata["public_url"] == f"{base}/app/{exk}/sso/saml/metadata"
        assert metadata["entity_id"] == f"http://www.okta.com/{exk}"
        kid = app["credentials"]["signing"]["kid"]
        keys = sandbox.admin.call("GET", f"/api/v1/apps/{app_id}/credentials/keys")
        assert [c["kid"] for c in metadata["signing_certificates"]] == [k["kid"] for k in keys]
        assert metadata["signing_certificate"]["kid"] == kid
        import hashlib

        der = sandbox.okta.app_signing_certificate(app_id)
        assert metadata["signing_certificate"]["fingerprint_sha256"] == hashlib.sha256(der).hexdigest()


def test_scan_and_fix_ask_okta_only_for_documented_paths(sandbox: Sandbox, tmp_path: Path) -> None:
    """The contract: a scan, then a `--fix` of COGNITO-IDP-METADATA and CONNECT-IAM-SAML-PROVIDER
    (plan, apply, re-collect), request nothing from Okta that Okta does not document."""
    fed = seed_federation(sandbox, "documented-fix", ["metadata_other_app", "provider_old_cert", *NO_SCP])
    start = len(sandbox.okta.requests)
    out = scan_sandbox(sandbox, [fed], tmp_path, remediation=RemediationOptions(apply=True))
    requests = sandbox.okta.requests[start:]
    assert undocumented(requests) == []

    # Not vacuous: the metadata was read through the API, the keys listed, Cognito's URL fetched.
    paths = {r.path for r in requests}
    for app_id in (fed.app_id, fed.connect_app_id):
        assert f"/api/v1/apps/{app_id}/sso/saml/metadata" in paths
        assert f"/api/v1/apps/{app_id}/credentials/keys" in paths
    exk = sandbox.okta.app_external_key(fed.app_id)
    assert f"/app/{exk}/sso/saml/metadata" in paths
    for r in requests:
        if r.path.endswith("/sso/saml/metadata") and r.path.startswith("/api/"):
            assert "xml" in r.headers.get("Accept", ""), r.headers

    findings = by_control(out, fed.name)
    for control in ("COGNITO-IDP-METADATA", "CONNECT-IAM-SAML-PROVIDER", "OKTA-CERT-EXPIRY"):
        assert findings[control].status is Status.PASS, (control, findings[control].message)
    # The fix wrote the public form Okta's Sign On tab shows (Cognito cannot authenticate to Okta).
    idp = sandbox.aws.client("cognito-idp").describe_identity_provider(
        UserPoolId=fed.pool_id, ProviderName="Okta")["IdentityProvider"]
    assert idp["ProviderDetails"]["MetadataURL"] == f"{sandbox.okta.url}/app/{exk}/sso/saml/metadata"


def test_the_contract_check_knows_the_undocumented_form() -> None:
    """The checker itself: the old `/app/{appId}/...` form and an unknown API path are caught."""
    class R:
        def __init__(self, method: str, path: str) -> None:
            self.method, self.path = method, path

    ok = [R("GET", "/api/v1/apps/0oa1/sso/saml/metadata"), R("GET", "/api/v1/apps/0oa1/credentials/keys"),
          R("GET", "/app/exk1AbC/sso/saml/metadata"), R("GET", "/app/sandbox_cc_1/exk1AbC/sso/saml/metadata"),
          R("PUT", "/api/v1/apps/0oa1"), R("GET", "/api/v1/apps")]
    assert undocumented(ok) == []
    bad = [R("GET", "/app/0oa1/sso/saml/metadata"), R("GET", "/api/v1/apps/0oa1/metadata"),
           R("POST", "/app/exk1AbC/sso/saml/metadata")]
    assert undocumented(bad) == [f"{r.method} {r.path}" for r in bad]


# -- the pure parts: entity key, public URL, keys --------------------------------------------------

def _metadata_xml(entity_id: str, sso: str, der: bytes) -> bytes:
    import base64

    return (f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
            f"<ds:X509Data><ds:X509Certificate>{base64.b64encode(der).decode()}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'Location="{sso}"/></md:IDPSSODescriptor></md:EntityDescriptor>').encode()


def _key(kid: str, der: bytes) -> dict[str, Any]:
    import base64

    return {"kid": kid, "kty": "RSA", "use": "sig", "x5c": [base64.b64encode(der).decode()]}


@pytest.fixture(scope="module")
def two_certs() -> tuple[bytes, bytes]:
    from datetime import UTC, datetime, timedelta

    from auditor.sandbox.certs import make_self_signed

    now = datetime.now(UTC)
    return (make_self_signed("acme", now - timedelta(days=400), now + timedelta(days=5))[1],
            make_self_signed("acme", now - timedelta(days=1), now + timedelta(days=3650))[1])


ORG = "https://acme.okta.com"
APP = {"id": "0oa1", "credentials": {"signing": {"kid": "new"}},
       "_links": {"metadata": {"href": f"{ORG}/api/v1/apps/0oa1/sso/saml/metadata"}}}


def test_the_active_certificate_is_the_apps_signing_kid(two_certs: tuple[bytes, bytes]) -> None:
    import hashlib

    from auditor.collectors.okta_metadata import okta_metadata

    old, new = two_certs
    xml = _metadata_xml("http://www.okta.com/exkAbC1", f"{ORG}/app/acme_cc_1/exkAbC1/sso/saml", new)
    shaped = okta_metadata(ORG, APP, xml, [_key("old", old), _key("new", new)])
    assert shaped["url"] == f"{ORG}/api/v1/apps/0oa1/sso/saml/metadata"
    assert shaped["public_url"] == f"{ORG}/app/exkAbC1/sso/saml/metadata"
    assert [c["kid"] for c in shaped["signing_certificates"]] == ["old", "new"]
    assert shaped["signing_certificate"]["fingerprint_sha256"] == hashlib.sha256(new).hexdigest()
    # The old key expiring in 5 days is not the one in use: it is not what OKTA-CERT-EXPIRY judges.
    assert shaped["signing_certificate"]["kid"] == "new"


def test_a_kid_missing_from_the_keys_is_an_error_not_a_guess(two_certs: tuple[bytes, bytes]) -> None:
    from auditor.collectors.okta_metadata import okta_metadata
    from auditor.collectors.saml_metadata import MetadataError

    old, new = two_certs
    xml = _metadata_xml("http://www.okta.com/exkAbC1", f"{ORG}/app/acme_cc_1/exkAbC1/sso/saml", new)
    with pytest.raises(MetadataError, match=r"signing key new .* is not among its keys"):
        okta_metadata(ORG, APP, xml, [_key("old", old)])
    with pytest.raises(MetadataError, match="signing key bad"):
        okta_metadata(ORG, APP, xml, [{"kid": "bad", "x5c": ["not base64!"]}])


def test_a_custom_issuer_still_gives_the_public_url_and_links_off_the_org_are_ignored(
        two_certs: tuple[bytes, bytes]) -> None:
    from auditor.collectors.okta_metadata import okta_metadata

    _, new = two_certs
    app = {"id": "0oa1", "credentials": {}, "_links": {"metadata": {"href": "https://elsewhere.example/api/v1/apps/x"}}}
    xml = _metadata_xml("urn:acme:idp", f"{ORG}/app/acme_cc_1/exkAbC1/sso/saml", new)
    shaped = okta_metadata(ORG, app, xml, [_key("only", new)])
    assert shaped["public_url"] == f"{ORG}/app/exkAbC1/sso/saml/metadata"
    # The API token never follows a link to another host.
    assert shaped["url"] == f"{ORG}/api/v1/apps/0oa1/sso/saml/metadata"
    # No credentials.signing.kid: the certificate the document publishes, matched to its key.
    assert shaped["signing_certificate"]["kid"] == "only"


def test_either_public_form_of_the_same_app_is_the_same_metadata() -> None:
    from auditor.collectors.okta_metadata import same_public_metadata

    public = f"{ORG}/app/exkAbC1/sso/saml/metadata"
    assert same_public_metadata(public, public)
    assert same_public_metadata(f"{ORG}/app/acme_cc_1/exkAbC1/sso/saml/metadata", public)
    assert not same_public_metadata(f"{ORG}/app/exkOther/sso/saml/metadata", public)
    assert not same_public_metadata(f"{ORG}/app/0oa1/sso/saml/metadata", public)
    assert not same_public_metadata("https://evil.example/app/exkAbC1/sso/saml/metadata", public)
