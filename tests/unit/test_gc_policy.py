"""The command line runs the garbage collector rarely (auditor.cli.GC_YOUNG_THRESHOLD: a scan runs
no automatic collection); a long-lived `auditor schedule` must then collect each run's cyclic
garbage itself, or it would keep it for months. Nothing is timed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from auditor.scheduler import Scheduler


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_the_scheduler_collects_each_runs_cyclic_garbage(tmp_path: Path) -> None:
    refs: list[weakref.ref[_Node]] = []

    def job() -> int:
        refs.append(weakref.ref(_Node()))  # garbage as soon as the job returns
        return 0

    was_enabled = gc.isenabled()
    gc.disable()  # as if the young threshold were never reached
    try:
        assert Scheduler(job, tmp_path).run_once() == 0
        assert refs and refs[0]() is None
    finally:
        if was_enabled:
            gc.enable()
