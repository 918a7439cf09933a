"""Remediation actions: the code behind each action a control may name (`remediation:` in a
policy file). The actions are declared in auditor/policy/remediations.py (what each edits and
does, its permissions, the controls it can serve: all a policy needs to load); each one is
implemented here once, under its declared name. An action edits a working copy of one object;
the plan is the difference. Actions are additive and narrow: they never remove people, IdPs or
statements.

An action reads the control's assertions (rendered as the evaluator renders them), never the
finding's report form; a policy naming an action for a control it cannot serve does not load.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from auditor.collectors.okta import OktaError
from auditor.collectors.okta_metadata import metadata_api_url, same_public_metadata
from auditor.collectors.saml_metadata import MetadataError, parse_metadata
from auditor.evaluate.engine import ResolvedAssertion
from auditor.evaluate.operators import OPERATORS, OperatorError
from auditor.evaluate.paths import parse_path
from auditor.models import SCP_OPT_IN
from auditor.policy.model import Control
from auditor.policy.remediations import REMEDIATIONS, ActionSpec, Serves
from auditor.remediate.targets import Remote
from auditor.snapshot import FederationSnapshot

__all__ = ["ACTIONS", "Action", "ActionContext", "CannotFix", "Serves", "working_copy"]

EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


class CannotFix(Exception):
    """The action cannot fix this finding; the message says why (shown as 'unfixable')."""


@dataclass
class ActionContext:
    """What an action may use: the federation's snapshot, the failing control and its resolved
    assertions (auditor/evaluate/engine.py `resolve_assertions`), and live reads."""

    fed: FederationSnapshot
    control: Control
    assertions: tuple[ResolvedAssertion, ...]
    remote: Remote
    settings: dict[str, Any]
    serves: Serves
    allow_scp_changes: bool = False


ActionFn = Callable[[Any, ActionContext], Awaitable[str]]


@dataclass(frozen=True, kw_only=True)
class Action(ActionSpec):
    """A declared action (auditor/policy/remediations.py) with the code that performs it."""

    fn: ActionFn


ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[ActionFn], ActionFn]:
    """Implement the declared action `name` (the value of a control's `remediation:`)."""
    def register(fn: ActionFn) -> ActionFn:
        spec = REMEDIATIONS.get(name)
        if spec is None:
            raise ValueError(f"action {name!r} is not declared in auditor/policy/remediations.py")
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = Action(name=spec.name, kind=spec.kind, doc=spec.doc, permissions=spec.permissions,
                               serves=spec.serves, opt_in=spec.opt_in, fn=fn)
        return fn
    return register


def set_path(obj: Any, path: str, value: Any) -> None:
    """Set a dotted path, creating dicts on the way."""
    parts = parse_path(path)
    for part in parts[:-1]:
        obj = obj[part] if isinstance(part, int) else obj.setdefault(part, {})
    obj[parts[-1]] = value


async def _set_expected(obj: Any, ctx: ActionContext) -> str:
    """Set, for every failing assertion the action writes from (`Serves`), the value that
    satisfies it (`equals`: the rendered argument).

    Failing assertions that name a value on fields the action may not change stay for a human
    (named in the reason); verification then reports the control as not yet passing.
    """
    changes: dict[str, Any] = {}
    refused: list[str] = []
    for resolved in ctx.assertions:
        satisfying = OPERATORS[resolved.assertion.op].satisfying
        if resolved.holds or resolved.resource != ctx.serves.resource or satisfying is None:
            continue
        try:
            value = satisfying(resolved.value, resolved.arg)
        except OperatorError:
            continue
        if value == resolved.value:
            continue
        if ctx.serves.matches(resolved.resource, resolved.path, resolved.assertion.op):
            changes[resolved.path] = value
        else:
            refused.append(resolved.path)
    if not changes:
        what = ", ".join(refused) if refused else "no expected value to set"
        raise CannotFix(f"nothing this action may change ({what})")
    for path, value in changes.items():
        set_path(obj, path, value)
    reason = "set " + ", ".join(f"{p} = {v!r}" for p, v in changes.items())
    return reason + (f" (left for a human: {', '.join(refused)})" if refused else "")


@action("okta.sign_on")
async def _okta_sign_on(obj: Any, ctx: ActionContext) -> str:
    return await _set_expected(obj, ctx)


@action("okta.signing")
async def _okta_signing(obj: Any, ctx: ActionContext) -> str:
    return await _set_expected(obj, ctx)


@action("okta.activate")
async def _okta_activate(obj: Any, ctx: ActionContext) -> str:
    if obj.get("signOnMode") != "SAML_2_0":
        raise CannotFix(f"the app signs on with {obj.get('signOnMode')!r}, not SAML 2.0: replace it by hand")
    if obj.get("status") == "ACTIVE":
        raise CannotFix("the app is already active")
    obj["status"] = "ACTIVE"
    return "activate the app"


@action("okta.email_attribute")
async def _okta_email(obj: Any, ctx: ActionContext) -> str:
    statements = obj.setdefault("settings", {}).setdefault("signOn", {}).setdefault("attributeStatements", [])
    for statement in statements:
        if statement.get("name") == EMAIL_CLAIM:
            statement["values"] = ["user.email"]
            statement.setdefault("type", "EXPRESSION")
            return "set the emailaddress statement's value to user.email"
    statements.append({"type": "EXPRESSION", "name": EMAIL_CLAIM,
                       "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "values": ["user.email"]})
    return "add the emailaddress = user.email attribute statement"


@action("okta.assignments")
async def _okta_assignments(obj: Any, ctx: ActionContext) -> str:
    config = ctx.fed.config.get("required_assignments") or {}
    assigned = ctx.fed.resources.get("okta.assignments") or {}
    added: list[str] = []
    for ref in config.get("users", []):
        if ref in assigned.get("user_refs", []):
            continue
        try:
            user, _ = await ctx.remote.okta.get(f"/api/v1/users/{quote(ref)}")
        except OktaError as exc:
            raise CannotFix(f"required user {ref!r} cannot be found in Okta ({exc})") from exc
        if user["id"] not in obj["users"]:
            obj["users"] = sorted([*obj["users"], user["id"]])
            added.append(f"user {ref}")
    for ref in config.get("groups", []):
        if ref in assigned.get("group_refs", []):
            continue
        gid = await _group_id(ctx, ref)
        if gid not in obj["groups"]:
            obj["groups"] = sorted([*obj["groups"], gid])
            added.append(f"group {ref}")
    if not added:
        if not assigned.get("users"):
            raise CannotFix("nobody is assigned and the config requires nobody: assign people by hand")
        raise CannotFix("nothing to assign")
    return "assign " + ", ".join(added)


async def _group_id(ctx: ActionContext, ref: str) -> str:
    try:
        group, _ = await ctx.remote.okta.get(f"/api/v1/groups/{quote(ref)}")
        return str(group["id"])
    except OktaError as exc:
        if exc.status != 404:
            raise CannotFix(f"required group {ref!r}: {exc}") from exc
    try:
        groups = await ctx.remote.okta.get_all(f"/api/v1/groups?q={quote(ref)}")
    except OktaError as exc:
        raise CannotFix(f"required group {ref!r}: {exc}") from exc
    matches = [g for g in groups if (g.get("profile") or {}).get("name") == ref]
    if len(matches) != 1:
        raise CannotFix(f"required group {ref!r} matches {len(matches)} Okta groups")
    return str(matches[0]["id"])


@action("cognito.idp_metadata")
async def _cognito_metadata(obj: Any, ctx: ActionContext) -> str:
    metadata = ctx.fed.resources.get("okta.metadata") or {}
    # The public form: Cognito fetches MetadataURL without credentials, so the API URL the
    # scanner reads (`url`) would not serve it.
    url = metadata.get("public_url")
    if not url:
        raise CannotFix("the Okta app's public metadata URL is unknown (its entity key is not in its metadata)")
    details = obj.setdefault("ProviderDetails", {})
    current = details.get("MetadataURL")
    if isinstance(current, str) and same_public_metadata(current, url) and "MetadataFile" not in details:
        raise CannotFix("the IdP already reads this app's public metadata URL; the metadata it serves does not "
                        "match: check Okta")
    details.pop("MetadataFile", None)
    details["MetadataURL"] = url
    return f"set ProviderDetails.MetadataURL = {url!r}"


@action("cognito.attribute_mapping")
async def _cognito_mapping(obj: Any, ctx: ActionContext) -> str:
    return await _set_expected(obj, ctx)


@action("cognito.client_idp")
async def _cognito_client(obj: Any, ctx: ActionContext) -> str:
    idp = ctx.fed.config["identity_provider"]
    if ctx.fed.resources.get("cognito.identity_provider") is None:
        raise CannotFix(f"the pool has no identity provider {idp!r} to enable")
    providers = list(obj.get("SupportedIdentityProviders") or [])
    if idp in providers:
        raise CannotFix("already enabled")
    obj["SupportedIdentityProviders"] = [*providers, idp]
    return f"add {idp!r} to SupportedIdentityProviders"


@action("scp.deny_statement")
async def _scp_deny(obj: Any, ctx: ActionContext) -> str:
    if not ctx.allow_scp_changes:
        raise CannotFix(f"SCP changes need the explicit {SCP_OPT_IN} flag")
    scp = ctx.fed.config.get("scp") or {}
    org = ctx.fed.resources.get("organizations") or {}
    if org.get("management_account_id") and org.get("management_account_id") == scp.get("account_id"):
        # SCPs do not affect the management account: an SCP attached there would protect nothing.
        raise CannotFix(f"account {scp.get('account_id')} is the organization's management account, which SCPs "
                        "do not affect: move the role and instance to a member account")
    wanted = [(r.arg["action"], r.arg["resource"]) for r in ctx.assertions
              if not r.holds and ctx.serves.matches(r.resource, r.path, r.assertion.op)]
    if not wanted:
        failing = ", ".join(f"{r.resource}.{r.path}" if r.path else r.resource
                            for r in ctx.assertions if not r.holds)
        raise CannotFix(f"nothing this action may change (no failing `denies` assertion{'; ' if failing else ''}"
                        f"{failing})")
    for act, resource in wanted:  # all checked before the working copy is touched
        service, _, name = act.partition(":")
        # One Sid per action, and Sids are alphanumeric: a pattern ("iam:Delete*") or a bare name
        # is not one action this narrow fix may deny.
        if not service or not name.isalnum() or not name.isascii():
            raise CannotFix(f"{act!r} is not one IAM action (service:Action): deny it in an SCP by hand")
        if not isinstance(resource, str) or not resource:
            raise CannotFix(f"the resource to protect from {act} is {resource!r}: name it in the config")
    statements = obj.setdefault("Content", {"Version": "2012-10-17", "Statement": []})["Statement"]
    for act, resource in wanted:
        sid = "AuditorDeny" + act.partition(":")[2]
        if not any(s.get("Sid") == sid for s in statements):
            statements.append({"Sid": sid, "Effect": "Deny", "Action": act, "Resource": resource})
    obj["Name"] = f"auditor-protect-{ctx.fed.name}"
    return "; ".join(f"deny {act} on {resource}" for act, resource in wanted)


@action("okta.connect_relay_state")
async def _okta_connect_relay_state(obj: Any, ctx: ActionContext) -> str:
    return await _set_expected(obj, ctx)


@action("iam.saml_provider_metadata")
async def _iam_saml_provider(obj: Any, ctx: ActionContext) -> str:
    metadata = ctx.fed.resources.get("okta.connect_metadata") or {}
    app = ctx.fed.resources.get("okta.connect_app")
    org = (ctx.settings.get("okta") or {}).get("org_url")
    if not isinstance(app, dict) or not app.get("id") or not org:
        raise CannotFix("the Okta Amazon Connect app is unknown")
    # The document the scan read, through the API again (previewSAMLmetadataForApplication): the
    # URL is rebuilt on the org, so the API credentials go nowhere else.
    url = metadata_api_url(org, app)
    try:
        xml, _ = await ctx.remote.okta.get_xml(url)
        fresh = parse_metadata(xml, url=url)
    except (OktaError, MetadataError) as exc:
        raise CannotFix(f"cannot read Okta's current metadata ({exc})") from exc
    if fresh.get("entity_id") != metadata.get("entity_id"):
        # The document changed since the scan in a way the scan did not see: do not guess.
        raise CannotFix("Okta's metadata changed since the scan (entity ID differs); scan again")
    if fresh.get("signing_certificate") is None:
        # AWS would then check assertions against no certificate: uploading it fixes nothing.
        problem = fresh.get("signing_certificate_problem") or "the metadata carries no signing certificate"
        raise CannotFix(f"Okta's metadata cannot be uploaded as it is: {problem}")
    obj["SAMLMetadataDocument"] = xml.decode("utf-8")
    old = ((ctx.fed.resources.get("iam.saml_provider") or {}).get("metadata") or {}).get("signing_certificate") or {}
    new = fresh.get("signing_certificate") or {}
    return (f"replace the metadata document: signing certificate {old.get('fingerprint_sha256', '?')[:16]}… "
            f"-> {new.get('fingerprint_sha256', '?')[:16]}…")


_UNIMPLEMENTED = sorted(set(REMEDIATIONS) - set(ACTIONS))
if _UNIMPLEMENTED:
    raise ValueError(f"declared actions without an implementation: {', '.join(_UNIMPLEMENTED)}")


def dumps(value: Any) -> str:
    """Stable JSON for comparing objects."""
    return json.dumps(value, sort_keys=True, default=str)


def working_copy(value: Any) -> Any:
    """A deep copy for an action to edit."""
    return copy.deepcopy(value)
