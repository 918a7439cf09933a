"""The scheduler: next-run times, the run lock (threads, processes, stale locks), signals,
retention, heartbeat, and `schedule --once` vs a scheduled run against the sandbox.

No test waits for a real schedule: the clock and sleep are injected.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.config import Retention, ScheduleSettings
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config
from auditor.scheduler import (
    EXIT_BUSY,
    LOCK_NAME,
    RunLock,
    Scheduler,
    apply_retention,
    next_run_after,
    read_heartbeat,
    scan_job,
)
from tests.paths import ROOT


class FakeClock:
    """A clock that moves only when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)


def test_daily_at_in_a_time_zone_across_dst() -> None:
    spec = ScheduleSettings(daily_at="02:30", timezone="Europe/Berlin")
    # Winter: 02:30 CET is 01:30 UTC.
    assert next_run_after(datetime(2026, 1, 10, 12, 0, tzinfo=UTC), spec) == datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
    # Summer: 02:30 CEST is 00:30 UTC.
    assert next_run_after(datetime(2026, 7, 1, 0, 0, tzinfo=UTC), spec) == datetime(2026, 7, 1, 0, 30, tzinfo=UTC)
    # 29 March 2026: 02:30 does not exist in Berlin; the run happens at the real instant after the gap.
    assert next_run_after(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), spec) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    every = ScheduleSettings(every_hours=6)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_run_after(start, every) == start + timedelta(hours=6)
    assert next_run_after(start, every, last_start=start - timedelta(hours=2)) == start + timedelta(hours=4)
    assert next_run_after(start, every, last_start=start - timedelta(days=2)) == start  # overdue: now


def test_two_schedulers_never_run_two_scans_at_once(tmp_path: Path) -> None:
    active, peak, ran = [0], [0], []
    guard = threading.Lock()

    def job() -> int:
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with guard:
            active[0] -= 1
        ran.append(1)
        return 0

    barrier = threading.Barrier(2)
    codes: list[int] = []

    def start() -> None:
        barrier.wait()
        codes.append(Scheduler(job, tmp_path).run_once())

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1 and len(ran) == 1
    assert sorted(codes) == sorted([0, EXIT_BUSY])
    assert not (tmp_path / LOCK_NAME).exists()
    assert "another scan is running" in read_heartbeat(tmp_path)["last_skipped"]["reason"]


_CHILD = """
import json, sys, time
from pathlib import Path
from auditor.scheduler import Scheduler
folder, log = Path(sys.argv[1]), Path(sys.argv[2])
def job():
    start = time.time(); time.sleep(0.4)
    with log.open("a") as f:
        f.write(json.dumps([start, time.time()]) + "\\n")
    return 0
sys.exit(Scheduler(job, folder).run_once())
"""


def test_two_scheduler_processes_started_together(tmp_path: Path) -> None:
    log = tmp_path / "intervals.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "reports"), str(log)], cwd=ROOT)
             for _ in range(2)]
    codes = sorted(p.wait(timeout=60) for p in procs)
    intervals = [json.loads(line) for line in log.read_text().splitlines()]
    assert codes == sorted([0, EXIT_BUSY]) and len(intervals) == 1


def test_stale_lock_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                "started_at": datetime.now(UTC).isoformat()}))
    assert Scheduler(lambda: 0, tmp_path).run_once() == 0  # the crashed holder's pid is gone
    # A live pid, but the lock is older than the bound (a hung scan, pid reuse).
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "started_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}))
    assert Scheduler(lambda: 0, tmp_path).run_once() == 0
    # A live, fresh lock is respected.
    held = RunLock(tmp_path)
    with held.held():
        assert Scheduler(lambda: 0, tmp_path).run_once() == EXIT_BUSY
    assert not lock.exists()


def _make_runs(folder: Path, days_ago: list[int], now: datetime) -> list[str]:
    names = []
    for i, d in enumerate(days_ago):
        name = (now - timedelta(days=d)).strftime("%Y%m%dT%H%M%SZ") + f"-{i:06x}"
        (folder / name).mkdir(parents=True)
        names.append(name)
    (folder / "keep-me").mkdir()  # not a run folder: never touched
    (folder / "history.sqlite").write_text("")
    return sorted(names)


def test_retention_keeps_runs_or_days_and_always_the_newest(tmp_path: Path) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    names = _make_runs(tmp_path / "a", [10, 5, 3, 1, 0], now)
    apply_retention(tmp_path / "a", Retention(keep_runs=2), now)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([*names[-2:], "keep-me", "history.sqlite"])
    names = _make_runs(tmp_path / "b", [10, 5, 3, 1], now)
    apply_retention(tmp_path / "b", Retention(keep_days=4), now)
    assert {p.name for p in (tmp_path / "b").iterdir()} == {names[2], names[3], "keep-me", "history.sqlite"}
    names = _make_runs(tmp_path / "c", [40, 30], now)
    apply_retention(tmp_path / "c", Retention(keep_days=1), now)  # everything is old: the newest stays
    assert {p.name for p in (tmp_path / "c").iterdir()} == {names[-1], "keep-me", "history.sqlite"}


def test_scheduled_run_fires_and_writes_the_heartbeat(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 1, 10, 1, 29, 58, tzinfo=UTC))
    calls: list[datetime] = []
    scheduler = Scheduler(lambda: calls.append(clock.now) or 1, tmp_path,
                          schedule=ScheduleSettings(daily_at="02:30", timezone="Europe/Berlin"),
                          clock=clock, sleep=clock.sleep)
    started = time.monotonic()
    assert scheduler.serve(max_runs=2) == 0
    assert time.monotonic() - started < 10  # the fake clock: no real day-long sleep
    assert calls == [datetime(2026, 1, 10, 1, 30, tzinfo=UTC), datetime(2026, 1, 11, 1, 30, tzinfo=UTC)]
    beat = read_heartbeat(tmp_path)
    assert beat["state"] == "stopped" and beat["last_exit_code"] == 1 and beat["last_outcome"] == "finished"
    assert beat["last_start"] == "2026-01-11T01:30:00+00:00" and beat["last_finish"]


def test_sigterm_finishes_the_current_run_then_exits(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    finished: list[bool] = []

    def job() -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-run
        time.sleep(0.05)
        finished.append(True)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    scheduler = Scheduler(job, tmp_path, schedule=ScheduleSettings(every_hours=1), clock=clock, sleep=clock.sleep)
    scheduler.next_run = None
    (tmp_path / "heartbeat.json").write_text(json.dumps({"last_start": "2025-01-01T00:00:00+00:00"}))  # overdue
    assert scheduler.serve(max_runs=5) == 0
    assert finished == [True]  # the run completed, and no second run started
    assert signal.getsignal(signal.SIGTERM) is before
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> SeededFederation:
    sandbox.reset()
    return seed_federation(sandbox, "sched-drift", ["email_mapping"])


def _comparable(report: Path) -> dict[str, Any]:
    doc = json.loads(report.read_text())
    for key in ("run", "evidence", "changes", "trend"):
        doc.pop(key)
    return doc


def test_once_and_scheduled_run_produce_the_same_reports(sandbox: Sandbox, seeded: SeededFederation,
                                                         tmp_path: Path) -> None:
    doc = config_document(sandbox, [seeded], reports_dir=str(tmp_path / "reports"))
    doc["reports"]["formats"] = ["json"]
    doc["schedule"] = {"every_hours": 24}
    config = write_config(tmp_path / "config.yaml", doc)
    assert main(["schedule", "--once", "-c", str(config), "--log-format", "json"]) == 1
    [once] = list((tmp_path / "reports").glob("2*/report.json"))
    clock = FakeClock(datetime.now(UTC))
    (tmp_path / "reports" / "heartbeat.json").write_text(
        json.dumps({"last_start": (clock.now - timedelta(hours=24, seconds=-1)).isoformat()}))
    scheduler = Scheduler(scan_job(config), tmp_path / "reports", schedule=ScheduleSettings(every_hours=24),
                          clock=clock, sleep=clock.sleep)
    assert scheduler.serve(max_runs=1) == 0
    [scheduled] = [p for p in (tmp_path / "reports").glob("2*/report.json") if p != once]
    assert _comparable(once) == _comparable(scheduled)
    assert read_heartbeat(tmp_path / "reports")["last_exit_code"] == 1


def test_schedule_needs_a_schedule_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "-c", str(ROOT / "config.example.yaml")]) == 3
    assert "no `schedule`" in capsys.readouterr().err


def test_concurrent_heartbeat_updates_lose_nothing(tmp_path: Path) -> None:
    # Bug: the heartbeat was an unlocked read-modify-write, so one scheduler's update could
    # drop another's fields (seen in CI: `last_skipped` vanished).
    from auditor.scheduler import update_heartbeat

    barrier = threading.Barrier(16)

    def beat(i: int) -> None:
        barrier.wait()
        for j in range(10):
            update_heartbeat(tmp_path, {f"t{i}-{j}": j})

    threads = [threading.Thread(target=beat, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(read_heartbeat(tmp_path)) == 160


def test_runs_are_due_by_the_injected_clock_and_the_next_is_planned_before_the_scan() -> None:
    """The scheduler's own due times (the `schedule` package is not used): by the injected clock,
    DST-correct (`next_run_after`), and the next run planned when a run starts."""
    from auditor.scheduler import RunPlan

    now = [datetime(2026, 3, 28, 12, 0, tzinfo=UTC)]
    plan = RunPlan(ScheduleSettings(daily_at="02:30", timezone="Europe/Berlin"), lambda: now[0])
    # 02:30 Berlin on the night the clocks go forward does not exist: it runs at 03:30 CEST.
    assert plan.due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    now[0] = plan.due
    assert plan.start() == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # The next run is planned as the scan starts: the next day, 02:30 CEST.
    assert plan.due == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    assert plan.last_start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # every_hours after a restart counts from the previous run's start (overdue: now).
    last = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert RunPlan(ScheduleSettings(every_hours=6), lambda: now[0], last).due == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    now[0] = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert RunPlan(ScheduleSettings(every_hours=6), lambda: now[0], last).due == now[0]
