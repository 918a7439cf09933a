"""XSS through the real pipeline (issue 6): hostile text planted through the public APIs (an Okta
app label, an Okta group name, an Okta attribute statement value, a Cognito attribute mapping
value) is scanned, reported, and opened in headless Chromium: no payload runs, no element is
injected, and each payload is on the page as text.

tests/integration/test_report_html.py and tests/integration/test_report_chromium.py render a hand-made result; this one
takes the payloads from live API answers through the collectors, snapshot, engine and writer.
Cognito's app client name cannot carry one (AWS: `[\\w\\s+=,.@-]+`), so it is not used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Status
from auditor.report import Format
from auditor.sandbox.scenario import Sandbox, seed_federation
from tests.conftest import by_control, scan_sandbox
from tests.integration.test_report_html import _parse

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

IMG = "<img src=x onerror=\"document.title='pwned-img'\">"
SCRIPT = "<script>document.title='pwned-script'</script>"
SVG = "\"><svg onload=\"document.title='pwned-svg'\">"
ATTR = "'><iframe srcdoc=\"<script>parent.document.title='pwned-iframe'</script>\">"


def test_hostile_api_values_are_text_in_chromium(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = seed_federation(sandbox, "xss", ["scp_missing_role", "scp_missing_instance"])
    admin = sandbox.admin
    label = f"Contact Center {IMG}"
    app = admin.call("GET", f"/api/v1/apps/{fed.app_id}")
    app["label"] = label
    app["settings"]["signOn"]["attributeStatements"][0]["values"] = [SCRIPT]
    admin.call("PUT", f"/api/v1/apps/{fed.app_id}", app)
    sandbox.group(SVG, [])  # required by the config, never assigned to the app
    sandbox.aws.client("cognito-idp").update_identity_provider(
        UserPoolId=fed.pool_id, ProviderName="Okta", AttributeMapping={"email": ATTR})

    def hostile(doc: dict[str, Any]) -> None:
        fed_doc = doc["federations"][0]
        fed_doc["okta_app"] = {"label": label}
        fed_doc["required_assignments"]["groups"].append(SVG)

    out = scan_sandbox(sandbox, [fed], tmp_path, edit=hostile, formats=(Format.HTML, Format.JSON))
    findings = by_control(out, fed.name)
    failing = {k for k, f in findings.items() if f.status is Status.FAIL}
    assert {"OKTA-SAML-EMAIL-ATTRIBUTE", "OKTA-ASSIGNMENTS", "COGNITO-IDP-EMAIL-MAPPING"} <= failing, failing
    page = out.files["html"]
    source = page.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", source)
    assert title is not None

    profile = tmp_path / "chromium-profile"
    try:
        proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=2000",
                               "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-js="on"' in dom  # the report's own script ran: a page where scripts run at all

    # Nothing executed: the title is the report's own, no "pwned" anywhere but in escaped text.
    parsed = _parse(dom)
    titles = re.findall(r"<title>(.*?)</title>", dom)
    assert titles and titles[0] == title.group(1), titles
    assert "pwned" not in titles[0]
    # Nothing injected: no element from a payload, no event handler attribute, only the report's two scripts.
    assert not [t for t, a in parsed.tags if t in ("img", "svg", "iframe") and a.get("src") == "x"]
    assert not [t for t, a in parsed.tags if t in ("iframe",)]
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert [t for t, _ in parsed.tags if t == "script"] == ["script", "script"]
    # ... and every payload is on the page as text (some verbatim; others inside a quoted value,
    # their quotes escaped).
    text = "".join(parsed.text)
    for payload in (IMG, SCRIPT):
        assert payload in text, payload
    for core in ("<svg onload=", "pwned-svg", "<iframe srcdoc=", "pwned-iframe"):
        assert core in text, core
