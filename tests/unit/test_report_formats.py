"""Every report format against its published schema or a strict parser; waivers and history units."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from auditor.config import ALL_REPORT_FORMATS
from auditor.diff import flatten, state_diff
from auditor.evaluate.waivers import Waiver, WaiverSet, apply_waivers
from auditor.models import RunResult, Status
from auditor.report import Format, writer
from auditor.report.json_report import report_schema
from tests.paths import ROOT
from tests.report_samples import HOSTILE_SCRIPT, sample_result

OCSF_SCHEMA = ROOT / "auditor" / "schemas" / "ocsf-compliance-finding.schema.json"


@pytest.fixture(scope="module")
def result() -> RunResult:
    return sample_result()


def test_config_formats_match_the_enum() -> None:
    assert set(ALL_REPORT_FORMATS) == {f.value for f in Format}


def test_json_validates_against_the_shipped_schema(result: RunResult) -> None:
    doc = json.loads(writer(Format.JSON)(result))
    jsonschema.validate(doc, report_schema())
    assert doc["changes"] is None and doc["notices"] == []


def test_junit_one_testcase_per_finding(result: RunResult) -> None:
    root = ET.fromstring(writer(Format.JUNIT)(result))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(result.findings) == int(root.get("tests", "0"))
    counts = result.counts()
    assert len(root.findall("./testsuite/testcase/failure")) == counts["FAIL"] == int(root.get("failures", "-1"))
    assert len(root.findall("./testsuite/testcase/error")) == counts["ERROR"]
    assert len(root.findall("./testsuite/testcase/skipped")) == counts["SKIPPED"] + counts["WAIVED"]
    for suite in root.findall("testsuite"):  # the counts JUnit readers trust match the children
        assert int(suite.get("tests", "0")) == len(suite.findall("testcase"))
        assert int(suite.get("failures", "0")) == len(suite.findall("testcase/failure"))
    assert any(HOSTILE_SCRIPT in (c.get("name") or "") for c in cases)  # escaped, round-trips as text


def test_junit_survives_control_characters(result: RunResult) -> None:
    import dataclasses
    bad = dataclasses.replace(result.findings[0], message="bell \x07 and nul \x00")
    out = writer(Format.JUNIT)(dataclasses.replace(result, findings=(bad,)))
    ET.fromstring(out)  # still well-formed XML


def test_ocsf_events_carry_the_required_fields(result: RunResult) -> None:
    events = json.loads(writer(Format.OCSF)(result))
    jsonschema.validate(events, json.loads(OCSF_SCHEMA.read_text()))
    assert len(events) == len(result.findings)
    by_uid = {e["finding_info"]["uid"]: e for e in events}
    for f in result.findings:
        e = by_uid[f.uid]
        assert e["class_uid"] == 2003 and e["type_uid"] == 200301 and e["category_uid"] == 2
        assert e["compliance"]["control"] == f.control_id
        expected = {"PASS": 1, "FAIL": 3, "WAIVED": 3, "ERROR": 2, "SKIPPED": 0}[f.status.value]
        assert e["compliance"]["status_id"] == expected
    # The schema really checks: a missing required field is rejected.
    broken = [dict(events[0])]
    del broken[0]["compliance"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(OCSF_SCHEMA.read_text()))


def test_csv_round_trips_and_defuses_formulas(result: RunResult) -> None:
    import dataclasses
    evil = dataclasses.replace(result.findings[0], message='=HYPERLINK("http://x","y")')
    data = writer(Format.CSV)(dataclasses.replace(result, findings=(evil, *result.findings[1:])))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == len(result.findings)
    assert rows[0]["message"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert {r["status"] for r in rows} == {s.value for s in Status}


def test_markdown_is_short_and_escaped(result: RunResult) -> None:
    text = writer(Format.MARKDOWN)(result).decode()
    assert "**exit 2**" in text and "### Needs attention" in text
    assert "<script>" not in text and "\\<script\\>" in text
    assert text.count("\n| FAIL |") + text.count("\n| ERROR |") == 8


NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _waiver(control: str, expires: dt.date, federation: str = "*") -> Waiver:
    return Waiver(control, federation, "accepted for the migration", "j.doe", expires, "w.yaml:3")


def test_waiver_hides_fail_until_expiry_and_never_an_error(result: RunResult) -> None:
    fail = next(f for f in result.findings if f.status is Status.FAIL)
    error = next(f for f in result.findings if f.status is Status.ERROR)
    active = WaiverSet((_waiver(fail.control_id, dt.date(2026, 3, 1), fail.federation),
                        _waiver(error.control_id, dt.date(2027, 1, 1))))
    out, notices = apply_waivers([fail, error], active, NOW)
    assert out[0].status is Status.WAIVED and "waived until 2026-03-01 by j.doe" in out[0].message
    assert out[1].status is Status.ERROR
    assert any("is an ERROR" in n for n in notices)
    expired, notices = apply_waivers([fail], WaiverSet((_waiver(fail.control_id, dt.date(2026, 2, 28)),)), NOW)
    assert expired[0].status is Status.FAIL and "waiver expired on 2026-02-28" in expired[0].message
    assert any("expired on 2026-02-28" in n for n in notices)
    _, notices = apply_waivers([fail], WaiverSet((_waiver("NO-SUCH-CONTROL", dt.date(2027, 1, 1)),)), NOW)
    assert any("matches no finding" in n for n in notices)


def test_state_diff_is_field_level() -> None:
    before = {"okta.app": {"settings": {"signOn": {"a": 1, "list": [1, 2]}}}, "gone": {"x": 1}}
    after = {"okta.app": {"settings": {"signOn": {"a": 2, "list": [1]}}}}
    changes = {c.path: (c.before, c.after) for c in state_diff(before, after)}
    assert changes == {"okta.app.settings.signOn.a": (1, 2), "okta.app.settings.signOn.list[1]": (2, None),
                       "gone.x": (1, None)}
    assert state_diff(before, before) == []
    assert flatten({"a": {}, "b": []}) == {"a": {}, "b": []}


def test_chain_links_take_their_controls_worst_status(result: RunResult) -> None:
    import dataclasses

    from auditor.report.visuals import chain_view, node_for

    prod = [f for f in result.findings if f.federation == "contact-center-prod"]
    view = chain_view(prod)
    nodes = {n.id: n for n in view.nodes}
    assert nodes["okta_app"].status == "FAIL"  # OKTA-APP-ACTIVE and ACS fail, signing is waived
    assert nodes["app_client"].status == "PASS"
    assert nodes["metadata"].status == "FAIL"  # OKTA-CERT-EXPIRY
    assert nodes["metadata"].edge_in == "FAIL" and nodes["okta_app"].edge_in is None
    assert view.rows == 2  # CONNECT-INSTANCE-SAML is SKIPPED: no Connect row
    judged = [dataclasses.replace(f, status=Status.PASS) if f.control_id == "CONNECT-INSTANCE-SAML" else f
              for f in prod]
    view = chain_view(judged)
    assert view.rows == 3 and {n.id: n.status for n in view.nodes}["connect_instance"] == "PASS"
    assert node_for("OKTA-CONNECT-APP") == "okta_connect_app" and node_for("ACME-THING") is None
    assert node_for("COGNITO-CLIENT-CALLBACKS") == "app_client"


def test_the_duration_claims_no_more_precision_than_the_timestamps() -> None:
    from auditor.report.html import _duration

    start = "2026-11-30T09:08:13+00:00"
    assert _duration(start, start) == "under 1 s"
    assert _duration(start, "2026-11-30T09:08:20+00:00") == "7 s"
    assert _duration(start, "2026-11-30T09:10:13+00:00") == "2 min 0 s"
    assert _duration(start, "2026-11-30T09:08:12+00:00") is None
