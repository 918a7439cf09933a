"""Exit-code meanings are written once (models.EXIT_MEANINGS): the json, markdown and html reports,
`auditor --help` and README's table all say the same words."""

from __future__ import annotations

import json
import re

import pytest

from auditor.models import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_MEANINGS,
    EXIT_OK,
    EXIT_PRECEDENCE,
    EXIT_UNUSABLE,
    Finding,
    RunResult,
    Severity,
    Status,
)
from tests.paths import ROOT


def _result(*statuses: Status) -> RunResult:
    findings = tuple(Finding(uid=f"auditor-C{i}-prod-r", control_id=f"C{i}", title="t", severity=Severity.HIGH,
                             status=s, federation="prod", resource="r", expected=None, actual=None, message="m")
                     for i, s in enumerate(statuses))
    return RunResult("r1", "2026-11-28T00:00:00+00:00", "2026-11-28T00:00:01+00:00", "0.1.0", ("prod",), findings,
                     {}, {})


@pytest.mark.parametrize(("statuses", "code"), [
    ((Status.PASS, Status.WAIVED, Status.SKIPPED), EXIT_OK),
    ((Status.PASS, Status.FAIL), EXIT_FAIL),
    ((Status.FAIL, Status.ERROR), EXIT_ERROR),
])
def test_every_report_shows_the_one_meaning(statuses: tuple[Status, ...], code: int) -> None:
    from auditor.report.html import render_html
    from auditor.report.json_report import render_json
    from auditor.report.markdown import render_markdown

    result = _result(*statuses)
    assert result.exit_code == code
    meaning = EXIT_MEANINGS[code]
    assert json.loads(render_json(result))["run"]["exit_meaning"] == meaning
    assert f"**exit {code}** — {meaning}" in render_markdown(result).decode()
    assert f"<strong>{meaning}</strong>" in render_html(result).decode()


def test_help_lists_every_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for code, meaning in EXIT_MEANINGS.items():
        assert re.search(rf"^ +{code}  {re.escape(meaning)}$", out, re.M), (code, out)
    assert EXIT_PRECEDENCE in out


def test_readme_table_matches_the_meanings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert {int(k): v for k, v in rows.items()} == EXIT_MEANINGS
    assert EXIT_PRECEDENCE in section
    assert {EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_UNUSABLE, EXIT_INTERRUPTED} == set(EXIT_MEANINGS)


def test_no_other_module_spells_out_a_meaning() -> None:
    """A second copy of the words (the drift this test guards against) would start to differ."""
    for path in (ROOT / "auditor").rglob("*.py"):
        if path.name == "models.py" and path.parent.name == "auditor":
            continue
        text = path.read_text(encoding="utf-8")
        for meaning in EXIT_MEANINGS.values():
            head = meaning.split(":")[0] + ":"  # "compliant:", "drift:", "unknown:", ...
            assert f'"{head}' not in text and f"'{head}" not in text, (path, head)
