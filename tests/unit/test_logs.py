"""Logs: text or one JSON object per line; secrets never logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.logs import REDACTED, add_secrets, config_secrets, configure_logging
from tests.paths import ROOT


@pytest.fixture(autouse=True)
def _restore_logger() -> Iterator[None]:
    logger = logging.getLogger("auditor")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def test_json_lines_with_extras() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger("auditor.scheduler").info("run %s done", "r1", extra={"exit_code": 1})
    [line] = stream.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["message"] == "run r1 done" and doc["level"] == "INFO" and doc["logger"] == "auditor.scheduler"
    assert doc["exit_code"] == 1 and doc["time"].endswith("+00:00")


def test_secrets_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_API_TOKEN", "00aSecretOktaToken123")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-smtp")
    text = (ROOT / "config.example.yaml").read_text() + """
notifications:
  webhook: {url: "https://hooks.slack.com/services/T0/B0/XyzSecretPath"}
  email: {smtp_host: smtp.example.com, from: a@example.com, to: [b@example.com],
          username_env: SMTP_USER, password_env: SMTP_PASSWORD}
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = load_config(path)
    stream = io.StringIO()
    redact = configure_logging("text", stream=stream)
    add_secrets(redact, config_secrets(config))
    log = logging.getLogger("auditor.test")
    log.error("okta said 401 for %s", "00aSecretOktaToken123")
    log.error("login failed with hunter2-smtp", extra={"detail": "Authorization: SSWS 00aOtherToken456789"})
    log.error("posting to https://hooks.slack.com/services/T0/B0/XyzSecretPath failed")
    log.error("url?X-Amz-Signature=abcdef0123&password=pw1")
    try:
        raise RuntimeError("token 00aSecretOktaToken123 rejected")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    for secret in ("00aSecretOktaToken123", "hunter2-smtp", "XyzSecretPath", "abcdef0123", "pw1"):
        assert secret not in out, secret
    assert out.count(REDACTED) >= 5
    stream = io.StringIO()
    redact = configure_logging("json", stream=stream, secrets=config_secrets(config))
    log.warning("x", extra={"detail": "Bearer 00aOtherToken456789"})
    assert "00aOtherToken456789" not in stream.getvalue()
