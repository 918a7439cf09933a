"""The streamed writers produce exactly the bytes the one-shot ones did (format stability)."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.evaluate.engine import evaluate
from auditor.models import RunResult
from auditor.policy.loader import load_policies
from auditor.report.json_report import render_json, report_document
from tests import factories as f


def test_snapshot_write_is_pretty_sorted_json(tmp_path: Path) -> None:
    snap = f.snapshot()
    snap.write(tmp_path / "s.json")
    expected = json.dumps(snap.to_json(), indent=2, sort_keys=True, default=str) + "\n"
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == expected


def test_render_json_matches_the_one_shot_encoding() -> None:
    snap = f.snapshot()
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:00:00+00:00",
                       tool_version="t", federations=("prod",), findings=tuple(evaluate(snap, load_policies())),
                       collection_errors={}, evidence={})
    expected = (json.dumps(report_document(result), indent=2, default=str) + "\n").encode("utf-8")
    assert render_json(result) == expected


def test_render_json_with_no_findings_matches_the_one_shot_encoding() -> None:
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:00:00+00:00",
                       tool_version="t", federations=(), findings=(), collection_errors={}, evidence={})
    expected = (json.dumps(report_document(result), indent=2, default=str) + "\n").encode("utf-8")
    assert render_json(result) == expected


def test_a_finding_that_breaks_the_schema_raises_and_leaves_no_report(tmp_path: Path) -> None:
    import dataclasses

    import jsonschema
    import pytest

    from auditor.report import Format, write_reports

    snap = f.snapshot()
    findings = list(evaluate(snap, load_policies()))
    findings[3] = dataclasses.replace(findings[3], uid="")  # the schema wants a non-empty uid
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:00:00+00:00",
                       tool_version="t", federations=("prod",), findings=tuple(findings), collection_errors={},
                       evidence={})
    with pytest.raises(jsonschema.ValidationError, match="finding"):
        write_reports(result, tmp_path, [Format.JSON])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_snapshot_write_with_texts_made_earlier_is_byte_identical(tmp_path: Path) -> None:
    import dataclasses

    from auditor.snapshot import encode_federation

    snap = f.snapshot()
    fed = dataclasses.replace(snap.federations[0], name="ünïcode\nname")
    snap = dataclasses.replace(snap, federations=(snap.federations[0], fed))
    made = {fed.name: encode_federation(fed)}  # one made earlier, the other encoded on the spot
    snap.write(tmp_path / "s.json", lambda x: made.get(x.name))
    expected = json.dumps(snap.to_json(), indent=2, sort_keys=True, default=str) + "\n"
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == expected
    empty = dataclasses.replace(snap, federations=())
    empty.write(tmp_path / "e.json")
    assert (tmp_path / "e.json").read_text(encoding="utf-8") == json.dumps(
        empty.to_json(), indent=2, sort_keys=True, default=str) + "\n"
