"""Run names cannot lead the CLI out of the reports folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main


@pytest.mark.parametrize("run_id", ["../outside", "..", "a/../../outside", "/etc"])
def test_bundle_refuses_a_run_id_that_leaves_the_reports_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               run_id: str) -> None:
    # Bug: `reports/../outside` was bundled (and rollback read its journal) although it is no run of ours.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "report.json").write_text("{}")
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    code = main(["bundle", "--config", str(tmp_path / "missing.yaml"), run_id.replace("/etc", "/nonexistent")])
    assert code == 3
    assert not (tmp_path / "outside.zip").exists() and not list(tmp_path.rglob("*.zip"))
