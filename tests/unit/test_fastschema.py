"""auditor.fastschema accepts exactly what jsonschema accepts, for the schemas it compiles (the
findings, the report envelope, the config, the policy files and the keywords one by one)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.config import CONFIG_SCHEMA, FederationConfig, schema_of
from auditor.fastschema import compile_check, date_time
from auditor.models import Finding, Severity, Status, finding_uid
from auditor.policy.frameworks import framework_schema
from auditor.policy.loader import BUILTIN_FRAMEWORK_DIR
from auditor.policy.schema import policy_schema
from auditor.report.json_report import finding_problem, report_schema
from auditor.yamlio import load_yaml_file
from tests import factories as f
from tests.paths import ROOT

FINDING_SCHEMA = report_schema()["properties"]["findings"]["items"]
JSONSCHEMA = jsonschema.Draft202012Validator(FINDING_SCHEMA, format_checker=jsonschema.FormatChecker())
FORMATS = {"date-time": date_time}  # as json_report asserts them
FAST = compile_check(FINDING_SCHEMA, formats=FORMATS)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                    st.sampled_from(["PASS", "FAIL", "high", "OKTA-APP-ACTIVE", "okta-x", ""]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["framework", "id", "x"]), inner, max_size=3)),
    max_leaves=8)


def good_item() -> dict[str, Any]:
    return {"uid": "u1", "control_id": "OKTA-APP-ACTIVE", "title": "t", "federation": "prod", "resource": "okta.app",
            "status": "PASS", "severity": "high", "expected": {"status": {"operator": "equals", "value": True}},
            "actual": True, "message": "m",
            "remediation": {"action": None, "automatic": False, "needs_allow_scp_changes": False}, "references": ["https://example.com"],
            "requirements": [{"framework": "pci-dss-4.0", "id": "8.3.1"}]}


def test_the_finding_schema_compiles() -> None:
    assert FAST is not None


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(sorted(good_item())), value=json_values, drop=st.booleans())
def test_a_finding_with_one_field_changed_is_judged_as_jsonschema_judges_it(key: str, value: Any,
                                                                           drop: bool) -> None:
    assert FAST is not None
    item = good_item()
    if drop:
        del item[key]
    else:
        item[key] = value
    assert FAST(item) == JSONSCHEMA.is_valid(item), item


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_any_document_is_judged_as_jsonschema_judges_it(value: Any) -> None:
    assert FAST is not None
    assert FAST(value) == JSONSCHEMA.is_valid(value)


@pytest.mark.parametrize("change", [
    {"uid": ""}, {"control_id": "okta-app"}, {"status": "pass"}, {"severity": "High"}, {"references": [1]},
    {"requirements": [{"framework": "x"}]}, {"requirements": [{"framework": "x", "id": "1", "extra": 2}]},
    {"remediation": "fix it"}, {"message": None},
])
def test_known_breaks_are_caught(change: dict[str, Any]) -> None:
    assert FAST is not None
    item = {**good_item(), **change}
    assert not JSONSCHEMA.is_valid(item)
    assert not FAST(item)


def test_an_engine_finding_passes_and_a_broken_one_is_explained_by_jsonschema() -> None:
    finding = Finding(uid=finding_uid("OKTA-APP-ACTIVE", "prod", "okta.app"), control_id="OKTA-APP-ACTIVE",
                      title="App active", federation="prod", resource="okta.app", status=Status.PASS,
                      severity=Severity.HIGH, expected={"status": {"operator": "equals", "value": "ACTIVE"}},
                      actual={"status": "ACTIVE"}, message="ok")
    assert finding_problem(finding) is None
    broken = Finding(uid="", control_id="OKTA-APP-ACTIVE", title="App active", federation="prod",
                     resource="okta.app", status=Status.PASS, severity=Severity.HIGH, expected=None, actual=None,
                     message="ok")
    assert finding_problem(broken) is not None  # jsonschema's message, e.g. "'' should be non-empty"


def test_a_schema_with_an_unknown_keyword_is_left_to_jsonschema() -> None:
    assert compile_check({"type": "object", "not": {"required": ["a"]}}, formats=None) is None
    assert compile_check({"patternProperties": {"^a": {"type": "string"}}}, formats=None) is None
    assert compile_check({"$ref": "https://example.com/other.json"}, formats=None) is None
    assert compile_check({"$ref": "#/$defs/missing"}, formats=None) is None
    assert compile_check({"$defs": {"a": {"$id": "x", "type": "string"}}, "$ref": "#/$defs/a"}, formats=None) is None
    # An asserted format the caller gave no check for; without a format checker it is an annotation.
    assert compile_check({"type": "string", "format": "email"}, formats=FORMATS) is None
    assert compile_check({"type": "string", "format": "email"}, formats=None) is not None


def _example_federations() -> list[dict[str, Any]]:
    """The example config's federation, and one with every optional block (Connect, SCP, an
    account of its own)."""
    every = f.fed_config(aws={"role_arn": "arn:aws:iam::210987654321:role/AuditorReadOnly", "external_id": "x" * 8,
                              "region": "eu-west-2"})
    return [*(dict(b) for b in load_yaml_file(ROOT / "config.example.yaml").data["federations"]), every]


FEDERATION_SCHEMA = schema_of(FederationConfig)
FEDERATION_JSONSCHEMA = jsonschema.Draft202012Validator(FEDERATION_SCHEMA)
FEDERATION_FAST = compile_check(FEDERATION_SCHEMA, formats=None)
numbers_and_more = st.one_of(json_values, st.integers(min_value=-5, max_value=100_000), st.floats(-1, 1e6),
                             st.text(min_size=0, max_size=300))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), value=numbers_and_more, drop=st.booleans())
def test_a_federation_block_with_one_field_changed_is_judged_as_jsonschema_judges_it(data: Any, value: Any,
                                                                                    drop: bool) -> None:
    """The config's federation blocks (checked each time a federation is judged) use the numeric
    and size keywords too."""
    assert FEDERATION_FAST is not None
    block = data.draw(st.sampled_from(_example_federations()))
    block = {**block, "name": "prod"}
    path = data.draw(st.sampled_from(sorted(_paths(block))))
    changed = _changed(block, path, value, drop)
    assert FEDERATION_FAST(changed) == FEDERATION_JSONSCHEMA.is_valid(changed), (path, value, drop)


def test_the_example_federations_are_valid_both_ways() -> None:
    assert FEDERATION_FAST is not None
    for block in _example_federations():
        block = {**block, "name": "prod"}
        assert FEDERATION_FAST(block) and FEDERATION_JSONSCHEMA.is_valid(block)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _changed(block: dict[str, Any], path: tuple[Any, ...], value: Any, drop: bool) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(block)
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


# --- the keywords the config, policy and report schemas added, one by one ----------------------

KEYWORD_SCHEMAS: list[dict[str, Any]] = [
    {"type": "array", "uniqueItems": True},
    {"type": "array", "uniqueItems": False, "items": {"type": ["integer", "string"]}},
    {"oneOf": [{"type": "object", "required": ["id"]}, {"type": "object", "required": ["x"]}]},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},  # an integer matches both: invalid
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "array", "minItems": 1}]},
    {"allOf": [{"type": "object"}, {"required": ["id"]}]},
    {"type": "object", "dependentRequired": {"framework": ["id"]}, "properties": {"id": {"type": "string"}}},
    {"$defs": {"node": {"type": ["object", "array", "string"], "items": {"$ref": "#/$defs/node"},
                        "properties": {"x": {"$ref": "#/$defs/node"}}, "additionalProperties": False}},
     "$ref": "#/$defs/node"},
    {"$defs": {"a~b/c": {"const": "PASS"}}, "items": {"$ref": "#/$defs/a~0b~1c"}},
    {"properties": {"framework": {"$ref": "#"}}, "required": ["id"]},
    {"type": "string", "format": "date-time"},
]
KEYWORD_VALIDATORS = [(compile_check(schema, formats=None), jsonschema.Draft202012Validator(schema))
                      for schema in KEYWORD_SCHEMAS]
values_with_twins = st.recursive(
    st.one_of(scalars, st.sampled_from([1, 1.0, True, 0, False, "1"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["framework", "id", "x"]), inner, max_size=3)), max_leaves=10)


@pytest.mark.parametrize("index", range(len(KEYWORD_SCHEMAS)), ids=[str(s)[:40] for s in KEYWORD_SCHEMAS])
@settings(max_examples=300, deadline=None)
@given(value=values_with_twins)
def test_each_keyword_is_judged_as_jsonschema_judges_it(index: int, value: Any) -> None:
    fast, slow = KEYWORD_VALIDATORS[index]
    assert fast is not None
    assert fast(value) == slow.is_valid(value), (KEYWORD_SCHEMAS[index], value)


def test_unique_items_keeps_json_equality() -> None:
    fast = compile_check({"uniqueItems": True}, formats=None)
    assert fast is not None
    assert fast([1, True]) and fast([0, False]) and fast([[1], [True]]) and fast([{"a": 1}, {"a": True}])
    assert not fast([1, 1.0]) and not fast([[1], [1.0]]) and not fast([{"a": [1]}, {"a": [1.0]}])
    assert fast(["a", 1, None, [], {}]) and not fast([{}, {}])


CONFIG_JSONSCHEMA = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
CONFIG_FAST = compile_check(CONFIG_SCHEMA, formats=None)


def _example_configs() -> list[dict[str, Any]]:
    """The example config, and one with the other auth shape (`oneOf`), every `uniqueItems` list
    and the optional blocks."""
    example = load_yaml_file(ROOT / "config.example.yaml").data
    every = {**example,
             "okta": {**example["okta"], "auth": {"client_id": "0oa1", "private_key_file": "key.pem",
                                                 "scopes": ["okta.apps.read", "okta.users.read"]}},
             "aws": {**example["aws"], "cognito_pool_rps": 2.5},
             "reports": {**example["reports"], "formats": ["json", "csv", "markdown"], "frameworks": ["pci-dss-4.0"],
                         "retention": {"keep_days": 30}, "s3": {"bucket": "audit-reports", "prefix": "runs/"}},
             "discovery": {"enabled": True, "accounts": ["123456789012", "210987654321"], "regions": ["us-east-1"]},
             "notifications": {"events": ["new_failures", "errors"], "webhook": {"url": "https://hooks.example.com/x"}},
             "federations": _example_federations()}
    return [example, every]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), value=numbers_and_more, drop=st.booleans())
def test_a_config_with_one_field_changed_is_judged_as_jsonschema_judges_it(data: Any, value: Any,
                                                                          drop: bool) -> None:
    """The whole config (its `oneOf` shapes and `uniqueItems` lists included): load_config checks
    it with the compiled function and asks jsonschema only to explain a rejected one."""
    assert CONFIG_FAST is not None
    config = data.draw(st.sampled_from(_example_configs()))
    path = data.draw(st.sampled_from(sorted(_paths(config), key=str)))
    changed = _changed(config, path, value, drop)
    assert CONFIG_FAST(changed) == CONFIG_JSONSCHEMA.is_valid(changed), (path, value, drop)


def test_the_example_config_is_valid_both_ways() -> None:
    assert CONFIG_FAST is not None
    for config in _example_configs():
        assert CONFIG_FAST(config) and CONFIG_JSONSCHEMA.is_valid(config)


POLICY_SCHEMA = policy_schema()
POLICY_JSONSCHEMA = jsonschema.Draft202012Validator(POLICY_SCHEMA)
POLICY_FAST = compile_check(POLICY_SCHEMA, formats=None)
SHIPPED_POLICIES = [load_yaml_file(p).data for p in sorted((ROOT / "policies").glob("*.yaml"))]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), value=numbers_and_more, drop=st.booleans())
def test_a_policy_with_one_field_changed_is_judged_as_jsonschema_judges_it(data: Any, value: Any,
                                                                          drop: bool) -> None:
    """Policy files: nested assertions through `$ref`, operator arguments through `anyOf`."""
    assert POLICY_FAST is not None
    policy = data.draw(st.sampled_from(SHIPPED_POLICIES))
    path = data.draw(st.sampled_from(sorted(_paths(policy), key=str)))
    changed = _changed(policy, path, value, drop)
    assert POLICY_FAST(changed) == POLICY_JSONSCHEMA.is_valid(changed), (path, value, drop)


def test_the_shipped_policies_are_valid_both_ways() -> None:
    assert POLICY_FAST is not None
    for policy in SHIPPED_POLICIES:
        assert POLICY_FAST(policy) and POLICY_JSONSCHEMA.is_valid(policy)


FRAMEWORK_SCHEMA = framework_schema()
FRAMEWORK_JSONSCHEMA = jsonschema.Draft202012Validator(FRAMEWORK_SCHEMA)
FRAMEWORK_FAST = compile_check(FRAMEWORK_SCHEMA, formats=None)
SHIPPED_FRAMEWORKS = [load_yaml_file(p).data for p in sorted(BUILTIN_FRAMEWORK_DIR.glob("*.yaml"))]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), value=numbers_and_more, drop=st.booleans())
def test_a_framework_with_one_field_changed_is_judged_as_jsonschema_judges_it(data: Any, value: Any,
                                                                             drop: bool) -> None:
    assert FRAMEWORK_FAST is not None and SHIPPED_FRAMEWORKS
    mapping = data.draw(st.sampled_from(SHIPPED_FRAMEWORKS))
    path = data.draw(st.sampled_from(sorted(_paths(mapping), key=str)))
    changed = _changed(mapping, path, value, drop)
    assert FRAMEWORK_FAST(changed) == FRAMEWORK_JSONSCHEMA.is_valid(changed), (path, value, drop)


REPORT_SCHEMA = report_schema()
REPORT_JSONSCHEMA = jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=jsonschema.FormatChecker())
REPORT_FAST = compile_check(REPORT_SCHEMA, formats=FORMATS)
timestamps = st.one_of(
    st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.isoformat()),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,8})?([Zz]|[+-]\d{2}:\d{2})?\Z"),
    st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(stamp=timestamps)
def test_date_time_never_accepts_what_jsonschema_rejects(stamp: str) -> None:
    """The report envelope's `date-time` check may be stricter than jsonschema's (a rejection only
    costs asking jsonschema), never laxer; the timestamps the program writes pass both."""
    checker = jsonschema.FormatChecker()
    if date_time(stamp):
        assert checker.conforms(stamp, "date-time"), stamp


def test_the_report_envelope_compiles_and_a_written_timestamp_passes() -> None:
    from datetime import UTC, datetime

    assert REPORT_FAST is not None
    stamp = datetime.now(UTC).isoformat()
    assert date_time(stamp) and date_time(stamp.replace("+00:00", "Z"))
    assert not date_time("2026-02-30T00:00:00Z") and not date_time("yesterday")
