"""Framework mappings (policies/frameworks/): the shipped files, loading and its errors, the
requirement roll-up, and what reports carry (report.json, OCSF, attestation summaries, CLI)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from auditor.cli import main
from auditor.errors import PolicyError, UnusableInputError
from auditor.evaluate.frameworks import framework_views, requirement_status
from auditor.models import NOT_ASSESSED, Finding, RunResult, Severity, Status, finding_uid
from auditor.policy.frameworks import check_selection, framework_schema
from auditor.policy.loader import BUILTIN_FRAMEWORK_DIR, load_policies
from auditor.report.attestation import render_attestation_csv, render_attestation_md
from auditor.report.json_report import render_json
from auditor.report.ocsf import render_ocsf
from tests.factories import MINIMAL_CONFIG
from tests.paths import ROOT

SHIPPED = {"pci-dss-4.0", "soc2-tsc-2017", "iso-27001-2022", "nist-800-53-r5"}
POLICIES = load_policies()



def test_the_four_frameworks_ship_and_validate_against_the_schema() -> None:
    assert set(POLICIES.frameworks.ids) == SHIPPED
    validator = jsonschema.Draft202012Validator(framework_schema())
    for path in sorted(BUILTIN_FRAMEWORK_DIR.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], f"{path.name}: {errors[0].message if errors else ''}"


def test_every_builtin_control_appears_in_a_shipped_framework() -> None:
    mapped = {c.control_id for f in POLICIES.frameworks.frameworks for r in f.requirements for c in r.controls}
    unmapped = sorted({c.id for c in POLICIES.controls} - mapped)
    assert unmapped == [], f"controls in no shipped framework: {unmapped}"


def test_every_shipped_requirement_has_a_sourced_title_or_says_it_has_none() -> None:
    for fw in POLICIES.frameworks.frameworks:
        text = Path(fw.source).read_text(encoding="utf-8")
        for req in fw.requirements:
            if req.title is None:
                assert "not verified" in req.note, f"{fw.id} {req.id}: a null title must say why"
            else:
                raw = next(r for r in yaml.safe_load(text)["requirements"] if r["id"] == req.id)
                assert raw.get("source", "").startswith("https://"), f"{fw.id} {req.id}: title without a source"


def test_requirement_ids_are_numbered_as_each_standard_numbers_them() -> None:
    patterns = {"pci-dss-4.0": r"\d{1,2}(\.\d+){1,3}", "soc2-tsc-2017": r"CC[678]\.\d",
                "iso-27001-2022": r"[5-8]\.\d{1,2}", "nist-800-53-r5": r"[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?"}
    for fw in POLICIES.frameworks.frameworks:
        for req in fw.requirements:
            assert re.fullmatch(patterns[fw.id], req.id), f"{fw.id}: {req.id}"


def test_findings_carry_the_requirements_of_their_control() -> None:
    control = POLICIES.control("OKTA-SAML-SIGNING")
    assert {(r.framework, r.id) for r in control.requirements} >= {
        ("pci-dss-4.0", "8.3.1"), ("iso-27001-2022", "8.24"), ("nist-800-53-r5", "SC-23")}


def _mapping(tmp_path: Path, controls: str, name: str = "mine.yaml", fid: str = "internal-1") -> Path:
    path = tmp_path / name
    path.write_text(f"""\
framework: {{id: {fid}, name: Internal standard, version: "1"}}
requirements:
  - id: IS-1
    title: Sign-in is federated
    controls:
{controls}
  - id: IS-2
    title: Not something this tool sees
    controls: []
""", encoding="utf-8")
    return path


def test_a_mapping_naming_an_unknown_control_is_a_load_error_with_file_line_and_close_match(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "      - {id: OKTA-SAML-SIGNNG, rationale: typo}")
    with pytest.raises(PolicyError) as err:
        load_policies(frameworks=[path])
    [problem] = err.value.problems
    assert problem.file == str(path) and problem.line == 6
    assert "unknown control id OKTA-SAML-SIGNNG" in problem.message
    assert "OKTA-SAML-SIGNING" in (problem.hint or "")


def test_a_mapping_that_breaks_the_schema_names_the_key(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "      - {id: OKTA-SAML-SIGNING}")
    with pytest.raises(PolicyError) as err:
        load_policies(frameworks=[path])
    assert any("rationale" in p.message for p in err.value.problems)


def test_a_framework_id_defined_twice_is_refused(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "      - {id: OKTA-APP-ACTIVE, rationale: r}", fid="pci-dss-4.0")
    with pytest.raises(PolicyError, match="already defined"):
        load_policies(frameworks=[path])


def test_a_user_framework_loads_beside_the_shipped_ones(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "      - {id: OKTA-APP-ACTIVE, rationale: agents sign in at Okta}")
    policies = load_policies(frameworks=[tmp_path])
    assert set(policies.frameworks.ids) == SHIPPED | {"internal-1"}
    assert ("internal-1", "IS-1") in {(r.framework, r.id) for r in policies.control("OKTA-APP-ACTIVE").requirements}
    assert str(path) in policies.frameworks.files  # its digest goes into the evidence


def test_an_unknown_selection_names_the_known_frameworks() -> None:
    with pytest.raises(UnusableInputError) as err:
        check_selection(POLICIES.frameworks, ["pci-dss-3.2"], where="--framework")
    assert "pci-dss-3.2" in err.value.problems[0].message
    assert all(fid in (err.value.problems[0].hint or "") for fid in SHIPPED)


@pytest.mark.parametrize("statuses,expected", [
    ([], NOT_ASSESSED),
    (["PASS", "PASS"], "PASS"),
    (["PASS", "SKIPPED"], "PASS"),
    (["SKIPPED"], "SKIPPED"),
    (["PASS", "WAIVED"], "WAIVED"),
    (["PASS", "ERROR", "WAIVED"], "ERROR"),
    (["ERROR", "FAIL"], "FAIL"),
    (["PASS", "SOMETHING"], "ERROR"),
])
def test_a_requirement_takes_its_worst_control_and_is_never_passed_unseen(statuses: list[str], expected: str) -> None:
    assert requirement_status(statuses) == expected


def _finding(control: str, fed: str, status: Status) -> Finding:
    ctl = POLICIES.control(control)
    return Finding(uid=finding_uid(control, fed, ctl.resource), control_id=control, title=ctl.title,
                   severity=Severity.HIGH, status=status, federation=fed, resource=ctl.resource, expected=None,
                   actual=None, message=f"{control} is {status}", requirements=ctl.requirements)


def _result() -> RunResult:
    statuses = {"OKTA-SAML-SIGNING": Status.FAIL, "OKTA-CERT-EXPIRY": Status.ERROR}
    findings = [_finding(c.id, fed, statuses.get(c.id, Status.PASS) if fed == "staging" else Status.PASS)
                for fed in ("prod", "staging") for c in POLICIES.controls]
    base = RunResult("20261130T000000Z-abcdef", "2026-11-30T00:00:00+00:00", "2026-11-30T00:00:05+00:00", "0.1.0",
                     ("prod", "staging"), tuple(findings), {}, {})
    views = framework_views(POLICIES.frameworks, ["pci-dss-4.0"], base.findings, base.federations)
    labels = {f.id: f.related_requirement("").strip() for f in POLICIES.frameworks.frameworks}
    return dataclasses.replace(base, frameworks=views, framework_labels=labels)


def test_framework_view_rolls_up_per_federation_and_keeps_uncovered_requirements() -> None:
    [view] = _result().frameworks
    reqs = {r.id: r for r in view.requirements}
    assert reqs["8.3.1"].status == {"prod": "PASS", "staging": "FAIL"}
    assert reqs["8.4.2"].controls == () and reqs["8.4.2"].status == {"prod": NOT_ASSESSED, "staging": NOT_ASSESSED}
    assert view.coverage() == (sum(1 for r in view.requirements if r.controls), len(view.requirements))


def test_report_json_carries_requirements_per_finding_and_the_framework_section() -> None:
    doc = json.loads(render_json(_result()))  # render_json validates against the shipped schema
    signing = next(f for f in doc["findings"] if f["control_id"] == "OKTA-SAML-SIGNING")
    assert {"framework": "pci-dss-4.0", "id": "8.3.1"} in signing["requirements"]
    [fw] = doc["frameworks"]
    mfa = next(r for r in fw["requirements"] if r["id"] == "8.4.2")
    assert mfa["status"] == {"prod": "NOT_ASSESSED", "staging": "NOT_ASSESSED"} and mfa["controls"] == []


def test_ocsf_compliance_names_the_standards_and_requirements() -> None:
    events = json.loads(render_ocsf(_result()))
    schema = json.loads((ROOT / "auditor/schemas/ocsf-compliance-finding.schema.json").read_text())
    jsonschema.validate(events, schema)
    signing = next(e for e in events if e["compliance"]["control"] == "OKTA-SAML-SIGNING")
    assert "PCI DSS v4.0 8.3.1" in signing["compliance"]["requirements"]
    assert "PCI DSS v4.0" in signing["compliance"]["standards"]


def test_attestation_csv_and_markdown_rows() -> None:
    result = _result()
    [view] = result.frameworks
    rows = list(csv.DictReader(io.StringIO(render_attestation_csv(result, view).decode("utf-8-sig"))))
    signing = [r for r in rows if r["control"] == "OKTA-SAML-SIGNING" and r["federation"] == "staging"]
    assert signing and signing[0]["control_status"] == "FAIL" and signing[0]["requirement_status"] == "FAIL"
    assert signing[0]["evidence_file"] == "snapshot.json"
    assert signing[0]["finding_uid"] == finding_uid("OKTA-SAML-SIGNING", "staging", "okta.app")
    mfa = [r for r in rows if r["requirement"] == "8.4.2"]
    assert {r["federation"] for r in mfa} == {"prod", "staging"}
    assert all(r["requirement_status"] == "not assessed by this tool" and r["finding_uid"] == "" for r in mfa)
    text = render_attestation_md(result, view).decode()
    assert "not assessed by this tool" in text and "| 8.4.2 |" in text


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL_CONFIG + extra, encoding="utf-8")
    return path


def test_scan_with_an_unknown_framework_exits_3_listing_the_known_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "-c", str(_config(tmp_path)), "--framework", "pci-dss-3.2", "-o", str(tmp_path / "r")])
    assert code == 3
    err = capsys.readouterr().err
    assert "unknown framework 'pci-dss-3.2'" in err and all(fid in err for fid in SHIPPED)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # nothing was scanned


def test_an_unknown_framework_in_the_config_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "reports: {frameworks: [sox-404]}\n")
    assert main(["scan", "-c", str(config), "-o", str(tmp_path / "r")]) == 3
    assert "reports.frameworks" in capsys.readouterr().err


def test_frameworks_command_lists_shipped_and_configured_with_coverage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mapping(tmp_path, "      - {id: OKTA-APP-ACTIVE, rationale: agents sign in at Okta}")
    config = _config(tmp_path, "frameworks: [mine.yaml]\n")
    assert main(["frameworks", "-c", str(config), "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == SHIPPED | {"internal-1"}
    mine = rows["internal-1"]
    assert mine["shipped"] is False and (mine["covered"], mine["requirements"]) == (1, 2)
    pci = POLICIES.frameworks.get("pci-dss-4.0")
    assert (rows["pci-dss-4.0"]["covered"], rows["pci-dss-4.0"]["requirements"]) == pci.coverage()
    assert main(["frameworks", "-c", str(config), "pci-dss-4.0"]) == 0
    out = capsys.readouterr().out
    assert "8.4.2" in out and "not assessed by this tool" in out
    assert main(["frameworks", "-c", str(config), "nope"]) == 3
