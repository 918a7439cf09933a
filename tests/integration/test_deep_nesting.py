"""Deeply nested input anywhere (config, policy file, snapshot, an SCP from the live API) is a
clear error naming it: exit 3 for a file, an ERROR finding naming the policy for an SCP; never a
RecursionError, never a PASS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor import nesting
from auditor.cli import main
from auditor.collectors.base import Sink
from auditor.evaluate.engine import evaluate
from auditor.models import Status
from auditor.policy.loader import load_policies
from auditor.sandbox.scenario import ACCOUNT_ID, Sandbox, seed_federation
from tests import factories as f
from tests.conftest import by_control, scan_sandbox
from tests.paths import ROOT

DEEP = 2000  # past Python's recursion limit (json.loads itself raises RecursionError)
SCP_CONTROLS = ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION")


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_scp_text(levels: int) -> str:
    """A syntactically valid SCP whose Condition value nests `levels` lists (4,000 characters at
    2,000 levels: within the 5,120-character SCP quota)."""
    return ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:DeleteRole","Resource":"*",'
            '"Condition":{"StringEquals":{"aws:PrincipalTag/x":' + nested(levels) + '}}}]}')


def one_line_error(capsys: pytest.CaptureFixture[str], name: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RecursionError" not in err, err
    assert name in err and "nested" in err, err
    return err


def test_exceeds_depth_is_iterative_and_exact() -> None:
    assert not nesting.exceeds_depth("x", 0)
    assert not nesting.exceeds_depth({"a": [1, {"b": []}]}, 4)  # object, list, object, list
    assert nesting.exceeds_depth({"a": [1, {"b": []}]}, 3)
    value: list[object] = []
    for _ in range(100_000):  # far past the recursion limit
        value = [value]
    assert nesting.exceeds_depth(value, 64)
    with pytest.raises(nesting.NestingTooDeep):
        nesting.loads(nested(DEEP), 64)


def test_deep_config_is_exit_3_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"version: 1\nokta: {nested(DEEP)}\n", encoding="utf-8")
    assert main(["validate", "-c", str(config)]) == 3
    one_line_error(capsys, "config.yaml")


def test_deep_policy_file_is_exit_3_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    lines = example.splitlines()
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(line for line in lines if not line.startswith("policies:"))
                      + "\npolicies: [deep.yaml]\n", encoding="utf-8")
    (tmp_path / "deep.yaml").write_text(
        "version: 1\ncontrols:\n  - id: DEEP-1\n    title: t\n    severity: low\n    resource: okta.app\n"
        f"    assert:\n      - path: status\n        equals: {nested(DEEP)}\n", encoding="utf-8")
    assert main(["validate", "-c", str(config)]) == 3
    one_line_error(capsys, "deep.yaml")


@pytest.mark.parametrize("levels", [DEEP, nesting.MAX_SNAPSHOT_DEPTH + 10])
def test_deep_snapshot_is_exit_3_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  levels: int) -> None:
    # DEEP breaks json.loads itself; a little past the limit loads, but would break the writers.
    doc = f.snapshot().to_json()
    doc["federations"][0]["resources"]["okta.app"]["settings"]["app"] = "PLACEHOLDER"
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(doc).replace('"PLACEHOLDER"', nested(levels)), encoding="utf-8")
    code = main(["evaluate", "--snapshot", str(path), "-c", str(tmp_path / "none.yaml"),
                 "-o", str(tmp_path / "out")])
    assert code == 3
    one_line_error(capsys, "snapshot.json")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("content", ["text", "object"])
def test_deep_scp_in_a_snapshot_is_an_error_naming_the_policy(content: str) -> None:
    resources = f.compliant_resources()
    policy = resources["organizations"]["policies"][0]
    # As DescribePolicy returns it (text, too deep to parse), or parsed but deeper than any policy.
    policy["content"] = deep_scp_text(DEEP) if content == "text" else json.loads(deep_scp_text(60))
    findings = {x.control_id: x for x in evaluate(f.snapshot(resources), load_policies(),
                                                  now=datetime(2026, 11, 28, tzinfo=UTC))}
    for control in SCP_CONTROLS:
        assert findings[control].status is Status.ERROR
        assert f"policy {policy['id']}" in findings[control].message
        assert "nested" in findings[control].message


def test_a_collected_value_too_deep_to_keep_is_a_collection_error() -> None:
    sink = Sink("prod")
    value: list[object] = []
    for _ in range(nesting.MAX_RESOURCE_DEPTH + 5):
        value = [value]
    sink.put("okta.app", {"settings": value})
    assert "okta.app" not in sink.resources
    assert [e.source for e in sink.errors] == ["okta.app"] and "nested" in sink.errors[0].message


@pytest.mark.integration
def test_deep_scp_from_the_live_api_is_an_error_naming_the_policy(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = seed_federation(sandbox, "deep-scp", ["scp_missing_role", "scp_missing_instance"])
    org = sandbox.management_client("organizations")
    policy_id = org.create_policy(Name="deep", Description="deep", Type="SERVICE_CONTROL_POLICY",
                                  Content=deep_scp_text(DEEP))["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy_id, TargetId=ACCOUNT_ID)
    try:
        out = scan_sandbox(sandbox, [fed], tmp_path)
    finally:
        org.detach_policy(PolicyId=policy_id, TargetId=ACCOUNT_ID)
        org.delete_policy(PolicyId=policy_id)
    findings = by_control(out, fed.name)
    for control in SCP_CONTROLS:
        assert findings[control].status is Status.ERROR, findings[control].message
        assert f"policy {policy_id}" in findings[control].message and "nested" in findings[control].message
    assert (out.run_dir / "snapshot.json").exists() and out.files["json"].exists()
