"""Loading and validating `config.yaml`. Never calls an API.

The config is defined once, here: each block of the file is a frozen dataclass below, and each key
in it a field declared with `setting(...)`, which carries the key's JSON Schema constraints, its
default (none: the key is required) and what it means. From those declarations come

- `CONFIG_SCHEMA`, the JSON Schema `load_config` validates against (`schema_of`), so errors keep
  naming file, line and the valid keys, and
- the typed objects every stage reads, built by one generic function (`_build`): each setting from
  its key, else its default; relative paths resolved against the config file's folder.

A few values are not keys of their own block but computed from others (`derived(...)` fields,
filled in the class's `_derived` method): `reports.history` defaults to a file in `reports.dir`,
and a federation's `data` is its block as templates and the snapshot see it. What JSON Schema
cannot say (https only off loopback, ARNs in the right account, ...) is checked by the
`_..._checks` functions after validation. `tests/unit/test_config_schema.py` keeps the schema, the
dataclasses and the documented defaults from drifting apart.

Secrets never live in the config: the Okta API token comes from the environment variable
named by `okta.auth.token_env`, a private key from `okta.auth.private_key_file`.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlparse

from auditor.errors import ConfigError, InputProblem

if TYPE_CHECKING:  # imported when loading: `import auditor.config` stays cheap for `auditor --help`
    from auditor.yamlio import Located

# Federations collected at a time per system: `auditor scan --concurrency` (not a config key).
DEFAULT_CONCURRENCY = 16
# Every format a config may name (auditor.report.Format; a test keeps the two in step).
ALL_REPORT_FORMATS = ("html", "json", "junit", "ocsf", "csv", "markdown", "asff")
# What a notification may be sent for (notifications.events).
NOTIFY_EVENTS = ("new_failures", "resolved", "errors")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- how a setting is declared ----------------------------------------------------------------

@dataclass(frozen=True)
class SettingSpec:
    """What a `setting()` field declares about its key (kept in the field's metadata)."""

    doc: str
    schema: dict[str, Any]  # JSON Schema keywords of the value; for a nested block: extras only
    key: str | None  # the YAML key when not the field's name; `a.b`: key `b` of sub-block `a`
    required: bool  # must be written even though the object has a default (see `setting`)
    nullable: bool  # a nested block that may also be written as `null`
    convert: Callable[[Any], Any] | None  # normalises the value after its type's conversion


_SPEC = "auditor.config.setting"
_DERIVED = "auditor.config.derived"


def setting(default: Any = dataclasses.MISSING, *, doc: str, schema: dict[str, Any] | None = None,
            key: str | None = None, factory: Callable[[], Any] | None = None, required: bool = False,
            nullable: bool = False, convert: Callable[[Any], Any] | None = None, repr: bool = True) -> Any:
    """Declare a dataclass field as a config key.

    `default` (or `factory`) is the value when the key is absent; without either the key is
    required. `required=True` makes the key required where the object's default cannot say so: in
    one of a block's `VARIANTS`, or in a sub-block (`key="webhook.url"`: url is required once
    `webhook:` is written). `schema` holds the JSON Schema keywords of the value; a field whose type
    is a config dataclass (or a tuple of them) gets its schema from that class.
    """
    meta = {_SPEC: SettingSpec(doc=doc, schema=schema or {}, key=key, required=required, nullable=nullable,
                               convert=convert)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, repr=repr)
    return field(default=default, metadata=meta, repr=repr)


def derived(*, doc: str, default: Any = None, factory: Callable[[], Any] | None = None) -> Any:
    """Declare a field that is no key of its own block: `_derived` computes it from other settings."""
    if factory is not None:
        return field(default_factory=factory, metadata={_DERIVED: doc})
    return field(default=default, metadata={_DERIVED: doc})


@dataclass(frozen=True)
class Setting:
    """One declared key: its dataclass field, its key in YAML and its declaration."""

    field: dataclasses.Field[Any]
    key: str
    spec: SettingSpec
    hint: Any  # the field's resolved type, e.g. `Path | None`

    @property
    def has_default(self) -> bool:
        """False for a required key."""
        return self.field.default is not dataclasses.MISSING or self.field.default_factory is not dataclasses.MISSING

    @property
    def default(self) -> Any:
        """The value an absent key gets (as declared: relative paths not yet resolved)."""
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return self.field.default

    @property
    def required(self) -> bool:
        """Must be written in its block."""
        return self.spec.required or not self.has_default

    @property
    def block(self) -> type | None:
        """The config dataclass this key holds (or a tuple of), if it is a nested block."""
        inner, _ = unwrap(self.hint)
        return inner if isinstance(inner, type) and dataclasses.is_dataclass(inner) else None


@functools.cache
def settings_of(cls: type) -> tuple[Setting, ...]:
    """The keys `cls` declares, in declaration order (which is the schema's and the docs' order)."""
    hints = get_type_hints(cls)
    return tuple(Setting(f, f.metadata[_SPEC].key or f.name, f.metadata[_SPEC], hints[f.name])
                 for f in dataclasses.fields(cls) if _SPEC in f.metadata)


def unwrap(tp: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, False); `tuple[X, ...]` -> (X, True); `X` -> (X, False)."""
    if get_origin(tp) in (Union, types.UnionType):
        [tp] = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) is tuple:
        return get_args(tp)[0], True
    return tp, False


# --- the schema, generated from the declarations ----------------------------------------------

def schema_of(cls: type) -> dict[str, Any]:
    """The JSON Schema of one block: an object with exactly the keys `cls` declares.

    A class with `VARIANTS` (lists of field names) is one of several shapes (`oneOf`); a class's
    `SCHEMA` adds object keywords such as `minProperties`.
    """
    variants: tuple[tuple[str, ...], ...] | None = getattr(cls, "VARIANTS", None)
    if variants:
        return {"oneOf": [_object_schema(cls, [s for s in settings_of(cls) if s.field.name in names])
                          for names in variants]}
    return _object_schema(cls, list(settings_of(cls)))


def _object_schema(cls: type, keys: list[Setting]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    sub_blocks: dict[str, tuple[dict[str, Any], list[str]]] = {}  # `a.b` keys, by `a`
    for s in keys:
        name, _, leaf = s.key.partition(".")
        if leaf:
            sub_props, sub_required = sub_blocks.setdefault(name, ({}, []))
            properties.setdefault(name, None)  # keeps the key's place; filled below
            sub_props[leaf] = value_schema(s)
            if s.required:
                sub_required.append(leaf)
            continue
        properties[name] = value_schema(s)
        if s.required:
            required.append(name)
    for name, (sub_props, sub_required) in sub_blocks.items():
        properties[name] = _object(sub_props, sub_required, {})
    return _object(properties, required, getattr(cls, "SCHEMA", {}))


def _object(properties: dict[str, Any], required: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, **({"required": required} if required else {}),
            **extra, "properties": properties}


def value_schema(s: Setting) -> dict[str, Any]:
    """The JSON Schema of one key's value."""
    block = s.block
    if block is None:
        return dict(s.spec.schema)
    if unwrap(s.hint)[1]:  # a list of blocks
        return {**s.spec.schema, "items": schema_of(block)}
    schema = schema_of(block)
    if s.spec.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


# --- building the typed objects from validated data -------------------------------------------

_T = TypeVar("_T")
_ABSENT = object()


def _build(cls: type[_T], block: dict[str, Any], base: Path, **given: Any) -> _T:
    """One block's object from validated data: every setting from its key, else its default.

    Values convert by the field's type: a nested block is built the same way, a `Path` is resolved
    against `base` (the config file's folder), `float`/`int` are coerced (YAML `30` is an int),
    a list becomes a tuple; then the setting's own `convert` applies. An absent block with a default
    object is built from `{}`, so its defaults resolve like written ones. Last, the class's
    `_derived(block)` (if any) fills its `derived` fields.
    """
    values = dict(given)
    kind: type = cls  # for mypy: settings_of's cache needs a hashable argument, and type[_T] is not one to it
    for s in settings_of(kind):
        name, _, leaf = s.key.partition(".")
        raw = block.get(name, _ABSENT)
        if leaf:
            raw = raw.get(leaf, _ABSENT) if isinstance(raw, dict) else _ABSENT
        if raw is _ABSENT:
            raw = s.default
            if s.block is not None and raw is not None and not unwrap(s.hint)[1]:
                raw = {}  # build the default block from nothing, as if `key: {}` were written
        value = _convert(raw, s.hint, base)
        values[s.field.name] = s.spec.convert(value) if s.spec.convert and value is not None else value
    built = cls(**values)
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(built, "_derived", None)
    return dataclasses.replace(built, **derive(block)) if derive else built  # type: ignore[type-var]


def _convert(value: Any, tp: Any, base: Path) -> Any:
    inner, many = unwrap(tp)
    if value is None:
        return None
    if many:
        return tuple(_convert(v, inner, base) for v in value)
    if isinstance(inner, type) and dataclasses.is_dataclass(inner):
        return _build(inner, value, base)
    if inner is Path:
        return base / value
    if inner in (float, int, bool):
        return inner(value)
    return value


def plain_defaults(cls: type, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The defaults of `cls`'s optional keys as plain YAML/JSON values, by key."""
    return {s.key: _plain(s.default) for s in settings_of(cls) if s.has_default and s.key not in skip}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {s.key: _plain(getattr(value, s.field.name)) for s in settings_of(type(value))}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_classes(root: type | None = None) -> Iterator[type]:
    """Every config dataclass reachable from `root` (default: `Config`), each once."""
    seen: set[type] = set()

    def walk(cls: type) -> Iterator[type]:
        if cls in seen:
            return
        seen.add(cls)
        yield cls
        for s in settings_of(cls):
            if s.block is not None:
                yield from walk(s.block)

    return walk(root or Config)


# --- the config's blocks ------------------------------------------------------------------------

# A pattern's rule in words, for the error message (validation.py): a JSON Schema annotation keyword.
ALLOWED = "x-allowed"
_ENV_NAME: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                             ALLOWED: "an environment variable name: letters, digits and '_', not first a digit"}
_EMAIL: dict[str, Any] = {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}
_NONEMPTY: dict[str, Any] = {"type": "string", "minLength": 1}
_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}
_REGION: dict[str, Any] = {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$",
                           ALLOWED: "an AWS Region name such as eu-central-1"}
_ROLE_ARN: dict[str, Any] = {"type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:role/.+$",
                             ALLOWED: "an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>"}


@dataclass(frozen=True, kw_only=True)
class OktaAuth:
    """`okta.auth`: an SSWS API token from the environment, or OAuth 2.0 (one of the two)."""

    VARIANTS: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("token_env",), ("client_id", "private_key_file", "key_id", "scopes"))

    token_env: str | None = setting(None, required=True, schema=_ENV_NAME,
                                    doc="the environment variable holding an SSWS API token")
    client_id: str | None = setting(None, required=True, schema=_NONEMPTY, doc="the OAuth 2.0 service app's client id")
    private_key_file: Path | None = setting(None, required=True, schema=_NONEMPTY,
                                            doc="its PEM private key (relative to the config file)")
    key_id: str | None = setting(None, schema={"type": "string"}, doc="the JWK's kid registered in Okta")
    scopes: tuple[str, ...] = setting(("okta.apps.read", "okta.users.read", "okta.groups.read"),
                                      schema={"type": "array", "minItems": 1, "items": {"type": "string"}},
                                      doc="the OAuth scopes requested")

    @property
    def mode(self) -> str:
        """`token` or `oauth`."""
        return "token" if self.token_env else "oauth"


@dataclass(frozen=True, kw_only=True)
class OktaSettings:
    """The `okta:` block."""

    org_url: str = setting(schema={"type": "string", "pattern": "^https?://[^/\\s]+/?$"},
                           convert=lambda url: url.rstrip("/"), doc="the Okta org (https; no path)")
    auth: OktaAuth = setting(doc="how to authenticate to Okta")
    allow_insecure_http: bool = setting(False, schema={"type": "boolean"},
                                        doc="true only for a local simulator on 127.0.0.1")
    timeout_seconds: float = setting(30.0, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                                     doc="per HTTP request")
    # The rest of each bucket stays for the org's other integrations (auditor/collectors/pacing.py).
    rate_limit_share: float = setting(0.5, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                                      doc="the most of each Okta rate-limit bucket a scan may use")


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    """The `aws:` block (and `organizations.profile`, for the collectors that read Organizations)."""

    region: str = setting(schema=_REGION, doc="region of the user pools and the Connect instance")
    profile: str | None = setting(None, schema=_NULLABLE_STR, doc="named profile; null: the default credential chain")
    endpoint_url: str | None = setting(None, schema=_NULLABLE_STR, doc="set only for a local AWS (the sandbox)")
    # Cognito's quotas are per account and Region: docs.aws.amazon.com/cognito/latest/developerguide/quotas.html
    cognito_pool_rps: float = setting(5.0, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                                      doc="Cognito requests per second the scan keeps to, per user pool")
    cognito_account_rps: float = setting(20.0, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
                                         doc="Cognito requests per second the scan keeps to, per account and Region")
    organizations_profile: str | None = derived(doc="`organizations.profile` (Config.organizations_profile)")


@dataclass(frozen=True, kw_only=True)
class S3Publish:
    """`reports.s3`: where a run folder is uploaded, and for how long its link is valid."""

    bucket: str = setting(schema={"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                          doc="the bucket")
    prefix: str = setting("", schema={"type": "string"}, convert=lambda p: p.strip("/"), doc="key prefix")
    kms_key_id: str | None = setting(None, schema=_NULLABLE_STR, doc="SSE-KMS key; null: SSE-S3 (AES256)")
    presign_seconds: int = setting(3600, schema={"type": "integer", "minimum": 60, "maximum": 604800},
                                   doc="how long the presigned link to report.html is valid")


@dataclass(frozen=True, kw_only=True)
class Retention:
    """`reports.retention`: keep run folders for `keep_days` days, or the newest `keep_runs`."""

    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    keep_days: int | None = setting(None, schema={"type": "integer", "minimum": 1, "maximum": 3650},
                                    doc="delete run folders older than this many days")
    keep_runs: int | None = setting(None, schema={"type": "integer", "minimum": 1, "maximum": 100000},
                                    doc="keep only the newest this many run folders")


@dataclass(frozen=True, kw_only=True)
class DiscoverySettings:
    """`discovery`: where `auditor discover` (and a scan with `enabled`) looks for federations
    (auditor/collectors/discovery.py) and reports those the config does not audit."""

    enabled: bool = setting(False, schema={"type": "boolean"},
                            doc="every scan also runs discovery and reports the coverage controls")
    organization: bool = setting(False, schema={"type": "boolean"},
                                 doc="every account of the organization (organizations.profile lists them)")
    accounts: tuple[str, ...] = setting((), schema={
        "type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": "^\\d{12}$"}},
        doc="and/or these accounts; neither: the scanner's own account")
    role_name: str | None = setting(None, schema={"type": ["string", "null"], "pattern": "^[\\w+=,.@/-]{1,512}$"},
                                    doc="the role assumed in each account (a read-only audit role); null: the "
                                        "scanner's own credentials, which reach its own account only")
    # Not a secret by AWS's definition, but never written to a report or a snapshot.
    external_id: str | None = setting(None, schema={"type": "string", "pattern": "^[\\w+=,.@:/-]{2,1224}$"},
                                      doc="if the role's trust policy requires sts:ExternalId", repr=False)
    regions: tuple[str, ...] = setting((), schema={
        "type": "array", "minItems": 1, "uniqueItems": True,
        "items": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"}},
        doc="the Regions searched; empty: aws.region")


# When a scan looks for who changed what a failing finding is about (`scan --attribute`).
ATTRIBUTE_MODES = ("new", "all", "none")


@dataclass(frozen=True, kw_only=True)
class AttributionSettings:
    """`attribution:`: who changed it, from Okta's System Log and CloudTrail (auditor/evaluate/attribution.py)."""

    lookback_days: int = setting(7, schema={"type": "integer", "minimum": 1, "maximum": 90},
                                 doc="how far back to look when there is no previous run (CloudTrail keeps 90 days)")
    mode: str = setting("new", schema={"enum": list(ATTRIBUTE_MODES)},
                        doc="new: FAILs new since the previous run; all: every FAIL; none: off "
                            "(`scan --attribute` overrides)")
    # "The rate of lookup requests is limited to two per second, per account, per Region"
    # (LookupEvents API reference).
    cloudtrail_rps: float = setting(2.0, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 2},
                                    doc="LookupEvents calls per second per account and Region (AWS allows 2)")


@dataclass(frozen=True, kw_only=True)
class SecurityHubSettings:
    """`reports.security_hub`: where findings are imported (None: aws.region / the caller's account)."""

    region: str | None = setting(None, schema={"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"},
                                 doc="default: aws.region")
    account_id: str | None = setting(None, schema={"type": "string", "pattern": "^\\d{12}$"},
                                     doc="default: the scanning credentials' account")


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    """The `reports:` block: where runs go, and what happens around the reports (history, trend,
    signing, publishing, retention, waivers). `ReportSettings()` (no config): no history."""

    dir: Path = setting(Path("reports"), schema=_NONEMPTY,
                        doc="each run writes <dir>/<run-id>/ (relative to the config file)")
    formats: tuple[str, ...] = setting(("html", "json"), schema={
        "type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(ALL_REPORT_FORMATS)}},
        doc="the report formats written")
    history_path: Path | None = setting(None, key="history", schema=_NONEMPTY,
                                        doc="the run history (SQLite); default <reports.dir>/history.sqlite")
    trend_runs: int = setting(30, schema={"type": "integer", "minimum": 2, "maximum": 365},
                              doc="how many past runs the HTML trend chart shows")
    signing_key: Path | None = setting(None, schema=_NONEMPTY,
                                       doc="an Ed25519 private key (PEM, unencrypted) that signs manifest.json")
    retention: Retention | None = setting(None, doc="which run folders `auditor schedule` keeps (never the newest)")
    s3: S3Publish | None = setting(None, doc="upload each run folder to S3")
    frameworks: tuple[str, ...] = setting((), schema={
        "type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,63}$"}},
        doc="framework ids whose section every report gets (as `scan --framework ID`)")
    security_hub: SecurityHubSettings | None = setting(
        None, doc="send every finding to AWS Security Hub (as `scan --security-hub`)")
    waivers_path: Path | None = derived(doc="the top-level `waivers` (Config.waivers_path)")

    def _derived(self, block: dict[str, Any]) -> dict[str, Any]:
        return {"history_path": self.history_path or self.dir / "history.sqlite"}


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings:
    """`schedule`: daily at `daily_at` (HH:MM) in `timezone`, or every `every_hours` hours."""

    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1}

    daily_at: str | None = setting(None, schema={"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                                   doc="HH:MM, wall-clock time in `timezone`")
    timezone: str = setting("UTC", schema=_NONEMPTY, doc="an IANA time zone name, for daily_at")
    every_hours: int | None = setting(None, schema={"type": "integer", "minimum": 1, "maximum": 168},
                                      doc="or every N hours, counted from the previous run")


@dataclass(frozen=True, kw_only=True)
class EmailSettings:
    """`notifications.email`: SMTP delivery; credentials only from the named env variables."""

    smtp_host: str = setting(schema=_NONEMPTY, doc="the SMTP server")
    smtp_port: int = setting(587, schema={"type": "integer", "minimum": 1, "maximum": 65535}, doc="its port")
    starttls: bool = setting(True, schema={"type": "boolean"},
                             doc="false is refused with credentials off localhost")
    sender: str = setting(key="from", schema=_EMAIL, doc="the From address")
    recipients: tuple[str, ...] = setting(key="to", schema={"type": "array", "minItems": 1, "items": _EMAIL},
                                          doc="the recipients")
    username_env: str | None = setting(None, schema=_ENV_NAME, doc="env variable holding the SMTP user")
    password_env: str | None = setting(None, schema=_ENV_NAME, doc="env variable holding the SMTP password")


@dataclass(frozen=True, kw_only=True)
class NotifySettings:
    """`notifications`: sent after a scan with new failures, resolved failures or errors
    (auditor/notify.py): where to send, for which events, and how hard to try."""

    # Not `on:`: YAML 1.1 reads that key as the boolean true.
    events: tuple[str, ...] = setting(NOTIFY_EVENTS, schema={
        "type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(NOTIFY_EVENTS)}},
        doc="which events trigger a message")
    retries: int = setting(3, schema={"type": "integer", "minimum": 0, "maximum": 10},
                           doc="extra attempts after a failure")
    backoff_seconds: float = setting(2.0, schema={"type": "number", "minimum": 0, "maximum": 300},
                                     doc="the first wait between attempts; doubles each retry")
    timeout_seconds: float = setting(10.0, schema={"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                                     doc="per attempt")
    webhook_url: str | None = setting(None, key="webhook.url", required=True,
                                      schema={"type": "string", "pattern": "^https?://"},
                                      doc="a Slack-compatible webhook; https (http only to localhost)")
    email: EmailSettings | None = setting(None, doc="e-mail over SMTP")


@dataclass(frozen=True, kw_only=True)
class AppRef:
    """An Okta app by `id` or by `label` (exactly one)."""

    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    id: str | None = setting(None, schema=_NONEMPTY, doc="the app's id")
    label: str | None = setting(None, schema=_NONEMPTY, doc="the app's label")


@dataclass(frozen=True, kw_only=True)
class AppClientRef:
    """A Cognito app client by `id` or by `name` (exactly one)."""

    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    id: str | None = setting(None, schema=_NONEMPTY, doc="the app client's id")
    name: str | None = setting(None, schema=_NONEMPTY, doc="the app client's name")


@dataclass(frozen=True, kw_only=True)
class RequiredAssignments:
    """`required_assignments`: who must be assigned to the Okta app."""

    users: tuple[str, ...] = setting((), schema={"type": "array", "items": _NONEMPTY},
                                     doc="logins, e-mails or user ids")
    groups: tuple[str, ...] = setting((), schema={"type": "array", "items": _NONEMPTY}, doc="group names or ids")


@dataclass(frozen=True, kw_only=True)
class FederationAws:
    """A federation's own AWS access: a role to assume (another account) and/or a region."""

    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1}

    role_arn: str | None = setting(None, schema=_ROLE_ARN, doc="the role the scanner assumes in that account")
    # Not a secret by AWS's definition, but kept out of the snapshot all the same.
    external_id: str | None = setting(None, schema={"type": "string", "pattern": "^[\\w+=,.@:/-]{2,1224}$"},
                                      repr=False, doc="when the role's trust policy requires one")
    region: str | None = setting(None, schema=_REGION, doc="default: aws.region")


@dataclass(frozen=True, kw_only=True)
class ConnectSso:
    """`connect_sso`: the Amazon Connect sign-in chain (Okta app -> IAM SAML provider -> role)."""

    okta_app: AppRef = setting(doc="the Okta SAML app federated with AWS IAM")
    saml_provider_arn: str = setting(schema={
        "type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:saml-provider/.+$"}, doc="the IAM SAML provider")
    instance_id: str = setting(schema=_NONEMPTY, doc="the Connect instance agents sign in to")
    role_arn: str | None = setting(None, schema=_ROLE_ARN,
                                   doc="the role agents assume; default scp.connect_role_arn (required without scp)")


@dataclass(frozen=True, kw_only=True)
class ScpGuard:
    """`scp`: the account, role and instance the SCP guard protects."""

    account_id: str = setting(schema={"type": "string", "pattern": "^\\d{12}$"},
                              doc="the account the Connect instance lives in")
    connect_role_arn: str = setting(schema=_ROLE_ARN, doc="the Amazon Connect user role")
    connect_instance_arn: str = setting(schema={
        "type": "string", "pattern": "^arn:aws[\\w-]*:connect:[a-z0-9-]+:\\d{12}:instance/.+$"},
        doc="the Amazon Connect instance")


@dataclass(frozen=True, kw_only=True)
class FederationConfig:
    """One federation (an entry of `federations:`), typed, and as the plain `data` templates read."""

    name: str = setting(schema={"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                                ALLOWED: "1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
                                         "or digit (no spaces)"},
                        doc="unique; used in finding ids")
    okta_app: AppRef = setting(doc="the Okta SAML app")
    user_pool_id: str = setting(schema={"type": "string", "pattern": "^[\\w-]+_[0-9a-zA-Z]+$"},
                                doc="the Cognito user pool id")
    app_client: AppClientRef = setting(doc="the pool's app client")
    identity_provider: str = setting(schema={"type": "string", "minLength": 1, "maxLength": 128},
                                     doc="the pool's SAML IdP name")
    required_assignments: RequiredAssignments = setting(factory=RequiredAssignments,
                                                        doc="who must be assigned to the Okta app")
    cert_min_days: int = setting(30, schema={"type": "integer", "minimum": 0, "maximum": 3650},
                                 doc="OKTA-CERT-EXPIRY: minimum days of certificate validity")
    cloudformation_stack: str | None = setting(None, schema=_NULLABLE_STR,
                                               doc="the vendor's stack, for `auditor handover`")
    # The `aws:` override (None: the global aws block's credentials and region).
    aws: FederationAws | None = setting(None, doc="this federation lives in another AWS account")
    connect_sso: ConnectSso | None = setting(None, nullable=True, doc="the Amazon Connect sign-in chain")
    scp: ScpGuard | None = setting(None, nullable=True, doc="the SCP guard")
    data: dict[str, Any] = derived(factory=dict, doc="the block as templates (`config.*`) and the snapshot see it")

    def _derived(self, block: dict[str, Any]) -> dict[str, Any]:
        """`data`: the block as written with every absent optional key's default, `connect_sso.role_arn`
        resolved, and the `aws` override as written minus its external id (the snapshot keeps
        `data` as evidence; an absent `aws` stays absent: the global block applies)."""
        data = {**plain_defaults(FederationConfig, skip=("aws",)), **block}
        data["required_assignments"] = {**plain_defaults(RequiredAssignments), **data["required_assignments"]}
        if self.connect_sso:
            # One place for templates to read the role from: `config.connect_sso.role_arn`.
            data["connect_sso"] = {**block["connect_sso"], "role_arn": self.connect_role_arn}
        if self.aws:
            data["aws"] = {k: v for k, v in block["aws"].items() if k != "external_id"}
        return {"data": data}

    @classmethod
    def from_data(cls, name: str, data: dict[str, Any]) -> FederationConfig:
        """The typed federation from its plain `data`, as a snapshot keeps it (so a snapshot judged
        offline names its resources exactly as the scan did). Raises ValueError when `data` is not
        a valid federation block (a hand-edited or foreign snapshot)."""
        block = {**data, "name": name}
        if _federation_valid()(block):  # compiled: this runs for every federation judged
            return _build(cls, block, Path("."))
        error = next(iter(_federation_validator().iter_errors(block)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(the block)"
            raise ValueError(f"federation {name!r}: its config is not a valid federation block at {where}: "
                             f"{error.message}")
        return _build(cls, block, Path("."))

    @property
    def connect_role_arn(self) -> str | None:
        """The Amazon Connect user role: `scp.connect_role_arn`, else `connect_sso.role_arn`."""
        if self.scp:
            return self.scp.connect_role_arn
        return self.connect_sso.role_arn if self.connect_sso else None

    @property
    def connect_instance_id(self) -> str | None:
        """The Amazon Connect instance id: from `scp.connect_instance_arn`, else `connect_sso.instance_id`."""
        if self.scp:
            return self.scp.connect_instance_arn.rsplit("/", 1)[-1]
        return self.connect_sso.instance_id if self.connect_sso else None


@dataclass(frozen=True, kw_only=True)
class Config:
    """A validated config: the whole file."""

    path: Path  # the config file (not a key)
    version: int = setting(schema={"const": 1}, doc="config format version; always 1")
    policies: tuple[Path, ...] = setting((), schema={"type": "array", "items": _NONEMPTY},
                                         doc="extra policy files or folders, beside the built-in pack")
    discovery: DiscoverySettings = setting(factory=DiscoverySettings,
                                           doc="`auditor discover`: find the federations of the estate")
    attribution: AttributionSettings = setting(factory=AttributionSettings,
                                               doc="who changed it: each new FAIL's change event (Okta System "
                                                   "Log, CloudTrail)")
    frameworks: tuple[Path, ...] = setting((), schema={"type": "array", "items": _NONEMPTY},
                                           doc="your own framework mapping files or folders (the shipped "
                                               "ones always load)")
    report_settings: ReportSettings = setting(key="reports", factory=ReportSettings,
                                              doc="where runs go and what happens around the reports")
    waivers_path: Path | None = setting(None, key="waivers", schema=_NONEMPTY,
                                        doc="a waivers file: accepted risks with reason, approver and expiry")
    schedule: ScheduleSettings | None = setting(None, doc="`auditor schedule`: daily at a time, or every N hours")
    notifications: NotifySettings | None = setting(None, doc="messages after a scan")
    okta: OktaSettings = setting(doc="the Okta org and how to authenticate")
    aws: AwsSettings = setting(doc="AWS region and credentials")
    organizations_profile: str | None = setting(None, key="organizations.profile", schema=_NULLABLE_STR,
                                                doc="credentials able to read the organization; null: aws.profile")
    # May be empty: a new config lets `auditor discover --write` find its federations; a scan of
    # none is refused then (runner.select_federations), not at load.
    federations: tuple[FederationConfig, ...] = setting(schema={"type": "array"},
                                                        doc="one entry per contact-center sign-in chain "
                                                            "(empty: `auditor discover --write` finds them)")

    def _derived(self, block: dict[str, Any]) -> dict[str, Any]:
        # Two top-level keys read by the stages through another block's object.
        return {"report_settings": dataclasses.replace(self.report_settings, waivers_path=self.waivers_path),
                "aws": dataclasses.replace(self.aws, organizations_profile=self.organizations_profile)}

    @property
    def reports_dir(self) -> Path:
        """`reports.dir`, resolved."""
        return self.report_settings.dir

    @property
    def formats(self) -> tuple[str, ...]:
        """`reports.formats`."""
        return self.report_settings.formats

    @property
    def retention(self) -> Retention | None:
        """`reports.retention`."""
        return self.report_settings.retention

    def federation(self, name: str) -> FederationConfig:
        """The federation called `name`; KeyError if none."""
        for f in self.federations:
            if f.name == name:
                return f
        raise KeyError(name)

    def settings_for_snapshot(self) -> dict[str, Any]:
        """Global, non-secret settings the snapshot keeps for templates and offline evaluation."""
        return {
            "aws": {"region": self.aws.region},
            "okta": {"org_url": self.okta.org_url.rstrip("/"),
                     "allow_insecure_http": self.okta.allow_insecure_http},
        }


CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "auditor config",
    **schema_of(Config),
}


@functools.lru_cache(maxsize=1)
def _federation_validator() -> Any:
    """A compiled validator of one federation block (built once: `from_data` runs per federation)."""
    import jsonschema

    return jsonschema.Draft202012Validator(schema_of(FederationConfig))


@functools.lru_cache(maxsize=1)
def _federation_valid() -> Callable[[Any], bool]:
    """One federation block's schema compiled to a function (auditor.fastschema); jsonschema then
    only explains a block it rejects."""
    from auditor.fastschema import compile_check

    # formats=None: like the jsonschema validator above (no format checker), `format` is an annotation.
    return compile_check(schema_of(FederationConfig), formats=None) or (lambda block: False)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address or `localhost`."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def report_locations(path: Path) -> tuple[Path, Path]:
    """(reports.dir, the history file) of the config at `path`, even when the rest of the config has
    problems: `auditor history`, `diff`, `verify` and `bundle` need nothing else. Relative paths are
    resolved against the config's folder, as load_config resolves them."""
    from auditor.yamlio import YamlLoadError, load_yaml_file

    try:
        settings = load_config(path).report_settings
    except ConfigError:
        try:
            data = load_yaml_file(path).data
        except YamlLoadError:
            data = None
        block = data.get("reports") if isinstance(data, dict) else None
        block = block if isinstance(block, dict) else {}
        folder, history = block.get("dir"), block.get("history")
        reports = path.parent / (folder if isinstance(folder, str) and folder else "reports")
        if isinstance(history, str) and history:
            return reports, path.parent / history
        return reports, reports / "history.sqlite"
    return settings.dir, settings.history_path or settings.dir / "history.sqlite"


def load_config(path: Path) -> Config:
    """Read, interpolate `${ENV}` references, validate and normalise a config file.

    Raises ConfigError (exit code 3) naming file, line and fix for every problem found.
    """
    from auditor.validation import schema_problems
    from auditor.yamlio import Located, YamlLoadError, load_yaml_file

    try:
        doc = load_yaml_file(path)
    except YamlLoadError as exc:
        raise ConfigError([exc.problem]) from exc
    if not isinstance(doc.data, dict):
        raise ConfigError([InputProblem(doc.file, 1, 1, "the config must be a mapping (key: value)",
                                        "start from config.example.yaml")])
    problems: list[InputProblem] = []
    data = _interpolate(doc, doc.data, (), problems)
    if problems:  # an unset variable would also fail the schema: report the cause only
        raise ConfigError(problems)
    doc = Located(doc.file, data, doc.positions)
    problems += schema_problems(doc, CONFIG_SCHEMA)
    if problems:
        raise ConfigError(problems)
    problems += _semantic_checks(doc)
    if problems:
        raise ConfigError(problems)
    return _build(Config, data, path.parent, path=path)


def _interpolate(doc: Located, value: Any, path: tuple[str | int, ...], problems: list[InputProblem]) -> Any:
    from auditor.yamlio import format_path

    if isinstance(value, dict):
        return {k: _interpolate(doc, v, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(doc, v, (*path, i), problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                line, col = doc.line_of(path)
                problems.append(InputProblem(doc.file, line, col,
                                             f"{format_path(path)}: environment variable {name} is not set",
                                             f"export {name}=... before running, or write the value"))
                return m.group(0)
            return os.environ[name]
        return _ENV_REF.sub(repl, value)
    return value


def _semantic_checks(doc: Located) -> list[InputProblem]:
    data = doc.data
    problems: list[InputProblem] = []
    okta = data["okta"]
    if okta["org_url"].startswith("http://"):
        if not okta.get("allow_insecure_http", False):
            line, col = doc.line_of(("okta", "org_url"))
            problems.append(InputProblem(doc.file, line, col, "okta.org_url must use https",
                                         "plain http is allowed only for a local simulator: set "
                                         "okta.allow_insecure_http: true and use 127.0.0.1"))
        elif not is_loopback_url(okta["org_url"]):
            line, col = doc.line_of(("okta", "org_url"))
            problems.append(InputProblem(doc.file, line, col,
                                         "okta.allow_insecure_http only permits a loopback org_url",
                                         "use https for a real Okta org"))
    problems += _operations_checks(doc)
    names: dict[str, int] = {}
    for i, fed in enumerate(data["federations"]):
        if fed["name"] in names:
            line, col = doc.line_of(("federations", i, "name"))
            problems.append(InputProblem(doc.file, line, col,
                                         f"federation name {fed['name']!r} is used twice",
                                         "federation names identify findings across runs: make them unique"))
        names[fed["name"]] = i
        problems += _connect_sso_checks(doc, i, fed)
        scp = fed.get("scp")
        if scp:
            for key in ("connect_role_arn", "connect_instance_arn"):
                account = scp[key].split(":")[4]
                if account != scp["account_id"]:
                    line, col = doc.line_of(("federations", i, "scp", key))
                    problems.append(InputProblem(
                        doc.file, line, col,
                        f"federations[{i}].scp.{key} is in account {account}, not scp.account_id {scp['account_id']}",
                        "the SCP is judged for scp.account_id: the protected resources must live there"))
    return problems


def _operations_checks(doc: Located) -> list[InputProblem]:
    """`schedule` and `notifications`: what the schema cannot say."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    data = doc.data
    problems: list[InputProblem] = []

    def problem(path: tuple[str | int, ...], message: str, hint: str) -> None:
        line, col = doc.line_of(path)
        problems.append(InputProblem(doc.file, line, col, message, hint))

    sched = data.get("schedule")
    if sched is not None:
        if ("daily_at" in sched) == ("every_hours" in sched):
            problem(("schedule",), "schedule needs exactly one of daily_at or every_hours",
                    'e.g. schedule: {daily_at: "02:30", timezone: Europe/Berlin} or {every_hours: 6}')
        if "timezone" in sched:
            if "every_hours" in sched:
                problem(("schedule", "timezone"), "schedule.timezone goes with daily_at only",
                        "every_hours counts from the scheduler's start; drop timezone")
            try:
                ZoneInfo(sched["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                problem(("schedule", "timezone"), f"unknown time zone {sched['timezone']!r}",
                        "use an IANA name such as Europe/Berlin, America/New_York or UTC")
    notify = data.get("notifications")
    if notify is not None:
        if not notify.get("webhook") and not notify.get("email"):
            problem(("notifications",), "notifications needs a webhook, an email block or both",
                    "add webhook: {url: ...} or email: {smtp_host: ..., from: ..., to: [...]}")
        url = (notify.get("webhook") or {}).get("url")
        if url and url.startswith("http://") and not is_loopback_url(url):
            problem(("notifications", "webhook", "url"), "notifications.webhook.url must use https",
                    "plain http is allowed only to 127.0.0.1/localhost (a local relay)")
        email = notify.get("email") or {}
        if ("username_env" in email) != ("password_env" in email):
            problem(("notifications", "email"), "email.username_env and email.password_env go together",
                    "name both environment variables, or neither for an unauthenticated relay")
        if email and "username_env" in email and email.get("starttls") is False \
                and not is_loopback_url(f"smtp://{email['smtp_host']}"):
            problem(("notifications", "email", "starttls"),
                    "SMTP credentials would be sent in clear text (starttls: false)",
                    "keep starttls: true, or use a relay on localhost")
    return problems


def _connect_sso_checks(doc: Located, i: int, fed: dict[str, Any]) -> list[InputProblem]:
    """The Connect sign-in chain and the SCP must talk about the same role and instance.

    The role agents assume is "the very role the SCP protects", so `connect_sso.role_arn` may be
    left out when there is an `scp` block; without one it is the only source of the role ARN.
    """
    sso, scp = fed.get("connect_sso"), fed.get("scp")
    if not sso:
        return []
    problems: list[InputProblem] = []
    role = sso.get("role_arn")
    if not scp and not role:
        line, col = doc.line_of(("federations", i, "connect_sso"))
        problems.append(InputProblem(
            doc.file, line, col, f"federations[{i}].connect_sso needs role_arn (there is no scp block)",
            "set connect_sso.role_arn to the Amazon Connect user role agents assume with SAML"))
    if scp and role and role != scp["connect_role_arn"]:
        line, col = doc.line_of(("federations", i, "connect_sso", "role_arn"))
        problems.append(InputProblem(
            doc.file, line, col,
            f"federations[{i}].connect_sso.role_arn differs from scp.connect_role_arn",
            "agents assume the role the SCP protects: use one ARN, or drop connect_sso.role_arn"))
    if scp and scp["connect_instance_arn"].rsplit("/", 1)[-1] != sso["instance_id"]:
        line, col = doc.line_of(("federations", i, "connect_sso", "instance_id"))
        problems.append(InputProblem(
            doc.file, line, col,
            f"federations[{i}].connect_sso.instance_id is not the instance in scp.connect_instance_arn",
            "the SCP protects the instance agents sign in to: use the same instance"))
    return problems


def okta_secret(config: Config) -> str:
    """The Okta credential: the API token from `token_env`, or the private key file's PEM.

    Raises ConfigError (exit 3) when it is missing, before any API call.
    """
    auth = config.okta.auth
    if auth.token_env:
        value = os.environ.get(auth.token_env, "")
        if not value.strip():
            raise ConfigError([InputProblem(
                str(config.path), None, None,
                f"environment variable {auth.token_env} (okta.auth.token_env) is not set",
                f"export {auth.token_env}=<an Okta API token> (read-only admin suffices)")])
        return value.strip()
    assert auth.private_key_file is not None
    try:
        return auth.private_key_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([InputProblem(
            str(config.path), None, None,
            f"cannot read okta.auth.private_key_file {auth.private_key_file}: {exc.strerror}",
            "point private_key_file at the service app's PEM private key")]) from exc
