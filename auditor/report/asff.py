"""Findings in the AWS Security Finding Format (ASFF), as BatchImportFindings takes them.

`findings.asff.json` (`--format asff`) is a JSON array of the very findings `--security-hub` sends
(`aws securityhub batch-import-findings --findings file://findings.asff.json` takes it, 100 at a
time). Field choices follow the ASFF documentation:

- required top-level attributes (AwsAccountId, CreatedAt, Description, GeneratorId, Id, ProductArn,
  Resources, SchemaVersion, Severity, Title, Types, UpdatedAt):
  https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html
- lengths (Title 256, Description 1024, Compliance.RelatedRequirements at most 32 items) from the
  API reference, https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFinding.html
- a custom integration's product ARN `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`,
  and `AwsAccountId` equal to the calling account:
  https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html
- Severity and Types also go in FindingProviderFields, which is how a provider updates them after
  the finding exists (BatchImportFindings' own documentation).

`Id` is the finding uid, stable across runs, so a re-run updates the finding in place; a finding
that passes again is sent as PASSED, never deleted. A control that no longer applies (SKIPPED) is
sent with RecordState ARCHIVED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from auditor.models import Finding, RunResult, Severity, Status

SCHEMA_VERSION = "2018-10-08"
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RELATED_REQUIREMENTS_MAX = 32
FINDING_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/auditor"

COMPLIANCE_STATUS = {Status.PASS: "PASSED", Status.FAIL: "FAILED", Status.ERROR: "WARNING",
                     Status.SKIPPED: "NOT_AVAILABLE",
                     # A waiver accepts the risk of a failing control; it does not make it pass.
                     Status.WAIVED: "FAILED"}
_LABEL = {Severity.CRITICAL: "CRITICAL", Severity.HIGH: "HIGH", Severity.MEDIUM: "MEDIUM", Severity.LOW: "LOW",
          Severity.INFO: "INFORMATIONAL"}


def product_arn(target: dict[str, Any]) -> str:
    """The product ARN of a custom integration in the target account and Region."""
    return (f"arn:{target.get('partition', 'aws')}:securityhub:{target['region']}:{target['account_id']}:"
            f"product/{target['account_id']}/default")


def asff_timestamp(iso: str) -> str:
    """An ISO 8601 time as ASFF writes it (UTC, milliseconds, Z)."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _region_of_pool(pool_id: str, default: str) -> str:
    head = pool_id.split("_", 1)[0]
    return head if pool_id.count("_") >= 1 and head.count("-") >= 2 else default


def resource(f: Finding, target: dict[str, Any]) -> dict[str, Any]:
    """The finding's resource as an ASFF Resource: the Cognito pool, the IAM role and the Connect
    instance by ARN, the organization's account as AwsAccount, the Okta side as Other."""
    key, _, value = f.resource.partition(":")
    partition, region, account = target.get("partition", "aws"), target["region"], target["account_id"]
    rtype, rid = "Other", f.resource
    if key.startswith("cognito.") and value:
        pool = value.split("/", 1)[0]
        pool_region = _region_of_pool(pool, region)
        rid, region = f"arn:{partition}:cognito-idp:{pool_region}:{account}:userpool/{pool}", pool_region
    elif key in ("iam.connect_role", "iam.connect_role_policies") and value.startswith("arn:"):
        rtype, rid = "AwsIamRole", value
    elif key == "iam.saml_provider" and value.startswith("arn:"):
        rid = value
    elif key == "connect.instance" and value:
        rid = value if value.startswith("arn:") else f"arn:{partition}:connect:{region}:{account}:instance/{value}"
        region = rid.split(":")[3] or region
    elif key == "organizations" and value.isdigit():
        rtype, rid = "AwsAccount", f"AWS::::Account:{value}"
    out: dict[str, Any] = {"Type": rtype, "Id": rid, "Partition": partition, "Region": region,
                           "Details": {"Other": {"auditor/resource": _clip(f.resource, 1024),
                                                 "auditor/federation": f.federation}}}
    return out


def related_requirements(f: Finding, labels: dict[str, str]) -> list[str]:
    """The finding's framework requirements as RelatedRequirements strings (at most 32)."""
    items = [f"{labels.get(r.framework, r.framework)} {r.id}" for r in f.requirements]
    return list(dict.fromkeys(items))[:RELATED_REQUIREMENTS_MAX]


def asff_finding(result: RunResult, f: Finding, target: dict[str, Any]) -> dict[str, Any]:
    """One finding in ASFF."""
    # Security Hub's own controls report a passed check as INFORMATIONAL: nothing to act on.
    label = "INFORMATIONAL" if f.status in (Status.PASS, Status.SKIPPED) else _LABEL[f.severity]
    severity = {"Label": label, "Original": f.severity.value}
    compliance: dict[str, Any] = {"Status": COMPLIANCE_STATUS[f.status]}
    related = related_requirements(f, result.framework_labels)
    if related:
        compliance["RelatedRequirements"] = related
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f.uid,
        "ProductArn": product_arn(target),
        "GeneratorId": f.control_id,
        "AwsAccountId": target["account_id"],
        "Types": [FINDING_TYPE],
        "CreatedAt": asff_timestamp(result.started_at),
        "UpdatedAt": asff_timestamp(result.finished_at),
        "Severity": severity,
        "Title": _clip(f"{f.control_id}: {f.title}", TITLE_MAX),
        "Description": _clip(f.message or f.title, DESCRIPTION_MAX),
        "Resources": [resource(f, target)],
        "Compliance": compliance,
        "FindingProviderFields": {"Severity": dict(severity), "Types": [FINDING_TYPE]},
        "ProductFields": {"ProviderName": "auditor", "ProviderVersion": result.tool_version,
                          "auditor/federation": f.federation, "auditor/status": f.status.value,
                          "auditor/run_id": result.run_id},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ARCHIVED" if f.status is Status.SKIPPED else "ACTIVE",
    }


def asff_findings(result: RunResult) -> list[dict[str, Any]]:
    """Every finding of the run in ASFF ([] when the run has no AWS target)."""
    if result.aws_target is None:
        return []
    return [asff_finding(result, f, result.aws_target) for f in result.findings]


def render_asff(result: RunResult) -> bytes:
    """findings.asff.json: a JSON array of ASFF findings."""
    return (json.dumps(asff_findings(result), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
