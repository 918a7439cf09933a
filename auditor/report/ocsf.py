"""`report.ocsf.json`: the findings as OCSF Compliance Finding events (class 2003), for SIEMs.

One event per finding, a JSON array. Field choices follow the OCSF schema (1.3):
`events/findings/compliance_finding.json` requires `compliance` (whose `standards` is required)
on top of the Finding class (`finding_info.uid`) and the base event (`activity_id`,
`category_uid`, `class_uid`, `type_uid`, `severity_id`, `time`, `metadata.product`,
`metadata.version`). The required set is encoded in auditor/schemas/ocsf-compliance-finding.schema.json,
which the tests validate every event against.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from auditor.models import Finding, RunResult, Severity, Status

OCSF_VERSION = "1.3.0"
CLASS_UID = 2003  # Compliance Finding
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
STANDARD = "auditor: Okta SAML to Amazon Cognito and Connect federation baseline"

_SEVERITY_ID = {Severity.INFO: 1, Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4, Severity.CRITICAL: 5}
# compliance.status_id: 1 Pass, 2 Warning ("did not yield a result due to missing information"),
# 3 Fail, 0 Unknown. A waived finding still fails the check; the finding's own status says it is
# suppressed. A skipped control was not evaluated: Unknown.
_COMPLIANCE_STATUS = {Status.PASS: (1, "Pass"), Status.ERROR: (2, "Warning"), Status.FAIL: (3, "Fail"),
                      Status.WAIVED: (3, "Fail"), Status.SKIPPED: (0, "Unknown")}
# finding status_id: 1 New, 3 Suppressed, 4 Resolved.
_FINDING_STATUS = {Status.PASS: (4, "Resolved"), Status.FAIL: (1, "New"), Status.ERROR: (1, "New"),
                   Status.WAIVED: (3, "Suppressed"), Status.SKIPPED: (3, "Suppressed")}


def _epoch_ms(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def event(result: RunResult, f: Finding) -> dict[str, Any]:
    """One finding as an OCSF Compliance Finding event."""
    cstatus_id, cstatus = _COMPLIANCE_STATUS[f.status]
    fstatus_id, fstatus = _FINDING_STATUS[f.status]
    return {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "severity_id": _SEVERITY_ID[f.severity],
        "severity": f.severity.value.capitalize() if f.severity is not Severity.INFO else "Informational",
        "time": _epoch_ms(result.finished_at),
        "message": f.message,
        "status_id": fstatus_id,
        "status": fstatus,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "auditor", "vendor_name": "auditor", "version": result.tool_version},
            "uid": f"{result.run_id}/{f.uid}",
            "correlation_uid": result.run_id,
        },
        "finding_info": {
            "uid": f.uid,
            "title": f.title,
            "desc": f.message,
            "created_time": _epoch_ms(result.started_at),
            "types": [f.control_id],
        },
        "compliance": {
            # The baseline itself, then every framework whose requirements the control gives evidence for.
            "standards": [STANDARD, *dict.fromkeys(result.framework_labels.get(r.framework, r.framework)
                                                   for r in f.requirements)],
            "requirements": [f"{result.framework_labels.get(r.framework, r.framework)} {r.id}"
                             for r in f.requirements],
            "control": f.control_id,
            "status_id": cstatus_id,
            "status": cstatus,
            "status_detail": f.message,
        },
        "resources": [{"uid": f.resource, "type": f.resource.split(":", 1)[0], "group": {"name": f.federation}}],
        "unmapped": {"auditor_status": f.status.value, "expected": f.expected, "actual": f.actual,
                     "references": list(f.references),
                     "remediation": f.remediation.to_json() if f.remediation is not None else None},
    }


def render_ocsf(result: RunResult) -> bytes:
    """All findings as a JSON array of OCSF events."""
    return (json.dumps([event(result, f) for f in result.findings], indent=1, default=str) + "\n").encode("utf-8")
