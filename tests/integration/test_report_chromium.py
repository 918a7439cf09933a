"""The HTML report in headless Chromium: no console error, no outside request, screenshots at
desktop and phone widths, and a print (PDF) rendering. Runs in CI (.ci/run installs chromium)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from auditor.diff import FieldChange
from auditor.models import FederationChanges, RunChanges, TrendPoint
from auditor.report.html import render_html
from tests.integration.test_report_html import EU, HOSTILE_SCRIPT, PROD, sample_result

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def rich_page() -> str:
    """The sample run with history: changes since a previous run and a 12-run trend."""
    base = sample_result()
    changes = RunChanges("20251127T084200Z-1a2b", "2025-11-27T08:42:00+00:00", (
        FederationChanges(PROD, new_failures=("OKTA-SAML-ACS-URL", "OKTA-CERT-EXPIRY"),
                          resolved_failures=("COGNITO-DOMAIN",), still_failing=("OKTA-APP-ACTIVE",),
                          state=(FieldChange("okta.app.settings.signOn.honorForceAuthn", True, False),
                                 FieldChange("okta.app.label", "Contact Center", HOSTILE_SCRIPT),
                                 FieldChange("cognito.app_client.CallbackURLs[1]", None,
                                             "https://evil.example.com/cb"))),
        FederationChanges(EU),
    ))
    trend = tuple(TrendPoint(f"202511{d:02d}T084200Z-0000", f"2025-11-{d:02d}T08:42:00+00:00",
                             {"PASS": 26 - (d % 5), "FAIL": 2 + (d % 5), "ERROR": d % 2, "SKIPPED": 2, "WAIVED": 1})
                  for d in range(17, 28))
    trend += (TrendPoint(base.run_id, base.started_at, base.counts()),)
    run = dataclasses.replace(base, changes=changes, trend=trend,
                              notices=("waiver for OKTA-SAML-SIGNING in prod expired on 2025-11-01 (w.yaml:3)",))
    return render_html(run).decode()


def _run(args: list[str], tmp: Path, timeout: int = 30) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    try:
        return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chromium") / "report.html"
    path.write_text(rich_page(), encoding="utf-8")
    return path


def page_requests(netlog: Path) -> list[str]:
    """URLs the *page* asked for, from a Chromium net log (the browser's own update and time
    checks carry the initiator "not an origin" and are left out)."""
    events = json.loads(netlog.read_text(errors="replace")).get("events", [])
    urls = set()
    for e in events:
        params = e.get("params", {})
        if "url" in params and "initiator" in params and params["initiator"] != "not an origin":
            urls.add(str(params["url"]))
    return sorted(u for u in urls if not u.startswith(("file:", "data:", "about:", "chrome:")))


def _load(page: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    netlog = tmp_path / "net.json"
    proc = _run([f"--log-net-log={netlog}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()], tmp_path)
    return proc, page_requests(netlog)


def test_no_console_error_and_no_outside_request(report: Path, tmp_path: Path) -> None:
    proc, outside = _load(report, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines()
               if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line or "Content Security Policy" in line]
    assert console == [], "\n".join(console)
    assert 'data-js="on"' in proc.stdout  # the filter script ran: its CSP hash matched
    assert outside == []


def test_the_request_check_sees_a_fetch(report: Path, tmp_path: Path) -> None:
    # The same page without its CSP and with an image from outside: the net-log check must see it.
    html = report.read_text(encoding="utf-8")
    start = html.index('<meta http-equiv="Content-Security-Policy"')
    html = html[:start] + html[html.index(">", start) + 1:]
    leaky = tmp_path / "leaky.html"
    leaky.write_text(html.replace("</body>", '<img src="http://127.0.0.1:9/pixel.png" alt=""></body>'))
    _, outside = _load(leaky, tmp_path)
    assert outside == ["http://127.0.0.1:9/pixel.png"]


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshot_at_width(report: Path, tmp_path: Path, width: int) -> None:
    shot = tmp_path / f"report-{width}.png"
    proc = _run([f"--window-size={width},2400", f"--screenshot={shot}", "--virtual-time-budget=2000",
                 report.as_uri()], tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    w, h = _png_size(shot)
    assert (w, h) == (width, 2400)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_prints_to_pdf(report: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    proc = _run([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri()], tmp_path, timeout=60)
    assert proc.returncode == 0 and pdf.exists(), proc.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2
