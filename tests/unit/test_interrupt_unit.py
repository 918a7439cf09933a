"""Stopping an apply on a signal (auditor/remediate/interrupt.py) without the sandbox: the call in
flight finishes or is abandoned and re-read, nothing further starts, and the journal says so."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from auditor.remediate.apply import apply_plan
from auditor.remediate.interrupt import StopRequest, deferred_signals, stop_on_signals
from auditor.remediate.journal import UNDOABLE_STATES, Journal, read_journal
from auditor.remediate.model import FieldChange, OutcomeState, Plan, PlannedChange
from auditor.remediate.targets import KINDS, TargetKind


def _change(n: int) -> PlannedChange:
    return PlannedChange(f"f:held{n}", "f", "held", {"id": str(n)}, "PUT", ("C",), ("why",),
                         (FieldChange("x", 1, 2),), {"x": 1}, {"x": 2})


class _HeldKind(TargetKind):
    """A server whose first write is held until released; the signal arrives while it is held."""

    name = "held"

    def __init__(self, signals: list[str], *, answers_in_grace: bool = False,
                 server_applies_abandoned: bool = False) -> None:
        self.state: dict[str, dict[str, int]] = {}
        self.stop: StopRequest | None = None
        self.release = asyncio.Event()
        self.signals = signals
        self.answers_in_grace = answers_in_grace  # the server answers once the first signal came
        self.server_applies_abandoned = server_applies_abandoned
        self.writes = 0

    async def read(self, remote: Any, target: dict[str, str]) -> Any:
        return self.state.get(target["id"], {"x": 1})

    async def write(self, remote: Any, target: dict[str, str], before: Any, after: Any) -> None:
        self.writes += 1
        assert self.stop is not None
        for name in self.signals:  # delivered while this call is in flight
            self.stop.received(name)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            if self.server_applies_abandoned:  # the request had reached the server, which applied it
                self.state[target["id"]] = dict(after)
            raise
        self.state[target["id"]] = dict(after)


class _Remote:
    def for_federation(self, name: str) -> _Remote:
        return self


def _apply(kind: _HeldKind, journal: Journal, n: int = 3) -> list[Any]:
    async def run() -> list[Any]:
        kind.release = asyncio.Event()
        kind.stop = StopRequest(lambda name, again: kind.release.set() if kind.answers_in_grace else None)
        plan = Plan(tuple(_change(i) for i in range(1, n + 1)))
        return await apply_plan(plan, _Remote(), journal, kind.stop, grace_s=3600)  # type: ignore[arg-type]
    return asyncio.run(run())


def _events(journal: Journal) -> list[tuple[str, str]]:
    return [(e["change_id"], e["event"]) for e in map(json.loads, journal.path.read_text().splitlines())]


def test_first_signal_lets_the_call_finish_and_starts_nothing_more(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    kind = _HeldKind(["SIGINT"], answers_in_grace=True)
    monkeypatch.setitem(KINDS, "held", kind)
    journal = Journal(tmp_path / "journal.jsonl")
    outcomes = _apply(kind, journal)
    assert [o.state for o in outcomes] == [OutcomeState.APPLIED_UNVERIFIED, OutcomeState.SKIPPED, OutcomeState.SKIPPED]
    assert all("interrupted (SIGINT)" in o.detail for o in outcomes[1:])
    assert kind.writes == 1
    assert _events(journal) == [("f:held1", "pending"), ("f:held1", "done"), ("f:held2", "skipped"),
                                ("f:held3", "skipped")]


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied-server-side"])
def test_second_signal_abandons_the_call_and_its_outcome_is_re_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    applied: bool) -> None:
    kind = _HeldKind(["SIGTERM", "SIGINT"], server_applies_abandoned=applied)
    monkeypatch.setitem(KINDS, "held", kind)
    journal = Journal(tmp_path / "journal.jsonl")
    outcomes = _apply(kind, journal, n=2)
    first = outcomes[0]
    if applied:
        assert first.state is OutcomeState.APPLIED_UNVERIFIED and "re-read shows it applied" in first.detail
        assert _events(journal)[:2] == [("f:held1", "pending"), ("f:held1", "done")]
    else:
        # Re-read unchanged, yet the server may still apply what it received: unknown, and undoable.
        assert first.state is OutcomeState.UNKNOWN and "may still apply" in first.detail
        assert _events(journal)[:2] == [("f:held1", "pending"), ("f:held1", "abandoned")]
        [entry] = read_journal(journal.path)
        assert entry.state == "unknown" and entry.state in UNDOABLE_STATES
    assert outcomes[1].state is OutcomeState.SKIPPED and "SIGTERM" in outcomes[1].detail


def test_signals_cannot_be_caught_off_the_main_thread_and_nothing_changes() -> None:
    seen: list[bool] = []

    async def body() -> None:
        with stop_on_signals(StopRequest()) as caught:
            seen.append(caught)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=lambda: asyncio.run(body()))
    thread.start()
    thread.join()
    assert seen == [False] and signal.getsignal(signal.SIGINT) is before


def test_deferred_signals_are_recorded_not_delivered_and_handlers_come_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with deferred_signals() as received:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert received == ["SIGTERM", "SIGINT"]
    assert {s: signal.getsignal(s) for s in before} == before


def test_stop_on_signals_delivers_a_real_signal_to_the_request() -> None:
    async def body() -> tuple[str | None, bool]:
        stop = StopRequest()
        with stop_on_signals(stop) as caught:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(stop.requested.wait(), 30)
        return stop.signal, caught

    before = signal.getsignal(signal.SIGINT)
    assert asyncio.run(body()) == ("SIGINT", True)
    assert signal.getsignal(signal.SIGINT) is before
