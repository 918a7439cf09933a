"""The environment the benchmarks run `auditor` in: as a user's `pip install` has it.

pip byte-compiles a package when it installs it (compileall), so a user's `auditor` loads its
modules from `__pycache__`. A checkout run with PYTHONDONTWRITEBYTECODE=1 (as the development
containers set it) recompiles every module of ours from source on each start (~0.05 s of CPU for
a scan), a cost no user pays. So: compile the package first, as pip does, and let the child use
the cache. Nothing else is removed from what a run costs (the libraries come compiled from their
own install, as for a user).
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compile_package() -> None:
    """Byte-compile auditor/ (as `pip install` does), once before the timed runs."""
    compileall.compile_dir(str(ROOT / "auditor"), quiet=1)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a timed `auditor` child: the checkout first on the path, and
    without PYTHONDONTWRITEBYTECODE (so the child reads, and if needed writes, its bytecode cache)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env
