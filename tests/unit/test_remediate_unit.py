"""Remediation on plain data: field diffs, the journal reader, SCP quota checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.policy.loader import load_policies
from auditor.remediate.actions import ACTIONS
from auditor.remediate.journal import Journal, read_journal
from auditor.remediate.model import FieldChange, PlannedChange
from auditor.remediate.plan import field_changes
from auditor.remediate.scp import ScpLimitError, check_scp_limits
from auditor.remediate.targets import KINDS


def test_field_changes_are_leaf_paths_and_skip_volatile_fields() -> None:
    before = {"a": {"b": 1, "c": [1, 2]}, "lastUpdated": "t1", "same": "x"}
    after = {"a": {"b": 2, "c": [1, 2, 3], "d": True}, "lastUpdated": "t2", "same": "x"}
    assert field_changes(before, after, ("lastUpdated",)) == [
        FieldChange("a.b", 1, 2), FieldChange("a.c", [1, 2], [1, 2, 3]), FieldChange("a.d", None, True)]


def test_scp_limits() -> None:
    check_scp_limits("x" * 5120, 4)
    with pytest.raises(ScpLimitError, match="5,121 characters"):
        check_scp_limits("x" * 5121, 0)
    with pytest.raises(ScpLimitError, match="already has 5 SCPs"):
        check_scp_limits("{}", 5)


def test_every_builtin_remediation_name_is_registered_or_reported() -> None:
    names = {c.remediation for c in load_policies().controls if c.remediation}
    registered = names & set(ACTIONS)
    assert registered  # the Cognito/Okta actions
    for action in ACTIONS.values():
        assert action.kind in KINDS and action.doc and action.permissions


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    change = PlannedChange("f:okta.app", "f", "okta.app", {"app_id": "0oa1"}, "PUT", ("C",), ("why",),
                           (FieldChange("x", 1, 2),), {"x": 1}, {"x": 2})
    journal = Journal(tmp_path / "journal.jsonl")
    journal.write("pending", change.id, change=change.to_json())
    with (tmp_path / "journal.jsonl").open("a") as fh:
        fh.write('{"event": "done", "change_id": "f:ok')  # killed while writing
    [entry] = read_journal(tmp_path / "journal.jsonl")
    assert entry.state == "pending" and entry.change == change


def test_iam_metadata_fix_refuses_okta_metadata_without_a_signing_certificate() -> None:
    # Uploading such a document would leave AWS sign-in checking assertions against no
    # certificate: the fix must say so, not write it (before: it uploaded the document).
    import asyncio
    from typing import Any

    from auditor.remediate.actions import ActionContext, CannotFix
    from tests import factories as f

    xml = (b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
           b'entityID="http://www.okta.com/exk2"><md:IDPSSODescriptor '
           b'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService '
           b'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
           b'Location="https://acme.okta.com/app/connect/exk2/sso/saml"/></md:IDPSSODescriptor>'
           b'</md:EntityDescriptor>')

    class Okta:  # the one live read the action makes: Okta's metadata through the API
        async def get_xml(self, url: str) -> tuple[bytes, Any]:
            return xml, None

    class Remote:
        okta = Okta()

    fed = f.snapshot().federations[0]
    action = ACTIONS["iam.saml_provider_metadata"]
    ctx = ActionContext(fed=fed, control=None, assertions=(), remote=Remote(),  # type: ignore[arg-type]
                        settings={"okta": {"org_url": "https://acme.okta.com"}}, serves=action.serves)
    provider = dict(fed.resources["iam.saml_provider"])
    with pytest.raises(CannotFix, match="the metadata carries no signing certificate"):
        asyncio.run(action.fn(provider, ctx))
    assert "SAMLMetadataDocument" not in provider
