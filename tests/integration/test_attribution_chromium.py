"""Who changed it, in the HTML report in headless Chromium: the attribution line renders under the
finding's message (found, and the honest absence), with no console or CSP errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auditor.models import Attribution, AttributionState, Status
from auditor.report.html import render_html
from tests.integration.cdp import console_problems
from tests.integration.test_report_chromium import CHROMIUM, _run
from tests.report_samples import sample_result

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

FOUND = Attribution(AttributionState.FOUND, "changed by arn:aws:sts::123456789012:assumed-role/terraform-ci/tf-1 "
                    "at 2026-03-01T12:05:00+00:00 via Terraform (UpdateUserPoolClient)", source="cloudtrail",
                    confidence="field", event_id="ev-1<b>",
                    link="https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/ev-1")
NONE = Attribution(AttributionState.NONE, "no change event found in the look-back window (since 2026-02-22)")


def test_attribution_renders_under_the_failing_finding(tmp_path: Path) -> None:
    base = sample_result()
    fails = [i for i, f in enumerate(base.findings) if f.status is Status.FAIL]
    assert len(fails) >= 2
    findings = list(base.findings)
    findings[fails[0]] = dataclasses.replace(findings[fails[0]], attribution=FOUND)
    findings[fails[1]] = dataclasses.replace(findings[fails[1]], attribution=NONE)
    page = tmp_path / "report.html"
    page.write_text(render_html(dataclasses.replace(base, findings=tuple(findings))).decode(), encoding="utf-8")
    proc = _run(["--virtual-time-budget=2000", "--dump-dom", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = console_problems(proc.stderr)
    assert console == [], "\n".join(console)
    dom = proc.stdout
    assert dom.count('class="attribution') == 2
    found = dom[dom.index('data-attribution="found"'):]
    found = found[:found.index("</p>")]
    assert "Who changed it:" in found and "via Terraform" in found
    assert "ev-1&lt;b&gt;" in found and "<b>" not in found  # escaped, never markup
    assert 'data-attribution="none"' in dom and "no change event found in the look-back window" in dom
