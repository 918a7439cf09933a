"""The Okta simulator, driven over HTTP: auth, pagination, errors, rate limits, faults, metadata,
and a contract test of its responses against Okta's published OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors.saml_metadata import fetch_metadata, parse_metadata
from auditor.sandbox.certs import make_service_app_keypair
from auditor.sandbox.okta_sim import OktaSimulator
from tests.paths import ROOT

pytestmark = pytest.mark.integration

TOKEN = "sandbox-api-token"
SSWS = f"SSWS {TOKEN}"
ACS = "https://contact-center.auth.us-east-1.amazoncognito.com/saml2/idpresponse"
AUDIENCE = "urn:amazon:cognito:sp:us-east-1_Example1"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
# ../shared beside the checkout; AUDITOR_OKTA_OPENAPI names it elsewhere (a git worktree).
OPENAPI = Path(os.environ.get("AUDITOR_OKTA_OPENAPI")
               or ROOT.parent / "shared/okta-openapi/management.yaml")
ERROR_KEYS = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


class Resp:
    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def links(self) -> list[str]:
        return self.headers.get_all("Link") or []


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str | None = SSWS,
    timeout: float = 10,
    raw: bytes | None = None,
) -> Resp:
    headers = {"Accept": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    url = path if path.startswith("http") else base + path
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Resp(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Resp(exc.code, exc.headers, exc.read())


def saml_app_body(label: str = "Contact Center", **sign_on: Any) -> dict[str, Any]:
    return {
        "label": label,
        "signOnMode": "SAML_2_0",
        "visibility": {"autoSubmitToolbar": False, "hide": {"iOS": True, "web": True}},
        "settings": {
            "signOn": {
                "ssoAcsUrl": ACS,
                "audience": AUDIENCE,
                "attributeStatements": [
                    {
                        "type": "EXPRESSION",
                        "name": EMAIL_CLAIM,
                        "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                        "values": ["user.email"],
                    }
                ],
                **sign_on,
            }
        },
    }


def create_user(base: str, n: int | str) -> dict[str, Any]:
    resp = call(
        base,
        "POST",
        "/api/v1/users?activate=true",
        {
            "profile": {
                "firstName": "Agent",
                "lastName": f"N{n}",
                "email": f"agent{n}@example.com",
                "login": f"agent{n}@example.com",
            }
        },
    )
    assert resp.status == 200, resp.body
    return resp.json()


def create_group(base: str, name: str) -> dict[str, Any]:
    resp = call(base, "POST", "/api/v1/groups", {"profile": {"name": name, "description": "agents"}})
    assert resp.status == 200, resp.body
    return resp.json()


@pytest.fixture
def sim() -> Iterator[OktaSimulator]:
    with OktaSimulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, Any]]:
    """One simulator with an app, a direct user, and a group assignment (read-only tests)."""
    with OktaSimulator() as simulator:
        base = simulator.url
        app = call(base, "POST", "/api/v1/apps", saml_app_body()).json()
        user = create_user(base, "direct")
        member = create_user(base, "member")
        group = create_group(base, "Contact Center Agents")
        assert call(base, "PUT", f"/api/v1/groups/{group['id']}/users/{member['id']}").status == 204
        app_user = call(
            base,
            "POST",
            f"/api/v1/apps/{app['id']}/users",
            {"id": user["id"], "scope": "USER", "credentials": {"userName": user["profile"]["login"]}},
        )
        assert app_user.status == 200, app_user.body
        app_group = call(base, "PUT", f"/api/v1/apps/{app['id']}/groups/{group['id']}", {"priority": 0})
        assert app_group.status == 200, app_group.body
        yield {
            "sim": simulator,
            "base": base,
            "app": app,
            "user": user,
            "member": member,
            "group": group,
            "app_user": app_user.json(),
            "app_group": app_group.json(),
        }


# -- auth ----------------------------------------------------------------------------------------


def test_ssws_with_space_is_accepted_and_without_space_rejected(seeded: dict[str, Any]) -> None:
    base = seeded["base"]
    assert call(base, "GET", "/api/v1/apps").status == 200
    for bad in (f"SSWS{TOKEN}", "SSWS wrong-token", f"ssws {TOKEN}", f"Bearer {TOKEN}", None):
        resp = call(base, "GET", "/api/v1/apps", auth=bad)
        assert resp.status == 401, bad
        body = resp.json()
        assert set(body) == ERROR_KEYS
        assert body["errorCode"] == "E0000011" and body["errorSummary"] == "Invalid token provided"
        assert body["errorLink"] == "E0000011" and body["errorCauses"] == [] and body["errorId"]


def _token_request(base: str, assertion: str, scope: str) -> Resp:
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
    ).encode()
    request = urllib.request.Request(
        base + "/oauth2/v1/token",
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Resp(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Resp(exc.code, exc.headers, exc.read())


def test_private_key_jwt_flow_with_the_okta_sdk_jwt(sim: OktaSimulator) -> None:
    from okta.jwt import JWT

    keys = make_service_app_keypair()
    sim.register_service_app("0oaservice1", keys.public_jwk, ["okta.apps.read"])
    pem = keys.private_key_pem.decode()
    assertion = JWT.create_token(sim.url, "0oaservice1", pem, keys.kid)

    resp = _token_request(sim.url, assertion, "okta.apps.read")
    assert resp.status == 200, resp.body
    token = resp.json()
    assert (
        token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["scope"] == "okta.apps.read"
    )
    bearer = f"Bearer {token['access_token']}"
    assert call(sim.url, "GET", "/api/v1/apps", auth=bearer).status == 200

    # the granted scope covers reading apps only
    for method, path, body in (("GET", "/api/v1/users", None), ("POST", "/api/v1/apps", saml_app_body())):
        denied = call(sim.url, method, path, body, auth=bearer)
        assert denied.status == 403
        assert denied.json()["errorCode"] == "E0000006"
        assert denied.json()["errorSummary"] == "You do not have permission to perform the requested action"

    replay = _token_request(sim.url, assertion, "okta.apps.read")
    assert replay.status == 401 and replay.json()["error"] == "invalid_client"
    not_granted = _token_request(
        sim.url, JWT.create_token(sim.url, "0oaservice1", pem, keys.kid), "okta.apps.manage"
    )
    assert not_granted.status == 400 and not_granted.json()["error"] == "invalid_scope"
    wrong_aud = _token_request(
        sim.url, JWT.create_token("https://other.okta.com", "0oaservice1", pem), "okta.apps.read"
    )
    assert wrong_aud.status == 401 and wrong_aud.json()["error"] == "invalid_client"
    other_key = make_service_app_keypair().private_key_pem.decode()
    forged = _token_request(sim.url, JWT.create_token(sim.url, "0oaservice1", other_key), "okta.apps.read")
    assert forged.status == 401 and "error_description" in forged.json()
    unknown = _token_request(sim.url, JWT.create_token(sim.url, "0oaunknown", pem), "okta.apps.read")
    assert unknown.status == 401 and unknown.json()["error"] == "invalid_client"


def test_okta_sdk_client_oauth_end_to_end(sim: OktaSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from okta.client import Client

    # The SDK refuses a non-https org URL unless its testing switch is on.
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body()).json()
    keys = make_service_app_keypair()
    sim.register_service_app("0oaservice2", keys.public_jwk, ["okta.apps.read"])

    async def list_apps() -> Any:
        client = Client(
            {
                "orgUrl": sim.url,
                "authorizationMode": "PrivateKey",
                "clientId": "0oaservice2",
                "scopes": ["okta.apps.read"],
                "privateKey": keys.private_key_pem.decode(),
                "kid": keys.kid,
            }
        )
        return await client.list_applications()

    apps, _resp, err = asyncio.run(list_apps())
    assert err is None
    assert [a.id for a in apps] == [app["id"]]
    auth_headers = [r.headers.get("Authorization", "") for r in sim.requests if r.path == "/api/v1/apps"]
    assert auth_headers[-1].startswith("Bearer ")


# -- pagination ------------------------------------------------------------------------------------


def test_app_users_pagination_walks_120_users_with_two_link_headers(sim: OktaSimulator) -> None:
    base = sim.url
    app = call(base, "POST", "/api/v1/apps", saml_app_body()).json()
    group = create_group(base, "Via Group")
    users = [create_user(base, i) for i in range(120)]
    for user in users[:100]:
        assert (
            call(base, "POST", f"/api/v1/apps/{app['id']}/users", {"id": user["id"], "scope": "USER"}).status
            == 200
        )
    for user in users[100:]:
        assert call(base, "PUT", f"/api/v1/groups/{group['id']}/users/{user['id']}").status == 204
    assert call(base, "PUT", f"/api/v1/apps/{app['id']}/groups/{group['id']}").status == 200

    url: str | None = f"{base}/api/v1/apps/{app['id']}/users?limit=50"
    seen: list[dict[str, Any]] = []
    pages = 0
    while url:
        resp = call(base, "GET", url)
        assert resp.status == 200
        links = resp.links()
        pages += 1
        assert re.fullmatch(r'<[^>]+>; rel="self"', links[0])
        assert links[0].startswith(f"<{url}>") if pages == 1 else True
        page = resp.json()
        seen.extend(page)
        if len(links) == 2:
            assert len(page) == 50
            match = re.fullmatch(r'<([^>]+)>; rel="next"', links[1])
            assert match is not None
            url = match.group(1)
        else:
            assert len(links) == 1
            url = None
    assert pages == 3
    assert [u["id"] for u in seen] == [u["id"] for u in users]
    assert {u["scope"] for u in seen[:100]} == {"USER"} and {u["scope"] for u in seen[100:]} == {"GROUP"}
    assert seen[0]["credentials"]["userName"] == users[0]["profile"]["login"]
    assert seen[0]["_links"]["user"]["href"].endswith(users[0]["id"])

    clamped = call(base, "GET", f"/api/v1/apps/{app['id']}/users?limit=100000")
    assert len(clamped.json()) == 120 and len(clamped.links()) == 1


def test_app_list_query_filter_and_pagination(sim: OktaSimulator) -> None:
    base = sim.url
    ids = [
        call(base, "POST", "/api/v1/apps", saml_app_body(label)).json()["id"]
        for label in ("Contact Center", "Contact Center Test", "Payroll")
    ]
    inactive = call(base, "POST", "/api/v1/apps?activate=false", saml_app_body("Contact Old")).json()
    assert inactive["status"] == "INACTIVE" and inactive["name"] == "sandbox_contactold_1"
    second = call(base, "POST", "/api/v1/apps", saml_app_body("Contact Center")).json()
    assert second["name"] == "sandbox_contactcenter_2"

    labels = [a["label"] for a in call(base, "GET", "/api/v1/apps?q=contact%20c").json()]
    assert labels == ["Contact Center", "Contact Center Test", "Contact Center"]
    active = call(base, "GET", "/api/v1/apps?filter=" + urllib.parse.quote('status eq "ACTIVE"')).json()
    assert inactive["id"] not in {a["id"] for a in active} and len(active) == 4
    bad_filter = call(base, "GET", "/api/v1/apps?filter=" + urllib.parse.quote('label sw "x"'))
    assert bad_filter.status == 400 and bad_filter.json()["errorCode"] == "E0000031"

    first = call(base, "GET", "/api/v1/apps?limit=2")
    assert [a["id"] for a in first.json()] == ids[:2]
    self_link, next_link = first.links()
    assert self_link == f'<{base}/api/v1/apps?limit=2>; rel="self"'
    assert next_link == f'<{base}/api/v1/apps?after={ids[1]}&limit=2>; rel="next"'
    default_page = call(base, "GET", "/api/v1/apps")
    assert len(default_page.json()) == 5 and len(default_page.links()) == 1


# -- CRUD and errors -------------------------------------------------------------------------------


def test_create_app_shape(seeded: dict[str, Any]) -> None:
    app, base = seeded["app"], seeded["base"]
    assert re.fullmatch(r"0oa[A-Za-z0-9]{17}", app["id"])
    assert app["name"] == "sandbox_contactcenter_1" and app["status"] == "ACTIVE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", app["created"])
    sign_on = app["settings"]["signOn"]
    assert sign_on["ssoAcsUrl"] == sign_on["recipient"] == sign_on["destination"] == ACS
    assert sign_on["audience"] == AUDIENCE
    assert sign_on["signatureAlgorithm"] == "RSA_SHA256" and sign_on["digestAlgorithm"] == "SHA256"
    assert sign_on["assertionSigned"] is True and sign_on["responseSigned"] is True
    assert sign_on["attributeStatements"][0]["values"] == ["user.email"]
    assert app["credentials"]["signing"]["kid"]
    assert app["credentials"]["userNameTemplate"]["template"] == "${source.login}"
    assert app["visibility"]["hide"] == {"iOS": True, "web": True}  # kept as sent
    assert app["_links"]["metadata"]["href"] == f"{base}/api/v1/apps/{app['id']}/sso/saml/metadata"
    assert call(base, "GET", f"/api/v1/apps/{app['id']}").json() == app


def test_put_replaces_the_whole_app(sim: OktaSimulator) -> None:
    base = sim.url
    app = call(base, "POST", "/api/v1/apps", saml_app_body()).json()
    time.sleep(0.002)
    body = json.loads(json.dumps(app))
    body["label"] = "Renamed"
    body["id"] = "0oaHIJACKED"
    body["name"] = "something_else"
    body["settings"]["signOn"]["audience"] = "urn:amazon:cognito:sp:us-east-1_Other"
    body["settings"]["signOn"]["futureOktaField"] = {"kept": True}
    del body["settings"]["signOn"]["attributeStatements"]  # left out -> back to Okta's default
    resp = call(base, "PUT", f"/api/v1/apps/{app['id']}", body)
    assert resp.status == 200, resp.body
    updated = resp.json()
    assert (
        updated["id"] == app["id"] and updated["name"] == app["name"] and updated["created"] == app["created"]
    )
    assert updated["_links"] == app["_links"]
    assert updated["lastUpdated"] > app["lastUpdated"]
    assert updated["label"] == "Renamed"
    assert updated["settings"]["signOn"]["audience"].endswith("_Other")
    assert updated["settings"]["signOn"]["futureOktaField"] == {"kept": True}
    assert updated["settings"]["signOn"]["attributeStatements"] == []
    assert call(base, "GET", f"/api/v1/apps/{app['id']}").json() == updated


def test_error_bodies(sim: OktaSimulator) -> None:
    base = sim.url
    missing = call(base, "GET", "/api/v1/apps/0oaDoesNotExist")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json()["errorCode"] == "E0000007"
    assert missing.json()["errorSummary"] == "Not found: Resource not found: 0oaDoesNotExist (AppInstance)"

    no_label = call(
        base,
        "POST",
        "/api/v1/apps",
        {"signOnMode": "SAML_2_0", "settings": {"signOn": {"ssoAcsUrl": ACS, "audience": AUDIENCE}}},
    )
    assert no_label.status == 400
    assert no_label.json()["errorCode"] == "E0000001"
    assert no_label.json()["errorSummary"].startswith("Api validation failed: label")
    assert no_label.json()["errorCauses"] == [{"errorSummary": "label: The field cannot be left blank"}]

    bookmark = call(base, "POST", "/api/v1/apps", {**saml_app_body(), "signOnMode": "BOOKMARK"})
    assert bookmark.status == 400 and "signOnMode" in bookmark.json()["errorCauses"][0]["errorSummary"]
    garbage = call(base, "POST", "/api/v1/apps", raw=b"{not json")
    assert garbage.status == 400 and garbage.json()["errorCode"] == "E0000003"

    app = call(base, "POST", "/api/v1/apps", saml_app_body()).json()
    active_delete = call(base, "DELETE", f"/api/v1/apps/{app['id']}")
    assert active_delete.status == 400 and active_delete.json()["errorCode"] == "E0000056"
    assert call(base, "POST", f"/api/v1/apps/{app['id']}/lifecycle/deactivate").status == 200
    assert call(base, "GET", f"/api/v1/apps/{app['id']}").json()["status"] == "INACTIVE"
    assert call(base, "DELETE", f"/api/v1/apps/{app['id']}").status == 204
    assert call(base, "GET", f"/api/v1/apps/{app['id']}").status == 404

    nobody = call(
        base,
        "POST",
        f"/api/v1/apps/{call(base, 'POST', '/api/v1/apps', saml_app_body()).json()['id']}/users",
        {"id": "00uNobody", "scope": "USER"},
    )
    assert nobody.status == 404 and nobody.json()["errorSummary"].endswith("00uNobody (User)")
    user_missing_fields = call(base, "POST", "/api/v1/users", {"profile": {"login": "x@example.com"}})
    assert user_missing_fields.status == 400 and len(user_missing_fields.json()["errorCauses"]) == 3


def test_users_and_groups_lookups(seeded: dict[str, Any]) -> None:
    base, user, group = seeded["base"], seeded["user"], seeded["group"]
    assert call(base, "GET", f"/api/v1/users/{user['id']}").json() == user
    assert call(base, "GET", f"/api/v1/users/{user['profile']['login']}").json()["id"] == user["id"]
    fetched = call(base, "GET", f"/api/v1/groups/{group['id']}").json()
    assert fetched["id"] == group["id"] and fetched["profile"] == group["profile"]
    assert fetched["lastMembershipUpdated"] >= group["lastMembershipUpdated"]
    members = call(base, "GET", f"/api/v1/groups/{group['id']}/users").json()
    assert [m["id"] for m in members] == [seeded["member"]["id"]]
    assert [g["id"] for g in call(base, "GET", "/api/v1/groups?q=contact").json()] == [group["id"]]
    assert call(base, "GET", "/api/v1/groups?q=nomatch").json() == []
    app_id = seeded["app"]["id"]
    assert [u["scope"] for u in call(base, "GET", f"/api/v1/apps/{app_id}/users").json()] == ["USER", "GROUP"]
    via_group = call(base, "GET", f"/api/v1/apps/{app_id}/users/{seeded['member']['id']}").json()
    assert via_group["scope"] == "GROUP"
    assert call(base, "GET", f"/api/v1/apps/{app_id}/groups").json() == [seeded["app_group"]]


# -- rate limits, latency and faults ---------------------------------------------------------------


def test_rate_limit_headers_and_429(sim: OktaSimulator) -> None:
    base = sim.url
    plain = call(base, "GET", "/api/v1/users")
    assert int(plain.headers["X-Rate-Limit-Limit"]) >= 1000
    assert int(plain.headers["X-Rate-Limit-Reset"]) >= int(time.time())

    sim.set_rate_limit("/api/v1/apps", 3, window_s=60)
    remaining = []
    for _ in range(3):
        resp = call(base, "GET", "/api/v1/apps")
        assert resp.status == 200
        assert resp.headers["X-Rate-Limit-Limit"] == "3"
        remaining.append(int(resp.headers["X-Rate-Limit-Remaining"]))
    assert remaining == [2, 1, 0]
    limited = call(base, "GET", "/api/v1/apps/0oaAnything")
    assert limited.status == 429
    assert limited.json()["errorCode"] == "E0000047"
    assert limited.json()["errorSummary"] == "API call exceeded rate limit due to too many requests."
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(time.time()) <= int(limited.headers["X-Rate-Limit-Reset"]) <= int(time.time()) + 61
    assert call(base, "GET", "/api/v1/users").status == 200  # other buckets unaffected

    sim.set_rate_limit("/api/v1/groups", 1, window_s=0.3)
    assert call(base, "GET", "/api/v1/groups").status == 200
    assert call(base, "GET", "/api/v1/groups").status == 429
    time.sleep(0.35)
    assert call(base, "GET", "/api/v1/groups").status == 200


def test_app_sub_resources_count_in_the_apps_bucket(sim: OktaSimulator) -> None:
    """Okta's management rate limits page (rl-global-mgmt): "/api/v1/apps endpoint and all other
    endpoints of the form /api/v1/apps/* including /api/v1/apps/{id}/*" are one bucket; "explicit
    calls to the app instance: /api/v1/apps/{id}" another."""
    base = sim.url
    app = call(base, "POST", "/api/v1/apps", {"label": "Bucket test", "signOnMode": "SAML_2_0", "settings": {
        "signOn": {"ssoAcsUrl": "https://sp.example.com/acs", "audience": "urn:example:sp"}}}).json()
    sim.set_template_rate_limit("/api/v1/apps", 50, window_s=60)
    sim.set_template_rate_limit("/api/v1/apps/{id}", 40, window_s=60)
    try:
        seen = [int(call(base, "GET", path).headers["X-Rate-Limit-Remaining"]) for path in (
            "/api/v1/apps", f"/api/v1/apps/{app['id']}/users", f"/api/v1/apps/{app['id']}/groups",
            f"/api/v1/apps/{app['id']}/credentials/keys")]
        assert seen == [49, 48, 47, 46]
        item = call(base, "GET", f"/api/v1/apps/{app['id']}")
        assert (item.headers["X-Rate-Limit-Limit"], item.headers["X-Rate-Limit-Remaining"]) == ("40", "39")
    finally:
        sim.set_template_rate_limit("/api/v1/apps", 10_000, window_s=60)
        sim.set_template_rate_limit("/api/v1/apps/{id}", 10_000, window_s=60)


def test_latency_knob(sim: OktaSimulator) -> None:
    sim.set_latency(200)
    started = time.monotonic()
    assert call(sim.url, "GET", "/api/v1/apps").status == 200
    assert time.monotonic() - started >= 0.2
    sim.set_latency(0)


def test_status_garbage_and_truncated_faults(sim: OktaSimulator) -> None:
    base = sim.url
    sim.inject_fault(r"^/api/v1/apps$", status=503, times=2)
    for _ in range(2):
        failed = call(base, "GET", "/api/v1/apps")
        assert failed.status == 503 and set(failed.json()) == ERROR_KEYS
        assert "X-Rate-Limit-Remaining" in failed.headers
    assert call(base, "GET", "/api/v1/apps").status == 200

    sim.inject_fault(r"^/api/v1/users$", kind="garbage")
    garbage = call(base, "GET", "/api/v1/users")
    assert garbage.status == 200
    with pytest.raises(ValueError):
        garbage.json()

    create_user(base, "t")
    whole = call(base, "GET", "/api/v1/users").body
    sim.inject_fault(r"^/api/v1/users$", kind="truncated")
    truncated = call(base, "GET", "/api/v1/users")
    assert truncated.status == 200 and 0 < len(truncated.body) < len(whole)
    assert whole.startswith(truncated.body[:20])
    with pytest.raises(ValueError):
        truncated.json()

    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.inject_fault("x", kind="explode")


def test_reset_and_timeout_faults_and_clean_stop() -> None:
    sim = OktaSimulator()
    base = sim.start()
    try:
        sim.inject_fault(r"^/api/v1/apps$", kind="reset")
        with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
            call(base, "GET", "/api/v1/apps")
        assert call(base, "GET", "/api/v1/apps").status == 200

        sim.inject_fault(r"^/api/v1/apps$", kind="timeout")
        started = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            call(base, "GET", "/api/v1/apps", timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        started = time.monotonic()
        sim.stop()  # must release the held request promptly
        assert time.monotonic() - started < 5
    with pytest.raises(urllib.error.URLError):
        call(base, "GET", "/api/v1/apps", timeout=1)


def test_requests_are_recorded(sim: OktaSimulator) -> None:
    call(sim.url, "GET", "/api/v1/apps?limit=5&q=x")
    recorded = sim.requests[-1]
    assert (recorded.method, recorded.path, recorded.query) == (
        "GET",
        "/api/v1/apps",
        {"limit": "5", "q": "x"},
    )
    assert recorded.headers["Authorization"] == SSWS


# -- SAML metadata ---------------------------------------------------------------------------------


def test_metadata_served_publicly_and_parses(seeded: dict[str, Any]) -> None:
    sim, base, app = seeded["sim"], seeded["base"], seeded["app"]
    external_key = sim.app_external_key(app["id"])
    der = sim.app_signing_certificate(app["id"])
    public = f"{base}/app/{external_key}/sso/saml/metadata"
    xml = fetch_metadata(public, allow_insecure_http=True)
    by_name = call(base, "GET", f"/app/{app['name']}/{external_key}/sso/saml/metadata", auth=None)
    assert by_name.status == 200 and by_name.body == xml
    assert by_name.headers["Content-Type"].startswith("application/xml")

    parsed = parse_metadata(xml, url=public)
    assert parsed["entity_id"] == f"http://www.okta.com/{external_key}"
    assert parsed["signing_certificate"]["fingerprint_sha256"] == hashlib.sha256(der).hexdigest()
    sso = f"{base}/app/{app['name']}/{external_key}/sso/saml"
    assert [u["location"] for u in parsed["sso_urls"]] == [sso, sso]
    assert {u["binding"].rsplit(":", 1)[1] for u in parsed["sso_urls"]} == {"HTTP-POST", "HTTP-Redirect"}
    assert b'WantAuthnRequestsSigned="false"' in xml

    api = call_xml(app["_links"]["metadata"]["href"])
    assert api.status == 200 and api.body == xml
    assert api.headers["Content-Type"].startswith("text/xml")
    assert call(base, "GET", app["_links"]["metadata"]["href"], auth=None).status == 401
    # Only the documented forms: never by the app's 0oa... id, never under another app's name.
    assert call(base, "GET", f"/app/{app['id']}/sso/saml/metadata", auth=None).status == 404
    assert call(base, "GET", f"/app/other_app_1/{external_key}/sso/saml/metadata", auth=None).status == 404
    assert call(base, "GET", "/app/exkUnknown/sso/saml/metadata", auth=None).status == 404


def call_xml(url: str, auth: str | None = SSWS) -> Resp:
    """GET with the Accept Okta's metadata preview needs (text/xml, management.yaml)."""
    headers = {"Accept": "text/xml"}
    if auth is not None:
        headers["Authorization"] = auth
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return Resp(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Resp(exc.code, exc.headers, exc.read())


def metadata_of(sim: OktaSimulator, app: dict[str, Any]) -> dict[str, Any]:
    """The app's metadata through the API (as the scanner reads it), parsed."""
    resp = call_xml(f"{sim.url}/api/v1/apps/{app['id']}/sso/saml/metadata")
    assert resp.status == 200, resp.body
    return parse_metadata(resp.body)


def test_api_metadata_refuses_a_json_only_accept(seeded: dict[str, Any]) -> None:
    # Okta answers previewSAMLmetadataForApplication with E0000019 when Accept admits no XML
    # (okta/okta-sdk-golang#446); the SDK's default Accept is application/json.
    resp = call(seeded["base"], "GET", f"/api/v1/apps/{seeded['app']['id']}/sso/saml/metadata")
    assert resp.status == 400 and resp.json()["errorCode"] == "E0000019"


def test_signing_keys_are_listed_and_a_rollover_keeps_the_old_key(sim: OktaSimulator) -> None:
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body()).json()
    first = call(sim.url, "GET", f"/api/v1/apps/{app['id']}/credentials/keys").json()
    assert [k["kid"] for k in first] == [app["credentials"]["signing"]["kid"]]
    der = sim.app_signing_certificate(app["id"])
    assert first[0]["x5c"] == [base64.b64encode(der).decode()]
    assert first[0]["kty"] == "RSA" and first[0]["use"] == "sig"
    sim.set_app_certificate_validity(app["id"], datetime(2026, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC))
    keys = call(sim.url, "GET", f"/api/v1/apps/{app['id']}/credentials/keys").json()
    kid = call(sim.url, "GET", f"/api/v1/apps/{app['id']}").json()["credentials"]["signing"]["kid"]
    assert [k["kid"] for k in keys] == [first[0]["kid"], kid]
    assert keys[1]["expiresAt"] == "2036-01-01T00:00:00.000Z"
    one = call(sim.url, "GET", f"/api/v1/apps/{app['id']}/credentials/keys/{kid}")
    assert one.status == 200 and one.json() == keys[1]
    assert call(sim.url, "GET", f"/api/v1/apps/{app['id']}/credentials/keys/nope").status == 404


def test_certificate_validity_knob(sim: OktaSimulator) -> None:
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body()).json()
    ten_years = metadata_of(sim, app)
    assert (
        ten_years["signing_certificate"]["not_after"] > (datetime.now(UTC) + timedelta(days=3600)).isoformat()
    )
    not_before = datetime(2026, 1, 1, tzinfo=UTC)
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    sim.set_app_certificate_validity(app["id"], not_before, not_after)
    cert = metadata_of(sim, app)["signing_certificate"]
    assert cert["not_before"] == "2026-01-01T00:00:00+00:00"
    assert cert["not_after"] == not_after.isoformat()
    assert cert["fingerprint_sha256"] != ten_years["signing_certificate"]["fingerprint_sha256"]
    updated = call(sim.url, "GET", f"/api/v1/apps/{app['id']}").json()
    assert updated["credentials"]["signing"]["kid"] != app["credentials"]["signing"]["kid"]


def test_custom_idp_issuer_changes_entity_id(sim: OktaSimulator) -> None:
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body(idpIssuer="http://www.okta.com/custom")).json()
    assert metadata_of(sim, app)["entity_id"] == "http://www.okta.com/custom"


# -- contract: responses validate against Okta's OpenAPI description --------------------------------


@pytest.fixture(scope="session")
def okta_schema() -> Any:
    if not OPENAPI.is_file():
        pytest.skip(
            f"Okta OpenAPI description not found at {OPENAPI} (expected ../shared beside the checkout)"
        )
    import yaml
    from openapi_schema_validator import OAS30Validator, oas30_format_checker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAPI.open("rb") as fh:
        document = yaml.load(fh, Loader=loader)
    uri = "urn:okta:management.yaml"
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(document, DRAFT4))

    def validate(schema_name: str, instance: Any) -> None:
        assert schema_name in document["components"]["schemas"], schema_name
        validator = OAS30Validator(
            {"$ref": f"{uri}#/components/schemas/{schema_name}"},
            registry=registry,
            format_checker=oas30_format_checker,
        )
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
        ]
        assert not errors, f"{schema_name}: " + "; ".join(errors)

    return validate


def test_contract_apps_assignments_users_groups(seeded: dict[str, Any], okta_schema: Any) -> None:
    base, app_id = seeded["base"], seeded["app"]["id"]
    okta_schema("SamlApplication", call(base, "GET", f"/api/v1/apps/{app_id}").json())
    for item in call(base, "GET", "/api/v1/apps").json():
        okta_schema("SamlApplication", item)
    okta_schema("AppUser", seeded["app_user"])
    for item in call(base, "GET", f"/api/v1/apps/{app_id}/users?expand=user").json():
        okta_schema("AppUser", item)
    okta_schema("ApplicationGroupAssignment", seeded["app_group"])
    okta_schema(
        "ApplicationGroupAssignment",
        call(base, "GET", f"/api/v1/apps/{app_id}/groups/{seeded['group']['id']}").json(),
    )
    for user in call(base, "GET", "/api/v1/users").json():
        okta_schema("User", user)
    okta_schema("Group", call(base, "GET", f"/api/v1/groups/{seeded['group']['id']}").json())
    for key in call(base, "GET", f"/api/v1/apps/{app_id}/credentials/keys").json():
        okta_schema("JsonWebKey", key)


def test_contract_errors(seeded: dict[str, Any], okta_schema: Any) -> None:
    base = seeded["base"]
    for resp in (
        call(base, "GET", "/api/v1/apps/0oaMissing"),
        call(base, "POST", "/api/v1/apps", {"signOnMode": "SAML_2_0"}),
        call(base, "GET", "/api/v1/apps", auth=f"SSWS{TOKEN}"),
        call(base, "PATCH", "/api/v1/apps"),
        call(base, "GET", f"/api/v1/apps/{seeded['app']['id']}/sso/saml/metadata"),  # JSON-only Accept
    ):
        assert resp.status >= 400
        okta_schema("Error", resp.json())
