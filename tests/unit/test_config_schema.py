"""The config is declared once (auditor/config.py): these tests keep the generated JSON Schema, the
typed objects, the defaults and their documentation from drifting apart."""

from __future__ import annotations

import ast
import dataclasses
import re
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from auditor import config as cfg
from auditor.collectors.base import CollectOptions
from auditor.config import (
    CONFIG_SCHEMA,
    DEFAULT_CONCURRENCY,
    AwsSettings,
    Config,
    OktaSettings,
    ReportSettings,
    Setting,
    config_classes,
    derived,
    load_config,
    schema_of,
    setting,
    settings_of,
)
from tests.paths import ROOT

MINIMAL = """\
version: 1
okta: {org_url: https://example.okta.com, auth: {token_env: T}}
aws: {region: us-east-1}
federations:
  - {name: prod, okta_app: {id: 0oa1}, user_pool_id: us-east-1_A, app_client: {id: c}, identity_provider: Okta}
"""
# Defaults computed from other settings by a `_derived` method (documented in the setting's doc).
COMPUTED = {(ReportSettings, "history_path")}


def _all_settings() -> list[tuple[type, Setting]]:
    return [(cls, s) for cls in config_classes() for s in settings_of(cls)]


def test_every_field_is_a_documented_setting_or_derived() -> None:
    for cls in config_classes():
        for f in dataclasses.fields(cls):
            if f.name == "path" and cls is Config:
                continue  # the config file itself
            if f.metadata.get(cfg._DERIVED):
                continue  # filled by a `_derived` method: test_derived_values
            spec = f.metadata.get(cfg._SPEC)
            assert spec is not None, f"{cls.__name__}.{f.name}: declare it with setting(...) or derived(...)"
            assert spec.doc.strip(), f"{cls.__name__}.{f.name}: say what the key means (doc=...)"


def _schema_keys(schema: dict[str, Any], cls: type, seen: set[tuple[type, str]]) -> None:
    """Walk the schema beside the classes; record each (class, key) it holds, fail on an unknown one."""
    if "oneOf" in schema:
        for branch in schema["oneOf"]:
            _schema_keys(branch, cls, seen)
        return
    assert schema["additionalProperties"] is False, f"{cls.__name__}: unknown keys must be refused"
    by_key = {s.key: s for s in settings_of(cls)}
    for name, sub in schema["properties"].items():
        if name not in by_key:  # a sub-block of dotted keys such as `webhook.url`
            dotted = {k.split(".", 1)[1] for k in by_key if k.startswith(name + ".")}
            assert dotted, f"schema key {name!r} has no field in {cls.__name__}"
            assert set(sub["properties"]) == dotted
            seen.update((cls, f"{name}.{leaf}") for leaf in dotted)
            continue
        seen.add((cls, name))
        s = by_key[name]
        if s.block is not None:
            _schema_keys(sub.get("items", sub), s.block, seen)


def test_schema_keys_and_fields_map_both_ways() -> None:
    seen: set[tuple[type, str]] = set()
    _schema_keys(CONFIG_SCHEMA, Config, seen)
    assert seen == {(cls, s.key) for cls, s in _all_settings()}


def test_required_keys_are_the_fields_without_default() -> None:
    assert CONFIG_SCHEMA["required"] == ["version", "okta", "aws", "federations"]
    fed = CONFIG_SCHEMA["properties"]["federations"]["items"]
    assert fed["required"] == ["name", "okta_app", "user_pool_id", "app_client", "identity_provider"]
    # Okta auth: one of two shapes, each with its own required keys.
    auth = CONFIG_SCHEMA["properties"]["okta"]["properties"]["auth"]["oneOf"]
    assert [b["required"] for b in auth] == [["token_env"], ["client_id", "private_key_file"]]


def _check_defaults(obj: Any, cls: type, block: dict[str, Any], base: Path, where: str) -> int:
    """Every key absent from `block` holds its declared default in `obj`; returns how many were checked."""
    checked = 0
    for s in settings_of(cls):
        value = getattr(obj, s.field.name)
        name, _, leaf = s.key.partition(".")
        written = block.get(name, {}) if leaf else block
        if s.block is not None and value is not None and not isinstance(value, tuple):
            checked += _check_defaults(value, s.block, block.get(name) or {}, base, f"{where}{s.key}.")
        elif (leaf or s.key) not in written and (cls, s.field.name) not in COMPUTED:
            expected = cfg._convert(s.default, s.hint, base)
            assert value == expected, f"{where}{s.key}: built {value!r}, declared default {expected!r}"
            checked += 1
    return checked


def test_the_builder_applies_exactly_the_declared_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL)
    config, data = load_config(path), yaml.safe_load(MINIMAL)
    assert _check_defaults(config, Config, data, tmp_path, "") > 15
    assert _check_defaults(config.federations[0], cfg.FederationConfig, data["federations"][0], tmp_path,
                           "federations[0].") >= 5
    assert config.report_settings.history_path == tmp_path / "reports" / "history.sqlite"


def test_derived_values(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL + "waivers: w.yaml\norganizations: {profile: mgmt}\nreports: {dir: out}\n")
    config = load_config(path)
    assert config.report_settings.waivers_path == tmp_path / "w.yaml"
    assert config.report_settings.history_path == tmp_path / "out" / "history.sqlite"
    assert config.aws.organizations_profile == "mgmt"
    assert config.federations[0].data == {
        "required_assignments": {"users": [], "groups": []}, "cert_min_days": 30, "cloudformation_stack": None,
        "connect_sso": None, "scp": None, "name": "prod", "okta_app": {"id": "0oa1"}, "user_pool_id": "us-east-1_A",
        "app_client": {"id": "c"}, "identity_provider": "Okta"}


def test_collection_defaults_are_the_configs() -> None:
    # CollectOptions without a config (tests, tools) paces like a config that leaves the keys out.
    options = CollectOptions()
    assert options.okta_rate_limit_share == OktaSettings.rate_limit_share
    assert (options.cognito_pool_rps, options.cognito_account_rps) == (AwsSettings.cognito_pool_rps,
                                                                       AwsSettings.cognito_account_rps)
    assert options.concurrency == DEFAULT_CONCURRENCY


# Names under which a config default could be copied elsewhere (a setting's field name or key,
# and the names the collection options use).
_COPY_NAMES = {s.field.name for _, s in _all_settings() if s.has_default and isinstance(s.default, int | float)} \
    | {"okta_rate_limit_share", "share", "concurrency", "DEFAULT_CONCURRENCY"}


def test_no_module_repeats_a_config_default() -> None:
    """A numeric literal as the default of a setting's name outside config.py is a second definition."""
    copies = []
    for path in sorted((ROOT / "auditor").rglob("*.py")):
        if path.name == "config.py" or "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            pairs: list[tuple[str, ast.expr | None]] = []
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                pairs.append((node.target.id, node.value))
            elif isinstance(node, ast.Assign):
                pairs += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args.posonlyargs + node.args.args
                pairs += [(a.arg, d) for a, d in zip(args[len(args) - len(node.args.defaults):], node.args.defaults,
                                                     strict=True)]
                pairs += [(a.arg, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)]
            for name, value in pairs:
                if name in _COPY_NAMES and isinstance(value, ast.Constant) and type(value.value) in (int, float):
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno} {name} = {value.value}")
    assert not copies, f"import these defaults from auditor.config instead: {copies}"


def _default_of(dotted: str) -> Any:
    """The declared default of `reports.trend_runs`-style paths, as a plain YAML value."""
    cls: type = Config
    *blocks, leaf = dotted.split(".")
    for name in blocks:
        block = next(s for s in settings_of(cls) if s.key == name).block
        assert block is not None
        cls = block
    s = next(s for s in settings_of(cls) if s.key == leaf)
    return cfg._plain(s.default)


# Where README.md and config.example.yaml state a config default, and the key it is the default of.
DOCUMENTED_DEFAULTS = [
    ("README.md", r"`reports\.trend_runs` \(default (\S+)\)", "reports.trend_runs"),
    ("README.md", r"valid for `presign_seconds` \(default (\S+)\)", "reports.s3.presign_seconds"),
    ("README.md", r"IANA `timezone` \(default (\S+)\)", "schedule.timezone"),
    ("README.md", r"\n  events: (\[.*?\]) +# default: all three", "notifications.events"),
    ("README.md", r"\n  retries: (\S+) ", "notifications.retries"),
    ("README.md", r"\n  backoff_seconds: (\S+)\n", "notifications.backoff_seconds"),
    ("README.md", r"\n  timeout_seconds: (\S+) +# per attempt", "notifications.timeout_seconds"),
    ("README.md", r"smtp_port: (\d+), starttls: (\w+)", "notifications.email.smtp_port"),
    ("README.md", r"\n  rate_limit_share: (\S+) ", "okta.rate_limit_share"),
    ("README.md", r"\n  cognito_pool_rps: (\S+) ", "aws.cognito_pool_rps"),
    ("README.md", r"\n  cognito_account_rps: (\S+) ", "aws.cognito_account_rps"),
    ("config.example.yaml", r"#   timezone: \S+ +# IANA name \(default (\w+)\)", "schedule.timezone"),
    ("config.example.yaml", r"#   events: (\[.*?\]) +# .*\(default: all three\)", "notifications.events"),
    ("config.example.yaml", r"#     starttls: \w+ +# default (\w+)", "notifications.email.starttls"),
    ("config.example.yaml", r"#     smtp_port: (\d+)\n", "notifications.email.smtp_port"),
    ("config.example.yaml", r"#   retries: (\d+) ", "notifications.retries"),
    ("config.example.yaml", r"#   backoff_seconds: (\d+) ", "notifications.backoff_seconds"),
    ("config.example.yaml", r"#   timeout_seconds: (\d+) +# per attempt", "notifications.timeout_seconds"),
    ("config.example.yaml", r"# trend_runs: (\d+) ", "reports.trend_runs"),
    ("config.example.yaml", r"\n  timeout_seconds: (\d+) +# per HTTP request", "okta.timeout_seconds"),
    ("config.example.yaml", r"\n  # rate_limit_share: (\S+) ", "okta.rate_limit_share"),
    ("config.example.yaml", r"\n  # cognito_pool_rps: (\S+) ", "aws.cognito_pool_rps"),
    ("config.example.yaml", r"\n  # cognito_account_rps: (\S+) ", "aws.cognito_account_rps"),
    ("config.example.yaml", r"\n    cert_min_days: (\d+) ", "federations.cert_min_days"),
]


@pytest.mark.parametrize(("doc", "pattern", "key"), DOCUMENTED_DEFAULTS)
def test_documented_defaults_match_the_declared_ones(doc: str, pattern: str, key: str) -> None:
    match = re.search(pattern, (ROOT / doc).read_text(encoding="utf-8"))
    assert match, f"{doc} no longer says {pattern!r}: update DOCUMENTED_DEFAULTS with the docs"
    assert yaml.safe_load(match.group(1)) == _default_of(key), f"{doc} documents a stale default for {key}"


def test_history_default_is_documented_as_computed() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`reports.history` (default `<reports.dir>/history.sqlite`)" in readme
    history = next(s for s in settings_of(ReportSettings) if s.key == "history")
    assert "default <reports.dir>/history.sqlite" in history.spec.doc


def test_every_key_is_in_the_example_config() -> None:
    """config.example.yaml documents every key (written or commented out)."""
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    missing = [s.key for _, s in _all_settings()
               if not re.search(rf"(^|[\s{{#,]){re.escape(s.key.rsplit('.', 1)[-1])}:", example, re.M)]
    assert not missing, f"document these keys in config.example.yaml: {missing}"


# --- the mechanism, on a made-up block (what adding a key looks like) -------------------------

@dataclasses.dataclass(frozen=True, kw_only=True)
class _Inner:
    SCHEMA: ClassVar[dict[str, Any]] = {"minProperties": 1}

    depth: int = setting(2, schema={"type": "integer", "minimum": 1}, doc="how deep")


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Block:
    name: str = setting(schema={"type": "string"}, doc="required: no default")
    file: Path | None = setting(None, schema={"type": "string"}, doc="relative to the config file")
    hook_url: str | None = setting(None, key="hook.url", required=True, schema={"type": "string"},
                                   doc="`hook: {url: ...}`; url required once hook is written")
    inner: _Inner | None = setting(None, nullable=True, doc="a nested block, or null")
    label: str = derived(default="", doc="computed")

    def _derived(self, block: dict[str, Any]) -> dict[str, Any]:
        return {"label": f"{self.name}:{self.inner.depth if self.inner else '-'}"}


def test_one_declaration_gives_schema_and_object(tmp_path: Path) -> None:
    assert schema_of(_Block) == {
        "type": "object", "additionalProperties": False, "required": ["name"], "properties": {
            "name": {"type": "string"},
            "file": {"type": "string"},
            "hook": {"type": "object", "additionalProperties": False, "required": ["url"],
                     "properties": {"url": {"type": "string"}}},
            "inner": {"type": ["object", "null"], "additionalProperties": False, "minProperties": 1,
                      "properties": {"depth": {"type": "integer", "minimum": 1}}},
        }}
    data = yaml.safe_load(textwrap.dedent("""\
        name: n
        file: sub/x.pem
        hook: {url: https://h}
        inner: {depth: 5}
        """))
    built = cfg._build(_Block, data, tmp_path)
    assert built == _Block(name="n", file=tmp_path / "sub/x.pem", hook_url="https://h", inner=_Inner(depth=5),
                           label="n:5")
    assert cfg._build(_Block, {"name": "m"}, tmp_path) == _Block(name="m", label="m:-")
