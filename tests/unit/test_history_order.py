"""History ordering when two runs start in the same second (run ids end in random hex)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from auditor.history import History
from auditor.models import RunResult
from tests import factories as f


def _run(run_id: str) -> RunResult:
    return RunResult(run_id=run_id, started_at="2026-11-28T10:20:14+00:00", finished_at="2026-11-28T10:20:14+00:00",
                     tool_version="t", federations=("prod",), findings=(), collection_errors={}, evidence={})


def test_runs_in_the_same_second_keep_their_recording_order(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    snap = f.snapshot()
    # The second run's random suffix sorts *before* the first's: order must not depend on it.
    first, second = _run("20261128T102014Z-ffffff"), _run("20261128T102014Z-000000")
    history.record(first, dataclasses.replace(snap, run_id=first.run_id))
    history.record(second, dataclasses.replace(snap, run_id=second.run_id))
    assert [r.run_id for r in history.runs()] == [second.run_id, first.run_id]
    previous = history.previous(second.run_id, ("prod",))
    assert previous is not None and previous.run_id == first.run_id
    assert history.previous(first.run_id, ("prod",)) is None
    assert [p.run_id for p in history.trend(second.run_id)] == [first.run_id, second.run_id]


def test_a_state_diff_compares_leaves_as_json() -> None:
    """Issue 17 compares leaves without encoding each: still as JSON, where 1, 1.0 and true differ."""
    from auditor.diff import state_diff

    before = {"r": {"a": 1, "b": True, "c": "x", "d": [], "e": 1.0, "f": None}}
    assert state_diff(before, {"r": dict(before["r"])}) == []
    after = {"r": {"a": True, "b": 1, "c": "x", "d": {}, "e": 1, "f": None}}
    assert [c.path for c in state_diff(before, after)] == ["r.a", "r.b", "r.d", "r.e"]


def test_an_unchanged_federation_is_not_diffed_and_a_changed_one_is(tmp_path: Path) -> None:
    from auditor.history import pack_state
    from auditor.snapshot import FederationSnapshot, Snapshot

    history = History(tmp_path / "h.sqlite")
    state = {"okta.app": {"label": "Contact Center", "status": "ACTIVE"}}
    for run_id, status in (("r1", "ACTIVE"), ("r2", "ACTIVE"), ("r3", "INACTIVE")):
        fed = FederationSnapshot("prod", {}, {"okta.app": {**state["okta.app"], "status": status}})
        snap = Snapshot(run_id, "2026-01-01T00:00:00+00:00", "1", {}, (fed,))
        assert pack_state(fed.resources) == pack_state(dict(fed.resources))  # canonical: equal bytes
        history.record(dataclasses.replace(_run(run_id), started_at=f"2026-11-28T10:20:1{run_id[1]}+00:00"), snap)
    assert history.diff("r1", "r2").federations[0].state == ()
    changed = history.diff("r2", "r3").federations[0].state
    assert [(c.path, c.before, c.after) for c in changed] == [("okta.app.status", "ACTIVE", "INACTIVE")]


def test_last_findings_are_each_federations_latest(tmp_path: Path) -> None:
    """What Security Hub archiving compares with: per federation, the findings of the latest run
    that had any of it - a run of some federations only, or an estate item no run lists among its
    federations, does not hide the others."""
    from auditor.models import Finding, Severity, Status

    def finding(control: str, federation: str) -> Finding:
        return Finding(uid=f"{control}-{federation}", control_id=control, title=control, severity=Severity.HIGH,
                       status=Status.FAIL, federation=federation, resource="r", expected=None, actual=None,
                       message="m")

    history = History(tmp_path / "h.sqlite")
    runs = [("r1", ("prod", "old"), ("A-prod", "A-old", "B-old", "C-emea")),
            ("r2", ("prod",), ("A-prod", "B-prod")),
            ("r3", ("prod",), ())]
    for i, (run_id, feds, uids) in enumerate(runs):
        findings = tuple(finding(*uid.split("-")) for uid in uids)
        result = dataclasses.replace(_run(run_id), started_at=f"2026-11-28T10:20:1{i}+00:00", federations=feds,
                                     findings=findings)
        history.record(result, dataclasses.replace(f.snapshot(), run_id=run_id))
    assert history.last_findings("r3") == {"A-prod": "prod", "B-prod": "prod", "A-old": "old", "B-old": "old",
                                           "C-emea": "emea"}
    assert history.last_findings("r2") == {"A-prod": "prod", "A-old": "old", "B-old": "old", "C-emea": "emea"}
    assert history.last_findings("r1") == {}
