"""The run history: an embedded SQLite store of runs, their findings and collected state.

Every judged run is recorded (after evaluation, before the reports are written) so that the
reports can say what changed since the previous run: per federation, the controls that newly
fail, that no longer fail and that still fail, plus a field-level diff of the collected
resources. The diff is computed from the resources themselves, not from findings, so an edit no
control covers (a callback URL, a token lifetime) still shows up.

The store keeps each federation's resources as compressed JSON rather than a path to
`snapshot.json`: run folders get deleted or moved to an archive, the history must still diff.
It never renders anything (see auditor/report/).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.diff import state_diff
from auditor.models import FederationChanges, RunChanges, RunResult, Status, TrendPoint
from auditor.snapshot import Snapshot

# 2: runs.undoes (the fix run a rollback run undid); 3: findings.attribution (who changed it, as
# the report said). Earlier stores are migrated on first use.
SCHEMA_VERSION = 3
# What `runs.mode` holds: how the run came about. Only the first four (and "evaluate", "demo")
# judged findings; a rollback restores objects and collects nothing.
MODES = ("scan", "plan", "dry-run", "fix", "rollback", "evaluate", "scheduled", "demo")
# Runs that judged nothing: no findings and no collected state to compare a later run with.
UNJUDGED_MODES = ("rollback",)
# A report lists at most this many field changes per federation; the rest are counted.
MAX_STATE_CHANGES = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    mode TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    snapshot_sha256 TEXT,
    run_dir TEXT,
    federations TEXT NOT NULL,
    counts TEXT NOT NULL,
    undoes TEXT
);
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    uid TEXT NOT NULL,
    control_id TEXT NOT NULL,
    federation TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    attribution TEXT,
    PRIMARY KEY (run_id, uid)
);
CREATE TABLE IF NOT EXISTS states (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    federation TEXT NOT NULL,
    resources BLOB NOT NULL,
    PRIMARY KEY (run_id, federation)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
"""


class HistoryError(Exception):
    """A run id that is not in the history, or a store that cannot be used."""


@dataclass(frozen=True)
class RunRecord:
    """One row of `auditor history`."""

    run_id: str
    started_at: str
    finished_at: str
    mode: str
    tool_version: str
    exit_code: int
    snapshot_sha256: str | None
    run_dir: str | None
    federations: tuple[str, ...]
    counts: dict[str, int]
    # For a rollback run: the run id of the --fix run whose changes it restored.
    undoes: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "run_id": self.run_id, "started_at": self.started_at, "finished_at": self.finished_at,
            "mode": self.mode, "tool_version": self.tool_version, "exit_code": self.exit_code,
            "snapshot_sha256": self.snapshot_sha256, "run_dir": self.run_dir,
            "federations": list(self.federations), "counts": self.counts, "undoes": self.undoes,
        }


class History:
    """The SQLite history at `path` (created on first use). Cheap to construct: no I/O until used."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._migrated = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            if not self._migrated:
                with conn:
                    _migrate(conn)
                self._migrated = True
            with conn:  # one transaction: a run is recorded whole or not at all
                yield conn
        finally:
            conn.close()

    # --- writing ------------------------------------------------------------------------

    def record(self, result: RunResult, snapshot: Snapshot, run_dir: Path | None = None,
               packed: Mapping[str, bytes] | None = None, exit_code: int | None = None) -> None:
        """Store one judged run: its findings and each federation's collected resources
        (`packed`: states already packed with `pack_state`, by federation name). `exit_code`
        overrides the findings' one (130 for a --fix run stopped by a signal)."""
        packed = packed or {}
        with self._connect() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (result.run_id, result.started_at, result.finished_at, result.mode, result.tool_version,
                 result.exit_code if exit_code is None else exit_code, result.evidence.get("snapshot_sha256"),
                 str(run_dir) if run_dir else None, json.dumps(list(result.federations)),
                 json.dumps(result.counts()), None))
            conn.execute("DELETE FROM findings WHERE run_id = ?", (result.run_id,))
            conn.executemany(
                "INSERT INTO findings VALUES (?,?,?,?,?,?,?,?)",
                [(result.run_id, f.uid, f.control_id, f.federation, f.status.value, f.severity.value, f.message,
                  f.attribution.summary if f.attribution is not None else None)
                 for f in result.findings])
            conn.execute("DELETE FROM states WHERE run_id = ?", (result.run_id,))
            conn.executemany(
                "INSERT INTO states VALUES (?,?,?)",
                ((result.run_id, fed.name, packed.get(fed.name) or pack_state(fed.resources))
                 for fed in snapshot.federations))

    def record_attributions(self, result: RunResult) -> None:
        """Keep each finding's attribution (found after the run was recorded: it needs the
        changes since the previous run), so `auditor diff` can show who made a change."""
        rows = [(f.attribution.summary, result.run_id, f.uid) for f in result.findings if f.attribution is not None]
        if rows:
            with self._connect() as conn:
                conn.executemany("UPDATE findings SET attribution = ? WHERE run_id = ? AND uid = ?", rows)

    def attributions(self, run_id: str) -> dict[tuple[str, str], str]:
        """The attribution summaries of a run's findings, by (federation, control id)."""
        with self._connect() as conn:
            return {(r[0], r[1]): r[2] for r in conn.execute(
                "SELECT federation, control_id, attribution FROM findings WHERE run_id = ? AND attribution IS NOT NULL",
                (run_id,))}

    def record_rollback(self, *, run_id: str, started_at: str, finished_at: str, tool_version: str,
                        exit_code: int, run_dir: Path | None, federations: tuple[str, ...], undoes: str) -> None:
        """Store a rollback run: which fix run it undid, in which federations, and how it ended.
        It judged nothing, so it has no findings and no collected state."""
        with self._connect() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, started_at, finished_at, "rollback", tool_version, exit_code, None,
                 str(run_dir) if run_dir else None, json.dumps(list(federations)), json.dumps({}), undoes))

    # --- reading ------------------------------------------------------------------------

    def runs(self, limit: int | None = None, mode: str | None = None) -> list[RunRecord]:
        """Recorded runs, newest first; only those of `mode` when given."""
        if not self.path.exists():
            return []
        # Within one second, recording order (rowid) decides: run ids end in random hex.
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        params: tuple[Any, ...] = ()
        if mode is not None:
            sql += " WHERE mode = ?"
            params = (mode,)
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        with self._connect() as conn:
            return [_record(row) for row in conn.execute(sql, params)]

    def rollbacks_of(self, run_id: str) -> list[RunRecord]:
        """The rollback runs that undid `run_id`, oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            return [_record(row) for row in conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE undoes = ? ORDER BY started_at, rowid", (run_id,))]

    def get(self, run_id: str) -> RunRecord:
        """One run; HistoryError naming the known ids when it is not recorded."""
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                recent = [r[0] for r in conn.execute(
                    "SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 5")]
                hint = f"; recent runs: {', '.join(recent)}" if recent else "; the history is empty"
                raise HistoryError(f"no run {run_id!r} in {self.path}{hint}")
        return _record(row)

    def previous(self, run_id: str, federations: tuple[str, ...]) -> RunRecord | None:
        """The latest judged run before `run_id` that covered at least one of `federations`."""
        current = self.get(run_id)
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE (started_at < ? OR (started_at = ? AND rowid < "
                f"(SELECT rowid FROM runs WHERE run_id = ?))) AND mode NOT IN ({_UNJUDGED}) "
                "ORDER BY started_at DESC, rowid DESC",
                (current.started_at, current.started_at, run_id)).fetchall()
        for row in rows:
            record = _record(row)
            if set(record.federations) & set(federations):
                return record
        return None

    def last_findings(self, run_id: str, runs: int = 100) -> dict[str, str]:
        """{finding uid: federation}: each federation's findings in the latest judged run before
        `run_id` that covered it (looking back `runs` runs). A run of some federations only
        (`--federation`) does not hide the others' latest findings."""
        current = self.get(run_id)
        # One query: the federations each earlier run has findings of (estate items included,
        # which no run lists), each federation's latest such run, and only those findings; the
        # rows are read by SQLite, not copied out run by run.
        with self._connect() as conn:
            return dict(conn.execute(
                "WITH earlier AS (SELECT run_id, started_at, rowid AS seq FROM runs WHERE (started_at < ? OR "
                "(started_at = ? AND rowid < (SELECT rowid FROM runs WHERE run_id = ?))) "
                f"AND mode NOT IN ({_UNJUDGED}) ORDER BY started_at DESC, rowid DESC LIMIT ?), "
                "covered AS (SELECT DISTINCT run_id, federation FROM findings "
                "WHERE run_id IN (SELECT run_id FROM earlier)), "
                "latest AS (SELECT c.run_id, c.federation, ROW_NUMBER() OVER (PARTITION BY c.federation "
                "ORDER BY e.started_at DESC, e.seq DESC) AS n FROM covered c JOIN earlier e ON e.run_id = c.run_id) "
                "SELECT f.uid, f.federation FROM findings f JOIN latest l "
                "ON f.run_id = l.run_id AND f.federation = l.federation WHERE l.n = 1",
                (current.started_at, current.started_at, run_id, runs)))

    def trend(self, run_id: str, limit: int = 30) -> tuple[TrendPoint, ...]:
        """Status counts of up to `limit` judged runs ending with `run_id`, oldest first."""
        current = self.get(run_id)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT run_id, started_at, counts, mode FROM runs "
                "WHERE (started_at < ? OR (started_at = ? AND rowid <= "
                f"(SELECT rowid FROM runs WHERE run_id = ?))) AND mode NOT IN ({_UNJUDGED}) "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (current.started_at, current.started_at, run_id, limit)).fetchall()
        return tuple(TrendPoint(r[0], r[1], json.loads(r[2]), r[3]) for r in reversed(rows))

    def diff(self, before_id: str, after_id: str) -> RunChanges:
        """What changed from run `before_id` to run `after_id`, per federation of the later run."""
        before = self.get(before_id)
        after = self.get(after_id)
        for record in (before, after):
            if record.mode in UNJUDGED_MODES:
                raise HistoryError(f"run {record.run_id} is a {record.mode}: it collected nothing to compare "
                                   f"(compare the runs before and after it)")
        with self._connect() as conn:
            old_status = _statuses(conn, before_id)
            new_status = _statuses(conn, after_id)
            old_state = _packed_states(conn, before_id)
            new_state = _packed_states(conn, after_id)
        feds = []
        for name in after.federations:
            if name not in before.federations:
                failing = sorted(c for (f, c), s in new_status.items() if f == name and s == Status.FAIL.value)
                feds.append(FederationChanges(name, new_failures=tuple(failing), first_seen=True))
                continue
            # The packed states are canonical (key-sorted JSON, compressed): equal bytes are equal
            # states, and need no decoding nor diff (most federations, most nights).
            old_packed, new_packed = old_state.get(name), new_state.get(name)
            same = old_packed is not None and old_packed == new_packed
            feds.append(federation_changes(
                name,
                {c: s for (f, c), s in old_status.items() if f == name},
                {c: s for (f, c), s in new_status.items() if f == name},
                {} if same else unpack_state(old_packed), {} if same else unpack_state(new_packed)))
        return RunChanges(before.run_id, before.started_at, tuple(feds))

    def changes_since_previous(self, run_id: str) -> RunChanges | None:
        """Changes from the previous run of the same federations; None for a first run."""
        current = self.get(run_id)
        prev = self.previous(run_id, current.federations)
        return None if prev is None else self.diff(prev.run_id, run_id)


def federation_changes(name: str, before: Mapping[str, str], after: Mapping[str, str],
                       state_before: Mapping[str, Any], state_after: Mapping[str, Any]) -> FederationChanges:
    """Classify controls by their FAIL status in both runs and diff the collected resources.

    "Failing" means FAIL: an ERROR is unknown compliance and a WAIVED finding is accepted, so
    neither counts as a new failure (their messages say so in the report).
    """
    def failing(statuses: Mapping[str, str]) -> set[str]:
        return {c for c, s in statuses.items() if s == Status.FAIL.value}

    old, new = failing(before), failing(after)
    changes = state_diff(state_before, state_after)
    return FederationChanges(
        federation=name,
        new_failures=tuple(sorted(new - old)),
        resolved_failures=tuple(sorted(old - new)),
        still_failing=tuple(sorted(old & new)),
        state=tuple(changes[:MAX_STATE_CHANGES]),
        state_truncated=max(0, len(changes) - MAX_STATE_CHANGES),
    )


def pack_state(resources: Mapping[str, Any]) -> bytes:
    """A federation's resources as the history stores them (compressed, key-sorted JSON)."""
    if not isinstance(resources, dict):  # a StoredResources: default=str would write its repr
        resources = dict(resources.items())
    return zlib.compress(json.dumps(resources, sort_keys=True, default=str).encode("utf-8"))


def _statuses(conn: sqlite3.Connection, run_id: str) -> dict[tuple[str, str], str]:
    return {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT federation, control_id, status FROM findings WHERE run_id = ?", (run_id,))}


def unpack_state(packed: bytes | None) -> dict[str, Any]:
    """Inverse of `pack_state` ({} for no state)."""
    if packed is None:
        return {}
    state: dict[str, Any] = json.loads(zlib.decompress(packed))
    return state


def _packed_states(conn: sqlite3.Connection, run_id: str) -> dict[str, bytes]:
    return {r[0]: bytes(r[1]) for r in conn.execute(
        "SELECT federation, resources FROM states WHERE run_id = ?", (run_id,))}


_RUN_COLUMNS = ("run_id, started_at, finished_at, mode, tool_version, exit_code, snapshot_sha256, run_dir, "
                "federations, counts, undoes")
_UNJUDGED = ", ".join(f"'{m}'" for m in UNJUDGED_MODES)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a store written by an earlier version to SCHEMA_VERSION (its rows are kept as they are)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "undoes" not in columns:  # version 1
        conn.execute("ALTER TABLE runs ADD COLUMN undoes TEXT")
    if "attribution" not in {row[1] for row in conn.execute("PRAGMA table_info(findings)")}:  # version 2
        conn.execute("ALTER TABLE findings ADD COLUMN attribution TEXT")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?",
                 (str(SCHEMA_VERSION), SCHEMA_VERSION))


def _record(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], row[7],
                     tuple(json.loads(row[8])), json.loads(row[9]), row[10])
