"""Judging each federation while the others are still collected (runner.StreamingEvaluator fed by
collect()'s `on_federation`): the hand-over rules, and that a streamed scan's findings are exactly
those of judging its snapshot afterwards."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from auditor.collectors import collect
from auditor.collectors.base import CollectOptions, Collector, Sink
from auditor.config import Config, FederationConfig, load_config
from auditor.evaluate.engine import evaluate
from auditor.sandbox.scenario import Sandbox, config_document, seed_federation, write_config
from auditor.snapshot import FederationSnapshot, Snapshot


def _config(tmp_path: Path, sandbox: Sandbox, names: Sequence[str]) -> Config:
    doc = config_document(sandbox, [], reports_dir=str(tmp_path / "reports"))
    doc["federations"] = [{"name": n, "okta_app": {"label": n}, "user_pool_id": "us-east-1_x",
                           "app_client": {"name": "c"}, "identity_provider": "Okta"} for n in names]
    return load_config(write_config(tmp_path / "config.yaml", doc))


class _Fake(Collector):
    """Puts one key per federation; optionally crashes when it reaches `crash_at`."""

    name: ClassVar[str] = "fake"
    provides: ClassVar[tuple[str, ...]] = ("fake.a",)

    def __init__(self, config: Config, name: str, key: str, *, crash_at: str | None = None,
                 concurrency: int = 4) -> None:
        super().__init__(config, options=CollectOptions(concurrency=concurrency))
        self.name, self.provides, self._key, self._crash_at = name, (key,), key, crash_at  # type: ignore[misc]

    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        for fed in federations:
            if fed.name == self._crash_at:
                raise RuntimeError("boom")
            sinks[fed.name].put(self._key, {"from": self.name})
            self.on_done(fed.name)
            self.on_done(fed.name)  # told twice: must still count once


def _run(config: Config, collectors: list[Collector]) -> tuple[Snapshot, list[FederationSnapshot]]:
    handed: list[FederationSnapshot] = []
    lock = threading.Lock()

    def take(fed: FederationSnapshot) -> None:
        with lock:
            handed.append(fed)
    snapshot = collect(config, config.federations, collectors, run_id="r", on_federation=take)
    return snapshot, handed


def test_each_federation_is_handed_over_once_when_every_collector_is_done(sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox, ["a", "b", "c"])
    snapshot, handed = _run(config, [_Fake(config, "one", "one.x"), _Fake(config, "two", "two.x")])
    assert sorted(f.name for f in handed) == ["a", "b", "c"]
    for fed in handed:  # complete when handed over: both collectors' keys are there
        assert set(fed.resources) == {"one.x", "two.x"}
    assert [f.name for f in snapshot.federations] == ["a", "b", "c"]


def test_a_crash_fails_only_unfinished_federations_and_they_are_handed_over_with_the_error(
        sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox, ["a", "b", "c"])
    snapshot, handed = _run(config, [_Fake(config, "one", "one.x"),
                                     _Fake(config, "two", "two.x", crash_at="b")])
    final = {f.name: f for f in snapshot.federations}
    last = {f.name: f for f in handed}  # the last hand-over of each federation counts
    assert sorted(last) == ["a", "b", "c"]
    assert final["a"].errors == ()  # finished before the crash: its data stands
    assert [e.source for e in final["b"].errors] == ["two.x"]
    assert [e.source for e in final["c"].errors] == ["two.x"]
    for name in ("b", "c"):
        assert last[name].errors == final[name].errors
        assert "crashed" in last[name].errors[0].message


def test_a_federation_changed_after_hand_over_is_handed_over_again(sandbox: Sandbox, tmp_path: Path) -> None:
    config = _config(tmp_path, sandbox, ["a"])

    class Late(_Fake):
        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            super().collect(federations, sinks)
            sinks["a"].fail("late.x", "found broken after finishing")  # a collector bug, covered anyway

    # One after the other (concurrency 1), Late last: it marks a key failed after the hand-over.
    snapshot, handed = _run(config, [_Fake(config, "one", "one.x", concurrency=1),
                                     Late(config, "late", "late.x", concurrency=1)])
    assert [f.name for f in handed] == ["a", "a"]
    assert handed[-1].errors == snapshot.federations[0].errors != ()


def test_the_stand_in_returned_for_the_resources_is_what_the_snapshot_holds(sandbox: Sandbox, tmp_path: Path) -> None:
    """What on_federation returns for a federation's resources replaces them in the sink and the
    snapshot; a collector writing after the hand-over works on a copy of it, nothing lost."""
    from auditor.snapshot import StoredResources

    config = _config(tmp_path, sandbox, ["a", "b"])

    class Late(_Fake):
        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            super().collect(federations, sinks)
            sinks["b"].fail("one.x", "found broken after finishing")

    stand_ins: dict[str, StoredResources] = {}

    def take(fed: FederationSnapshot) -> StoredResources:
        stored = stand_ins[fed.name] = StoredResources(fed.resources)
        kept = dict(fed.resources)
        stored.store(lambda: kept)  # as the evaluator does once the federation is judged
        return stored
    snapshot = collect(config, config.federations, [_Fake(config, "one", "one.x", concurrency=1),
                                                    Late(config, "late", "late.x", concurrency=1)],
                       run_id="r", on_federation=take)
    a, b = snapshot.federations
    assert a.resources is stand_ins["a"] and dict(a.resources) == {"one.x": {"from": "one"},
                                                                   "late.x": {"from": "late"}}
    assert b.resources is stand_ins["b"]  # handed over again after the late write: its new stand-in
    assert dict(b.resources) == {"late.x": {"from": "late"}} and [e.source for e in b.errors] == ["one.x"]


@pytest.mark.integration
def test_streamed_findings_equal_judging_the_snapshot_afterwards(sandbox: Sandbox, tmp_path: Path) -> None:
    """The scan judges each federation as it is collected; judging the snapshot it wrote, at the
    recorded evaluation time, must give the very same findings (drifted ones included)."""
    from datetime import datetime

    from auditor.policy.loader import load_policies
    from tests.conftest import scan_sandbox

    sandbox.reset()
    feds = [seed_federation(sandbox, "stream-0"), seed_federation(sandbox, "stream-1", ["acs_url", "email_mapping"]),
            seed_federation(sandbox, "stream-2", ["cert_expiring"])]
    out = scan_sandbox(sandbox, feds, tmp_path, concurrency=8)
    snapshot = Snapshot.load(out.files["snapshot"])
    # Its text was made federation by federation while collecting: still the canonical form.
    assert out.files["snapshot"].read_text(encoding="utf-8") == json.dumps(
        snapshot.to_json(), indent=2, sort_keys=True, default=str) + "\n"
    now = datetime.fromisoformat(out.result.evidence["evaluated_at"])
    again = evaluate(snapshot, load_policies([Path("policies")]), now=now)
    assert [f.to_json() for f in out.result.findings] == [f.to_json() for f in again]
    statuses = {f.status.value for f in again}
    assert {"PASS", "FAIL"} <= statuses, statuses
