"""runner.judge's stages, offline: what a scan judged while collecting (Streamed) gives the very
report a fresh evaluation gives, and the report-schema flags travel with the findings by position
(a finding a stage rewrites is checked again), never by object identity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.evaluate.engine import evaluate
from auditor.evaluate.waivers import Waiver, WaiverSet
from auditor.models import RunResult, Status
from auditor.policy.loader import load_policies
from auditor.report import Format, write_reports
from auditor.runner import (
    Evaluated,
    RunOutput,
    RunTarget,
    ScanOptions,
    StreamingEvaluator,
    judge,
    reach_verdict,
)
from auditor.snapshot import Snapshot, encode_federation
from tests import factories as f

NOW = dt.datetime(2026, 11, 28, 8, 40, tzinfo=dt.UTC)


def _drifted() -> Snapshot:
    """Two federations, the second with a wrong e-mail mapping (a FAIL)."""
    snap = f.snapshot()
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["AttributeMapping"] = {"email": "name"}
    other = dataclasses.replace(snap.federations[0], name="staging", resources=resources)
    return dataclasses.replace(snap, federations=(snap.federations[0], other))


def _streamed(snap: Snapshot) -> StreamingEvaluator:
    streaming = StreamingEvaluator(load_policies(), snap.settings, NOW, pack_history=True)
    for fed in reversed(snap.federations):  # handed over in any order
        streaming.submit(fed)
    streaming.finish()
    return streaming


def test_streamed_work_is_what_the_stages_would_do_themselves() -> None:
    from auditor.history import pack_state

    snap = _drifted()
    streaming = _streamed(snap)
    try:
        streamed = streaming.streamed(snap)
        assert list(streamed.evaluated.findings) == evaluate(snap, load_policies(), now=NOW)  # snapshot order
        assert streamed.evaluated.at == NOW
        assert all(streamed.evaluated.schema_checked)  # every finding passed the report schema ahead
        for fed in snap.federations:
            assert streamed.packed_states[fed.name] == pack_state(fed.resources)
            assert streamed.snapshot_texts.text(fed) == encode_federation(fed)
    finally:
        streaming.close()


def test_judging_streamed_or_afresh_writes_the_same_reports(tmp_path: Path) -> None:
    snap = _drifted()
    options = ScanOptions(formats=(Format.JSON, Format.MARKDOWN), now=NOW)
    policies = load_policies()
    fresh = judge(snap, policies, options, started=NOW, target=RunTarget(tmp_path / "fresh"))
    streaming = _streamed(snap)
    try:
        ahead = judge(snap, policies, options, started=NOW, target=RunTarget(tmp_path / "ahead"),
                      streamed=streaming.streamed(snap))
    finally:
        streaming.close()
    assert {s.value for s in (x.status for x in fresh.result.findings)} >= {"PASS", "FAIL"}

    def report(out: RunOutput) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(out.files["json"].read_text(encoding="utf-8"))
        doc["run"].pop("finished_at")
        return doc
    assert report(ahead) == report(fresh)
    for name in ("snapshot", "markdown"):
        assert ahead.files[name].read_bytes() == fresh.files[name].read_bytes()


def test_a_finding_the_waivers_rewrite_loses_its_schema_flag() -> None:
    findings = evaluate(_drifted(), load_policies(), now=NOW)
    failing = next(i for i, x in enumerate(findings) if x.status is Status.FAIL)
    evaluated = Evaluated(NOW, tuple(findings), (True,) * len(findings))
    waiver = Waiver(findings[failing].control_id, findings[failing].federation, "accepted risk", "a@example.com",
                    dt.date(2027, 1, 1), "waivers.yaml:3")
    verdict = reach_verdict(evaluated, WaiverSet((waiver,)), NOW, None)
    assert verdict.findings[failing].status is Status.WAIVED
    assert [i for i, ok in enumerate(verdict.schema_checked) if not ok] == [failing]


def test_evaluated_wants_one_flag_per_finding() -> None:
    findings = tuple(evaluate(f.snapshot(), load_policies(), now=NOW))
    with pytest.raises(ValueError, match="one flag per finding"):
        Evaluated(NOW, findings, (True,) * (len(findings) - 1))


def test_report_json_trusts_only_flags_aligned_with_the_findings(tmp_path: Path) -> None:
    findings = list(evaluate(f.snapshot(), load_policies(), now=NOW))
    findings[2] = dataclasses.replace(findings[2], uid="")  # breaks the schema (a non-empty uid)
    result = RunResult("r1", "2026-11-28T00:00:00+00:00", "2026-11-28T00:00:01+00:00", "t", ("prod",),
                       tuple(findings), {}, {})
    unchecked = [True] * len(findings)
    unchecked[2] = False
    with pytest.raises(jsonschema.ValidationError, match="finding"):
        write_reports(result, tmp_path, [Format.JSON], schema_checked=unchecked)
    with pytest.raises(jsonschema.ValidationError, match="finding"):  # misaligned: every finding is checked
        write_reports(result, tmp_path, [Format.JSON], schema_checked=[True] * (len(findings) - 1))
    # Flagged as checked, it is not checked again: the flag is what saves the work.
    write_reports(result, tmp_path, [Format.JSON], schema_checked=[True] * len(findings))
