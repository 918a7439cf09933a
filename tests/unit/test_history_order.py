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
