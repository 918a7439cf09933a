"""The resource shapes (auditor/resources.py) describe what the collectors really write."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from auditor.policy.model import RESOURCE_KEYS
from auditor.resources import ESTATE_RESOURCES, RESOURCES, read_problem
from auditor.sandbox.scenario import Sandbox, seed_federation
from auditor.snapshot import Snapshot
from tests.conftest import scan_sandbox


def test_every_value_a_sandbox_scan_writes_matches_its_shape(sandbox: Sandbox, tmp_path: Path) -> None:
    # Drifts that change what the values hold: an expiring certificate, a second SCP on the root.
    fed = seed_federation(sandbox, "shapes", ["cert_expiring", "provider_old_cert"], scp_target="root")
    out = scan_sandbox(sandbox, [fed], tmp_path)
    [snap] = Snapshot.load(out.run_dir / "snapshot.json").federations
    resources = snap.resources
    # Every federation-level key (the estate-level ones come with discovery: test_discover_sandbox).
    assert set(resources) == set(RESOURCE_KEYS) - ESTATE_RESOURCES == set(RESOURCES) - ESTATE_RESOURCES
    for key, value in resources.items():
        assert value is not None, key
        errors = [e.message for e in jsonschema.Draft202012Validator(RESOURCES[key].shape).iter_errors(value)]
        assert not errors, (key, errors)


def test_reads_a_shape_rules_out() -> None:
    assert read_problem("okta", ("metadata", "signing_certificate", "not_after")) is None
    assert read_problem("okta", ("app", "anything", "at", "all")) is None  # raw API JSON: open
    assert read_problem("organizations", ("policies", 0, "content", "Statement")) is None  # any document
    assert read_problem("okta", ("metadata", "url", "upper")) is None  # a string's own method
    problem, hint = read_problem("okta", ("metadata", "signing_certificate", "expiry")) or ("", "")
    assert problem == "okta.metadata.signing_certificate has no field 'expiry'" and "not_after" in hint
    problem, hint = read_problem("iam", ("saml_provider", "Metadata")) or ("", "")
    assert "did you mean 'metadata'?" in hint
    problem, _ = read_problem("cognito", ("pool",)) or ("", "")
    assert problem == "cognito.pool is not a resource"
