"""Attribution's matching on plain change events (auditor/evaluate/attribution.py): no servers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.evaluate.attribution import (
    ChangeEvent,
    ChangeQuery,
    LookupFailure,
    Subject,
    attribute,
    client_kind,
    okta_event_link,
    plan_queries,
    queries_for,
    resource_key_of,
)
from auditor.models import AttributionState, Finding, Severity, Status, finding_uid

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POOL = "us-east-1_Pool1"
CONFIG: dict[str, Any] = {"name": "cc", "okta_app": {"label": "CC"}, "user_pool_id": POOL,
                          "app_client": {"name": "app-client"}, "identity_provider": "Okta"}
RESOURCES: dict[str, Any] = {
    "okta.app": {"id": "0oaApp1", "status": "INACTIVE"},
    "okta.assignments": {"users": [{"id": "00uKept"}], "groups": []},
    "cognito.app_client": {"ClientId": "client1", "UserPoolId": POOL, "SupportedIdentityProviders": ["COGNITO"]},
    "cognito.user_pool": {"Id": POOL},
}
BOTO_AGENT = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.11"


def finding(control: str, key: str) -> Finding:
    return Finding(uid=finding_uid(control, "cc", key), control_id=control, title=control, severity=Severity.HIGH,
                   status=Status.FAIL, federation="cc", resource="x", expected=None, actual=None, message="m")


def subject(control: str, key: str, since: datetime = T0) -> Subject:
    return Subject(finding(control, key), key, RESOURCES, CONFIG, "us-east-1", since)


def update_client(minutes: int, actor: str, event_id: str, **params: Any) -> ChangeEvent:
    return ChangeEvent("cloudtrail", event_id, "UpdateUserPoolClient", T0 + timedelta(minutes=minutes), actor,
                       user_agent=BOTO_AGENT, params={"userPoolId": POOL, "clientId": "client1", **params})


def results_for(sub: Subject, events: list[ChangeEvent]) -> dict[ChangeQuery, Any]:
    return {q: [e for e in events if e.name == q.key or q.system == "okta"] for q in queries_for(sub)}


def test_resource_key_comes_from_the_uid() -> None:
    assert resource_key_of(finding("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client")) == "cognito.app_client"


def test_of_two_changes_the_one_that_changed_the_field_is_named() -> None:
    sub = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client")
    removed = update_client(5, "arn:aws:sts::1:assumed-role/terraform-ci/tf-1", "ev-removed",
                            supportedIdentityProviders=["COGNITO"])
    later = update_client(30, "arn:aws:iam::1:user/colleague", "ev-later", supportedIdentityProviders=["COGNITO"],
                          callbackURLs=["https://example.com/cb"])
    got = attribute(sub, results_for(sub, [later, removed]))
    assert got.state is AttributionState.FOUND
    assert (got.event_id, got.confidence) == ("ev-removed", "field")
    assert got.actor == "arn:aws:sts::1:assumed-role/terraform-ci/tf-1"


def test_a_change_back_and_again_names_the_last_one_that_set_the_value() -> None:
    sub = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client")
    events = [update_client(1, "a", "first", supportedIdentityProviders=["COGNITO"]),
              update_client(2, "b", "restored", supportedIdentityProviders=["COGNITO", "Okta"]),
              update_client(3, "c", "again", supportedIdentityProviders=["COGNITO"])]
    assert attribute(sub, results_for(sub, events)).event_id == "again"


def test_an_update_that_omits_a_reset_field_changed_it() -> None:
    # UpdateUserPoolClient resets omitted fields: an update without the IdP list emptied it.
    resources = {**RESOURCES, "cognito.app_client": {**RESOURCES["cognito.app_client"],
                                                     "SupportedIdentityProviders": []}}
    sub = Subject(finding("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client"), "cognito.app_client", resources,
                  CONFIG, "us-east-1", T0)
    got = attribute(sub, results_for(sub, [update_client(1, "tf", "reset", refreshTokenValidity=30)]))
    assert (got.event_id, got.confidence) == ("reset", "field")


def test_an_event_that_does_not_show_the_field_is_an_object_event() -> None:
    sub = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client")
    event = update_client(1, "someone", "other", supportedIdentityProviders=["COGNITO", "Okta"])
    got = attribute(sub, results_for(sub, [event]))
    assert (got.event_id, got.confidence) == ("other", "object")
    assert "does not show the field" in got.summary


def test_events_on_other_objects_or_before_the_window_are_not_a_cause() -> None:
    sub = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client", since=T0 + timedelta(hours=1))
    other_pool = ChangeEvent("cloudtrail", "x", "UpdateUserPoolClient", T0 + timedelta(hours=2), "a",
                             params={"userPoolId": "us-east-1_Other", "clientId": "client1"})
    too_old = update_client(5, "a", "old", supportedIdentityProviders=["COGNITO"])
    got = attribute(sub, results_for(sub, [other_pool, too_old]))
    assert got.state is AttributionState.NONE
    assert got.summary.startswith("no change event found in the look-back window")


def test_a_failed_lookup_is_a_notice() -> None:
    sub = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client")
    results = {q: LookupFailure("CloudTrail LookupEvents was denied: needs cloudtrail:LookupEvents")
               for q in queries_for(sub)}
    got = attribute(sub, results)
    assert got.state is AttributionState.UNAVAILABLE
    assert got.summary.startswith("attribution unavailable:") and "cloudtrail:LookupEvents" in got.summary


def okta(event_type: str, minutes: int, *targets: dict[str, str], agent: str = "Mozilla/5.0") -> ChangeEvent:
    return ChangeEvent("okta", f"uuid-{event_type}-{minutes}", event_type, T0 + timedelta(minutes=minutes),
                       "admin@example.com", user_agent=agent,
                       targets=({"id": "0oaApp1", "type": "AppInstance"}, *targets))


def test_okta_deactivation_and_unassignment_changed_the_field() -> None:
    inactive = subject("OKTA-APP-ACTIVE", "okta.app")
    events = [okta("application.lifecycle.update", 1), okta("application.lifecycle.deactivate", 2),
              okta("application.lifecycle.update", 3)]
    got = attribute(inactive, results_for(inactive, events))
    assert (got.event_name, got.confidence, got.client) == ("application.lifecycle.deactivate", "field", "console")
    missing = subject("OKTA-ASSIGNMENTS", "okta.assignments")
    events = [okta("application.user_membership.remove", 1, {"id": "00uGone", "type": "User"}),
              okta("application.user_membership.add", 2, {"id": "00uKept", "type": "User"})]
    got = attribute(missing, results_for(missing, events))
    assert (got.event_name, got.confidence) == ("application.user_membership.remove", "field")


def test_one_lookup_per_query_with_the_earliest_window() -> None:
    a = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client", since=T0)
    b = subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client", since=T0 - timedelta(days=1))
    plan = plan_queries([a, b])
    assert set(plan.values()) == {T0 - timedelta(days=1)}
    assert {q.key for q in plan} == {"UpdateUserPoolClient", "DeleteUserPoolClient"}
    assert {q.region for q in plan} == {"us-east-1"}


def test_client_kinds() -> None:
    assert client_kind(f"{BOTO_AGENT} auditor") == "auditor --fix"
    assert client_kind("okta-sdk-python/2.9.0 python/3.11 Linux/6 auditor/0.9.0") == "auditor --fix"
    assert client_kind("APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) "
                       "terraform-provider-aws/5.0") == "Terraform"
    assert client_kind("console.amazonaws.com") == "console"
    assert client_kind("AWS Internal") == "console"
    assert client_kind("aws-cli/2.15.0 Python/3.11") == "AWS CLI"
    assert client_kind(BOTO_AGENT) == "SDK"
    assert client_kind("curl/8.0") == "other"


def test_okta_event_link_uses_the_admin_host() -> None:
    assert okta_event_link("https://acme.okta.com", "u-1").startswith("https://acme-admin.okta.com/report/")
    assert okta_event_link("http://127.0.0.1:8080", "u-1").startswith("http://127.0.0.1:8080/")


def test_a_clock_judged_failure_is_not_pinned_on_an_unrelated_change() -> None:
    # OKTA-CERT-EXPIRY fails as time passes; an app update in the window that did not touch the
    # certificate is no cause (before: "changed by ... an event on this object").
    from auditor.evaluate.attribution import time_driven
    from auditor.policy.loader import load_policies

    controls = {c.id: c for c in load_policies().controls}
    assert time_driven(controls["OKTA-CERT-EXPIRY"]) and not time_driven(controls["OKTA-SAML-AUDIENCE"])
    sub = dataclasses.replace(subject("COGNITO-CLIENT-IDP-ENABLED", "cognito.app_client"), time_driven=True)
    event = update_client(1, "someone", "other", supportedIdentityProviders=["COGNITO", "Okta"])
    got = attribute(sub, results_for(sub, [event]))
    assert got.state is AttributionState.NONE and got.event_id is None
    assert "judges against the clock" in got.summary
