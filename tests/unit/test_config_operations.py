"""Config for nightly operations: schedule, retention, notifications, per-federation aws."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.errors import ConfigError
from tests.paths import ROOT


def _load(tmp_path: Path, extra: str, fed_extra: str = "") -> object:
    text = (ROOT / "config.example.yaml").read_text()
    if fed_extra:
        text = text.replace("    cert_min_days: 30", "    cert_min_days: 30\n" + fed_extra, 1)
    path = tmp_path / "config.yaml"
    path.write_text(text + extra)
    return load_config(path)


def test_operations_blocks_load(tmp_path: Path) -> None:
    config = _load(tmp_path, """
schedule: {daily_at: "02:30", timezone: Europe/Berlin}
notifications:
  events: [new_failures, errors]
  webhook: {url: "http://127.0.0.1:9000/hook"}
""", "    aws: {role_arn: 'arn:aws:iam::210987654321:role/AuditorReadOnly', external_id: cc-42, region: eu-west-1}")
    assert config.schedule is not None and config.schedule.timezone == "Europe/Berlin"  # type: ignore[attr-defined]
    assert config.notifications.events == ("new_failures", "errors")  # type: ignore[attr-defined]
    fed = config.federations[0]  # type: ignore[attr-defined]
    assert fed.aws.external_id == "cc-42" and fed.aws.region == "eu-west-1"
    assert "external_id" not in fed.data["aws"]


@pytest.mark.parametrize(("extra", "fed_extra", "message"), [
    ('schedule: {daily_at: "25:00"}', "", "schedule.daily_at"),
    ('schedule: {daily_at: "02:30", timezone: Mars/Olympus}', "", "unknown time zone 'Mars/Olympus'"),
    ('schedule: {daily_at: "02:30", every_hours: 2}', "", "exactly one of daily_at or every_hours"),
    ("notifications: {webhook: {url: 'http://hooks.example.com/x'}}", "", "must use https"),
    ("notifications: {retries: 2}", "", "needs a webhook, an email block or both"),
    ("notifications:\n  email: {smtp_host: mail.example.com, from: a@example.com, to: [b@example.com], "
     "username_env: U, password_env: P, starttls: false}", "", "clear text"),
    ("reports_extra: 1", "", "reports_extra"),
    ("", "    aws: {role_arn: 'arn:aws:iam::1:role/x'}", "role_arn"),
])
def test_operations_errors_name_file_and_line(tmp_path: Path, extra: str, fed_extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, "\n" + extra + "\n", fed_extra)
    text = str(exc.value)
    assert message in text and f"{tmp_path / 'config.yaml'}:" in text


def test_retention_under_reports(tmp_path: Path) -> None:
    text = (ROOT / "config.example.yaml").read_text().replace(
        "  formats: [html, json]", "  formats: [html, json]\n  retention: {keep_runs: 30}", 1)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert load_config(path).retention.keep_runs == 30  # type: ignore[union-attr]
    path.write_text(text.replace("{keep_runs: 30}", "{keep_runs: 30, keep_days: 3}"))
    with pytest.raises(ConfigError):
        load_config(path)
