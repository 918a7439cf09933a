"""A progress bar for a terminal: one line on stderr, redrawn in place, no dependency.

Counts collector x federation completions (`collected`), so it moves with the slowest
collector rather than the first. Used by the CLI only when stderr is a terminal; other step
messages (`__call__`) are shown in place of the bar's label.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

BAR_WIDTH = 30
REDRAW_EVERY_S = 0.1  # at most ten redraws a second: a terminal write per call would slow the scan


class ProgressBar:
    """`[#########.........]  123/800  15%  okta: assignments` on one line of `stream`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self.label = ""
        self._lock = threading.Lock()  # collectors report from several threads
        self._drawn = 0.0

    def start(self, total: int) -> None:
        """Begin a bar of `total` steps."""
        with self._lock:
            self.total, self.done, self._drawn = max(total, 1), 0, 0.0
        self._draw(force=True)

    def __call__(self, federation: str, message: str) -> None:
        """A step message from a collector: shown as the bar's label."""
        self.label = f"[{federation}] {message}"
        self._draw()

    def collected(self, collector: str, federation: str) -> None:
        """One collector finished one federation."""
        with self._lock:
            self.done += 1
        self._draw(force=self.done >= self.total)

    def finish(self) -> None:
        """Clear the bar's line."""
        with self._lock:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self.total or (not force and now - self._drawn < REDRAW_EVERY_S):
                return
            self._drawn = now
            filled = BAR_WIDTH * self.done // self.total
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            label = self.label[:60]
            self.stream.write(f"\r\033[K[{bar}] {self.done}/{self.total} {100 * self.done // self.total:3d}%  {label}")
            self.stream.flush()
