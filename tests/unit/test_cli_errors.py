"""Errors the CLI maps to exit codes: an unknown --federation is unusable input (exit 3, one line),
while a bug inside the scan is never disguised as one. No sandbox: every case stops before any
API call."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main
from tests.paths import ROOT

EXAMPLE = str(ROOT / "config.example.yaml")


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", [["scan"], ["plan"], ["handover"]])
def test_an_unknown_federation_is_one_line_and_exit_3(command: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    output = ["-o", str(tmp_path)] if command != ["handover"] else []
    assert main([*command, "-c", EXAMPLE, "-f", "contact-center-prod", "-f", "nope", *output]) == 3
    line = _one_line(capsys.readouterr().err)
    assert line == "auditor: no federation named 'nope'; the config has: contact-center-prod", line
    assert list(tmp_path.iterdir()) == []  # nothing was scanned, nothing written


def test_a_key_error_inside_the_scan_is_not_reported_as_unknown_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A KeyError raised by a bug during the scan (here: building the collectors) must surface as
    the bug it is, not as "exit 3, unusable input" with the key printed as if it were a message."""
    import auditor.collectors

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("cognito.user_pool")

    monkeypatch.setenv("OKTA_API_TOKEN", "not-used")
    monkeypatch.setattr(auditor.collectors, "default_collectors", broken)
    with pytest.raises(KeyError, match=r"cognito\.user_pool"):
        main(["scan", "-c", EXAMPLE, "-o", str(tmp_path), "-q"])
    assert "auditor: cognito.user_pool" not in capsys.readouterr().err


def test_select_federations_raises_the_typed_error() -> None:
    from auditor.config import load_config
    from auditor.errors import UnknownFederationError, UnusableInputError
    from auditor.runner import select_federations

    config = load_config(Path(EXAMPLE))
    assert [f.name for f in select_federations(config, ["contact-center-prod"])] == ["contact-center-prod"]
    with pytest.raises(UnknownFederationError) as exc:
        select_federations(config, ["nope", "other"])
    assert isinstance(exc.value, UnusableInputError)  # library callers (the scheduler) see exit-3 input
    assert not isinstance(exc.value, KeyError)
    assert exc.value.name == "nope"
    assert exc.value.known == ("contact-center-prod",)


def _config_copy(tmp_path: Path, edit: tuple[str, str] | None = None) -> str:
    """config.example.yaml beside a reports folder of its own (its reports.dir is relative)."""
    text = Path(EXAMPLE).read_text(encoding="utf-8")
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_rollback_of_a_run_that_does_not_exist_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Bug: "no journal: that run applied no fix" for a run id that was never there.
    config = _config_copy(tmp_path)
    assert main(["rollback", "-c", config, "20990101T000000Z-abcdef", "--yes"]) == 3
    err = capsys.readouterr().err
    assert "no such run" in err and "applied no fix" not in err and "auditor history --mode fix" in err


def test_an_invalid_federation_name_says_what_is_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_copy(tmp_path, ("name: contact-center-prod", "name: contact center prod"))
    assert main(["validate", "-c", config]) == 3
    err = capsys.readouterr().err
    assert "'contact center prod' is not allowed here" in err
    assert "letters, digits, '.', '_' or '-'" in err and "(no spaces)" in err and "^[A-Za-z0-9]" not in err


def test_history_needs_only_the_reports_block_of_the_config(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Bug: a config problem elsewhere (here a federation's name) made `history` refuse to list runs.
    from auditor.history import History

    config = _config_copy(tmp_path, ("name: contact-center-prod", "name: contact center prod"))
    reports = tmp_path / "reports"
    reports.mkdir()
    History(reports / "history.sqlite").record_rollback(
        run_id="20260102T000000Z-bbbbbb", started_at="2026-01-02T00:00:00+00:00",
        finished_at="2026-01-02T00:00:01+00:00", tool_version="t", exit_code=0, run_dir=None,
        federations=("contact-center-prod",), undoes="20260101T000000Z-aaaaaa")
    assert main(["history", "-c", config]) == 0
    assert "20260102T000000Z-bbbbbb" in capsys.readouterr().out


def test_verify_takes_a_run_id_as_bundle_and_rollback_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.report.evidence import write_manifest

    config = _config_copy(tmp_path)
    run = tmp_path / "reports" / "20260101T000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "report.json").write_text("{}")
    write_manifest(run, run_id=run.name, tool_version="0", policy_files={}, config_path=None)
    assert main(["verify", "-c", config, run.name]) == 0
    assert f"OK {run}" in capsys.readouterr().out
    assert main(["verify", "-c", config, "20990101T000000Z-000000"]) == 3


def test_a_garbage_lock_file_is_described_not_printed_as_none(tmp_path: Path) -> None:
    # Bug: "another scan is running (pid None on None, since None)".
    from auditor.scheduler import LOCK_NAME, LockBusy, RunLock

    (tmp_path / LOCK_NAME).write_text("\x00garbage")
    with pytest.raises(LockBusy) as exc:
        RunLock(tmp_path).acquire()
    message = str(exc.value)
    assert "None" not in message and "cannot be read" in message and "taken over once older than" in message
