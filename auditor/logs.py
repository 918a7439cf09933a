"""Logging for unattended runs: human-readable text on a terminal, one JSON object per line
(`--log-format json`) for log shippers; secrets redacted from every record.

The stdlib `logging` module throughout; modules log to `auditor.*` loggers and never configure
handlers themselves (only the CLI calls `configure_logging`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from auditor.config import Config

REDACTED = "[REDACTED]"
# Credentials that may appear in an error text no matter what the config says.
_PATTERNS = (
    (re.compile(r"(SSWS|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)(password|secret|token|signature)=[^&\s]+"), rf"\1={REDACTED}"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), REDACTED),
)
# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactSecrets(logging.Filter):
    """Replaces known secret values (and credential-shaped text) in a record's message and extras."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with every secret value replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted; drop the args so nothing re-renders the original."""
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                doc[key] = value
        if record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(doc, default=str)


def config_secrets(config: Config | None) -> list[str]:
    """Every secret value the config leads to: the Okta token, SMTP credentials, the webhook
    URL (its path is the credential), external ids. Read from the environment, never stored."""
    if config is None:
        return []
    values: list[str | None] = []
    auth = config.okta.auth
    if auth.token_env:
        values.append(os.environ.get(auth.token_env))
    notify = config.notifications
    if notify is not None:
        if notify.webhook_url:
            values.append(notify.webhook_url)
            values.append(notify.webhook_url.split("://", 1)[-1].split("/", 1)[-1])  # the path alone
        if notify.email and notify.email.password_env:
            values.append(os.environ.get(notify.email.password_env))
    values += [f.aws.external_id for f in config.federations if f.aws is not None]
    values.append(config.discovery.external_id)
    return [v for v in values if v]


def configure_logging(fmt: str = "text", *, verbose: bool = False, stream: IO[str] | None = None,
                      secrets: Iterable[str] = ()) -> RedactSecrets:
    """Send `auditor.*` logs to `stream` (stderr) as text or JSON lines; returns the redaction
    filter so the caller can add secrets once the config is loaded."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redact = RedactSecrets(secrets)
    handler.addFilter(redact)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("auditor")
    for old in list(logger.handlers):  # configure twice (tests, main() called again): no duplicates
        if getattr(old, "_auditor", False):
            logger.removeHandler(old)
    handler._auditor = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    return redact


def add_secrets(redact: RedactSecrets, secrets: Iterable[str]) -> None:
    """Extend a configured filter's secrets (after the config is loaded)."""
    redact.secrets = sorted(set(redact.secrets) | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
