"""Loading and validating `config.yaml`. Never calls an API.

Secrets never live in the config: the Okta API token comes from the environment variable
named by `okta.auth.token_env`, a private key from `okta.auth.private_key_file`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from auditor.errors import ConfigError, InputProblem
from auditor.validation import schema_problems
from auditor.yamlio import Located, YamlLoadError, format_path, load_yaml_file

DEFAULT_CERT_MIN_DAYS = 30
REPORT_FORMATS = ("html", "json")  # the default
# Every format a config may name (auditor.report.Format; a test keeps the two in step).
ALL_REPORT_FORMATS = ("html", "json", "junit", "ocsf", "csv", "markdown")
DEFAULT_PRESIGN_SECONDS = 3600
# What a notification may be sent for (notifications.events); default: all three.
NOTIFY_EVENTS = ("new_failures", "resolved", "errors")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

_REF_BY_ID_OR_LABEL: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
    "properties": {"id": {"type": "string", "minLength": 1}, "label": {"type": "string", "minLength": 1}},
}
_REF_BY_ID_OR_NAME: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
    "properties": {"id": {"type": "string", "minLength": 1}, "name": {"type": "string", "minLength": 1}},
}
_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "auditor config",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "okta", "aws", "federations"],
    "properties": {
        "version": {"const": 1},
        "policies": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "reports": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "dir": {"type": "string", "minLength": 1},
                "formats": {"type": "array", "minItems": 1, "uniqueItems": True,
                            "items": {"enum": list(ALL_REPORT_FORMATS)}},
                # The run history (SQLite); default <dir>/history.sqlite.
                "history": {"type": "string", "minLength": 1},
                # How many past runs the HTML trend chart shows.
                "trend_runs": {"type": "integer", "minimum": 2, "maximum": 365},
                # An Ed25519 private key (PEM, unencrypted) that signs manifest.json.
                "signing_key": {"type": "string", "minLength": 1},
                # Which run folders `auditor schedule` keeps (never the newest): one of the two.
                "retention": {
                    "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                    "properties": {"keep_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                                   "keep_runs": {"type": "integer", "minimum": 1, "maximum": 100000}},
                },
                "s3": {
                    "type": "object", "additionalProperties": False, "required": ["bucket"],
                    "properties": {
                        "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                        "prefix": {"type": "string"},
                        "kms_key_id": _NULLABLE_STR,
                        "presign_seconds": {"type": "integer", "minimum": 60, "maximum": 604800},
                    },
                },
            },
        },
        # A waivers file: accepted risks with reason, approver and expiry.
        "waivers": {"type": "string", "minLength": 1},
        # `auditor schedule`: daily at a wall-clock time in a named time zone, or every N hours.
        "schedule": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {
                "daily_at": {"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                "timezone": {"type": "string", "minLength": 1},
                "every_hours": {"type": "integer", "minimum": 1, "maximum": 168},
            },
        },
        # Sent after a scan with new failures, resolved failures or errors (auditor/notify.py).
        "notifications": {
            "type": "object", "additionalProperties": False,
            "properties": {
                # Not `on:`: YAML 1.1 reads that key as the boolean true.
                "events": {"type": "array", "minItems": 1, "uniqueItems": True,
                       "items": {"enum": list(NOTIFY_EVENTS)}},
                "retries": {"type": "integer", "minimum": 0, "maximum": 10},
                "backoff_seconds": {"type": "number", "minimum": 0, "maximum": 300},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                "webhook": {
                    "type": "object", "additionalProperties": False, "required": ["url"],
                    "properties": {"url": {"type": "string", "pattern": "^https?://"}},
                },
                "email": {
                    "type": "object", "additionalProperties": False, "required": ["smtp_host", "from", "to"],
                    "properties": {
                        "smtp_host": {"type": "string", "minLength": 1},
                        "smtp_port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "starttls": {"type": "boolean"},
                        "from": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                        "to": {"type": "array", "minItems": 1,
                               "items": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}},
                        "username_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                        "password_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    },
                },
            },
        },
        "okta": {
            "type": "object", "additionalProperties": False, "required": ["org_url", "auth"],
            "properties": {
                "org_url": {"type": "string", "pattern": "^https?://[^/\\s]+/?$"},
                "auth": {
                    "oneOf": [
                        {"type": "object", "additionalProperties": False, "required": ["token_env"],
                         "properties": {"token_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}},
                        {"type": "object", "additionalProperties": False,
                         "required": ["client_id", "private_key_file"],
                         "properties": {
                             "client_id": {"type": "string", "minLength": 1},
                             "private_key_file": {"type": "string", "minLength": 1},
                             "key_id": {"type": "string"},
                             "scopes": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                         }},
                    ]
                },
                "allow_insecure_http": {"type": "boolean"},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                # The most of each rate-limit bucket a scan may use; the rest stays for other
                # integrations of the org (auditor/collectors/pacing.py).
                "rate_limit_share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            },
        },
        "aws": {
            "type": "object", "additionalProperties": False, "required": ["region"],
            "properties": {
                "region": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"},
                "profile": _NULLABLE_STR,
                "endpoint_url": _NULLABLE_STR,
                # Cognito request rates the scan keeps to: per user pool, and per account and Region.
                "cognito_pool_rps": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                "cognito_account_rps": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
            },
        },
        "organizations": {
            "type": "object", "additionalProperties": False,
            "properties": {"profile": _NULLABLE_STR},
        },
        # `auditor discover`, and with `enabled` every scan too: find the federations of the
        # estate (auditor/collectors/discovery.py) and report those the config does not audit.
        "discovery": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                # The accounts: every account of the organization (organizations.profile lists
                # them), and/or these; neither: the scanner's own account.
                "organization": {"type": "boolean"},
                "accounts": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": "^\\d{12}$"}},
                # The role assumed in each account (a read-only audit role); null: the scanner's own
                # credentials, which reach its own account only.
                "role_name": {"type": ["string", "null"], "pattern": "^[\\w+=,.@/-]{1,512}$"},
                "external_id": {"type": "string", "pattern": "^[\\w+=,.@:/-]{2,1224}$"},
                "regions": {"type": "array", "minItems": 1, "uniqueItems": True,
                            "items": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"}},
            },
        },
        "federations": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "okta_app", "user_pool_id", "app_client", "identity_provider"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                    "okta_app": _REF_BY_ID_OR_LABEL,
                    "user_pool_id": {"type": "string", "pattern": "^[\\w-]+_[0-9a-zA-Z]+$"},
                    "app_client": _REF_BY_ID_OR_NAME,
                    "identity_provider": {"type": "string", "minLength": 1, "maxLength": 128},
                    "required_assignments": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "users": {"type": "array", "items": {"type": "string", "minLength": 1}},
                            "groups": {"type": "array", "items": {"type": "string", "minLength": 1}},
                        },
                    },
                    "cert_min_days": {"type": "integer", "minimum": 0, "maximum": 3650},
                    "cloudformation_stack": _NULLABLE_STR,
                    # Another AWS account: the role the scanner assumes there (with an external id).
                    "aws": {
                        "type": "object", "additionalProperties": False, "minProperties": 1,
                        "properties": {
                            "role_arn": {"type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:role/.+$"},
                            "external_id": {"type": "string", "pattern": "^[\\w+=,.@:/-]{2,1224}$"},
                            "region": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-\\d$"},
                        },
                    },
                    "connect_sso": {
                        "type": ["object", "null"], "additionalProperties": False,
                        "required": ["okta_app", "saml_provider_arn", "instance_id"],
                        "properties": {
                            "okta_app": _REF_BY_ID_OR_LABEL,
                            "saml_provider_arn": {
                                "type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:saml-provider/.+$"},
                            "instance_id": {"type": "string", "minLength": 1},
                            # Optional: defaults to scp.connect_role_arn (the role the SCP protects);
                            # required when the federation has no `scp` block.
                            "role_arn": {"type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:role/.+$"},
                        },
                    },
                    "scp": {
                        "type": ["object", "null"], "additionalProperties": False,
                        "required": ["account_id", "connect_role_arn", "connect_instance_arn"],
                        "properties": {
                            "account_id": {"type": "string", "pattern": "^\\d{12}$"},
                            "connect_role_arn": {
                                "type": "string", "pattern": "^arn:aws[\\w-]*:iam::\\d{12}:role/.+$"},
                            "connect_instance_arn": {
                                "type": "string",
                                "pattern": "^arn:aws[\\w-]*:connect:[a-z0-9-]+:\\d{12}:instance/.+$"},
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class OktaAuth:
    """How to authenticate to Okta: an SSWS API token from the environment, or OAuth 2.0."""

    token_env: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    key_id: str | None = None
    scopes: tuple[str, ...] = ("okta.apps.read", "okta.users.read", "okta.groups.read")

    @property
    def mode(self) -> str:
        """`token` or `oauth`."""
        return "token" if self.token_env else "oauth"


@dataclass(frozen=True)
class OktaSettings:
    """The `okta:` block."""

    org_url: str
    auth: OktaAuth
    allow_insecure_http: bool = False
    timeout_seconds: float = 30.0
    rate_limit_share: float = 0.5  # of each Okta rate-limit bucket, at most


@dataclass(frozen=True)
class AwsSettings:
    """The `aws:` and `organizations:` blocks."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    organizations_profile: str | None = None
    cognito_pool_rps: float = 5.0
    cognito_account_rps: float = 20.0


@dataclass(frozen=True)
class S3Publish:
    """`reports.s3`: where a run folder is uploaded, and for how long its link is valid."""

    bucket: str
    prefix: str = ""
    kms_key_id: str | None = None  # None: SSE-S3 (AES256)
    presign_seconds: int = DEFAULT_PRESIGN_SECONDS


@dataclass(frozen=True)
class ReportSettings:
    """What happens around the reports: history, trend, signing, publishing, waivers."""

    history_path: Path | None = None  # None: no history (offline evaluation without a config)
    trend_runs: int = 30
    signing_key: Path | None = None
    s3: S3Publish | None = None
    waivers_path: Path | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    """`schedule`: daily at `daily_at` (HH:MM) in `timezone`, or every `every_hours` hours."""

    daily_at: str | None = None
    timezone: str = "UTC"
    every_hours: int | None = None


@dataclass(frozen=True)
class Retention:
    """`reports.retention`: keep run folders for `keep_days` days, or the newest `keep_runs`."""

    keep_days: int | None = None
    keep_runs: int | None = None


@dataclass(frozen=True)
class EmailSettings:
    """`notifications.email`: SMTP delivery; credentials only from the named env variables."""

    smtp_host: str
    sender: str
    recipients: tuple[str, ...]
    smtp_port: int = 587
    starttls: bool = True
    username_env: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class NotifySettings:
    """`notifications`: where to send, for which events, and how hard to try."""

    events: tuple[str, ...] = NOTIFY_EVENTS
    webhook_url: str | None = None
    email: EmailSettings | None = None
    retries: int = 3
    backoff_seconds: float = 2.0
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class DiscoverySettings:
    """`discovery`: where `auditor discover` (and a scan with `enabled`) looks for federations."""

    enabled: bool = False
    organization: bool = False
    accounts: tuple[str, ...] = ()
    role_name: str | None = None
    # Not a secret by AWS's definition, but never written to a report or a snapshot.
    external_id: str | None = field(default=None, repr=False)
    regions: tuple[str, ...] = ()  # empty: aws.region


@dataclass(frozen=True)
class FederationAws:
    """A federation's own AWS access: a role to assume (another account) and/or a region."""

    role_arn: str | None = None
    # Not a secret by AWS's definition, but kept out of the snapshot all the same.
    external_id: str | None = field(default=None, repr=False)
    region: str | None = None


@dataclass(frozen=True)
class FederationConfig:
    """One federation: its block from the config, with defaults filled in."""

    name: str
    data: dict[str, Any]
    # The `aws:` override (None: the global aws block's credentials and region).
    aws: FederationAws | None = None

    @property
    def user_pool_id(self) -> str:
        """The Cognito user pool id."""
        return str(self.data["user_pool_id"])

    @property
    def identity_provider(self) -> str:
        """The Cognito IdP name."""
        return str(self.data["identity_provider"])

    @property
    def connect_role_arn(self) -> str | None:
        """The Amazon Connect user role: `scp.connect_role_arn`, else `connect_sso.role_arn`."""
        scp, sso = self.data.get("scp") or {}, self.data.get("connect_sso") or {}
        return scp.get("connect_role_arn") or sso.get("role_arn")

    @property
    def connect_instance_id(self) -> str | None:
        """The Amazon Connect instance id: from `scp.connect_instance_arn`, else `connect_sso.instance_id`."""
        scp, sso = self.data.get("scp") or {}, self.data.get("connect_sso") or {}
        if scp.get("connect_instance_arn"):
            return str(scp["connect_instance_arn"]).rsplit("/", 1)[-1]
        return sso.get("instance_id")


@dataclass(frozen=True)
class Config:
    """A validated config."""

    path: Path
    policies: tuple[Path, ...]
    reports_dir: Path
    formats: tuple[str, ...]
    okta: OktaSettings
    aws: AwsSettings
    federations: tuple[FederationConfig, ...]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    report_settings: ReportSettings = field(default_factory=ReportSettings)
    schedule: ScheduleSettings | None = None
    retention: Retention | None = None
    notifications: NotifySettings | None = None
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)

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


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback address or `localhost`."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: Path) -> Config:
    """Read, interpolate `${ENV}` references, validate and normalise a config file.

    Raises ConfigError (exit code 3) naming file, line and fix for every problem found.
    """
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
    return _build(path, data)


def _interpolate(doc: Located, value: Any, path: tuple[str | int, ...], problems: list[InputProblem]) -> Any:
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


def _build(path: Path, data: dict[str, Any]) -> Config:
    base = path.parent
    okta = data["okta"]
    auth = okta["auth"]
    okta_auth = OktaAuth(
        token_env=auth.get("token_env"),
        client_id=auth.get("client_id"),
        private_key_file=(base / auth["private_key_file"]) if auth.get("private_key_file") else None,
        key_id=auth.get("key_id"),
        scopes=tuple(auth.get("scopes", OktaAuth.scopes)),
    )
    aws = data["aws"]
    feds = []
    for fed in data["federations"]:
        normal = {
            "required_assignments": {"users": [], "groups": []},
            "cert_min_days": DEFAULT_CERT_MIN_DAYS,
            "cloudformation_stack": None,
            "connect_sso": None,
            "scp": None,
            **fed,
        }
        normal["required_assignments"] = {"users": [], "groups": [], **normal["required_assignments"]}
        fed_aws = None
        if fed.get("aws"):
            fed_aws = FederationAws(role_arn=fed["aws"].get("role_arn"), external_id=fed["aws"].get("external_id"),
                                    region=fed["aws"].get("region"))
            # The snapshot keeps the federation's config as evidence: the role and region, never the id.
            normal["aws"] = {k: v for k, v in fed["aws"].items() if k != "external_id"}
        if normal["connect_sso"] and normal["scp"] and "role_arn" not in normal["connect_sso"]:
            # One place for templates to read the role from: `config.connect_sso.role_arn`.
            normal["connect_sso"] = {**normal["connect_sso"], "role_arn": normal["scp"]["connect_role_arn"]}
        feds.append(FederationConfig(name=fed["name"], data=normal, aws=fed_aws))
    reports = data.get("reports", {})
    return Config(
        path=path,
        policies=tuple(base / p for p in data.get("policies", [])),
        reports_dir=base / reports.get("dir", "reports"),
        formats=tuple(reports.get("formats", REPORT_FORMATS)),
        okta=OktaSettings(
            org_url=okta["org_url"].rstrip("/"),
            auth=okta_auth,
            allow_insecure_http=okta.get("allow_insecure_http", False),
            timeout_seconds=float(okta.get("timeout_seconds", 30.0)),
            rate_limit_share=float(okta.get("rate_limit_share", 0.5)),
        ),
        aws=AwsSettings(
            region=aws["region"], profile=aws.get("profile"), endpoint_url=aws.get("endpoint_url"),
            organizations_profile=(data.get("organizations") or {}).get("profile"),
            cognito_pool_rps=float(aws.get("cognito_pool_rps", 5.0)),
            cognito_account_rps=float(aws.get("cognito_account_rps", 20.0)),
        ),
        federations=tuple(feds),
        raw=data,
        report_settings=_report_settings(base, data),
        discovery=_discovery(data),
        **_operations(data),
    )


def _discovery(data: dict[str, Any]) -> DiscoverySettings:
    """The `discovery` block (defaults when absent: off, the scanner's own account, aws.region)."""
    block = data.get("discovery") or {}
    return DiscoverySettings(enabled=bool(block.get("enabled", False)),
                             organization=bool(block.get("organization", False)),
                             accounts=tuple(block.get("accounts", ())), role_name=block.get("role_name"),
                             external_id=block.get("external_id"), regions=tuple(block.get("regions", ())))


def _operations(data: dict[str, Any]) -> dict[str, Any]:
    """The `schedule`, `reports.retention` and `notifications` settings, for Config(**...)."""
    sched, retention, notify = data.get("schedule"), data.get("reports", {}).get("retention"), \
        data.get("notifications")
    email = (notify or {}).get("email")
    return {
        "schedule": ScheduleSettings(daily_at=sched.get("daily_at"), timezone=sched.get("timezone", "UTC"),
                                     every_hours=sched.get("every_hours")) if sched else None,
        "retention": Retention(keep_days=retention.get("keep_days"),
                               keep_runs=retention.get("keep_runs")) if retention else None,
        "notifications": NotifySettings(
            events=tuple(notify.get("events", NOTIFY_EVENTS)),
            webhook_url=(notify.get("webhook") or {}).get("url"),
            email=EmailSettings(
                smtp_host=email["smtp_host"], sender=email["from"], recipients=tuple(email["to"]),
                smtp_port=int(email.get("smtp_port", 587)), starttls=bool(email.get("starttls", True)),
                username_env=email.get("username_env"), password_env=email.get("password_env"),
            ) if email else None,
            retries=int(notify.get("retries", 3)),
            backoff_seconds=float(notify.get("backoff_seconds", 2.0)),
            timeout_seconds=float(notify.get("timeout_seconds", 10.0)),
        ) if notify else None,
    }


def _report_settings(base: Path, data: dict[str, Any]) -> ReportSettings:
    reports = data.get("reports", {})
    reports_dir = base / reports.get("dir", "reports")
    s3 = reports.get("s3")
    return ReportSettings(
        history_path=base / reports["history"] if "history" in reports else reports_dir / "history.sqlite",
        trend_runs=int(reports.get("trend_runs", 30)),
        signing_key=base / reports["signing_key"] if "signing_key" in reports else None,
        s3=S3Publish(bucket=s3["bucket"], prefix=s3.get("prefix", "").strip("/"), kms_key_id=s3.get("kms_key_id"),
                     presign_seconds=int(s3.get("presign_seconds", DEFAULT_PRESIGN_SECONDS))) if s3 else None,
        waivers_path=base / data["waivers"] if "waivers" in data else None,
    )


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
