"""Tests for auditor.report.html: a self-contained, escaped, offline HTML report."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.models import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_MEANINGS,
    EXIT_OK,
    RunResult,
    Severity,
    Status,
)
from auditor.remediate.model import FieldChange, PlannedChange
from auditor.report.html import (
    FILTER_SCRIPT,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    build_environment,
    content_security_policy,
    differing_keys,
    json_lines,
    render_html,
    sort_key,
)
from tests.integration.cdp import console_problems
from tests.report_samples import HOSTILE_IMG, HOSTILE_SCRIPT, PROD, SAMPLE_CONTROLS, sample_finding, sample_result


@pytest.fixture(scope="module")
def result() -> RunResult:
    return sample_result()


@pytest.fixture(scope="module")
def page(result: RunResult) -> str:
    return render_html(result).decode("utf-8")


class _Collector(HTMLParser):
    """Collects start tags and attributes, the text of the document and of <script> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


def test_is_one_html5_document(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page


def test_contains_every_federation_and_control(result: RunResult, page: str) -> None:
    for fed in result.federations:
        assert f"{fed}</h2>" in page
    for f in result.findings:
        assert f">{f.control_id}</code>" in page
    assert len(re.findall(r'<tbody class="finding ', page)) == len(result.findings)


def test_header_shows_run_facts_and_exit_meaning(result: RunResult, page: str) -> None:
    assert "auditor report" in page
    for value in (result.run_id, result.started_at, result.finished_at, result.tool_version, "scan"):
        assert value in page
    assert result.exit_code == 2
    assert EXIT_MEANINGS[EXIT_ERROR] in page


@pytest.mark.parametrize(
    ("statuses", "meaning"),
    [
        ((Status.PASS, Status.WAIVED), EXIT_MEANINGS[EXIT_OK]),
        ((Status.PASS, Status.FAIL), EXIT_MEANINGS[EXIT_FAIL]),
        ((Status.FAIL, Status.ERROR), EXIT_MEANINGS[EXIT_ERROR]),
    ],
)
def test_exit_meaning_follows_exit_code(statuses: tuple[Status, ...], meaning: str) -> None:
    findings = tuple(sample_finding(SAMPLE_CONTROLS[i], PROD, status) for i, status in enumerate(statuses))
    run = RunResult(
        "r1", "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", "0.1.0", (PROD,), findings, {}, {}, mode="demo"
    )
    out = render_html(run).decode()
    assert meaning in out
    assert f"exit {run.exit_code}" in out
    others = set(EXIT_MEANINGS.values()) - {meaning}
    assert not any(o in out for o in others)


def test_hostile_text_is_escaped(page: str) -> None:
    assert HOSTILE_SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "onerror=alert(1)>" not in page
    # Nothing executable beyond the report's own two script blocks.
    parsed = _parse(page)
    assert [t for t, _ in parsed.tags if t == "script"] == ["script", "script"]
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    assert any("<script>alert(1)</script>" in t for t in parsed.text)  # shown as text


def test_escaping_is_on_and_template_never_trusts_data() -> None:
    env = build_environment()
    template = env.get_template(TEMPLATE_NAME)
    assert env.autoescape is True or (callable(env.autoescape) and env.autoescape(TEMPLATE_NAME))
    assert template.environment is env
    source = (TEMPLATE_DIR / TEMPLATE_NAME).read_text(encoding="utf-8")
    code = re.sub(r"\{#.*?#\}", "", source, flags=re.S)  # comments may mention |safe
    assert not re.search(r"\|\s*safe\b", code)
    assert "autoescape" not in code


def test_embedded_json_is_escaped_and_parseable(result: RunResult, page: str) -> None:
    import json

    hostile = RunResult("run<script>x</script>", "a", "b", "0.1.0", (HOSTILE_SCRIPT,), (), {}, {})
    out = render_html(hostile).decode()
    assert "<script>x</script>" not in out
    parsed = _parse(out)
    data_blocks = [body for attrs, body in parsed.scripts if attrs.get("type") == "application/json"]
    assert len(data_blocks) == 1
    data = json.loads(data_blocks[0])
    assert data["run_id"] == "run<script>x</script>"
    assert HOSTILE_SCRIPT in data["federations"]


def test_no_external_resources(page: str) -> None:
    parsed = _parse(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
            value = attrs.get(name)
            if value is None:
                continue
            assert value.startswith(("#", "data:")), f"<{tag} {name}={value!r}>"
    style = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.S))
    assert "@import" not in style
    for url in re.findall(r"url\(([^)]*)\)", style):
        assert url.strip("'\" ").startswith("data:"), url
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.I)
    assert "<link" not in page.replace('<link rel="icon" href="data:,">', "")
    assert "<iframe" not in page and "<object" not in page and "<embed" not in page


def test_csp_meta_present_and_allows_only_the_report_script(page: str) -> None:
    parsed = _parse(page)
    metas = [
        a
        for t, a in parsed.tags
        if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"
    ]
    assert len(metas) == 1
    csp = metas[0]["content"] or ""
    assert csp == content_security_policy()
    assert "default-src 'none'" in csp
    assert "img-src data:" in csp
    assert "script-src 'sha256-" in csp and "script-src 'unsafe-inline'" not in csp
    # The hash must be of the script exactly as it appears in the page.
    executable = [body for attrs, body in parsed.scripts if "type" not in attrs]
    assert executable == [FILTER_SCRIPT]
    # The CSP meta must come before anything it governs.
    assert page.index("Content-Security-Policy") < page.index("<style>")


def test_status_counts(result: RunResult, page: str) -> None:
    counts = result.counts()
    assert counts == {"PASS": 21, "FAIL": 6, "ERROR": 2, "SKIPPED": 2, "WAIVED": 1}
    for status, n in counts.items():
        assert re.search(
            rf'data-count-status="{status}"><span class="n">{n}</span><span class="l">{status}</span>', page
        ), status
        assert len(re.findall(rf'data-status="{status}"', page)) == n
    fails = [f for f in result.findings if f.status is Status.FAIL]
    for sev in Severity:
        n = sum(1 for f in fails if f.severity is sev)
        assert f'data-fail-severity="{sev.value}">{n}</td>' in page


def test_per_federation_sections_tallies_and_errors(result: RunResult, page: str) -> None:
    prod, eu = page.split('id="federation-2"')
    assert "Collection errors" not in prod
    assert "Collection errors (1)" in eu
    assert "cognito.identity_provider</code>: AccessDenied: not authorized &lt;script&gt;" in eu
    assert '<li class="chip st-error">ERROR 2</li>' in eu
    assert '<li class="chip st-fail">FAIL 4</li>' in prod
    assert "Passing controls (<span data-visible-count>10</span>)" in prod


def test_findings_sorted_fail_error_first_then_severity_then_id(result: RunResult, page: str) -> None:
    eu_section = page.split('id="federation-2"')[1].split("<details")[0]
    ids = re.findall(r'<code class="cid">([^<]+)</code>', eu_section)
    # ERROR critical, FAIL/ERROR high, FAIL medium, FAIL low, then SKIPPED.
    assert ids == [
        "COGNITO-IDP-SAML",
        "COGNITO-IDP-METADATA",
        "OKTA-ASSIGNMENTS",
        "COGNITO-IDP-NAME",
        "CONNECT-INSTANCE-SAML",
    ]
    keys = [sort_key(f) for f in result.findings]
    assert sorted(keys)[0][0] == 0


def test_expected_actual_shown_with_differing_keys_highlighted(page: str) -> None:
    acs = page.split("OKTA-SAML-ACS-URL</code>")[1].split("</tbody>")[0]
    assert acs.count('<mark class="diff">') == 4  # two differing keys, on both sides
    assert "Differs (2):" in acs
    assert "<code>settings.signOn.ssoAcsUrl</code>, <code>settings.signOn.destination</code>" in acs
    assert "settings.signOn.recipient" in acs  # equal key shown, not highlighted
    assert not re.search(r'<mark class="diff">\s*&#34;settings\.signOn\.recipient', acs)
    assert "Okta SAML app, step 2" in acs
    assert "Remediation (planned)" in acs


def test_pass_findings_are_collapsed_without_detail(page: str) -> None:
    passing = re.findall(r"<details class=\"group passing\".*?</details>", page, flags=re.S)
    assert len(passing) == 2
    assert all('class="detail"' not in block for block in passing)
    assert all('data-status="PASS"' in block for block in passing)


def test_differing_keys_and_json_lines() -> None:
    assert differing_keys({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == ("b", "c")
    assert differing_keys({"a": 1}, {"a": True}) == ("a",)
    assert differing_keys("x", {"a": 1}) == ()
    lines = json_lines({"a": 1, "b": {"x": [1, 2]}}, ("b",))
    assert [line.differs for line in lines] == [False, False, True, False]
    assert (
        "\n".join(line.text for line in lines)
        == '{\n  "a": 1,\n  "b": {\n    "x": [\n      1,\n      2\n    ]\n  }\n}'
    )
    assert [line.text for line in json_lines(None)] == ["null"]


def test_empty_run_renders() -> None:
    run = RunResult("empty", "x", "y", "0.1.0", (), (), {}, {})
    out = render_html(run).decode()
    assert EXIT_MEANINGS[EXIT_OK] in out
    assert "No evidence was recorded" in out


def test_unlisted_federation_still_gets_a_section() -> None:
    f = sample_finding(SAMPLE_CONTROLS[0], "stray", Status.FAIL)
    run = RunResult("r", "x", "y", "0.1.0", (PROD,), (f,), {"other": [{"source": "s", "message": "m"}]}, {})
    out = render_html(run).decode()
    assert ">stray</h2>" in out and ">other</h2>" in out


def test_text_content_round_trips(page: str) -> None:
    # What a reader sees is exactly the data, not a double-escaped version of it.
    text = htmllib.unescape("".join(_parse(page).text))
    assert "&amp;lt;" not in page
    assert HOSTILE_IMG in text


CHROMIUM = Path("/usr/bin/chromium")


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)


@needs_chromium
def test_loads_in_headless_chromium_without_console_errors(page: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=1000",
        "--dump-dom",
        report.as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=9)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium took longer than 9 s")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = console_problems(proc.stderr)
    assert console == [], "\n".join(console)
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The filter script ran (its CSP hash matched) and revealed the filter bar.
    assert 'data-js="on"' in dom
    assert (
        re.search(r'<div id="filters"[^>]*>', dom)
        and "hidden" not in re.search(r'<div id="filters"[^>]*>', dom)[0]
    )
    assert "32 of 32 findings shown" in dom
    # The hostile label stayed text: no element was created from it.
    assert "<img" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


@needs_chromium
def test_filter_bar_filters_in_chromium(page: str, tmp_path: Path) -> None:
    # Drive the filters from a second script; only this test copy allows it in the CSP.
    driver = """<script>
    document.querySelectorAll('input[name=status]').forEach(function (b) {
      if (b.value !== 'ERROR') { b.checked = false; }
      b.dispatchEvent(new Event('change'));
    });
    var q = document.getElementById('filter-q'); q.value = 'Metadata'; q.dispatchEvent(new Event('input'));
    </script></body>"""
    patched = re.sub(r"script-src &#39;sha256-[^&]+&#39;", "script-src &#39;unsafe-inline&#39;", page)
    assert patched != page
    report = tmp_path / "filtered.html"
    report.write_text(patched.replace("</body>", driver), encoding="utf-8")
    profile = tmp_path / "profile"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        report.as_uri(),
    ]
    try:
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=9).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert "1 of 32 findings shown" in dom
    visible = re.findall(
        r'<tbody class="finding (st-[a-z]+)" data-status="([A-Z]+)"[^>]*>\s*<tr class="main">.*?'
        r'<code class="cid">([^<]+)</code>',
        dom,
        flags=re.S,
    )
    assert [(s, cid) for _, s, cid in visible] == [("ERROR", "COGNITO-IDP-METADATA")]
    assert dom.count('<p class="no-match">') == 3  # the other three groups say so


def test_every_run_mode_is_worded_and_a_fix_header_says_what_it_did_and_how_to_undo(result: RunResult) -> None:
    import dataclasses

    from auditor.history import MODES
    from auditor.models import RUN_MODES as MODE_MEANINGS
    from auditor.remediate.model import ChangeOutcome, OutcomeState, Plan, RemediationResult

    assert set(MODES) <= set(MODE_MEANINGS)
    change = PlannedChange("prod:okta.app", PROD, "okta.app", {"app_id": "0oa1"}, "okta PUT /api/v1/apps/0oa1",
                           ("OKTA-SAML-AUDIENCE",), ("why",), (FieldChange("settings.signOn.audience", "a", "b"),),
                           {}, {})
    fixed = dataclasses.replace(result, mode="fix", remediation=RemediationResult(
        Plan((change,)), applied=True, outcomes=(ChangeOutcome(change, OutcomeState.APPLIED_VERIFIED),)))
    page = render_html(fixed).decode()
    assert '<dd data-mode="fix">fix · live scan with remediation' in page
    assert (f"<dd data-fix-summary>1 change planned, 1 applied, 1 verified; undo with: auditor rollback "
            f"{result.run_id}</dd>") in page
    declined = dataclasses.replace(fixed, remediation=RemediationResult(Plan((change,)), declined=True))
    assert "declined at the prompt: nothing was changed in Okta or AWS" in render_html(declined).decode()
    assert "data-fix-summary" not in render_html(result).decode()


def test_labels_keep_their_space_and_differing_characters_are_marked(page: str) -> None:
    # Printed, "DIFFERS (2):settings..." and "REFERENCES:Okta..." ran together.
    acs = page.split("OKTA-SAML-ACS-URL</code>")[1].split("</tbody>")[0]
    assert "Differs (2):</span> <code>" in acs and "References:</span> <ul>" in acs
    # cc-old vs cc-prod in the ACS URL: only the differing characters are marked, on both sides.
    assert '&#34;https://cc-<mark class="chars">ol</mark>d.auth' in acs
    assert '&#34;https://cc-<mark class="chars">pro</mark>d.auth' in acs


def test_trend_labels_tell_runs_of_the_same_minute_apart() -> None:
    from auditor.models import TrendPoint
    from auditor.report.visuals import trend_view

    points = [TrendPoint(f"r{i}", f"2026-11-30T03:33:{s:02d}+00:00", {"PASS": 3}, mode)
              for i, (s, mode) in enumerate([(1, "scan"), (9, "plan"), (20, "fix"), (20, "scan")])]
    points.insert(0, TrendPoint("r-1", "2026-11-29T22:00:00+00:00", {"PASS": 3}, "scan"))
    bars = trend_view(points, "r3").bars
    labels = [b.label for b in bars]
    assert len(set(labels)) == len(labels), labels
    assert labels[0] == "11-29 22:00" and labels[1] == "11-30 03:33:01" and labels[3] == "11-30 03:33:20 #1"
    assert [b.mode for b in bars] == ["scan", "scan", "plan", "fix", "scan"]
