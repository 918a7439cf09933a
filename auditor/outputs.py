"""Where a run writes, checked before it starts: an output location that cannot be written is an
unusable input (exit 3, one line naming the path and the fix), found before any API call rather
than as a traceback after the whole collection ran, and with nothing half-written.

The checks only look (stat and access(2)); they create nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditor.errors import InputProblem, UnusableInputError


class OutputLocationError(UnusableInputError):
    """An output path that cannot be written. One problem, printed as one line."""

    def __init__(self, path: Path, message: str, hint: str) -> None:
        super().__init__([InputProblem(str(path), None, None, message, hint)])
        self.line = f"{path}: {message}; {hint}"

    def __str__(self) -> str:
        return self.line


def _writable(folder: Path) -> bool:
    # access(2) answers for this process: permission bits, ACLs, a read-only mount and the
    # immutable attribute (which stops even root).
    return os.access(folder, os.W_OK | os.X_OK)


def check_output_dir(path: Path, *, how_to_change: str) -> None:
    """Raise OutputLocationError unless `path` is a writable folder, or a folder that can be created
    in an existing writable one (its parent is not created: a typo in a path is reported, not built).
    `how_to_change` is the fix in the user's terms, e.g. "pass -o a folder you can write to"."""
    if path.exists():
        if not path.is_dir():
            raise OutputLocationError(path, "is a file, not a folder (each run writes FOLDER/<run-id>/)",
                                      how_to_change)
        if not _writable(path):
            raise OutputLocationError(path, "the folder is not writable", how_to_change)
        return
    _check_parent(path, how_to_change)


def check_output_file(path: Path, *, how_to_change: str) -> None:
    """Raise OutputLocationError unless `path` can be written as a file: not a folder, and in an
    existing writable folder."""
    if path.is_dir():
        raise OutputLocationError(path, "is a folder", how_to_change)
    _check_parent(path, how_to_change)


def _check_parent(path: Path, how_to_change: str) -> None:
    parent = path.parent
    if not parent.exists():
        # The nearest thing that does exist: a file there means no folder can ever be made below it.
        above = next((p for p in parent.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise OutputLocationError(above, "is a file, not a folder", how_to_change)
        raise OutputLocationError(parent, "the folder does not exist",
                                  f"create it (mkdir -p {parent}) or {how_to_change}")
    if not parent.is_dir():
        raise OutputLocationError(parent, "is a file, not a folder", how_to_change)
    if not _writable(parent):
        raise OutputLocationError(parent, "the folder is not writable", how_to_change)
