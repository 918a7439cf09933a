"""Attribution, the pure part: which change event made a failing finding fail.

The change events come from auditor/collectors/change_events.py (Okta's System Log, CloudTrail's
LookupEvents) as plain `ChangeEvent`s; this module plans the look-ups a run needs
(`plan_queries`) and matches the events to a finding (`attribute`). No I/O: unit tests drive it
with plain events.

Where a resource's changes are logged, and which request parameters name it, is the resource
catalogue's `changes` entry (auditor/resources.py). How an event relates to the drifted *field*
is known for the controls in `FIELD_PROBES`: an event whose request shows it set the field to the
value the scan found "changed this field"; any other event on the object in the window is only
"an event on this object". With several events, the one that set the current value first, after
the last one that set another value, is the one that changed it. No event in the window is said
so: never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from auditor.models import Attribution, AttributionState, Finding
from auditor.policy.model import Assertion, Control
from auditor.resources import RESOURCES, ChangeSource

# CloudTrail records IAM and Organizations events in us-east-1 (global service events), and
# Organizations events in the organization's management account.
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events
GLOBAL_REGION = "us-east-1"


@dataclass(frozen=True)
class ChangeEvent:
    """One change as the System Log or CloudTrail recorded it, in plain data."""

    source: str  # "okta" | "cloudtrail"
    event_id: str
    name: str  # Okta eventType / CloudTrail eventName
    time: datetime
    actor: str  # Okta actor.alternateId; CloudTrail userIdentity.arn
    user_agent: str = ""
    source_ip: str | None = None
    session: str | None = None  # the role session name (and source identity) of an assumed role
    params: Mapping[str, Any] = field(default_factory=dict)  # CloudTrail requestParameters
    targets: tuple[Mapping[str, Any], ...] = ()  # Okta target[]
    link: str | None = None


@dataclass(frozen=True)
class ChangeQuery:
    """One look-up: Okta events whose target is an app (`key` the app id), or CloudTrail events of
    one name (`key`) where `credentials` ("federation:<name>" or "organization") can read them, in
    `region`. Equal queries are made once per run."""

    system: str
    key: str
    credentials: str = ""
    region: str = ""


@dataclass(frozen=True)
class Subject:
    """A failing finding to attribute: the finding, the resource key it is about, its
    federation's collected resources, config and AWS Region, and the window start."""

    finding: Finding
    resource_key: str
    resources: Mapping[str, Any]
    config: Mapping[str, Any]
    region: str
    since: datetime
    # The control judges against the clock (a certificate's remaining days): it can fail with no
    # change at all, so an event on the object is no cause unless it set the field.
    time_driven: bool = False


@dataclass(frozen=True)
class LookupFailure:
    """A look-up that could not be made: the notice the finding carries."""

    message: str


def resource_key_of(finding: Finding) -> str | None:
    """The resource key a finding is about (its uid is `auditor-<control>-<federation>-<key>`)."""
    prefix = f"auditor-{finding.control_id}-{finding.federation}-"
    key = finding.uid[len(prefix):] if finding.uid.startswith(prefix) else None
    return key if key in RESOURCES else None


def queries_for(subject: Subject) -> list[ChangeQuery]:
    """The look-ups attributing `subject` needs (none when its resource's changes are not logged
    anywhere this tool reads, or it has no object to look for)."""
    source = RESOURCES[subject.resource_key].changes
    if source is None:
        return []
    if source.system == "okta":
        app_id = _okta_app_id(subject)
        return [ChangeQuery("okta", app_id)] if app_id else []
    credentials, region = _trail_place(source, subject)
    return [ChangeQuery("cloudtrail", name, credentials, region) for name in source.events]


def plan_queries(subjects: Iterable[Subject]) -> dict[ChangeQuery, datetime]:
    """Every look-up the subjects need, each with the earliest window start that needs it."""
    plan: dict[ChangeQuery, datetime] = {}
    for subject in subjects:
        for query in queries_for(subject):
            plan[query] = min(plan.get(query, subject.since), subject.since)
    return plan


def attribute(subject: Subject, results: Mapping[ChangeQuery, Sequence[ChangeEvent] | LookupFailure]) -> Attribution:
    """The attribution of one subject from the look-ups' results."""
    since = subject.since.isoformat(timespec="seconds")
    queries = queries_for(subject)
    source = RESOURCES[subject.resource_key].changes
    if source is None or not queries:
        return Attribution(AttributionState.UNAVAILABLE, "attribution unavailable: changes of "
                           f"{subject.resource_key} are not logged where this tool reads", since=since)
    failures = [r.message for q in queries if isinstance(r := results.get(q), LookupFailure)]
    if failures:
        return Attribution(AttributionState.UNAVAILABLE, f"attribution unavailable: {failures[0]}", since=since)
    events: list[ChangeEvent] = []
    for query in queries:
        found = results.get(query)
        if isinstance(found, list | tuple):
            events += [e for e in found if e.time >= subject.since and e.name in source.events
                       and _about(e, source, subject)]
    events.sort(key=lambda e: (e.time, e.event_id))
    if not events:
        return Attribution(AttributionState.NONE, f"no change event found in the look-back window (since {since})",
                           since=since, source=source.system)
    chosen = _field_change(subject, events)
    if chosen is None and subject.time_driven:
        return Attribution(AttributionState.NONE, "no change made this fail: the control judges against the clock "
                           "(what it checks runs out with time), and no event in the window set the field "
                           f"(since {since})", since=since, source=source.system)
    confidence = "field" if chosen is not None else "object"
    event = chosen or events[-1]
    return found_attribution(event, confidence, since)


# Operators whose verdict changes with the clock alone (auditor/evaluate/operators.py).
TIME_DRIVEN_OPERATORS = frozenset({"days_until_at_least"})


def time_driven(control: Control) -> bool:
    """True when one of the control's assertions judges against the clock."""
    def ops(assertions: Sequence[Assertion]) -> Iterable[str]:
        for a in assertions:
            yield a.op
            yield from ops(a.children)
    return any(op in TIME_DRIVEN_OPERATORS for op in ops(control.assertions))


def found_attribution(event: ChangeEvent, confidence: str, since: str | None = None) -> Attribution:
    """The Attribution of an event found."""
    client = client_kind(event.user_agent)
    who = event.actor + (f" (session {event.session})" if event.session else "")
    when = event.time.isoformat(timespec="seconds")
    summary = f"changed by {who} at {when} via {client} ({event.name})"
    if confidence == "object":
        summary += "; an event on this object in the window (its request does not show the field)"
    return Attribution(AttributionState.FOUND, summary, since=since, source=event.source, confidence=confidence,
                       actor=event.actor, session=event.session, time=when, client=client,
                       user_agent=event.user_agent or None, source_ip=event.source_ip, event_id=event.event_id,
                       event_name=event.name, link=event.link)


_AUDITOR_AGENT = re.compile(r"(^|[\s(])auditor(/|\s|$)")


def client_kind(user_agent: str) -> str:
    """What made the change, from the user agent: this tool's own `--fix` (its okta SDK agent
    `auditor/<version>` and boto3's `user_agent_extra` "auditor"), Terraform (its AWS and Okta
    providers name themselves), the AWS console ("console.amazonaws.com", or "AWS Internal" for
    calls the console makes on a user's behalf, per the CloudTrail userAgent field) or a browser
    (the Okta admin console), the AWS CLI, an SDK, else "other"."""
    agent = user_agent.lower()
    if _AUDITOR_AGENT.search(agent):
        return "auditor --fix"
    if "terraform" in agent:
        return "Terraform"
    if "console.amazonaws.com" in agent or agent == "aws internal" or agent.startswith("mozilla/"):
        return "console"
    if "aws-cli" in agent:
        return "AWS CLI"
    if any(s in agent for s in ("boto3", "botocore", "aws-sdk", "okta-sdk", "python-urllib", "python-requests")):
        return "SDK"
    return "other"


def okta_event_link(org_url: str, event_id: str) -> str:
    """The event in the Okta Admin Console's System Log (the admin host: `<org>-admin.okta.com`
    for an okta.com/oktapreview.com org, else the org URL itself)."""
    parts = urlsplit(org_url)
    host = parts.netloc
    for domain in (".okta.com", ".oktapreview.com", ".okta-emea.com"):
        if host.endswith(domain) and not host[: -len(domain)].endswith("-admin"):
            host = host[: -len(domain)] + "-admin" + domain
    return f"{parts.scheme}://{host}/report/system_log_2?search={quote(event_id)}"


def cloudtrail_event_link(region: str, event_id: str) -> str:
    """The event in the CloudTrail console's Event history."""
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{quote(event_id)}"


# --- which object ----------------------------------------------------------------------------------

def _okta_app_id(subject: Subject) -> str | None:
    connect = subject.resource_key in ("okta.connect_app", "okta.connect_metadata")
    app = subject.resources.get("okta.connect_app" if connect else "okta.app")
    if isinstance(app, dict) and isinstance(app.get("id"), str):
        return str(app["id"])
    ref = ((subject.config.get("connect_sso") or {}).get("okta_app") if connect else subject.config.get("okta_app"))
    return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None


def _trail_place(source: ChangeSource, subject: Subject) -> tuple[str, str]:
    """(credentials, region) that read the events of `source` for the subject's federation."""
    if source.scope == "organization":
        return "organization", GLOBAL_REGION
    name = str(subject.config.get("name", subject.finding.federation))
    if source.scope == "global":
        return f"federation:{name}", GLOBAL_REGION
    return f"federation:{name}", subject.region


def _identities(subject: Subject) -> dict[str, set[str]]:
    """Per request parameter, the values that name the subject's objects."""
    config, resources = subject.config, subject.resources
    values: dict[str, set[str]] = {}

    def add(param: str, *found: Any) -> None:
        values.setdefault(param, set()).update(str(v) for v in found if isinstance(v, str) and v)

    add("userPoolId", config.get("user_pool_id"))
    client = resources.get("cognito.app_client")
    add("clientId", (config.get("app_client") or {}).get("id"), client.get("ClientId") if isinstance(client, dict)
        else None)
    add("providerName", config.get("identity_provider"))
    scp = config.get("scp") or {}
    sso = config.get("connect_sso") or {}
    role_arn = scp.get("connect_role_arn") or sso.get("role_arn") or ""
    add("roleName", role_arn.rsplit("/", 1)[-1] if role_arn else None)
    add("sAMLProviderArn", sso.get("saml_provider_arn"))
    org = resources.get("organizations")
    add("accountId", scp.get("account_id"))
    if isinstance(org, dict):
        add("policyId", *(p.get("id") for p in org.get("policies") or [] if isinstance(p, dict)))
        path = [p.get("id") for p in org.get("path") or [] if isinstance(p, dict)]
        add("targetId", scp.get("account_id"), *path)
        add("rootId", *(p.get("id") for p in org.get("path") or [] if isinstance(p, dict) and p.get("type") == "ROOT"))
    return values


def _about(event: ChangeEvent, source: ChangeSource, subject: Subject) -> bool:
    """Whether the event is about the subject's object."""
    if source.system == "okta":
        app_id = _okta_app_id(subject)
        return any(t.get("id") == app_id for t in event.targets)
    ids = _identities(subject)
    carried = [(p, event.params.get(p)) for p in source.params if p in event.params]
    if not carried:
        return False
    hits = [str(v) in ids.get(p, set()) for p, v in carried]
    # Organizations: an event about any part of the account's path (a DetachPolicy names the
    # detached policy, which is no longer in effect, and the target it left) counts.
    return any(hits) if source.scope == "organization" else all(hits)


# --- which field -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldProbe:
    """How an event shows the drifted field of a control: the CloudTrail event names and request
    parameter that set it, the field in the collected resource, and whether the API resets the
    field when the request leaves it out (UpdateUserPoolClient does)."""

    events: tuple[str, ...]
    param: str
    path: str
    reset_when_omitted: bool = False


FIELD_PROBES: dict[str, FieldProbe] = {
    "COGNITO-CLIENT-IDP-ENABLED": FieldProbe(("UpdateUserPoolClient",), "supportedIdentityProviders",
                                             "SupportedIdentityProviders", reset_when_omitted=True),
    "COGNITO-IDP-EMAIL-MAPPING": FieldProbe(("UpdateIdentityProvider",), "attributeMapping", "AttributeMapping"),
    "COGNITO-IDP-METADATA": FieldProbe(("UpdateIdentityProvider",), "providerDetails", "ProviderDetails"),
    "CONNECT-ROLE-TRUST": FieldProbe(("UpdateAssumeRolePolicy",), "policyDocument", "AssumeRolePolicyDocument"),
}
# Organizations events that change which SCPs are in effect for the account by what they are.
_SCP_EFFECT_EVENTS = ("DetachPolicy", "DeletePolicy", "DisablePolicyType", "MoveAccount")
_SCP_CONTROLS = ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION")

SETS_CURRENT, SETS_OTHER, SILENT = "current", "other", "silent"


def _field_change(subject: Subject, events: Sequence[ChangeEvent]) -> ChangeEvent | None:
    """The event that set the field to its current value (None: no event shows the field)."""
    chosen: ChangeEvent | None = None
    for event in events:  # oldest first
        effect = _effect(subject, event)
        if effect == SETS_CURRENT and chosen is None:
            chosen = event
        elif effect == SETS_OTHER:
            chosen = None
    return chosen


def _effect(subject: Subject, event: ChangeEvent) -> str:
    control = subject.finding.control_id
    if event.source == "okta":
        return _okta_effect(subject, event)
    if control in _SCP_CONTROLS:
        if event.name in _SCP_EFFECT_EVENTS or (event.name == "UpdatePolicy" and "content" in event.params):
            return SETS_CURRENT
        return SILENT
    probe = FIELD_PROBES.get(control)
    if probe is None or event.name not in probe.events:
        return SILENT
    current = _resource_field(subject, probe.path)
    if probe.param not in event.params:
        if probe.reset_when_omitted:
            return SETS_CURRENT if current in (None, [], {}, "") else SETS_OTHER
        return SILENT
    sent = event.params[probe.param]
    if isinstance(sent, str) and isinstance(current, dict):
        try:
            sent = json.loads(sent)
        except ValueError:
            return SILENT
    if isinstance(sent, dict) and isinstance(current, dict):
        # The collected object may carry fields the request did not send (Cognito adds its own to
        # ProviderDetails): what was sent must be what is there.
        same = all(current.get(k) == v for k, v in sent.items())
    else:
        same = _normal(sent) == _normal(current)
    return SETS_CURRENT if same else SETS_OTHER


def _okta_effect(subject: Subject, event: ChangeEvent) -> str:
    control = subject.finding.control_id
    if control in ("OKTA-APP-ACTIVE",) and event.name in ("application.lifecycle.deactivate",
                                                           "application.lifecycle.delete"):
        return SETS_CURRENT
    if control == "OKTA-APP-ACTIVE" and event.name == "application.lifecycle.activate":
        return SETS_OTHER
    if control == "OKTA-ASSIGNMENTS":
        assigned = _assigned_ids(subject)
        principals = {str(t.get("id")) for t in event.targets if t.get("type") in ("User", "UserGroup")}
        if event.name in ("application.user_membership.remove", "group.application_assignment.remove"):
            return SETS_CURRENT if principals - assigned else SILENT
        if event.name in ("application.user_membership.add", "group.application_assignment.add"):
            return SETS_OTHER if principals - assigned else SILENT
    # Okta documents `changeDetails` (from/to) on the targets of some event types.
    for target in event.targets:
        details = target.get("changeDetails")
        if isinstance(details, dict) and details.get("to"):
            return SETS_CURRENT if control.startswith("OKTA-") else SILENT
    return SILENT


def _assigned_ids(subject: Subject) -> set[str]:
    value = subject.resources.get("okta.assignments")
    if not isinstance(value, dict):
        return set()
    return ({str(u.get("id")) for u in value.get("users") or [] if isinstance(u, dict)}
            | {str(g.get("id")) for g in value.get("groups") or [] if isinstance(g, dict)})


def _resource_field(subject: Subject, path: str) -> Any:
    value = subject.resources.get(subject.resource_key)
    return value.get(path) if isinstance(value, dict) else None


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(json.dumps(v, sort_keys=True) for v in value)
    return value
