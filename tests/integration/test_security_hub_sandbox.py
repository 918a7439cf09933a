"""AWS Security Hub through real boto3 against the local AWS: the scan imports its findings, a
re-run updates them in place, batches stay within AWS's 100, failed findings are retried, and a
refused call is a notice that leaves the exit code alone. The local AWS enforces AWS's documented
BatchImportFindings rules (auditor/sandbox/local_aws.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from auditor.models import Status
from auditor.report import Format
from auditor.report.security_hub import publish_findings
from auditor.sandbox.scenario import Sandbox, SeededFederation, seed_federation
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration

CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
TARGET = {"region": "us-east-1", "account_id": "123456789012", "partition": "aws"}


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> SeededFederation:
    sandbox.reset()
    return seed_federation(sandbox, "hub", ["email_mapping"])


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _all_findings(sandbox: Sandbox) -> list[dict[str, Any]]:
    hub = sandbox.aws.client("securityhub")
    out: list[dict[str, Any]] = []
    for page in hub.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 100}):
        out += page["Findings"]
    return out


def _imports(sandbox: Sandbox) -> list[int]:
    """The number of findings each BatchImportFindings call carried, in order."""
    return [len(p.get("Findings", [])) for s, op, p in sandbox.aws.requests if op == "BatchImportFindings"]


def _asff(n: int, prefix: str = "synthetic") -> list[dict[str, Any]]:
    return [{"SchemaVersion": "2018-10-08", "Id": f"{prefix}-{i}",
             "ProductArn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
             "GeneratorId": "TEST", "AwsAccountId": "123456789012", "Types": ["Software and Configuration Checks"],
             "CreatedAt": "2026-11-30T00:00:00Z", "UpdatedAt": "2026-11-30T00:00:00Z",
             "Severity": {"Label": "LOW"}, "Title": "t", "Description": "d",
             "Resources": [{"Type": "Other", "Id": f"r-{i}"}]} for i in range(n)]


def test_a_rerun_updates_the_fixed_finding_to_passed_in_place(
        sandbox: Sandbox, seeded: SeededFederation, tmp_path: Path) -> None:
    first = scan_sandbox(sandbox, [seeded], _dir(tmp_path / "1"), security_hub=True)
    uid = by_control(first, "hub")["COGNITO-IDP-EMAIL-MAPPING"].uid
    assert first.security_hub is not None and first.security_hub.imported == len(first.result.findings)
    stored = [f for f in _all_findings(sandbox) if f["Id"] == uid]
    assert [f["Compliance"]["Status"] for f in stored] == ["FAILED"]
    assert stored[0]["GeneratorId"] == "COGNITO-IDP-EMAIL-MAPPING"
    assert any(r.startswith("PCI DSS v4.0 ") for r in stored[0]["Compliance"]["RelatedRequirements"])

    sandbox.aws.client("cognito-idp").update_identity_provider(
        UserPoolId=seeded.pool_id, ProviderName="Okta", AttributeMapping={"email": CLAIM})
    second = scan_sandbox(sandbox, [seeded], _dir(tmp_path / "2"), security_hub=True)
    assert by_control(second, "hub")["COGNITO-IDP-EMAIL-MAPPING"].uid == uid
    everything = _all_findings(sandbox)
    stored = [f for f in everything if f["Id"] == uid]
    assert [f["Compliance"]["Status"] for f in stored] == ["PASSED"]  # one record, updated, not a second one
    assert len(everything) == len(first.result.findings)


def test_more_than_100_findings_go_in_batches_of_at_most_100(sandbox: Sandbox) -> None:
    sandbox.aws.requests.clear()
    result = publish_findings(_asff(250, "batch"), sandbox.aws.client("securityhub"), target=TARGET)
    assert _imports(sandbox) == [100, 100, 50]
    assert (result.imported, result.failed, result.notices) == (250, (), ())
    assert len([f for f in _all_findings(sandbox) if f["Id"].startswith("batch-")]) == 250


def test_the_local_aws_refuses_more_than_100_findings_per_call(sandbox: Sandbox) -> None:
    with pytest.raises(ClientError) as err:
        sandbox.aws.client("securityhub").batch_import_findings(Findings=_asff(101, "toomany"))
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert not [f for f in _all_findings(sandbox) if f["Id"].startswith("toomany-")]


def test_the_local_aws_reports_a_finding_missing_a_required_attribute(sandbox: Sandbox) -> None:
    findings = _asff(3, "partial")
    del findings[1]["Types"]
    reply = sandbox.aws.client("securityhub").batch_import_findings(Findings=findings)
    assert (reply["SuccessCount"], reply["FailedCount"]) == (2, 1)
    [failed] = reply["FailedFindings"]
    assert failed["Id"] == "partial-1" and failed["ErrorCode"] == "InvalidInput"
    assert "required property 'Types'" in failed["ErrorMessage"]
    assert sorted(f["Id"] for f in _all_findings(sandbox) if f["Id"].startswith("partial-")) == ["partial-0",
                                                                                                   "partial-2"]


def test_failed_findings_are_retried_and_invalid_ones_are_not(sandbox: Sandbox) -> None:
    sandbox.aws.requests.clear()
    findings = _asff(10, "retry")
    del findings[9]["Types"]  # InvalidInput: the same every time, never retried (botocore checks Title itself)
    sandbox.aws.fail_finding_imports(3)  # the first call reports 3 valid findings as failed
    result = publish_findings(findings, sandbox.aws.client("securityhub"), target=TARGET, sleep=lambda _: None)
    assert _imports(sandbox) == [10, 3]
    assert result.imported == 9
    assert [(fid, code) for fid, code, _ in result.failed] == [("retry-9", "InvalidInput")]
    assert any("retry-9" in n for n in result.notices)


def test_a_denied_import_is_a_notice_and_leaves_the_exit_code(
        sandbox: Sandbox, seeded: SeededFederation, tmp_path: Path) -> None:
    plain = scan_sandbox(sandbox, [seeded], _dir(tmp_path / "plain"))
    sandbox.aws.deny("BatchImportFindings")
    try:
        denied = scan_sandbox(sandbox, [seeded], _dir(tmp_path / "denied"), security_hub=True,
                              formats=(Format.JSON, Format.ASFF))
    finally:
        sandbox.aws.clear_faults()
    assert denied.result.exit_code == plain.result.exit_code
    [notice] = [n for n in denied.result.notices if "Security Hub" in n]
    assert "securityhub:BatchImportFindings" in notice and "AccessDeniedException" in notice
    report = json.loads((denied.run_dir / "report.json").read_text())
    assert notice in report["notices"]
    # The ASFF file is written all the same: the findings a re-run (or the CLI) can import later.
    asff = json.loads((denied.run_dir / "findings.asff.json").read_text())
    assert {f["Id"] for f in asff} == {f.uid for f in denied.result.findings}


def test_config_security_hub_block_and_asff_format(sandbox: Sandbox, seeded: SeededFederation, tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc.setdefault("reports", {})["security_hub"] = {"account_id": "123456789012"}
        doc["reports"]["frameworks"] = ["nist-800-53-r5"]

    out = scan_sandbox(sandbox, [seeded], tmp_path, edit=edit, formats=(Format.HTML, Format.ASFF))
    assert out.security_hub is not None and out.security_hub.imported == len(out.result.findings)
    assert (out.run_dir / "attestation-nist-800-53-r5.md").exists()
    asff = json.loads((out.run_dir / "findings.asff.json").read_text())
    skipped = {f.uid for f in out.result.findings if f.status.value == "SKIPPED"}
    for item in asff:
        assert item["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        assert item["RecordState"] == ("ARCHIVED" if item["Id"] in skipped else "ACTIVE")
        assert item["Workflow"] == {"Status": "NEW"}
    role = next(i for i in asff if i["GeneratorId"] == "CONNECT-ROLE-TRUST")
    assert role["Resources"][0]["Type"] == "AwsIamRole" and role["Resources"][0]["Id"] == seeded.role_arn
    okta = next(i for i in asff if i["GeneratorId"] == "OKTA-APP-ACTIVE")
    assert okta["Resources"][0]["Type"] == "Other"


def test_findings_a_run_no_longer_reports_are_archived(sandbox: Sandbox, seeded: SeededFederation,
                                                       tmp_path: Path) -> None:
    """A federation removed from the config leaves no ACTIVE findings behind in Security Hub (they
    were FAILED there for ever); one left out by --federation keeps its findings."""
    def two(doc: dict[str, Any]) -> None:
        doc["federations"] = [doc["federations"][0], {**doc["federations"][0], "name": "hub-old"}]

    first = scan_sandbox(sandbox, [seeded], tmp_path, edit=two, security_hub=True)
    old = {f.uid for f in first.result.findings if f.federation == "hub-old"}
    assert old and first.security_hub is not None and first.security_hub.imported == len(first.result.findings)

    # Left out by --federation: still in the config, its findings stay.
    only = scan_sandbox(sandbox, [seeded], tmp_path, edit=two, security_hub=True, federations=("hub",))
    stored = {f["Id"]: f for f in _all_findings(sandbox)}
    assert {stored[i]["RecordState"] for i in old} == {"ACTIVE"}
    assert not [n for n in only.result.notices if "archived" in n]

    # Removed from the config: archived, as they were sent (title, resources), as of this run.
    second = scan_sandbox(sandbox, [seeded], tmp_path, security_hub=True)
    stored = {f["Id"]: f for f in _all_findings(sandbox)}
    assert {stored[i]["RecordState"] for i in old} == {"ARCHIVED"}
    sample = stored[sorted(old)[0]]
    assert sample["Title"].startswith(sample["GeneratorId"]) and sample["Resources"]
    assert all(stored[f.uid]["RecordState"] == "ACTIVE" for f in second.result.findings
               if f.status is not Status.SKIPPED)
    [notice] = [n for n in second.result.notices if "archived" in n]
    assert f"archived {len(old)} finding(s)" in notice
    # Nothing left to archive the next time.
    third = scan_sandbox(sandbox, [seeded], tmp_path, security_hub=True)
    assert not [n for n in third.result.notices if "archived" in n]


def test_the_local_aws_filters_findings_as_security_hub_documents(sandbox: Sandbox) -> None:
    hub = sandbox.aws.client("securityhub")
    hub.batch_import_findings(Findings=_asff(3, prefix="filtered"))
    got = hub.get_findings(Filters={"Id": [{"Value": "filtered-0", "Comparison": "EQUALS"},
                                           {"Value": "filtered-2", "Comparison": "EQUALS"}]})["Findings"]
    assert sorted(f["Id"] for f in got) == ["filtered-0", "filtered-2"]
    got = hub.get_findings(Filters={"Id": [{"Value": "filtered-", "Comparison": "PREFIX"},
                                           {"Value": "filtered-1", "Comparison": "NOT_EQUALS"}],
                                    "GeneratorId": [{"Value": "TEST", "Comparison": "EQUALS"}]})["Findings"]
    assert sorted(f["Id"] for f in got) == ["filtered-0", "filtered-2"]
    too_many = [{"Value": f"x{i}", "Comparison": "EQUALS"} for i in range(21)]
    with pytest.raises(ClientError, match="at most 20"):
        hub.get_findings(Filters={"Id": too_many})


def test_a_denied_read_back_is_a_notice_naming_the_permission(sandbox: Sandbox, seeded: SeededFederation,
                                                               tmp_path: Path) -> None:
    def two(doc: dict[str, Any]) -> None:
        doc["federations"] = [doc["federations"][0], {**doc["federations"][0], "name": "hub-gone"}]

    first = scan_sandbox(sandbox, [seeded], tmp_path, edit=two, security_hub=True)
    sandbox.aws.deny("GetFindings")
    try:
        second = scan_sandbox(sandbox, [seeded], tmp_path, security_hub=True)
    finally:
        sandbox.aws.clear_faults()
    assert second.result.exit_code == first.result.exit_code
    [notice] = [n for n in second.result.notices if "not archived" in n]
    assert "securityhub:GetFindings" in notice and "AccessDeniedException" in notice
