"""auditor.fastschema accepts exactly what jsonschema accepts, for the schemas it compiles."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.config import CONFIG_SCHEMA, FederationConfig, schema_of
from auditor.fastschema import compile_check
from auditor.models import Finding, Severity, Status, finding_uid
from auditor.report.json_report import finding_problem, report_schema
from auditor.yamlio import load_yaml_file
from tests import factories as f
from tests.paths import ROOT

FINDING_SCHEMA = report_schema()["properties"]["findings"]["items"]
JSONSCHEMA = jsonschema.Draft202012Validator(FINDING_SCHEMA, format_checker=jsonschema.FormatChecker())
FAST = compile_check(FINDING_SCHEMA)

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
    assert compile_check({"type": "object", "not": {"required": ["a"]}}) is None
    assert compile_check({"type": "string", "format": "date-time"}) is None


def _example_federations() -> list[dict[str, Any]]:
    """The example config's federation, and one with every optional block (Connect, SCP, an
    account of its own)."""
    every = f.fed_config(aws={"role_arn": "arn:aws:iam::210987654321:role/AuditorReadOnly", "external_id": "x" * 8,
                              "region": "eu-west-2"})
    return [*(dict(b) for b in load_yaml_file(ROOT / "config.example.yaml").data["federations"]), every]


FEDERATION_SCHEMA = schema_of(FederationConfig)
FEDERATION_JSONSCHEMA = jsonschema.Draft202012Validator(FEDERATION_SCHEMA)
FEDERATION_FAST = compile_check(FEDERATION_SCHEMA)
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


# --- the whole config (checked on every load; jsonschema only explains a config it rejects) -----

CONFIG_JSONSCHEMA = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
CONFIG_FAST = compile_check(CONFIG_SCHEMA)


def _example_config() -> dict[str, Any]:
    doc = load_yaml_file(ROOT / "config.example.yaml").data
    return {**doc, "federations": [*doc["federations"], {**_example_federations()[-1], "name": "every"}]}


@settings(max_examples=400, deadline=None)
@given(data=st.data(), value=numbers_and_more, drop=st.booleans())
def test_a_config_with_one_field_changed_is_judged_as_jsonschema_judges_it(data: Any, value: Any,
                                                                          drop: bool) -> None:
    assert CONFIG_FAST is not None
    doc = _example_config()
    path = data.draw(st.sampled_from(sorted(_paths(doc), key=repr)))
    changed = _changed(doc, path, value, drop)
    assert CONFIG_FAST(changed) == CONFIG_JSONSCHEMA.is_valid(changed), (path, value, drop)


@pytest.mark.parametrize(("schema", "document"), [
    ({"type": "array", "uniqueItems": True}, [1, 1.0]),
    ({"type": "array", "uniqueItems": True}, [True, 1]),
    ({"type": "array", "uniqueItems": True}, [{"a": 1, "b": [2]}, {"b": [2], "a": 1}]),
    ({"type": "array", "uniqueItems": True}, [[1, {"x": None}], [1, {"x": None}]]),
    ({"type": "array", "uniqueItems": True}, ["a", "b", 0, False, None, [], {}]),
    ({"type": "array", "uniqueItems": False}, [1, 1]),
    ({"oneOf": [{"type": "string"}, {"minLength": 2}]}, "ab"),
    ({"oneOf": [{"type": "string"}, {"minLength": 2}]}, "a"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 2.0),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, None),
    ({"allOf": [{"type": "integer"}, {"minimum": 3}]}, 2),
    ({"allOf": [{"type": "integer"}, {"minimum": 3}]}, 3),
])
def test_unique_items_and_the_combinators_as_jsonschema(schema: dict[str, Any], document: Any) -> None:
    fast = compile_check(schema)
    assert fast is not None
    assert fast(document) == jsonschema.Draft202012Validator(schema).is_valid(document)


def test_the_example_config_is_valid_both_ways() -> None:
    assert CONFIG_FAST is not None
    assert CONFIG_FAST(_example_config()) and CONFIG_JSONSCHEMA.is_valid(_example_config())
