"""`report.junit.xml`: one testcase per finding, so CI dashboards show drift as failing tests.

Layout (the de-facto JUnit schema read by Jenkins, GitLab and GitHub test reporters): one
<testsuite> per federation, one <testcase> per control with classname `auditor.<federation>`;
FAIL is a <failure>, ERROR an <error>, SKIPPED and WAIVED are <skipped> with the reason.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from auditor.models import RunResult, Status

# XML 1.0 cannot carry most control characters, even escaped; live data may hold them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    return _INVALID_XML.sub("\ufffd", value if isinstance(value, str) else json.dumps(value, default=str))


def render_junit(result: RunResult) -> bytes:
    """Render the run as a JUnit XML document (UTF-8)."""
    counts = result.counts()
    root = ET.Element("testsuites", {
        "name": f"auditor {result.run_id}",
        "tests": str(len(result.findings)),
        "failures": str(counts[Status.FAIL.value]),
        "errors": str(counts[Status.ERROR.value]),
        "skipped": str(counts[Status.SKIPPED.value] + counts[Status.WAIVED.value]),
        "time": "0",
    })
    names = list(dict.fromkeys([*result.federations, *(f.federation for f in result.findings)]))
    for name in names:
        findings = [f for f in result.findings if f.federation == name]
        suite = ET.SubElement(root, "testsuite", {
            "name": _text(name),
            "tests": str(len(findings)),
            "failures": str(sum(f.status is Status.FAIL for f in findings)),
            "errors": str(sum(f.status is Status.ERROR for f in findings)),
            "skipped": str(sum(f.status in (Status.SKIPPED, Status.WAIVED) for f in findings)),
            "timestamp": result.started_at[:19],
            "time": "0",
        })
        props = ET.SubElement(suite, "properties")
        for key, value in (("run_id", result.run_id), ("tool_version", result.tool_version),
                           ("mode", result.mode), ("exit_code", str(result.exit_code))):
            ET.SubElement(props, "property", {"name": key, "value": value})
        for f in findings:
            case = ET.SubElement(suite, "testcase", {
                "classname": _text(f"auditor.{name}"), "name": _text(f"{f.control_id}: {f.title}"), "time": "0"})
            detail = _text(f"{f.message}\nresource: {f.resource}\nseverity: {f.severity.value}\n"
                           f"expected: {_text(f.expected)}\nactual: {_text(f.actual)}\nuid: {f.uid}")
            if f.status is Status.FAIL:
                el = ET.SubElement(case, "failure", {"message": _text(f.message), "type": f.severity.value})
                el.text = detail
            elif f.status is Status.ERROR:
                el = ET.SubElement(case, "error", {"message": _text(f.message), "type": "collection"})
                el.text = detail
            elif f.status in (Status.SKIPPED, Status.WAIVED):
                ET.SubElement(case, "skipped", {"message": _text(f"{f.status.value}: {f.message}")})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
