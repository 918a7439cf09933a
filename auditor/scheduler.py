"""`auditor schedule`: scans on the config's `schedule`, unattended, for months.

- **When**: daily at `HH:MM` in an IANA time zone (zoneinfo: DST-correct; a time skipped by
  the spring change runs an hour later in wall-clock terms, a repeated one runs once), or every
  N hours counted from the previous run's start (read back from the heartbeat after a restart).
  The due times are computed here (`next_run_after`, `RunPlan`) and `Scheduler.serve` waits for
  them itself, rather than with the `schedule` package: its daily times in a zone need pytz, it
  reads the wall clock (these times come from an injectable clock: tests fire a run within a
  second) and it cannot start counting from a run before a restart. What was left for it to
  do, calling one function when due, is a loop of a few lines.
- **One run at a time**: a lock file in the reports folder, created with O_EXCL and holding the
  pid, host and start time. A lock whose process is gone (same host) or that is older than a
  bound is stale and is taken over; the take-over happens under an flock so two schedulers
  recovering the same stale lock cannot both win.
- **Signals**: the first SIGTERM/SIGINT lets the current run finish (reports written, lock
  released) and then exits; a second one abandons the run at once (the lock is still released).
- **Retention**: after each run, run folders (named like run ids, nothing else) beyond
  `keep_runs` or older than `keep_days` are deleted; the newest is never deleted.
- **Heartbeat**: `heartbeat.json` in the reports folder (last start, finish, exit code, run id,
  next run) for monitoring: alert when `last_finish` is older than a day or two.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from auditor.config import Retention, ScheduleSettings
from auditor.models import EXIT_ERROR, EXIT_OK, EXIT_UNUSABLE

log = logging.getLogger("auditor.scheduler")

LOCK_NAME = ".auditor-run.lock"
HEARTBEAT_NAME = "heartbeat.json"
# A lock older than this is stale even if its pid is alive (pid reuse, a hung scan, another host).
DEFAULT_LOCK_MAX_AGE = timedelta(hours=12)
# `auditor schedule --once` when another scan holds the lock: compliance unknown for this run.
EXIT_BUSY = EXIT_ERROR
# What a run folder is called (auditor.runner.new_run_id): only these are ever deleted.
RUN_ID = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{6}$")
# The loop sleeps in slices at most this long, so a signal is acted on promptly.
_TICK_SECONDS = 1.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock (aware, UTC)."""
    return datetime.now(UTC)


def next_run_after(now: datetime, spec: ScheduleSettings, *, last_start: datetime | None = None) -> datetime:
    """The next run strictly after `now` (for every_hours: `last_start + N`, or now if overdue)."""
    if spec.every_hours is not None:
        if last_start is None:
            return now + timedelta(hours=spec.every_hours)
        due = last_start + timedelta(hours=spec.every_hours)
        return due if due > now else now
    assert spec.daily_at is not None
    zone = ZoneInfo(spec.timezone)
    hour, minute = (int(x) for x in spec.daily_at.split(":"))
    day = now.astimezone(zone).date()
    for offset in range(3):  # today, tomorrow, or (across a DST gap) the day after
        candidate = datetime.combine(day + timedelta(days=offset), dtime(hour, minute), tzinfo=zone)
        # Round-trip through UTC: a wall time skipped by DST becomes the real instant after it.
        candidate_utc = candidate.astimezone(UTC)
        if candidate_utc > now:
            return candidate_utc
    raise AssertionError("unreachable: a daily time recurs within three days")


# ---------------------------------------------------------------------------------------- lock


class LockBusy(Exception):
    """Another live scan holds the lock; `holder` is its lock record ({} when it cannot be read)."""

    def __init__(self, holder: dict[str, Any], path: Path | None = None, max_age: timedelta | None = None) -> None:
        self.holder = holder
        known = [f"{label} {holder[key]}" for key, label in (("pid", "pid"), ("host", "on"), ("started_at", "since"))
                 if holder.get(key) is not None]
        if known:
            who = f"({' '.join(known)})"
        else:  # a torn or garbage lock file: say what it is and when it stops counting
            when = ""
            with contextlib.suppress(OSError):
                if path is not None:
                    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    when = f", written {written.isoformat(timespec='seconds')}"
            later = f"; it is taken over once older than {max_age}" if max_age is not None else ""
            who = f"(its lock file {path or LOCK_NAME} cannot be read{when}{later})"
        super().__init__(f"another scan is running {who}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class RunLock:
    """The reports folder's run lock: O_EXCL file with pid, host and start time."""

    def __init__(self, folder: Path, *, max_age: timedelta = DEFAULT_LOCK_MAX_AGE, clock: Clock = utc_now) -> None:
        self.path = folder / LOCK_NAME
        self.max_age = max_age
        self.clock = clock
        self._token: str | None = None

    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # torn or garbage: judged by the file's age below

    def stale_reason(self, holder: dict[str, Any]) -> str | None:
        """Why the lock held by `holder` may be taken over, or None when it is live."""
        started = holder.get("started_at")
        try:
            age = self.clock() - datetime.fromisoformat(str(started))
        except ValueError:
            age = self.clock() - datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        if age > self.max_age:
            return f"older than {self.max_age}"
        pid = holder.get("pid")
        if holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
            return f"pid {pid} is gone"
        return None

    def acquire(self) -> None:
        """Take the lock or raise LockBusy. A stale lock is replaced (and logged)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        guard = self.path.with_name(LOCK_NAME + ".guard")
        with open(guard, "a+") as g:
            fcntl.flock(g, fcntl.LOCK_EX)  # serialises check-and-take-over; released on close
            holder = self._read()
            if holder is not None:
                reason = self.stale_reason(holder)
                if reason is None:
                    raise LockBusy(holder, self.path, self.max_age)
                log.warning("taking over a stale run lock (%s): %s", reason, holder)
                self.path.unlink(missing_ok=True)
            token = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started_at": self.clock().isoformat(timespec="seconds"), "token": token}
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            self._token = token

    def release(self) -> None:
        """Remove the lock if it is still ours (a take-over after max_age may have replaced it)."""
        if self._token is not None and (self._read() or {}).get("token") == self._token:
            self.path.unlink(missing_ok=True)
        self._token = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """`with lock.held():` acquire, run, release."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


# ----------------------------------------------------------------------------- retention, heartbeat


def run_folders(reports_dir: Path) -> list[Path]:
    """The run folders in `reports_dir`, oldest first (run ids sort by time)."""
    if not reports_dir.is_dir():
        return []
    return sorted((p for p in reports_dir.iterdir() if p.is_dir() and RUN_ID.match(p.name)), key=lambda p: p.name)


def apply_retention(reports_dir: Path, retention: Retention | None, now: datetime) -> list[Path]:
    """Delete run folders outside the retention; never the newest. Returns what was deleted."""
    if retention is None:
        return []
    runs = run_folders(reports_dir)
    candidates = runs[:-1]  # the newest always stays
    doomed: list[Path] = []
    if retention.keep_runs is not None:
        doomed = runs[:max(0, len(runs) - retention.keep_runs)]
    elif retention.keep_days is not None:
        cutoff = now - timedelta(days=retention.keep_days)
        for path in candidates:
            match = RUN_ID.match(path.name)
            assert match is not None
            started = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if started < cutoff:
                doomed.append(path)
    deleted = []
    for path in doomed:
        if path in candidates:
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path)
    if deleted:
        log.info("retention: deleted %d run folder(s), oldest %s", len(deleted), deleted[0].name)
    return deleted


def write_heartbeat(reports_dir: Path, data: dict[str, Any]) -> None:
    """Atomically replace heartbeat.json (a reader never sees half a file)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    target = reports_dir / HEARTBEAT_NAME
    tmp = target.with_name(f".{HEARTBEAT_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def update_heartbeat(reports_dir: Path, fields: dict[str, Any]) -> None:
    """Merge `fields` into heartbeat.json under an exclusive lock.

    Two schedulers (or the scheduler and a skipped `--once`) update it at the same moment; an
    unlocked read-modify-write lets the later writer drop the other's fields (`last_skipped`).
    """
    import fcntl

    reports_dir.mkdir(parents=True, exist_ok=True)
    with (reports_dir / f".{HEARTBEAT_NAME}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = read_heartbeat(reports_dir)
            data.update(fields)
            write_heartbeat(reports_dir, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_heartbeat(reports_dir: Path) -> dict[str, Any]:
    """The heartbeat, or {} when there is none (or it is unreadable)."""
    try:
        data = json.loads((reports_dir / HEARTBEAT_NAME).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# ----------------------------------------------------------------------------------- scheduler


@dataclass
class Scheduler:
    """Runs `job` (one scan, returning its exit code) on `schedule`, one at a time.

    `clock` and `sleep` are injectable: a test advances a fake clock instead of waiting.
    """

    job: Callable[[], int]
    reports_dir: Path
    schedule: ScheduleSettings | None = None
    retention: Retention | None = None
    clock: Clock = utc_now
    sleep: Callable[[float], None] = time.sleep
    lock_max_age: timedelta = DEFAULT_LOCK_MAX_AGE

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._running = False
        self.next_run: datetime | None = None

    # -- one run -----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Lock, run the job, apply retention, update the heartbeat; the job's exit code.

        The same path serves `--once` and every scheduled run.
        """
        lock = RunLock(self.reports_dir, max_age=self.lock_max_age, clock=self.clock)
        try:
            lock.acquire()
        except LockBusy as exc:
            log.warning("skipping this run: %s", exc)
            self._heartbeat(last_skipped={"at": self.clock().isoformat(timespec="seconds"), "reason": str(exc)})
            return EXIT_BUSY
        started = self.clock()
        code = EXIT_ERROR
        outcome = "abandoned"
        self._running = True
        try:
            self._heartbeat(state="running", last_start=started.isoformat(timespec="seconds"))
            log.info("scan started")
            code = self.job()
            outcome = "finished"
        except Exception:  # a crash must not kill a months-long scheduler; the heartbeat says so
            log.exception("the scan crashed")
            outcome = "crashed"
        finally:
            self._running = False
            finished = self.clock()
            lock.release()
            try:
                apply_retention(self.reports_dir, self.retention, finished)
            except OSError as exc:
                log.error("retention failed: %s", exc)
            self._heartbeat(state="idle", last_start=started.isoformat(timespec="seconds"),
                            last_finish=finished.isoformat(timespec="seconds"), last_exit_code=code,
                            last_outcome=outcome, last_run_id=self._newest_run())
            log.info("scan %s with exit code %d in %.1f s", outcome, code, (finished - started).total_seconds(),
                     extra={"exit_code": code, "outcome": outcome})
            # The command line sets the collector for one-shot runs (cli.GC_YOUNG_THRESHOLD: a scan
            # runs no automatic collection at all); a scheduler running for months collects each
            # run's cyclic garbage here, between runs.
            gc.collect()
        return code

    def _newest_run(self) -> str | None:
        runs = run_folders(self.reports_dir)
        return runs[-1].name if runs else None

    def _heartbeat(self, **fields: Any) -> None:
        fields.update(pid=os.getpid(), updated_at=self.clock().isoformat(timespec="seconds"),
                      next_run=self.next_run.isoformat(timespec="seconds") if self.next_run else None)
        try:
            update_heartbeat(self.reports_dir, fields)
        except OSError as exc:  # monitoring must not stop the scans
            log.error("cannot write the heartbeat: %s", exc)

    # -- the loop ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop.is_set() and self._running:
            log.warning("%s again: abandoning the current run", name)
            raise KeyboardInterrupt
        log.info("%s: %s", name, "finishing the current run, then exiting" if self._running else "exiting")
        self._stop.set()

    def serve(self, *, max_runs: int | None = None) -> int:
        """Run on the schedule until a signal (or `max_runs` runs, for tests). 0 on a clean stop."""
        if self.schedule is None:
            raise ValueError("no schedule: set `schedule` in the config, or use --once")
        handlers: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                handlers[sig] = signal.signal(sig, self._on_signal)
        import schedule

        runs = 0
        try:
            last = read_heartbeat(self.reports_dir).get("last_start")
            last_start = datetime.fromisoformat(last) if isinstance(last, str) else None
            plan = RunPlan(self.schedule, self.clock, last_start)
            self.next_run = plan.due
            self._heartbeat(state="idle")
            log.info("scheduler started; next run at %s", self.next_run.isoformat(timespec="seconds"))
            # The `schedule` package holds the scan job and runs it (public API: `do`, `run_all`);
            # *when* it is due is RunPlan's decision - zone-aware without pytz, counted from the run
            # before a restart, on the injectable clock - which its own interval units cannot say
            # (README "Schedule"). Its nominal interval is therefore never what triggers a run.
            jobs = schedule.Scheduler()
            jobs.every().day.do(self._scheduled_run, plan).tag("scan")
            while not self._stop.is_set():
                now = self.clock()
                if now < plan.due:
                    self.sleep(min(_TICK_SECONDS, (plan.due - now).total_seconds()))
                    continue
                try:
                    jobs.run_all()
                except KeyboardInterrupt:
                    log.warning("run abandoned")
                    break
                runs += 1
                self._heartbeat()
                log.info("next run at %s", self.next_run.isoformat(timespec="seconds"))
                if max_runs is not None and runs >= max_runs:
                    break
        finally:
            for signum, old in handlers.items():
                signal.signal(signum, old)
            self.next_run = None
            self._heartbeat(state="stopped")
        log.info("scheduler stopped after %d run(s)", runs)
        return EXIT_OK

    def _scheduled_run(self, plan: RunPlan) -> None:
        """The scheduled job: start the run in the plan (which plans the next one before the scan
        begins, so the heartbeat names it meanwhile), then lock, scan and record it."""
        plan.start()
        self.next_run = plan.due
        self.run_once()


@dataclass
class RunPlan:
    """When the next scan is due, by the scheduler's clock (`next_run_after`).

    `last_start` is the previous run's start (from the heartbeat after a restart, so
    `every_hours` keeps counting from it); `start()` records a run starting now and plans the
    next one before the scan begins, so the heartbeat names it during the scan.
    """

    settings: ScheduleSettings
    clock: Clock
    last_start: datetime | None = None
    due: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.due = next_run_after(self.clock(), self.settings, last_start=self.last_start)

    def start(self) -> datetime:
        """A run starts now: remember it and plan the next; returns the start."""
        self.last_start = self.clock()
        self.due = next_run_after(self.last_start, self.settings, last_start=self.last_start)
        return self.last_start


# ------------------------------------------------------------------------------------ the job


def scan_job(config_path: Path) -> Callable[[], int]:
    """One scan through `auditor.runner.scan`, the path `auditor scan` takes; the config (and
    with it the policies, which `scan` loads) is re-read every run, so an edited config takes
    effect at the next run without restarting the scheduler."""
    def run() -> int:
        from auditor.config import load_config
        from auditor.errors import UnusableInputError
        from auditor.report import Format
        from auditor.runner import ScanOptions, scan

        try:
            config = load_config(config_path)
            options = ScanOptions(formats=tuple(Format(n) for n in config.formats), mode="scheduled")
            out = scan(config, options, progress=lambda fed, msg: log.debug("%s", msg, extra={"federation": fed}))
        except UnusableInputError as exc:
            for problem in exc.problems:
                log.error("unusable input: %s", problem)
            return EXIT_UNUSABLE
        for notice in out.result.notices:
            log.warning("notice: %s", notice)
        if out.publish_error:
            log.error("%s", out.publish_error)
        log.info("run %s: %s", out.result.run_id, ", ".join(f"{k} {v}" for k, v in out.result.counts().items() if v),
                 extra={"run_id": out.result.run_id, "run_dir": str(out.run_dir)})
        return out.result.exit_code
    return run
