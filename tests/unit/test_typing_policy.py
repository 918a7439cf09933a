"""The typing rules hold for every module: mypy's disallow_untyped_defs is on with no per-module
exception, and no `type: ignore` switches it off locally or hides every error of a line."""

from __future__ import annotations

import re
import tomllib

from tests.paths import ROOT


def test_untyped_defs_are_disallowed_everywhere() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["disallow_untyped_defs"] is True
    for override in mypy.get("overrides", []):
        assert override.get("disallow_untyped_defs", True) is True, override
        assert not override.get("ignore_errors", False), override
    assert not (ROOT / "mypy.ini").exists() and not (ROOT / "setup.cfg").exists()


def test_no_blanket_or_untyped_def_ignores() -> None:
    found = []
    for path in sorted((ROOT / "auditor").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"#\s*type:\s*ignore(?!\[)", line) or "no-untyped-def" in line \
                    or re.search(r"#\s*mypy:", line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
