"""Findings share their read-only parts across federations (memory: a 1,000-federation scan holds
~21,000 findings): expected entries of plain values, assertion labels, resource labels and
the fix capability. Sharing must never change what a finding says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from auditor.evaluate.engine import evaluate, expected_entry
from auditor.policy.loader import load_policies
from tests import factories as f

NOW = dt.datetime(2026, 11, 28, 8, 40, tzinfo=dt.UTC)


def test_equal_values_of_other_types_keep_their_own_entries() -> None:
    # True == 1 == 1.0 in Python; in report.json they are true, 1 and 1.0.
    written = [json.dumps(expected_entry("equals", v)) for v in (True, 1, 1.0, "1", None)]
    assert written == ['{"operator": "equals", "value": true}', '{"operator": "equals", "value": 1}',
                       '{"operator": "equals", "value": 1.0}', '{"operator": "equals", "value": "1"}',
                       '{"operator": "equals", "value": null}']
    assert expected_entry("equals", 1) is expected_entry("equals", 1)  # shared
    assert expected_entry("contains", 1) == {"operator": "contains", "value": 1}  # per operator
    assert expected_entry("equals", [1]) is not expected_entry("equals", [1])  # never a mutable value
    assert expected_entry("equals", "a", stated="only a") == {"operator": "equals", "value": "a", "detail": "only a"}


def test_federations_findings_share_parts_and_say_the_same() -> None:
    snap = f.snapshot()
    other = dataclasses.replace(snap.federations[0], name="staging")
    two = dataclasses.replace(snap, federations=(snap.federations[0], other))
    findings = evaluate(two, load_policies(), now=NOW)
    prod = [x for x in findings if x.federation == "prod"]
    staging = [x for x in findings if x.federation == "staging"]
    assert len(prod) == len(staging) > 0
    for a, b in zip(prod, staging, strict=True):
        assert a.fixable is b.fixable
        for key in a.expected or {}:  # the labels are one string
            assert next(k for k in b.expected if k == key) is key
        assert {k: v for k, v in a.to_json().items() if k not in ("uid", "federation")} == \
            {k: v for k, v in b.to_json().items() if k not in ("uid", "federation")}
