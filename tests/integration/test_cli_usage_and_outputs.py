"""Usage errors and unusable output locations: exit 3 with one line naming the path and the fix,
found before any API call, nothing half-written. Exit 2 stays "compliance unknown"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config

pytestmark = pytest.mark.integration


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("auditor: "), err
    return lines[0]


# --- usage errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["scan", "--format", "pdf"],
    ["scan", "--concurrency", "0"],
    ["scan", "--no-such-option"],
    ["bundle"],  # missing RUN_ID
    ["verify"],  # missing RUN_DIR
    ["history", "-n", "many"],
    ["no-such-command"],
])
def test_usage_errors_exit_3(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "usage: auditor" in err and "error:" in err


def test_usage_error_exit_3_from_the_console(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "auditor", "scan", "--format", "pdf"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "unknown format 'pdf'" in proc.stderr


def test_help_and_version_still_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["scan", "--help"], ["--version"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage error" in out  # the exit-code table says where a typo goes


# --- output locations -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fed(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.reset()
    yield seed_federation(sandbox, "out-ok")


@pytest.fixture
def config(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> str:
    return str(write_config(tmp_path / "config.yaml", config_document(sandbox, [fed], reports_dir=str(tmp_path / "r"))))


@pytest.fixture(scope="module")
def run_dir(sandbox: Sandbox, fed: SeededFederation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run folder (report, snapshot, manifest) for bundle and verify."""
    home = tmp_path_factory.mktemp("run")
    cfg = str(write_config(home / "config.yaml", config_document(sandbox, [fed], reports_dir=str(home / "r"))))
    assert main(["scan", "-c", cfg, "-q", "--format", "json"]) == 0
    [folder] = (home / "r").glob("2*")
    return folder


def _scan_refused(sandbox: Sandbox, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    before = len(sandbox.okta.requests)
    assert main(argv) == 3
    assert len(sandbox.okta.requests) == before  # refused before any API call
    return _one_line(capsys.readouterr().err)


def test_scan_output_is_a_file(sandbox: Sandbox, config: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "reports.txt"
    target.write_text("keep me")
    for command in ("scan", "plan"):
        line = _scan_refused(sandbox, [command, "-c", config, "-o", str(target)], capsys)
        assert str(target) in line and "not a folder" in line and "-o" in line
    assert target.read_text() == "keep me"


def test_scan_output_under_a_file(sandbox: Sandbox, config: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "reports.txt").write_text("keep me")
    target = tmp_path / "reports.txt" / "nightly"
    line = _scan_refused(sandbox, ["scan", "-c", config, "-o", str(target)], capsys)
    assert str(tmp_path / "reports.txt") in line and "not a folder" in line


def test_scan_output_parent_missing(sandbox: Sandbox, config: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-dir" / "reports"
    line = _scan_refused(sandbox, ["scan", "-c", config, "-o", str(target)], capsys)
    assert str(tmp_path / "no-such-dir") in line and "does not exist" in line and "mkdir" in line
    assert not (tmp_path / "no-such-dir").exists()


def test_scan_output_from_the_config_is_checked_too(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r").write_text("a file where reports.dir should be")
    cfg = str(write_config(tmp_path / "config.yaml", config_document(sandbox, [fed], reports_dir=str(tmp_path / "r"))))
    line = _scan_refused(sandbox, ["scan", "-c", cfg], capsys)
    assert str(tmp_path / "r") in line and "reports.dir" in line


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write to. As root (permission bits do not stop root), the
    immutable attribute makes the kernel refuse writes; skipped where the filesystem lacks it."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a filesystem without chattr +i: no folder here is read-only for root")
    try:
        with pytest.raises(PermissionError):
            (folder / "probe").write_text("x")  # the kernel really refuses
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_scan_output_not_writable(sandbox: Sandbox, config: str, read_only_dir: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    for target in (read_only_dir, read_only_dir / "reports"):
        line = _scan_refused(sandbox, ["scan", "-c", config, "-o", str(target)], capsys)
        assert str(read_only_dir) in line and "not writable" in line
    assert list(read_only_dir.iterdir()) == []


def test_evaluate_output_is_a_file(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "reports.txt"
    target.write_text("keep me")
    assert main(["evaluate", "-c", str(tmp_path / "none.yaml"), "--snapshot", str(run_dir / "snapshot.json"),
                 "-o", str(target)]) == 3
    assert "not a folder" in _one_line(capsys.readouterr().err)


def test_demo_output_is_a_file(tmp_path: Path) -> None:
    # A separate process: a demo starts its own local AWS (one per process).
    target = tmp_path / "reports.txt"
    target.write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "auditor", "demo", "-o", str(target)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = _one_line(proc.stderr)  # before the sandbox even starts: nothing else was said
    assert str(target) in line and "not a folder" in line
    assert target.read_text() == "keep me"


# --- bundle and verify ----------------------------------------------------------------------------

def test_bundle_into_a_missing_folder(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-dir" / "b.zip"
    assert main(["bundle", str(run_dir), "-o", str(target)]) == 3
    line = _one_line(capsys.readouterr().err)
    assert str(tmp_path / "no-such-dir") in line and "does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_bundle_onto_a_folder(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bundles"
    target.mkdir()
    assert main(["bundle", str(run_dir), "-o", str(target)]) == 3
    line = _one_line(capsys.readouterr().err)
    assert str(target) in line and "is a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundles"]  # no bundles.tmp left behind
    assert list(target.iterdir()) == []
    # The zip named as the hint says works.
    assert main(["bundle", str(run_dir), "-o", str(target / "b.zip")]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["b.zip"]


def test_verify_with_an_unreadable_key(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    not_pem = tmp_path / "not-a-key.pem"
    not_pem.write_text("hello")
    ec_key = tmp_path / "ec.pub"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    for key in (tmp_path / "missing.pem", not_pem, ec_key, tmp_path):
        assert main(["verify", str(run_dir), "--public-key", str(key)]) == 3
        captured = capsys.readouterr()
        assert "ALTERED" not in captured.out
        line = _one_line(captured.err)
        assert f"cannot read the key {key}" in line
    assert main(["verify", str(run_dir)]) == 0  # the run itself is intact


def test_schedule_reports_dir_is_a_file(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r").write_text("a file where reports.dir should be")
    cfg = str(write_config(tmp_path / "config.yaml", config_document(sandbox, [fed], reports_dir=str(tmp_path / "r"))))
    line = _scan_refused(sandbox, ["schedule", "--once", "-c", cfg], capsys)
    assert str(tmp_path / "r") in line and "reports.dir" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "r"]
