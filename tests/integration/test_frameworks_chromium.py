"""The framework section of the HTML report in headless Chromium: it renders, shows a requirement
that no control covers as "not assessed by this tool" (never as passing), and keeps the page free
of console errors. Runs in CI (.ci/run installs chromium)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from auditor.evaluate.frameworks import framework_views
from auditor.policy.loader import load_policies
from auditor.report.html import render_html
from tests.integration.cdp import console_problems
from tests.integration.test_report_chromium import CHROMIUM, _png_size, _run
from tests.report_samples import sample_result

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    policies = load_policies()
    base = sample_result()
    findings = tuple(dataclasses.replace(f, requirements=policies.control(f.control_id).requirements)
                     for f in base.findings)
    views = framework_views(policies.frameworks, ["pci-dss-4.0", "soc2-tsc-2017"], findings, base.federations)
    result = dataclasses.replace(base, findings=findings, frameworks=views)
    path = tmp_path_factory.mktemp("fw-chromium") / "report.html"
    path.write_text(render_html(result).decode(), encoding="utf-8")
    return path


def test_framework_section_renders_with_a_not_assessed_requirement(page: Path, tmp_path: Path) -> None:
    proc = _run(["--virtual-time-budget=2000", "--dump-dom", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = console_problems(proc.stderr)
    assert console == [], "\n".join(console)
    dom = proc.stdout
    section = dom[dom.index('id="framework-pci-dss-4.0"'):dom.index('id="framework-soc2-tsc-2017"')]
    mfa = section[section.index('data-requirement="8.4.2"'):]
    mfa = mfa[:mfa.index("</tbody>")]
    # The uncovered requirement reads "not assessed by this tool" for every federation, never PASS.
    assert mfa.count('data-fw-status="NOT_ASSESSED"') == 2 and "not assessed by this tool" in mfa
    assert 'data-fw-status="PASS"' not in mfa
    # A covered requirement shows its controls' statuses: prod fails OKTA-APP-ACTIVE, so 8.3.1 fails there.
    authn = section[section.index('data-requirement="8.3.1"'):]
    authn = authn[:authn.index("</tbody>")]
    assert re.search(r'data-fw-status="FAIL"', authn) and "OKTA-APP-ACTIVE" in authn


def test_framework_section_screenshot(page: Path, tmp_path: Path) -> None:
    # The section alone, with the report's own <head> (styles, CSP): a screenshot a person can check.
    html = page.read_text(encoding="utf-8")
    start = html.index('<section class="card framework" id="framework-pci-dss-4.0"')
    alone = tmp_path / "section.html"
    head, section = html[:html.index("<body>") + 6], html[start:html.index("</section>", start)]
    alone.write_text(head + '<main class="wrap">' + section + "</section></main></body></html>", encoding="utf-8")
    shot = tmp_path / "framework.png"
    proc = _run(["--window-size=1280,1600", f"--screenshot={shot}", "--virtual-time-budget=2000", alone.as_uri()],
                tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert _png_size(shot) == (1280, 1600)
    assert shot.stat().st_size > 20_000
