"""The resource catalogue: per resource key of a snapshot, everything the rest of the code knows.

Each entry says what the resource is, the JSON Schema of its shape, which collector writes it,
its identity in findings (from the federation's config, never from live data, so that a
finding's resource does not change between runs) and the remediation target kind `--fix` writes
it through (if any). Everything else derives from here: `policy/model.py`'s RESOURCE_KEYS and the
policy schema's resource names, each collector's `provides`, the templates' resource roots, the
evaluator's finding labels (`resource_label`), and which target kinds `remediate/targets.py`
implements (KINDS) and `remediate/plan.py` locates. This module imports no collector and no
remediation module: they read the catalogue. `tests/unit/test_catalogue.py` fails on any drift
between them, and README "Extending" says how to add a resource.

auditor/snapshot.py says how keys, errors and `absent` work. A shape describes the value when the
object exists (a value of None always means "looked, and it does not exist").

Shapes are *closed* (`additionalProperties: false`) where this project builds the value itself
(parsed SAML metadata, assignments, the SCPs in effect, the role's policies, the IAM SAML
provider's envelope): a template that reads a field outside them can never get a value, and
`auditor validate` rejects it with the valid names. Raw API objects (an Okta app, Cognito's and
IAM's answers) are *open*: Okta and AWS add fields over time, so any field may exist.

`tests/integration/test_resources.py` checks that the values the collectors write into a sandbox snapshot
match these shapes, so a collector that adds a field must add it here too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config is upstream of every stage; only its type is needed here
    from auditor.config import FederationConfig

# Any JSON value (policy documents may be malformed text: the evaluator reports them).
_ANY: dict[str, Any] = {}
_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_OPEN_OBJECT = {"type": "object"}


def _closed(required: Sequence[str] = (), **properties: Any) -> dict[str, Any]:
    """An object with exactly these fields (each of them always present unless not `required`)."""
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(required) or list(properties)}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


# A certificate as the parser reads it from a metadata document.
CERTIFICATE = _closed(subject=_STR, issuer=_STR, serial=_STR, not_before=_STR, not_after=_STR,
                      fingerprint_sha256=_STR)
# An Okta app's signing key (GET /api/v1/apps/{id}/credentials/keys): the certificate plus its key id.
KEY_CERTIFICATE: dict[str, Any] = {**CERTIFICATE, "properties": {**CERTIFICATE["properties"], "kid": _STR_OR_NULL}}
# `signing_certificate_problem` and `warnings` are absent from snapshots written before the parser
# stated them, hence optional.
SAML_METADATA_FIELDS: dict[str, Any] = {
    "url": _STR_OR_NULL,
    "entity_id": _STR_OR_NULL,
    "sso_urls": _list(_closed(binding=_STR_OR_NULL, location=_STR_OR_NULL)),
    "signing_certificates": _list(CERTIFICATE),
    "signing_certificate": {**CERTIFICATE, "type": ["object", "null"]},
    "signing_certificate_problem": _STR_OR_NULL,
    "warnings": _list(_STR),
}
_SAML_REQUIRED = ("url", "entity_id", "sso_urls", "signing_certificates", "signing_certificate")
SAML_METADATA = _closed(_SAML_REQUIRED, **SAML_METADATA_FIELDS)
# Okta's own metadata is read through the API, with the certificates from the app's keys and the
# public "Metadata URL" of the Sign On tab beside it (auditor.collectors.okta_metadata).
OKTA_METADATA = _closed(_SAML_REQUIRED, **{
    **SAML_METADATA_FIELDS,
    "public_url": _STR_OR_NULL,
    "signing_certificates": _list(KEY_CERTIFICATE),
    "signing_certificate": {**KEY_CERTIFICATE, "type": ["object", "null"]},
})


# A resource's identity in findings, from the federation's (typed) config ("" when the config
# names none). It must never raise: it is computed for every finding, SKIPPED ones and those of a
# hand-edited snapshot included.
Identity = Callable[["FederationConfig"], str]


def _okta_app(config: FederationConfig) -> str:
    app = config.data.get("okta_app") or {}
    return app.get("id") or app.get("label") or ""


def _connect_app(config: FederationConfig) -> str:
    app = (config.data.get("connect_sso") or {}).get("okta_app") or {}
    # Without `connect_sso` a finding about the Connect app names the Cognito chain's app, as it
    # always has: the label is part of every report, and reports must not change with this table.
    return app.get("id") or app.get("label") or _okta_app(config)


def _pool(config: FederationConfig) -> str:
    # Not `config.user_pool_id`: a snapshot read from disk may lack the field, and a label never raises.
    return config.data.get("user_pool_id", "")


def _pool_idp(config: FederationConfig) -> str:
    return f"{_pool(config)}/{config.data.get('identity_provider', '')}"


def _pool_client(config: FederationConfig) -> str:
    client = config.data.get("app_client") or {}
    return f"{_pool(config)}/{client.get('id') or client.get('name', '')}"


def _connect_role(config: FederationConfig) -> str:
    return config.connect_role_arn or ""


def _connect_instance(config: FederationConfig) -> str:
    # The instance as the config names it (the whole ARN when there is one), not `connect_instance_id`.
    scp, sso = config.data.get("scp") or {}, config.data.get("connect_sso") or {}
    return scp.get("connect_instance_arn") or sso.get("instance_id", "")


def _saml_provider(config: FederationConfig) -> str:
    return (config.data.get("connect_sso") or {}).get("saml_provider_arn", "")


def _scp_account(config: FederationConfig) -> str:
    return (config.data.get("scp") or {}).get("account_id", "")


# Okta event types that change an app, its assignments and its keys: the names of Okta's event
# type catalogue (https://developer.okta.com/docs/reference/api/event-types/).
_OKTA_APP_EVENTS = ("application.lifecycle.create", "application.lifecycle.update",
                    "application.lifecycle.activate", "application.lifecycle.deactivate",
                    "application.lifecycle.delete")
_OKTA_ASSIGNMENT_EVENTS = ("application.user_membership.add", "application.user_membership.remove",
                           "group.application_assignment.add", "group.application_assignment.update",
                           "group.application_assignment.remove", "application.lifecycle.delete")
_OKTA_KEY_EVENTS = ("app.keys.generate", "app.keys.rotate", "app.keys.clone", "application.lifecycle.update")


@dataclass(frozen=True)
class ChangeSource:
    """Where the changes of a resource are logged, for attribution (auditor/evaluate/attribution.py).

    `system` "okta": the System Log, events whose target is the app (`GET /api/v1/logs`, filter
    `target.id eq "<app id>"`); "cloudtrail": LookupEvents by event name. `scope` is where CloudTrail
    records them: "federation" (its account and Region), "global" (its account, us-east-1: IAM) or
    "organization" (the management account, us-east-1). `params` are the request parameters
    (CloudTrail's requestParameters, first letter lower case) that name the object: an event is
    about it when each of them that the event carries names it.
    """

    system: str
    events: tuple[str, ...]
    scope: str = "federation"
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """One resource key of the snapshot: what it holds, the JSON Schema of that value, who
    collects it, its identity in findings, the kind of object `--fix` writes it through and where
    its changes are logged."""

    key: str
    description: str
    shape: dict[str, Any]
    collector: str  # the `name` of the collector that writes it (auditor/collectors/)
    identity: Identity
    # The remediation target kind (auditor/remediate/targets.py) that reads and writes the object;
    # None: `--fix` never writes it.
    fix_target: str | None = None
    # Where a change of it is logged (None: nowhere this tool reads).
    changes: ChangeSource | None = None
    # Top-level fields the service rewrites by itself (a write's timestamp, the last use): never a
    # change, neither between two runs (auditor.diff.state_diff) nor in a fix's plan.
    volatile: tuple[str, ...] = ()


# CloudTrail event names that change a user pool's IdP, and the Connect role (IAM).
_IDP_EVENTS = ("UpdateIdentityProvider", "DeleteIdentityProvider", "CreateIdentityProvider")
_ROLE_EVENTS = ("UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy",
                "DetachRolePolicy", "DeleteRole")

RESOURCES: dict[str, Resource] = {r.key: r for r in (
    Resource("okta.app", "the app as Okta's API returns it (raw JSON of GET /api/v1/apps/{id})", _OPEN_OBJECT,
             # Okta sets lastUpdated on every write of the app (a fix, its rollback, an admin's save).
             collector="okta", identity=_okta_app, fix_target="okta.app",
             changes=ChangeSource("okta", _OKTA_APP_EVENTS),
             volatile=("lastUpdated",)),
    Resource("okta.assignments", "the people assigned to the app, directly or through a group; "
             "`user_refs`/`group_refs` hold every id, login, e-mail and group name, for `contains_all`",
             _closed(users=_list(_closed(id=_STR, login=_STR_OR_NULL, email=_STR_OR_NULL, status=_STR_OR_NULL,
                                         scope=_STR_OR_NULL)),
                     groups=_list(_closed(id=_STR, name=_STR_OR_NULL)),
                     user_refs=_list(_STR), group_refs=_list(_STR)),
             collector="okta", identity=_okta_app, fix_target="okta.assignments",
             changes=ChangeSource("okta", _OKTA_ASSIGNMENT_EVENTS)),
    Resource("okta.metadata", "the app's SAML metadata, read where Okta documents it "
             "(auditor.collectors.okta_metadata): `url` is the authenticated API form it was read from "
             "(the app's _links.metadata.href, GET /api/v1/apps/{id}/sso/saml/metadata); `public_url` the "
             "Sign On tab's Metadata URL, {org}/app/{entityKey}/sso/saml/metadata (None when the metadata "
             "names no entity key); `signing_certificates` the app's keys (GET /api/v1/apps/{id}/"
             "credentials/keys, x5c) and `signing_certificate` the active one (credentials.signing.kid); "
             "`signing_certificate_problem` says why there is none; `warnings` what the parser ignored",
             OKTA_METADATA, collector="okta", identity=_okta_app, changes=ChangeSource("okta", _OKTA_KEY_EVENTS)),
    Resource("cognito.user_pool", "DescribeUserPool's UserPool", _OPEN_OBJECT,
             collector="cognito", identity=_pool,
             changes=ChangeSource("cloudtrail", ("UpdateUserPool", "DeleteUserPool"), params=("userPoolId",)),
             volatile=("LastModifiedDate",)),
    Resource("cognito.domain", "DescribeUserPoolDomain's DomainDescription (None: the pool has no domain)",
             _OPEN_OBJECT, collector="cognito", identity=_pool,
             changes=ChangeSource("cloudtrail", ("DeleteUserPoolDomain", "CreateUserPoolDomain",
                                                 "UpdateUserPoolDomain"), params=("userPoolId",))),
    Resource("cognito.identity_provider", "DescribeIdentityProvider's IdentityProvider", _OPEN_OBJECT,
             collector="cognito", identity=_pool_idp, fix_target="cognito.identity_provider",
             changes=ChangeSource("cloudtrail", _IDP_EVENTS, params=("userPoolId", "providerName")),
             volatile=("LastModifiedDate",)),
    Resource("cognito.idp_metadata", "the metadata the IdP reads (its MetadataURL or MetadataFile), parsed "
             "(certificates: those the document carries), plus where it came from",
             _closed((*_SAML_REQUIRED, "source"), **SAML_METADATA_FIELDS, source={"enum": ["url", "file"]}),
             collector="cognito", identity=_pool_idp,
             changes=ChangeSource("cloudtrail", _IDP_EVENTS, params=("userPoolId", "providerName"))),
    Resource("cognito.app_client", "DescribeUserPoolClient's UserPoolClient, without ClientSecret", _OPEN_OBJECT,
             collector="cognito", identity=_pool_client, fix_target="cognito.app_client",
             changes=ChangeSource("cloudtrail", ("UpdateUserPoolClient", "DeleteUserPoolClient"),
                                  params=("userPoolId", "clientId")),
             volatile=("LastModifiedDate",)),
    Resource("organizations", "the SCPs in effect for `scp.account_id`: the path from the account up to the "
             "root, and every SCP attached along it (`content` is the policy document; `targets` where "
             "it is attached)"
             "; `management_account_id` is DescribeOrganization's MasterAccountId (SCPs never affect "
             "that account; absent from older snapshots)",
             _closed(("account_id", "policy_type_enabled", "path", "policies"),
                     account_id=_STR, management_account_id=_STR_OR_NULL, policy_type_enabled={"type": "boolean"},
                     path=_list(_closed(id=_STR, type=_STR, name=_STR_OR_NULL)),
                     policies=_list(_closed(id=_STR, name=_STR_OR_NULL, arn=_STR_OR_NULL,
                                            aws_managed={"type": "boolean"}, content=_ANY,
                                            targets=_list(_STR)))),
             # --fix never edits an SCP in effect: it adds a dedicated one beside them.
             collector="organizations", identity=_scp_account, fix_target="organizations.scp",
             changes=ChangeSource("cloudtrail", ("DetachPolicy", "UpdatePolicy", "DeletePolicy", "DisablePolicyType",
                                                 "MoveAccount"), scope="organization",
                                  params=("policyId", "targetId", "accountId", "rootId"))),
    Resource("iam.connect_role", "GetRole's Role (AssumeRolePolicyDocument as a JSON object); the role is "
             "scp.connect_role_arn, else connect_sso.role_arn", _OPEN_OBJECT,
             # RoleLastUsed moves with every agent's sign-in: use, not configuration.
             collector="iam/connect", identity=_connect_role,
             changes=ChangeSource("cloudtrail", _ROLE_EVENTS, scope="global", params=("roleName",)),
             volatile=("RoleLastUsed",)),
    Resource("connect.instance", "DescribeInstance's Instance (scp.connect_instance_arn's instance, else "
             "connect_sso.instance_id; the config makes them agree)", _OPEN_OBJECT,
             collector="iam/connect", identity=_connect_instance),
    Resource("okta.connect_app", "the Amazon Connect sign-in app (`connect_sso.okta_app`), raw JSON as okta.app",
             _OPEN_OBJECT, collector="okta", identity=_connect_app, fix_target="okta.connect_app",
             changes=ChangeSource("okta", _OKTA_APP_EVENTS),
             volatile=("lastUpdated",)),
    Resource("okta.connect_metadata", "that app's SAML metadata and keys, read and shaped as okta.metadata",
             OKTA_METADATA, collector="okta", identity=_connect_app, changes=ChangeSource("okta", _OKTA_KEY_EVENTS)),
    Resource("iam.connect_role_policies", "the role's permission policies, shaped for the IAM evaluator: "
             "`content` is the policy document (a managed policy's default version)",
             _list(_closed(id=_STR, name=_STR_OR_NULL, type={"enum": ["inline", "managed"]}, content=_ANY)),
             collector="iam/connect", identity=_connect_role,
             changes=ChangeSource("cloudtrail", _ROLE_EVENTS, scope="global", params=("roleName",))),
    Resource("iam.saml_provider", "GetSAMLProvider for connect_sso.saml_provider_arn; `metadata` is its "
             "SAMLMetadataDocument parsed as cognito.idp_metadata (without `source`)",
             _closed(Arn=_STR, CreateDate=_STR_OR_NULL, ValidUntil=_STR_OR_NULL, Tags=_list(_OPEN_OBJECT),
                     metadata=SAML_METADATA),
             collector="iam/connect", identity=_saml_provider, fix_target="iam.saml_provider",
             changes=ChangeSource("cloudtrail", ("UpdateSAMLProvider", "DeleteSAMLProvider"), scope="global",
                                  params=("sAMLProviderArn",))),
)}


# Estate-level resources (`auditor discover`'s coverage, in the snapshot's `estate` when the
# config has `discovery: {enabled: true}`): each holds a *list*, and a control on one of them is
# judged once per item (one finding per federation found, per reference checked), not per
# configured federation.
ESTATE_RESOURCES = frozenset({"coverage.federation", "coverage.reference"})
_LIST_OF_STR = _list(_STR)


def _no_identity(config: FederationConfig) -> str:
    """Estate items are no federation's: each finding names its item itself."""
    return ""


RESOURCES.update({r.key: r for r in (
    Resource("coverage.federation", "one federation `auditor discover` found in Okta and AWS (estate-level: a "
             "control on it is judged per item): `configured` whether the config audits it (`configured_as` under "
             "which name), its pieces, the `evidence` of each match and `notes` on what will fail",
             _closed(id=_STR, name=_STR, configured={"type": "boolean"}, configured_as=_STR_OR_NULL, kind=_STR,
                     account_id=_STR_OR_NULL, region=_STR_OR_NULL, okta_app_id=_STR_OR_NULL,
                     okta_app_label=_STR_OR_NULL, user_pool_id=_STR_OR_NULL, summary=_STR,
                     evidence=_LIST_OF_STR, notes=_LIST_OF_STR),
             collector="discovery", identity=_no_identity),
    Resource("coverage.reference", "one reference between pieces that discovery checked (estate-level): an "
             "Okta app's audience -> a user pool, a Cognito IdP's metadata -> an Okta app, an IAM SAML provider "
             "-> an Okta app, an app client -> an IdP; `resolves` false when its target is gone",
             _closed(id=_STR, kind=_STR, federation=_STR_OR_NULL, account_id=_STR_OR_NULL, region=_STR_OR_NULL,
                     subject=_STR, target=_STR, resolves={"type": "boolean"}, reason=_STR),
             collector="discovery", identity=_no_identity),
)})


def resource_keys() -> tuple[str, ...]:
    """Every resource key, in catalogue order."""
    return tuple(RESOURCES)


def resource_roots() -> tuple[str, ...]:
    """The names templates reach the resources by (`okta` for `okta.app`...), in catalogue order."""
    return tuple(dict.fromkeys(key.split(".", 1)[0] for key in RESOURCES))


def provided_by(collector: str) -> tuple[str, ...]:
    """The keys the collector called `collector` writes, in catalogue order (its `provides`)."""
    return tuple(r.key for r in RESOURCES.values() if r.collector == collector)


def volatile_fields() -> dict[str, tuple[str, ...]]:
    """Resource key -> its volatile top-level fields, for the resources that have any."""
    return {r.key: r.volatile for r in RESOURCES.values() if r.volatile}


def fix_targets() -> dict[str, str]:
    """Remediation target kind -> the resource key it writes, for every resource `--fix` may write."""
    return {r.fix_target: r.key for r in RESOURCES.values() if r.fix_target}


def resource_label(key: str, config: FederationConfig) -> str:
    """What a finding about `key` names as its resource: `key:identity` (identity from the
    federation's config, so that it does not change with live data), or `key` when the config
    names none."""
    resource = RESOURCES.get(key)
    identity = resource.identity(config) if resource is not None else ""
    return f"{key}:{identity}" if identity else key


def markdown_table() -> str:
    """The catalogue as README "Writing policies" lists it (tests/unit/test_catalogue.py keeps them equal)."""
    rows = ["| resource | collector | what it holds | shape | `--fix` target kind |", "|---|---|---|---|---|"]
    for r in RESOURCES.values():
        description = r.description.replace("|", "\\|")
        fix = f"`{r.fix_target}`" if r.fix_target else "-"
        rows.append(f"| `{r.key}` | {r.collector} | {description} | {_openness(r.shape)} | {fix} |")
    return "\n".join(rows)


def _openness(shape: dict[str, Any]) -> str:
    """`closed`: a read outside the shape's fields is rejected at load; `open`: raw API JSON."""
    inner = shape.get("items", shape) if shape.get("type") == "array" else shape
    closed = "closed" if inner.get("additionalProperties") is False else "open"
    return f"list, items {closed}" if inner is not shape else closed


def read_problem(root: str, fields: Sequence[str | int]) -> tuple[str, str] | None:
    """Why the template read `root.fields...` can never have a value, as (problem, hint naming
    the valid names); None when it may (an open shape, or a field the shape has).

    `root` is a resource root (`okta`, `organizations`...); the first field picks the resource
    except under `organizations`, which is a resource by itself.
    """
    if root in RESOURCES:
        key, rest = root, list(fields)
    else:
        if not fields:
            return None
        key, rest = f"{root}.{fields[0]}", list(fields[1:])
        if key not in RESOURCES:
            under = [k for k in RESOURCES if k.startswith(root + ".")]
            return f"{key} is not a resource", _choices(str(fields[0]), under, "resources", key)
    schema = RESOURCES[key].shape
    here = key
    for f in rest:
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "array" in types and isinstance(f, int):
            schema = schema.get("items", _ANY)
        elif "object" in types and schema.get("additionalProperties") is False and isinstance(f, str):
            props = schema.get("properties", {})
            if f not in props:
                if hasattr(dict, f):  # a dict's own method (`items`), as Jinja resolves it
                    return None
                return f"{here} has no field {f!r}", _choices(f, list(props), f"fields of {here}", f)
            schema = props[f]
        elif "array" in types and isinstance(f, str) and not hasattr(list, f):
            return f"{here} is a list: it has no field {f!r}", f"read an item with {here}[0].{f}"
        else:
            return None  # open, scalar or untyped: anything may be read from it
        here += f"[{f}]" if isinstance(f, int) else f".{f}"
    return None


def _choices(wrong: str, valid: list[str], what: str, full: str) -> str:
    close = difflib.get_close_matches(full, valid, n=1) or difflib.get_close_matches(wrong, valid, n=1)
    return (f"did you mean {close[0]!r}? " if close else "") + f"{what}: {', '.join(valid)}"
