"""Notifications against local receivers: an HTTP webhook that is down, slow, answers 500 or
accepts; a minimal SMTP server. A failed notification never fails the scan; the report says so.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor.config import EmailSettings, NotifySettings
from auditor.models import Finding, RunResult, Severity, Status
from auditor.notify import notify, summarize
from auditor.sandbox.scenario import Sandbox, SeededFederation, seed_federation
from tests.conftest import scan_sandbox


class Receiver:
    """A webhook receiver on 127.0.0.1 whose behaviour a test switches: ok, 500 or slow."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.bodies.append(body)
                if receiver.mode == "slow":
                    time.sleep(0.6)
                code = 500 if receiver.mode == "500" else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _result(*statuses: Status) -> RunResult:
    findings = tuple(Finding(uid=f"u{i}", control_id=f"CTRL-{i}", title="t", severity=Severity.HIGH, status=st,
                             federation="prod", resource="r", expected=None, actual=None, message="m")
                     for i, st in enumerate(statuses))
    return RunResult(run_id="20260101T000000Z-abcdef", started_at="", finished_at="", tool_version="0",
                     federations=("prod",), findings=findings, collection_errors={}, evidence={})


def _settings(url: str | None = None, **kw: Any) -> NotifySettings:
    return NotifySettings(webhook_url=url, retries=kw.pop("retries", 2), backoff_seconds=0.01,
                          timeout_seconds=kw.pop("timeout_seconds", 2.0), **kw)


def test_webhook_ok_sends_slack_json(receiver: Receiver) -> None:
    assert notify(_result(Status.FAIL, Status.ERROR, Status.PASS), _settings(receiver.url)) == []
    [body] = receiver.bodies
    assert body["text"].startswith("auditor run 20260101T000000Z-abcdef: 1 new failure(s), 0 resolved, 1 error(s)")
    assert any("prod: CTRL-0" in b["text"]["text"] for b in body["blocks"] if "text" in b)


@pytest.mark.parametrize("mode", ["down", "slow", "500"])
def test_failed_webhook_becomes_a_notice(receiver: Receiver, mode: str) -> None:
    receiver.mode = mode
    url = receiver.url if mode != "down" else f"http://127.0.0.1:{_closed_port()}/hook/secret-path"
    slept: list[float] = []
    notices = notify(_result(Status.FAIL), _settings(url, timeout_seconds=0.3), sleep=slept.append)
    [notice] = notices
    assert notice.startswith("notification failed: webhook http://127.0.0.1:") and "after 3 attempt(s)" in notice
    assert "secret-path" not in notice  # a webhook's path is its credential
    assert slept == [0.01, 0.02]  # exponential backoff between the three attempts
    expected = {"down": "ConnectionRefusedError", "slow": "timed out", "500": "HTTP 500"}[mode]
    assert expected in notice


def test_nothing_new_sends_nothing(receiver: Receiver) -> None:
    assert notify(_result(Status.PASS), _settings(receiver.url)) == []
    assert notify(_result(Status.ERROR), _settings(receiver.url, events=("new_failures",))) == []
    assert receiver.bodies == []
    assert summarize(_result(Status.FAIL, Status.ERROR)).events() == {"new_failures", "errors"}


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost ready\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250 localhost\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.messages.append(data.decode())  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_through_local_smtp() -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        email = EmailSettings(smtp_host="127.0.0.1", smtp_port=server.server_address[1], sender="auditor@example.com",
                              recipients=("secops@example.com",), starttls=False)
        assert notify(_result(Status.FAIL), _settings(email=email), Path("/reports/x")) == []
        [message] = server.messages  # type: ignore[attr-defined]
        assert "Subject: auditor run 20260101T000000Z-abcdef: 1 new failure(s)" in message
        assert "prod: CTRL-0" in message and "reports: /reports/x" in message
    finally:
        server.shutdown()
        server.server_close()
    # The relay is gone: the e-mail failure is a notice, not an exception.
    email = EmailSettings(smtp_host="127.0.0.1", smtp_port=_closed_port(), sender="a@example.com",
                          recipients=("b@example.com",), starttls=False)
    [notice] = notify(_result(Status.FAIL), _settings(email=email, retries=0))
    assert notice.startswith("notification failed: e-mail via 127.0.0.1:")


@pytest.fixture(scope="module")
def drifted(sandbox: Sandbox) -> SeededFederation:
    sandbox.reset()
    return seed_federation(sandbox, "notify-drift", ["email_mapping"])


def test_receiver_answering_500_does_not_fail_the_scan(sandbox: Sandbox, drifted: SeededFederation,
                                                       receiver: Receiver, tmp_path: Path) -> None:
    receiver.mode = "500"

    def edit(doc: dict[str, Any]) -> None:
        doc["reports"]["formats"] = ["json"]
        doc["notifications"] = {"webhook": {"url": receiver.url}, "retries": 1, "backoff_seconds": 0.01,
                                "timeout_seconds": 2}

    out = scan_sandbox(sandbox, [drifted], tmp_path, edit=edit)
    assert out.result.exit_code == 1  # the drift, not the notification, decides
    report = json.loads(out.files["json"].read_text())
    [notice] = [n for n in report["notices"] if n.startswith("notification failed")]
    assert "HTTP 500" in notice and "after 2 attempt(s)" in notice
    assert len(receiver.bodies) == 2
    assert "COGNITO-IDP-EMAIL-MAPPING" in json.dumps(receiver.bodies[0])
