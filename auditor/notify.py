"""Notifications after a run: a Slack-compatible webhook and/or e-mail over SMTP.

Sent when a run has new failures, resolved failures or errors (`notifications.events`). Delivery is
retried with exponential backoff and a timeout per attempt; a notification that still fails
never fails the scan — it becomes a notice in the run's reports, so whoever reads the report
learns that nobody was told.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from auditor.config import NotifySettings
from auditor.models import RunResult, Status

log = logging.getLogger("auditor.notify")


@dataclass(frozen=True)
class Summary:
    """What a notification says: per event, the federation and control ids involved."""

    new_failures: tuple[tuple[str, str], ...]  # (federation, control id)
    resolved: tuple[tuple[str, str], ...]
    errors: tuple[tuple[str, str], ...]

    def events(self) -> set[str]:
        """The events that happened: a subset of config.NOTIFY_EVENTS."""
        return {name for name, items in (("new_failures", self.new_failures), ("resolved", self.resolved),
                                         ("errors", self.errors)) if items}


def summarize(result: RunResult) -> Summary:
    """New failures and resolved failures from the run's changes; ERROR findings as they are.

    Without a previous run (no history, or the first run) every FAIL is new.
    """
    if result.changes is None:
        new = tuple((f.federation, f.control_id) for f in result.findings if f.status is Status.FAIL)
        resolved: tuple[tuple[str, str], ...] = ()
    else:
        new = tuple((fc.federation, c) for fc in result.changes.federations for c in fc.new_failures)
        resolved = tuple((fc.federation, c) for fc in result.changes.federations for c in fc.resolved_failures)
        # A federation seen for the first time has no previous verdicts: its FAILs are new too.
        first = {fc.federation for fc in result.changes.federations if fc.first_seen}
        new += tuple((f.federation, f.control_id) for f in result.findings
                     if f.federation in first and f.status is Status.FAIL and (f.federation, f.control_id) not in new)
    errors = tuple((f.federation, f.control_id) for f in result.findings if f.status is Status.ERROR)
    return Summary(new, resolved, errors)


def _lines(items: tuple[tuple[str, str], ...], limit: int = 20, notes: dict[tuple[str, str], str] | None = None) -> str:
    notes = notes or {}
    shown = [f"• {fed}: {cid}" + (f" ({notes[(fed, cid)]})" if (fed, cid) in notes else "")
             for fed, cid in items[:limit]]
    if len(items) > limit:
        shown.append(f"… and {len(items) - limit} more")
    return "\n".join(shown)


def message(result: RunResult, summary: Summary, run_dir: Path | None) -> tuple[str, list[dict[str, Any]]]:
    """The plain-text summary and Slack blocks (mrkdwn sections) for one run."""
    counts = result.counts()
    text = (f"auditor run {result.run_id}: {len(summary.new_failures)} new failure(s), "
            f"{len(summary.resolved)} resolved, {len(summary.errors)} error(s) "
            f"(FAIL {counts['FAIL']}, ERROR {counts['ERROR']}, PASS {counts['PASS']})")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
    # A new failure carries who changed it, when the run looked (`scan --attribute`).
    who = {(f.federation, f.control_id): f.attribution.summary for f in result.findings if f.attribution is not None}
    for title, items in (("New failures", summary.new_failures), ("Resolved", summary.resolved),
                         ("Errors (compliance unknown)", summary.errors)):
        if items:
            lines = _lines(items, notes=who if title == "New failures" else None)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{lines}"}})
    if run_dir is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"reports: {run_dir}"}]})
    return text, blocks


def _retry(what: str, attempt: Callable[[], None], settings: NotifySettings,
           sleep: Callable[[float], None]) -> str | None:
    """Run `attempt` up to 1 + retries times with exponential backoff; the last error, or None."""
    error = ""
    for n in range(settings.retries + 1):
        try:
            attempt()
            return None
        except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
            error = _describe(exc)
            log.warning("notification %s failed (attempt %d of %d): %s", what, n + 1, settings.retries + 1, error)
        if n < settings.retries:
            sleep(settings.backoff_seconds * (2 ** n))
    return error


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def send_webhook(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST the JSON payload; anything but a 2xx answer raises."""
    scheme = urlparse(url).scheme
    if scheme not in ("https", "http"):  # urllib would also open file:// URLs
        raise ValueError(f"webhook URL scheme {scheme!r} is not http(s)")
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "auditor"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # the scheme is checked above
        response.read()


def send_email(settings: NotifySettings, subject: str, body: str) -> None:
    """Send through SMTP, with STARTTLS unless disabled; credentials only from env variables."""
    email = settings.email
    assert email is not None
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, email.sender, ", ".join(email.recipients)
    msg.set_content(body)
    with smtplib.SMTP(email.smtp_host, email.smtp_port, timeout=settings.timeout_seconds) as smtp:
        smtp.ehlo()
        if email.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if email.username_env and email.password_env:
            user, password = os.environ.get(email.username_env), os.environ.get(email.password_env)
            if not user or not password:
                raise ValueError(f"{email.username_env} and {email.password_env} must both be set")
            smtp.login(user, password)
        smtp.send_message(msg)


def _where(url: str) -> str:
    """The webhook's scheme and host only: its path is often the secret (Slack, Teams)."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}/…"


def notify(result: RunResult, settings: NotifySettings, run_dir: Path | None = None, *,
           sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Send the run's notification if one of the configured events happened.

    Returns notices for the report: one per channel that could not be reached. Never raises
    for a delivery problem.
    """
    summary = summarize(result)
    if not summary.events() & set(settings.events):
        log.info("no notification: nothing new (events configured: %s)", ", ".join(settings.events))
        return []
    text, blocks = message(result, summary, run_dir)
    notices = []
    if settings.webhook_url:
        url = settings.webhook_url
        error = _retry("webhook", lambda: send_webhook(url, {"text": text, "blocks": blocks},
                                                       settings.timeout_seconds), settings, sleep)
        if error:
            notices.append(f"notification failed: webhook {_where(url)} after {settings.retries + 1} "
                           f"attempt(s): {error}")
        else:
            log.info("notification sent: webhook %s", _where(url))
    if settings.email:
        body = text + "\n\n" + "\n\n".join(b["text"]["text"].replace("*", "") for b in blocks[1:] if "text" in b)
        if run_dir is not None:
            body += f"\n\nreports: {run_dir}\n"
        error = _retry("e-mail", lambda: send_email(settings, text, body), settings, sleep)
        if error:
            notices.append(f"notification failed: e-mail via {settings.email.smtp_host}:{settings.email.smtp_port} "
                           f"after {settings.retries + 1} attempt(s): {error}")
        else:
            log.info("notification sent: e-mail to %d recipient(s)", len(settings.email.recipients))
    return notices
