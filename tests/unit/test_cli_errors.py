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
