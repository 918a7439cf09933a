"""The Okta simulator's System Log: a LogEvent for every write, served by GET /api/v1/logs as the
System Log API documents it (since/until/filter/q/limit/sortOrder, Link pagination), in the
LogEvent shape of management.yaml."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auditor.sandbox.okta_sim import OktaSimulator
from tests.integration import test_okta_simulator as simulator_tests
from tests.integration.test_okta_simulator import TOKEN, call, create_user, saml_app_body

# The LogEvent/Error validator against management.yaml (skips without it), shared with those tests.
okta_schema = simulator_tests.okta_schema


@pytest.fixture(scope="module")
def sim() -> Iterator[OktaSimulator]:
    with OktaSimulator(api_token=TOKEN) as s:
        s.add_api_token("colleague-token", login="colleague@example.com", display_name="A Colleague")
        yield s


def logs(sim: OktaSimulator, **params: str) -> Any:
    resp = call(sim.url, "GET", "/api/v1/logs?" + urllib.parse.urlencode(params))
    assert resp.status == 200, resp.body
    return resp


def test_writes_are_logged_with_actor_client_and_target(sim: OktaSimulator, okta_schema: Any) -> None:
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body("Log One")).json()
    user = create_user(sim.url, "log1")
    call(sim.url, "POST", f"/api/v1/apps/{app['id']}/users", {"id": user["id"]})
    body = call(sim.url, "GET", f"/api/v1/apps/{app['id']}").json()
    body["settings"]["signOn"]["audience"] = "urn:amazon:cognito:sp:other"
    assert call(sim.url, "PUT", f"/api/v1/apps/{app['id']}", body, auth="SSWS colleague-token").status == 200
    call(sim.url, "DELETE", f"/api/v1/apps/{app['id']}/users/{user['id']}")

    events = logs(sim, filter=f'target.id eq "{app["id"]}"').json()
    assert [e["eventType"] for e in events] == [
        "application.lifecycle.create", "application.lifecycle.activate", "application.user_membership.add",
        "application.lifecycle.update", "application.user_membership.remove"]
    update = events[3]
    assert update["actor"]["alternateId"] == "colleague@example.com"
    assert events[0]["actor"]["alternateId"] != "colleague@example.com"
    assert update["client"]["userAgent"]["rawUserAgent"].startswith("Python-urllib")
    assert update["client"]["ipAddress"] == "127.0.0.1"
    assert {t["id"] for t in events[4]["target"]} == {app["id"], user["id"]}
    for event in events:
        okta_schema("LogEvent", event)


def test_filter_since_until_and_q(sim: OktaSimulator) -> None:
    app = call(sim.url, "POST", "/api/v1/apps", saml_app_body("Log Two")).json()
    call(sim.url, "POST", f"/api/v1/apps/{app['id']}/lifecycle/deactivate")
    only = logs(sim, filter=f'eventType eq "application.lifecycle.deactivate" and target.id eq "{app["id"]}"').json()
    assert [e["eventType"] for e in only] == ["application.lifecycle.deactivate"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert logs(sim, since=future, until=(datetime.now(UTC) + timedelta(hours=2)).isoformat()).json() == []
    assert [e["uuid"] for e in logs(sim, q=only[0]["uuid"]).json()] == [only[0]["uuid"]]
    assert logs(sim, filter='eventType sw "application.lifecycle.de"').json()


def test_bounded_pagination_ends_and_polling_always_has_next(sim: OktaSimulator) -> None:
    for n in range(3):
        call(sim.url, "POST", "/api/v1/apps", saml_app_body(f"Page {n}"))
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    until = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    seen: list[str] = []
    url: str | None = "/api/v1/logs?" + urllib.parse.urlencode({"since": since, "until": until, "limit": "2"})
    while url:
        resp = call(sim.url, "GET", url)
        seen += [e["uuid"] for e in resp.json()]
        nxt = [link for link in resp.links() if 'rel="next"' in link]
        url = nxt[0].split(">")[0].lstrip("<") if nxt else None
    assert len(seen) == len(set(seen)) >= 6
    polling = logs(sim, since=since)
    assert any('rel="next"' in link for link in polling.links())


def test_documented_errors(sim: OktaSimulator, okta_schema: Any) -> None:
    for query, code in (({"filter": 'eventType eqq "x"'}, "E0000053"),
                        ({"since": "yesterday"}, "E0000001"),
                        ({"q": "x" * 41}, "E0000001"),
                        ({"since": datetime.now(UTC).isoformat(), "after": "abc"}, "E0000001")):
        resp = call(sim.url, "GET", "/api/v1/logs?" + urllib.parse.urlencode(query))
        assert resp.status == 400 and resp.json()["errorCode"] == code, query
        okta_schema("Error", resp.json())
