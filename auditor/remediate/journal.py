"""The journal: every change's before and after images, written *before* the call is sent.

One JSON object per line in `journal.jsonl` in the run's folder, flushed and fsynced, so a
process killed mid-apply leaves a journal from which `auditor rollback` restores what was
applied.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.remediate.model import PlannedChange

JOURNAL_NAME = "journal.jsonl"


class JournalState(enum.StrEnum):
    """A journaled change's last known state, from its events.

    The rollback-* states appear only in journals of versions that journaled rollbacks in the
    fix run's own journal.
    """

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a call abandoned in flight by a stop signal
    ROLLED_BACK = "rolled-back"
    ROLLBACK_CONFLICT = "rollback-conflict"
    ROLLBACK_FAILED = "rollback-failed"


# States whose change may have reached the object, so a rollback re-reads it and restores it when
# it is still as the fix left it.
UNDOABLE_STATES = frozenset({JournalState.DONE, JournalState.PENDING, JournalState.FAILED, JournalState.UNKNOWN})
# The state each event leaves a change in (events not named leave it as it was).
_STATE_AFTER = {"done": JournalState.DONE, "abandoned": JournalState.UNKNOWN, "failed": JournalState.FAILED,
                "rollback-done": JournalState.ROLLED_BACK, "rollback-noop": JournalState.ROLLED_BACK,
                "rollback-conflict": JournalState.ROLLBACK_CONFLICT, "rollback-failed": JournalState.ROLLBACK_FAILED}


class Journal:
    """Append-only writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, change_id: str, **data: Any) -> None:
        """Append one event and make it durable before returning."""
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event,
                  "change_id": change_id, **data}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


@dataclass
class JournaledChange:
    """What the journal says about one change: the plan entry and its last known state."""

    change: PlannedChange
    # Changes journaled only as "conflict" or "skipped" (never sent) have no entry: there is
    # nothing to undo.
    state: JournalState
    after_actual: Any = None
    events: list[str] = field(default_factory=list)


def read_journal(path: Path) -> list[JournaledChange]:
    """The changes in the order they were first journaled; a torn last line is ignored."""
    changes: dict[str, JournaledChange] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the process died while writing this line: the call was never sent
            cid = record["change_id"]
            if record["event"] == "pending":
                changes[cid] = JournaledChange(PlannedChange.from_json(record["change"]), JournalState.PENDING)
            entry = changes.get(cid)
            if entry is None:
                continue
            entry.events.append(record["event"])
            state = _STATE_AFTER.get(record["event"])
            if state is not None:
                entry.state = state
            if state is JournalState.DONE:
                entry.after_actual = record.get("after_actual")
    return list(changes.values())
