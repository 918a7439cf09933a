"""A scan's federations' resources leave memory once judged (snapshot.StoredResources, handed to
collect() by runner.StreamingEvaluator.submit): whatever reads them afterwards — the snapshot
writer, the history, re-judging, a late collector write — sees exactly the data collected."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from auditor.collectors.base import Sink
from auditor.evaluate.engine import evaluate
from auditor.history import pack_state
from auditor.policy.loader import load_policies
from auditor.report import Format
from auditor.runner import RunTarget, ScanOptions, StreamingEvaluator, judge
from auditor.snapshot import FederationSnapshot, Snapshot, StoredResources, encode_federation
from tests import factories as f

NOW = dt.datetime(2026, 11, 28, 8, 40, tzinfo=dt.UTC)


def _two() -> Snapshot:
    snap = f.snapshot()
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["AttributeMapping"] = {"email": "name"}  # a FAIL
    other = dataclasses.replace(snap.federations[0], name="staging", resources=resources)
    return dataclasses.replace(snap, federations=(snap.federations[0], other))


def _stored(snap: Snapshot) -> tuple[Snapshot, StreamingEvaluator]:
    """The snapshot as a streamed scan returns it: each federation's resources a StoredResources."""
    streaming = StreamingEvaluator(load_policies(), snap.settings, NOW, pack_history=True)
    stand_ins = [streaming.submit(fed) for fed in snap.federations]
    streaming.finish()
    feds = tuple(dataclasses.replace(fed, resources=s) for fed, s in zip(snap.federations, stand_ins, strict=True))
    return dataclasses.replace(snap, federations=feds), streaming


def test_judged_federations_resources_leave_memory_and_read_back_equal() -> None:
    snap = _two()
    stored, streaming = _stored(snap)
    try:
        for before, after in zip(snap.federations, stored.federations, strict=True):
            assert isinstance(after.resources, StoredResources) and after.resources.stored
            assert dict(after.resources.items()) == before.resources
            assert after == before  # a FederationSnapshot compares by content
            # Every writer sees the data, never the stand-in's repr (json's default=str would).
            assert pack_state(after.resources) == pack_state(before.resources)
            assert encode_federation(after) == encode_federation(before)
            assert after.has("cognito.user_pool") and after.resources.get("nope") is None
        assert evaluate(stored, load_policies(), now=NOW) == evaluate(snap, load_policies(), now=NOW)
    finally:
        streaming.close()


def test_a_snapshot_with_stored_resources_writes_the_same_run(tmp_path: Path) -> None:
    snap = _two()
    options = ScanOptions(formats=(Format.JSON, Format.MARKDOWN), now=NOW)
    held = judge(snap, load_policies(), options, started=NOW, target=RunTarget(tmp_path / "held"))
    stored, streaming = _stored(snap)
    try:
        out = judge(stored, load_policies(), options, started=NOW, target=RunTarget(tmp_path / "stored"),
                    streamed=streaming.streamed(stored))
    finally:
        streaming.close()
    for name in ("snapshot", "markdown"):
        assert out.files[name].read_bytes() == held.files[name].read_bytes()
    assert [x.to_json() for x in out.result.findings] == [x.to_json() for x in held.result.findings]


def test_a_write_after_the_hand_over_works_on_a_copy_of_the_stored_data() -> None:
    sink = Sink("prod")
    sink.put("a.x", {"v": 1})
    sink.put("b.x", {"v": 2})
    stand_in = StoredResources(dict(sink.resources))
    assert sink.hand_over(stand_in, sink.version)
    stand_in.store(lambda: {"a.x": {"v": 1}, "b.x": {"v": 2}})  # read back from disk from now on
    assert sink.resources is stand_in
    sink.fail("b.x", "found broken late")  # a collector bug: must not be lost, nor lose a.x
    assert sink.resources == {"a.x": {"v": 1}} and [e.source for e in sink.errors] == ["b.x"]
    sink.put("c.x", 3)
    assert sink.resources == {"a.x": {"v": 1}, "c.x": 3}


def test_no_hand_over_when_the_sink_changed_since_the_announced_version() -> None:
    sink = Sink("prod")
    sink.put("a.x", 1)
    announced = sink.version
    sink.put("b.x", 2)  # written between the announcement and the hand-over
    assert not sink.hand_over(StoredResources({"a.x": 1}), announced)
    assert sink.resources == {"a.x": 1, "b.x": 2}


def test_a_federation_snapshot_of_stored_resources_round_trips() -> None:
    fed = f.snapshot().federations[0]
    stand_in = StoredResources(fed.resources)
    stand_in.store(lambda: dict(sorted(fed.resources.items())))
    assert FederationSnapshot.from_json(dataclasses.replace(fed, resources=stand_in).to_json()) == fed
