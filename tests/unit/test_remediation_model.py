"""Remediation reads the policy model, not the report (issue 12): actions write what the control's
resolved assertions expect, `remediation:` is checked at load against the action registry, and
fix results stay typed until the report/journal boundary."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.errors import PolicyError
from auditor.evaluate.engine import evaluate
from auditor.models import Finding, RunResult
from auditor.policy.loader import PolicySet, load_policies
from auditor.policy.schema import policy_schema
from auditor.remediate.actions import ACTIONS
from auditor.remediate.apply import rollback_run
from auditor.remediate.journal import Journal
from auditor.remediate.model import (
    ChangeOutcome,
    FieldChange,
    FindingFix,
    OutcomeState,
    Plan,
    PlannedChange,
    RemediationResult,
    SkipReason,
    Unfixable,
)
from auditor.remediate.plan import build_plan
from auditor.report.html import render_html
from auditor.report.json_report import report_document
from auditor.resources import RESOURCES
from auditor.snapshot import Snapshot
from tests.factories import INSTANCE_ID, POOL, REGION, ROLE_ARN, snapshot

NOW = datetime(2026, 11, 28, tzinfo=UTC)


class _Remote:
    """Planning the kinds used here reads nothing live (their plan image is the scan's copy)."""

    def for_federation(self, name: str) -> _Remote:
        return self


def _policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policies([path], include_builtin=False)
    return str(exc.value)


def _plan(snap: Snapshot, policies: PolicySet, findings: list[Finding] | None = None, *,
          allow_scp_changes: bool = False) -> Plan:
    findings = evaluate(snap, policies, now=NOW) if findings is None else findings
    return asyncio.run(build_plan(snap, findings, policies, _Remote(), allow_scp_changes=allow_scp_changes,  # type: ignore[arg-type]
                                  now=NOW))


# --- `remediation:` is checked at load ---------------------------------------------------------

def test_unknown_remediation_id_is_a_load_error_naming_file_line_and_valid_ids(tmp_path: Path) -> None:
    msg = _load_error(_policy(tmp_path, """\
        controls:
          - id: ACME-AUDIENCE
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: settings.signOn.audience
                equals: x
            remediation: okta.sign_onn
        """))
    assert "mine.yaml:9:" in msg and "okta.sign_onn" in msg and "did you mean 'okta.sign_on'" in msg
    assert all(name in msg for name in ACTIONS)  # the valid ids are listed


def test_generated_policy_schema_lists_the_action_ids() -> None:
    remediation = policy_schema()["$defs"]["control"]["properties"]["remediation"]
    assert set(remediation["enum"]) == {*ACTIONS, None}


def test_an_action_naming_a_control_it_cannot_serve_is_a_load_error(tmp_path: Path) -> None:
    msg = _load_error(_policy(tmp_path, """\
        controls:
          - id: ACME-FORCE-AUTHN
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: settings.signOn.honorForceAuthn
                equals: true
            remediation: okta.sign_on
          - id: ACME-SCP-ON-APP
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: status
                equals: ACTIVE
            remediation: scp.deny_statement
        """))
    assert "mine.yaml:9:" in msg and "okta.sign_on cannot fix control ACME-FORCE-AUTHN" in msg
    assert "settings.signOn.audience" in msg  # what the action needs
    assert "mine.yaml:17:" in msg and "scp.deny_statement cannot fix control ACME-SCP-ON-APP" in msg
    assert "okta.activate" in msg  # the hint names the action that can serve it


def test_every_action_serves_a_known_resource_and_every_builtin_pairing_holds() -> None:
    for action in ACTIONS.values():
        assert action.serves.resource in RESOURCES, action.name
    for control in load_policies().controls:
        if control.remediation:
            assert ACTIONS[control.remediation].serves.problem(control) is None, control.id


# --- actions read the resolved assertions, never finding.expected ------------------------------

def test_the_fix_is_computed_from_the_assertions_not_from_the_findings_report_form() -> None:
    snap = snapshot()
    snap.federations[0].resources["okta.app"]["settings"]["signOn"]["audience"] = "urn:amazon:cognito:sp:old"
    policies = load_policies()
    findings = evaluate(snap, policies, now=NOW)
    # Another report shape (or none) must not change what --fix writes.
    blank = [dataclasses.replace(f, expected=None, actual=None) if f.control_id == "OKTA-SAML-AUDIENCE" else f
             for f in findings]
    plan = _plan(snap, policies, blank)
    [change] = plan.changes
    assert change.control_ids == ("OKTA-SAML-AUDIENCE",)
    assert change.fields == (FieldChange("settings.signOn.audience", "urn:amazon:cognito:sp:old",
                                         f"urn:amazon:cognito:sp:{POOL}"),)


def test_a_missing_relay_state_is_set_from_the_connect_relay_state_assertion() -> None:
    # The report shows a missing value's expectation as {operator: argument}, which the old
    # report-reading fix could not write; the operator names the value itself.
    snap = snapshot()
    del snap.federations[0].resources["okta.connect_app"]["settings"]["signOn"]["defaultRelayState"]
    plan = _plan(snap, load_policies())
    [change] = plan.changes
    assert change.kind == "okta.connect_app" and change.control_ids == ("OKTA-CONNECT-APP",)
    assert change.fields == (FieldChange("settings.signOn.defaultRelayState", None,
                                         f"https://{REGION}.console.aws.amazon.com/connect/federate/{INSTANCE_ID}"),)


def _scp_policy(tmp_path: Path, action: str, *extra: str) -> PolicySet:
    assertions = "".join(f"\n              {line}" for line in extra)
    return load_policies([_policy(tmp_path, f"""\
        controls:
          - id: ACME-DENY
            title: An SCP denies an action on the role
            severity: high
            resource: organizations
            assert:
              - denies:
                  action: "{action}"
                  resource: "{{{{ config.scp.connect_role_arn }}}}"{assertions}
            remediation: scp.deny_statement
        """)], include_builtin=False)


def test_a_new_control_naming_the_scp_action_is_fixed_from_its_denies_assertion(tmp_path: Path) -> None:
    plan = _plan(snapshot(), _scp_policy(tmp_path, "iam:PutRolePolicy"), allow_scp_changes=True)
    [change] = plan.changes
    assert change.kind == "organizations.scp" and change.control_ids == ("ACME-DENY",)
    assert change.after["Content"]["Statement"] == [
        {"Sid": "AuditorDenyPutRolePolicy", "Effect": "Deny", "Action": "iam:PutRolePolicy", "Resource": ROLE_ARN}]


def test_a_new_control_the_scp_action_cannot_fix_is_unfixable_not_a_crash(tmp_path: Path) -> None:
    # The deny holds (the factory's SCP denies iam:DeleteRole); what fails is no SCP statement.
    policies = _scp_policy(tmp_path, "iam:DeleteRole", "- path: policies", "  length: {min: 5}")
    plan = _plan(snapshot(), policies, allow_scp_changes=True)
    assert plan.changes == ()
    [unfixable] = plan.unfixable
    assert unfixable.control_id == "ACME-DENY"
    assert unfixable.reason == "nothing this action may change (no failing `denies` assertion; organizations.policies)"


def test_the_builtin_scp_controls_plan_the_same_statements_as_before() -> None:
    snap = snapshot()
    snap.federations[0].resources["organizations"]["policies"] = []
    plan = _plan(snap, load_policies(), allow_scp_changes=True)
    [change] = plan.changes
    assert change.control_ids == ("SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION")
    assert [s["Sid"] for s in change.after["Content"]["Statement"]] == ["AuditorDenyDeleteRole",
                                                                        "AuditorDenyDeleteInstance"]
    assert change.reasons[0] == f"SCP-DENY-ROLE-DELETION: deny iam:DeleteRole on {ROLE_ARN}"


# --- typed fix results -------------------------------------------------------------------------

def _change() -> PlannedChange:
    return PlannedChange("prod:okta.app", "prod", "okta.app", {"app_id": "0oa1"}, "okta PUT /api/v1/apps/0oa1",
                         ("OKTA-SAML-AUDIENCE",), ("OKTA-SAML-AUDIENCE: set settings.signOn.audience",),
                         (FieldChange("settings.signOn.audience", "old", "new"),), {"x": 1}, {"x": 2})


def test_outcome_states_are_an_enum_that_includes_restored() -> None:
    assert OutcomeState("restored") is OutcomeState.RESTORED
    assert OutcomeState.APPLIED_VERIFIED.applied and not OutcomeState.RESTORED.applied
    outcome = ChangeOutcome(_change(), OutcomeState.RESTORED)
    assert outcome.federation == "prod" and outcome.to_json() == {"change_id": "prod:okta.app", "state": "restored",
                                                                  "detail": ""}


def test_a_rollback_of_a_change_already_rolled_back_is_typed_nothing_to_undo(tmp_path: Path) -> None:
    change = _change()
    fix_journal = Journal(tmp_path / "fix" / "journal.jsonl")
    fix_journal.write("pending", change.id, change=change.to_json())
    fix_journal.write("rollback-done", change.id)
    [outcome] = asyncio.run(rollback_run(tmp_path / "fix", _Remote(), Journal(tmp_path / "undo.jsonl")))  # type: ignore[arg-type]
    assert outcome.state is OutcomeState.SKIPPED and outcome.skipped is SkipReason.NOTHING_TO_UNDO
    assert outcome.change == change


def test_fix_results_reach_the_reports_typed_and_serialize_as_before() -> None:
    change = _change()
    fix = RemediationResult(Plan((change,), (Unfixable("prod", "OKTA-CERT-EXPIRY", "by hand"),)), applied=True,
                            outcomes=(ChangeOutcome(change, OutcomeState.APPLIED_VERIFIED, "re-collected"),))
    snap = snapshot()
    findings = [dataclasses.replace(f, remediation=FindingFix(change, fix.outcome_of(change.id)))
                if f.control_id == "OKTA-SAML-AUDIENCE" else f for f in evaluate(snap, load_policies(), now=NOW)]
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:00:01+00:00",
                       tool_version="test", federations=("prod",), findings=tuple(findings), collection_errors={},
                       evidence={}, mode="fix", remediation=fix)
    doc = report_document(result)
    assert doc["remediation"] == {
        "plan": {"changes": [change.to_json()],
                 "unfixable": [{"federation": "prod", "control_id": "OKTA-CERT-EXPIRY", "reason": "by hand"}]},
        "applied": True, "declined": False, "interrupted": None,
        "outcomes": [{"change_id": "prod:okta.app", "state": "applied and verified", "detail": "re-collected"}]}
    [entry] = [f["remediation"] for f in doc["findings"] if "change_id" in f["remediation"]]
    assert entry == {"action": "okta.sign_on", "automatic": True, "needs_allow_scp_changes": False,
                     "change_id": "prod:okta.app", "api_call": "okta PUT /api/v1/apps/0oa1",
                     "fields": [{"path": "settings.signOn.audience", "before": "old", "after": "new"}],
                     "state": "applied and verified", "detail": "re-collected"}
    # Every other finding says what --fix could do about it (schema 2: never null).
    capability = {f["control_id"]: f["remediation"] for f in doc["findings"]}
    assert capability["OKTA-CERT-EXPIRY"] == {"action": None, "automatic": False, "needs_allow_scp_changes": False}
    assert capability["SCP-DENY-INSTANCE-DELETION"] == {"action": "scp.deny_statement", "automatic": True,
                                                        "needs_allow_scp_changes": True}
    assert json.dumps(FindingFix(change).to_json())  # planned: no outcome, no detail
    assert FindingFix(change).to_json()["state"] == "planned" and "detail" not in FindingFix(change).to_json()
    page = render_html(result).decode("utf-8")
    assert "Remediation results" in page and '<span class="outcome o-ok">applied and verified</span>' in page
    assert "OKTA-CERT-EXPIRY</code>: by hand" in page
