"""A non-editable install works: build the wheel, install it into a fresh venv with no source tree,
and run `auditor validate` and `auditor demo` there, from a folder outside the checkout.

Offline and fast: the wheel is built with `--no-build-isolation` (setuptools comes from the dev
extra), and the fresh venv borrows the running interpreter's installed dependencies through a `.pth`
file instead of downloading them; the wheel itself is installed with `--no-deps`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from auditor.policy.loader import load_policies
from tests.factories import MINIMAL_CONFIG
from tests.paths import ROOT

# Part of the normal suite (no skip): the demo drives the sandbox in the installed copy. About 10 s.
pytestmark = pytest.mark.integration

MIN_SETUPTOOLS = (77, 0)  # build-system.requires: the SPDX `project.license` string needs it


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _dependency_dirs() -> list[str]:
    """Where the running interpreter's packages live: its own site-packages (sysconfig) and any
    further site-packages on its path (a venv layered on another through a .pth file)."""
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"]]
    dirs += [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def _build_wheel(tmp_path: Path) -> tuple[Path, str]:
    """Build from a copy of the sources (a stale build/ in the checkout can never leak in)."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("auditor", "policies"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    proc = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
                 "-w", tmp_path / "dist", src], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    [wheel] = (tmp_path / "dist").glob("auditor-*.whl")
    return wheel, proc.stdout + proc.stderr




def test_wheel_installs_and_runs_without_the_source_tree(tmp_path: Path) -> None:
    have = tuple(int(p) for p in version("setuptools").split(".")[:2])
    assert have >= MIN_SETUPTOOLS, (f"setuptools {version('setuptools')} cannot build this project offline; "
                                    "install the dev extra: pip install -e '.[dev]'")
    wheel, build_log = _build_wheel(tmp_path)
    # No setuptools warning (BuildBackendWarning, SetuptoolsDeprecationWarning: the old `project.license`
    # table, a data folder missing from `packages`, ...).
    assert "Warning:" not in build_log, build_log

    # Everything the checkout has ends up in the wheel: every module, and the built-in pack as
    # auditor/policies/ (the top-level policies/ folder, mapped by pyproject's package-dir).
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "auditor").rglob("*.py")}
    expected |= {f"auditor/policies/{p.name}" for p in (ROOT / "policies").glob("*.yaml")}
    expected |= {f"auditor/policies/frameworks/{p.name}" for p in (ROOT / "policies" / "frameworks").glob("*.yaml")}
    assert any(n.startswith("auditor/policies/frameworks/") for n in expected)
    expected |= {p.relative_to(ROOT).as_posix() for d in ("schemas", "report/templates")
                 for p in (ROOT / "auditor" / d).iterdir() if p.is_file()}
    assert expected - names == set()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata

    venv = tmp_path / "venv"
    proc = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    (Path(purelib.stdout.strip()) / "auditor-test-deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    # --ignore-installed: the auditor installed in the borrowed site-packages (an editable one, in a
    # checkout's venv) is neither looked at nor touched.
    proc = _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                 "--ignore-installed", wheel], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # A user's folder: no checkout, no PYTHONPATH pointing into one.
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "config.yaml").write_text(MINIMAL_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUDITOR_CONFIG")}
    where = _run([python, "-c", "import auditor; print(auditor.__file__)"], cwd=home, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    auditor = venv / "bin" / "auditor"
    proc = _run([auditor, "validate"], cwd=home, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"policies: {len(load_policies().controls)} controls" in proc.stdout, proc.stdout

    proc = _run([auditor, "demo", "-q", "-o", "out"], cwd=home, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a real scan would exit 1" in proc.stdout
    [report] = (home / "out").glob("*/report.html")
    assert report.stat().st_size > 0
