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
from auditor.models import FederationChanges, RunChanges, RunResult, TrendPoint
from auditor.report.html import render_html
from tests.integration.cdp import console_problems
from tests.report_samples import EU, HOSTILE_SCRIPT, PROD, sample_result

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
    console = console_problems(proc.stderr)
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


# --- layout: a phone and paper ----------------------------------------------------------------------
# Measured over the DevTools protocol (tests/integration/cdp.py): whether the page scrolls sideways
# at 390 px, and, laid out for paper (print media at an A4 page's printable width: 210 mm less the
# report's 12 mm margins, ~703 CSS px), whether a table column is narrower than a word.
PRINT_WIDTH = 703
PDFTOTEXT = shutil.which("pdftotext")
PDFINFO = shutil.which("pdfinfo")


def fix_page() -> str:
    """The rich page as a --fix run writes it: five changes (one a SAML metadata document whose
    certificate changed), their outcomes, and what was left for a human."""
    from auditor.remediate.model import ChangeOutcome, OutcomeState, Plan, PlannedChange, RemediationResult, Unfixable

    base = sample_result()
    cert = "MIIDrDCCApSgAwIBAgIU" + "QwERTYuiop" * 80
    doc = ('<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor entityID="http://www.okta.com/exk1">'
           "<ds:X509Certificate>{}</ds:X509Certificate></md:EntityDescriptor>")
    pool = "us-east-1_babd4aea22ae45189add8c8775ff3e57"
    changes = [
        PlannedChange(f"{PROD}:{kind}", PROD, kind, target, call, (cid,), (f"{cid}: set {field}",),
                      (FieldChange(field, before, after),), {}, {})
        for kind, target, call, cid, field, before, after in [
            ("cognito.identity_provider", {"user_pool_id": pool, "provider_name": "Okta"},
             "cognito-idp:UpdateIdentityProvider (only the maps that change, each complete)",
             "COGNITO-IDP-EMAIL-MAPPING", "AttributeMapping.email",
             "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
             "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"),
            ("cognito.app_client", {"user_pool_id": pool, "client_id": "be33b62e19c940b0911ae3f3b3"},
             "cognito-idp:UpdateUserPoolClient (every updatable field, read-modify-write)",
             "COGNITO-CLIENT-IDP-ENABLED", "SupportedIdentityProviders", None, ["Okta"]),
            ("iam.saml_provider", {"arn": "arn:aws:iam::123456789012:saml-provider/OktaConnect-prod"},
             "iam:UpdateSAMLProvider (arn:aws:iam::123456789012:saml-provider/OktaConnect-prod)",
             "CONNECT-IAM-SAML-PROVIDER", "SAMLMetadataDocument", doc.format(cert), doc.format(cert[::-1])),
            ("okta.app", {"app_id": "0oadmfHitEZJcDxgCV1J"},
             "okta PUT /api/v1/apps/0oadmfHitEZJcDxgCV1J (whole app, read-modify-write)",
             "OKTA-SAML-AUDIENCE", "settings.signOn.audience", f"urn:amazon:cognito:sp:{pool[:-1]}",
             f"urn:amazon:cognito:sp:{pool}"),
            ("organizations.scp", {"account_id": "123456789012", "name": "auditor-protect-prod"},
             "organizations:CreatePolicy + AttachPolicy (target 123456789012)", "SCP-DENY-INSTANCE-DELETION",
             "Content", None, {"Version": "2012-10-17", "Statement": [
                 {"Sid": "AuditorDenyDeleteInstance", "Effect": "Deny", "Action": "connect:DeleteInstance",
                  "Resource": "arn:aws:connect:us-east-1:1"}]}),
        ]]
    outcomes = tuple(ChangeOutcome(c, OutcomeState.APPLIED_VERIFIED, "re-collected") for c in changes)
    fix = RemediationResult(Plan(tuple(changes), (Unfixable(PROD, "OKTA-CERT-EXPIRY", "fix by hand"),)), applied=True,
                            outcomes=outcomes)
    rich = rich_page_result()
    return render_html(dataclasses.replace(rich, mode="fix", remediation=fix, run_id=base.run_id)).decode()


def rich_page_result() -> RunResult:
    """rich_page()'s run (history, trend, a notice), before rendering."""
    base = sample_result()
    changes = RunChanges("20251127T084200Z-1a2b", "2025-11-27T08:42:00+00:00", (
        FederationChanges(PROD, resolved_failures=("COGNITO-DOMAIN",), still_failing=("OKTA-APP-ACTIVE",),
                          state=(FieldChange("okta.app.settings.signOn.audience", "urn:amazon:cognito:sp:us-east-1_a",
                                             "urn:amazon:cognito:sp:us-east-1_ab"),)),
        FederationChanges(EU),
    ))
    trend = tuple(TrendPoint(f"20251130T0333{s:02d}Z-0000", f"2025-11-30T03:33:{s:02d}+00:00",
                             {"PASS": 26, "FAIL": 4, "SKIPPED": 2}, mode)
                  for s, mode in ((1, "scan"), (9, "plan"), (20, "fix"), (41, "scan")))
    return dataclasses.replace(base, changes=changes, trend=(*trend, TrendPoint(base.run_id, base.started_at,
                                                                                 base.counts(), "fix")))


@pytest.fixture(scope="module")
def fix_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chromium-fix") / "report.html"
    path.write_text(fix_page(), encoding="utf-8")
    return path


def test_no_sideways_scrolling_on_a_phone(report: Path, fix_report: Path) -> None:
    from tests.integration.cdp import MEASURE_JS, chromium

    with chromium() as page:
        for html in (report, fix_report):
            page.open(html.as_uri(), width=390)
            measured = page.evaluate(MEASURE_JS)
            assert measured["overflow"] == 0 and measured["wide"] == [], (html.parent.name, measured["wide"])
            assert measured["narrow"] == [], measured["narrow"]  # e.g. a one-letter "Object and call" column


def test_on_paper_no_column_is_narrower_than_a_word(report: Path, fix_report: Path) -> None:
    from tests.integration.cdp import MEASURE_JS, chromium

    with chromium() as page:
        for html in (report, fix_report):
            page.open(html.as_uri(), width=PRINT_WIDTH, print_media=True)
            measured = page.evaluate(MEASURE_JS)
            assert measured["narrow"] == [], measured["narrow"]
            assert measured["overflow"] == 0 and measured["wide"] == [], measured["wide"]


def test_the_layout_check_sees_a_squeezed_column(fix_report: Path, tmp_path: Path) -> None:
    # The same page with the finding table's control column forced to 2 characters: the check must say so.
    from tests.integration.cdp import MEASURE_JS, chromium

    squeezed = tmp_path / "squeezed.html"
    squeezed.write_text(fix_report.read_text(encoding="utf-8").replace(
        "</style>", "table.findings col.c-control { width: 2ch !important; } </style>", 1), encoding="utf-8")
    with chromium() as page:
        page.open(squeezed.as_uri(), width=PRINT_WIDTH, print_media=True)
        narrow = page.evaluate(MEASURE_JS)["narrow"]
    assert any("table.findings" in n["what"] for n in narrow), narrow


@pytest.mark.skipif(PDFTOTEXT is None or PDFINFO is None,
                    reason="needs poppler-utils (pdfinfo, pdftotext): apt-get install poppler-utils")
def test_a_printed_fix_report_is_short_and_no_heading_ends_a_page(fix_report: Path, tmp_path: Path) -> None:
    from tests.integration.cdp import chromium

    pdf = tmp_path / "fix.pdf"
    with chromium() as page:
        page.open(fix_report.as_uri(), width=1280)
        page.print_pdf(pdf)
    info = subprocess.run([str(PDFINFO), str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    # Was 20 pages (five changes in a five-column table, a column ~5 characters wide).
    assert 3 <= pages <= 10, pages
    headings = ("Remediation results", "Passing controls", "Needs attention", "Federation", "Evidence",
                "STATUS", "Trust chain", "Not fixed automatically", PROD, EU)
    for number in range(1, pages + 1):
        text = subprocess.run([str(PDFTOTEXT), "-f", str(number), "-l", str(number), "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines, f"page {number} is blank"
        if number < pages:
            last = lines[-1]
            assert not any(last.upper().startswith(h.upper()) for h in headings), (number, last)
