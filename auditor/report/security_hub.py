"""Sending ASFF findings to AWS Security Hub with BatchImportFindings.

AWS takes at most 100 findings per call (the API reference: "Maximum of 100 findings per
request"; the partner guide: up to 100 findings and 6 MB per batch, 240 KB per finding,
https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html).
A call can succeed while refusing some findings: those come back in `FailedFindings` with an
`ErrorCode`. `InvalidInput` (the finding breaks the ASFF) fails the same way every time, so it is
reported, not retried; any other code is retried, only the failed findings, with a backoff.
Throttling of the call itself is botocore's retry mode's job.

Publishing never raises and never changes the scan's exit code: a refused call (a missing
`securityhub:BatchImportFindings` permission, Security Hub not enabled) becomes a report notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BATCH_SIZE = 100
PERMISSION = "securityhub:BatchImportFindings"
# GetFindings' filters: "For each attribute, you can provide up to 20 filter values"
# (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingFilters.html).
FILTER_VALUES_MAX = 20
READ_PERMISSION = "securityhub:GetFindings"
# FailedFindings codes that a retry cannot fix.
PERMANENT_CODES = frozenset({"InvalidInput", "InvalidInputException"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "InvalidAccessException"})


@dataclass(frozen=True)
class PublishResult:
    """What a Security Hub import did."""

    imported: int
    sent: int
    batches: int
    # Findings Security Hub refused in the end: (id, error code, message).
    failed: tuple[tuple[str, str, str], ...] = ()
    notices: tuple[str, ...] = ()
    target: str = ""  # account and Region, for the summary line
    # True when a call itself failed and the findings after it were not sent.
    stopped: bool = False


def _chunks(items: Sequence[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def publish_findings(findings: Sequence[dict[str, Any]], client: Any, *, target: dict[str, Any],
                     attempts: int = 3, retry_wait_seconds: float = 1.0,
                     sleep: Callable[[float], None] = time.sleep) -> PublishResult:
    """Import `findings` in batches of at most 100, retrying the findings a call reports as failed
    (except InvalidInput) up to `attempts` times in all. Never raises."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"account {target.get('account_id')} in {target.get('region')}"
    imported, batches = 0, 0
    failed: list[tuple[str, str, str]] = []
    notices: list[str] = []
    queue = _chunks(findings, BATCH_SIZE)
    for index, batch in enumerate(queue):
        pending = batch
        for attempt in range(1, attempts + 1):
            try:
                batches += 1
                reply = client.batch_import_findings(Findings=pending)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                message = exc.response.get("Error", {}).get("Message", "")
                left = len(pending) + sum(len(b) for b in queue[index + 1:])
                if code in _DENIED:
                    notices.append(f"Security Hub refused BatchImportFindings ({code}) in {where}: {message} — "
                                   f"the scanning identity needs {PERMISSION}, and Security Hub must be enabled; "
                                   f"{left} finding(s) not sent")
                else:
                    notices.append(f"Security Hub import failed ({code or 'error'}) in {where}: {message}; "
                                   f"{left} finding(s) not sent")
                return PublishResult(imported, len(findings), batches, tuple(failed), tuple(notices), where,
                                     stopped=True)
            except BotoCoreError as exc:
                left = len(pending) + sum(len(b) for b in queue[index + 1:])
                notices.append(f"Security Hub import failed in {where}: {exc}; {left} finding(s) not sent")
                return PublishResult(imported, len(findings), batches, tuple(failed), tuple(notices), where,
                                     stopped=True)
            imported += int(reply.get("SuccessCount", 0))
            refused = reply.get("FailedFindings") or []
            by_id = {f["Id"]: f for f in pending}
            retry = []
            for item in refused:
                fid, code, message = item.get("Id", ""), item.get("ErrorCode", ""), item.get("ErrorMessage", "")
                if code in PERMANENT_CODES or fid not in by_id or attempt == attempts:
                    failed.append((fid, code, message))
                else:
                    retry.append(by_id[fid])
            if not retry:
                break
            pending = retry
            sleep(retry_wait_seconds * attempt)
    for fid, code, message in failed[:5]:
        notices.append(f"Security Hub did not import finding {fid}: {code} {message}".rstrip())
    if len(failed) > 5:
        notices.append(f"Security Hub did not import {len(failed) - 5} more finding(s)")
    return PublishResult(imported, len(findings), batches, tuple(failed), tuple(notices), where)


def archive_findings(ids: Sequence[str], client: Any, *, target: dict[str, Any], updated_at: str,
                     product_arn: str) -> PublishResult:
    """Archive the findings `ids` this product sent in an earlier run and no longer reports (its
    control or federation is gone from the scan): each still ACTIVE one is read back as Security
    Hub holds it (GetFindings, by Id, 20 at a time) and imported again with RecordState ARCHIVED
    and a newer UpdatedAt, the way a provider archives its own finding (BatchImportFindings;
    RecordState, https://docs.aws.amazon.com/securityhub/latest/userguide/asff-top-level-attributes.html).
    Never raises: a refused read is a notice naming the permission."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"account {target.get('account_id')} in {target.get('region')}"
    wanted = set(ids)
    active: list[dict[str, Any]] = []
    for start in range(0, len(ids), FILTER_VALUES_MAX):
        filters = {"Id": [{"Value": i, "Comparison": "EQUALS"} for i in ids[start:start + FILTER_VALUES_MAX]],
                   "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
                   "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}
        token: str | None = None
        try:
            while True:
                reply = client.get_findings(Filters=filters, MaxResults=100, **({"NextToken": token} if token else {}))
                active += [f for f in reply.get("Findings") or [] if f.get("Id") in wanted]
                token = reply.get("NextToken")
                if not token:
                    break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            need = f" — the scanning identity needs {READ_PERMISSION}" if code in _DENIED else ""
            return PublishResult(0, 0, 0, notices=(
                f"Security Hub: {len(ids)} finding(s) of an earlier run that this one no longer reports were not "
                f"archived in {where}: GetFindings failed ({code}){need}",), target=where)
        except BotoCoreError as exc:
            return PublishResult(0, 0, 0, notices=(
                f"Security Hub: {len(ids)} finding(s) of an earlier run were not archived in {where}: {exc}",),
                target=where)
    if not active:
        return PublishResult(0, 0, 0, target=where)
    archived = [_as_sent(f, updated_at) for f in active]
    result = publish_findings(archived, client, target=target)
    return PublishResult(result.imported, result.sent, result.batches, result.failed, (
        *result.notices, f"Security Hub: archived {result.imported} finding(s) of an earlier run that this run no "
        "longer reports (their control, resource or federation is gone from the scan)"), where)


# The top-level attributes auditor.report.asff sends. What Security Hub adds to a finding it
# stores (ProductName, CompanyName, Region, ProcessedAt, the "aws/securityhub/..." ProductFields)
# is its own to set, so an archived copy carries back only these.
SENT_ATTRIBUTES = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
                   "Severity", "Title", "Description", "Resources", "Compliance", "FindingProviderFields",
                   "ProductFields")


def _as_sent(finding: dict[str, Any], updated_at: str) -> dict[str, Any]:
    """`finding` as read back, reduced to what this product sent, archived as of `updated_at`."""
    out = {k: finding[k] for k in SENT_ATTRIBUTES if k in finding}
    if isinstance(out.get("ProductFields"), dict):
        out["ProductFields"] = {k: v for k, v in out["ProductFields"].items() if not str(k).startswith("aws/")}
    return {**out, "UpdatedAt": updated_at, "RecordState": "ARCHIVED"}
