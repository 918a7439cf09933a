"""Hardening gaps (issue 6): skipped changes are journaled, `verify` stays inside the run folder,
`bundle` does not follow symlinks, an unreachable AWS endpoint fails fast while throttling is
still retried."""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from auditor.remediate.apply import apply_plan
from auditor.remediate.journal import Journal, read_journal
from auditor.remediate.model import FieldChange, OutcomeState, Plan, PlannedChange
from auditor.remediate.targets import KINDS, RemoteError, TargetKind
from auditor.report.evidence import bundle_run, verify_run, write_manifest


def _change(n: int, federation: str = "f") -> PlannedChange:
    return PlannedChange(f"{federation}:fake{n}", federation, "fake", {"id": str(n)}, "PUT", ("C",), ("why",),
                         (FieldChange("x", 1, 2),), {"x": 1}, {"x": 2})


class _FailingKind(TargetKind):
    name = "fake"

    async def read(self, remote: Any, target: dict[str, str]) -> Any:
        return {"x": 1}

    async def write(self, remote: Any, target: dict[str, str], before: Any, after: Any) -> None:
        raise RemoteError("cognito-idp:UpdateUserPoolClient: AccessDeniedException")


class _Remote:
    def for_federation(self, name: str) -> _Remote:
        return self


def test_changes_skipped_after_a_failure_are_journaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bug: they were in the outcomes but not in the journal, so the journal did not say what was never tried.
    monkeypatch.setitem(KINDS, "fake", _FailingKind())
    journal = Journal(tmp_path / "journal.jsonl")
    outcomes = asyncio.run(apply_plan(Plan((_change(1), _change(2), _change(3))), _Remote(), journal))  # type: ignore[arg-type]
    assert [o.state for o in outcomes] == [OutcomeState.FAILED, OutcomeState.SKIPPED, OutcomeState.SKIPPED]
    events = [json.loads(line) for line in journal.path.read_text().splitlines()]
    skipped = [e for e in events if e["event"] == "skipped"]
    assert [e["change_id"] for e in skipped] == ["f:fake2", "f:fake3"]
    assert all("an earlier change failed" in e["reason"] and "AccessDenied" in e["reason"] for e in skipped)
    # Rollback has nothing to undo for a change never sent.
    assert [e.change.id for e in read_journal(journal.path)] == ["f:fake1"]


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "reports" / "20260101T000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "report.json").write_text("{}")
    write_manifest(run, run_id=run.name, tool_version="0", policy_files={}, config_path=None)
    return run


def test_verify_refuses_manifest_paths_outside_the_run_folder(tmp_path: Path) -> None:
    # Bug: a manifest listing ../../x made verify read (and digest) files outside the folder.
    run = _run_folder(tmp_path)
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the run")
    doc = json.loads((run / "manifest.json").read_text())
    for rel in ("../../secret.txt", str(outside)):
        doc["artifacts"].append({"path": rel, "sha256": hashlib.sha256(outside.read_bytes()).hexdigest(), "bytes": 19})
    (run / "manifest.json").write_text(json.dumps(doc))
    result = verify_run(run)
    assert not result.ok
    assert sum("refused" in p for p in result.problems) == 2, result.problems


def test_symlinks_are_not_followed_by_bundle_nor_verify(tmp_path: Path) -> None:
    # Bug: bundle zipped whatever a planted symlink pointed at (say ~/.aws/credentials).
    run = _run_folder(tmp_path)
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = planted-secret")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "more.txt").write_text("planted-secret too")
    (run / "evidence.txt").symlink_to(secret)
    (run / "linked-dir").symlink_to(elsewhere, target_is_directory=True)
    with zipfile.ZipFile(bundle_run(run)) as zf:
        names = zf.namelist()
        assert not any(b"planted-secret" in zf.read(n) for n in names)
    assert sorted(n.split("/", 1)[1] for n in names) == ["manifest.json", "report.json"]
    problems = verify_run(run).problems
    assert any(p.startswith("evidence.txt: a symbolic link") for p in problems), problems
    assert any(p.startswith("linked-dir: a symbolic link") for p in problems), problems


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clients(sandbox: Any, tmp_path: Path, endpoint: str) -> Any:
    from auditor.collectors.aws import AwsClients
    from auditor.config import load_config
    from auditor.sandbox.scenario import config_document, write_config

    doc = config_document(sandbox, [], reports_dir=str(tmp_path / "reports"))
    doc["aws"]["endpoint_url"] = endpoint
    doc["federations"] = [{"name": "x", "okta_app": {"label": "x"}, "user_pool_id": "us-east-1_x",
                           "app_client": {"name": "x"}, "identity_provider": "Okta"}]
    return AwsClients(load_config(write_config(tmp_path / "config.yaml", doc)))


def _attempts(client: Any) -> list[str]:
    sent: list[str] = []
    client.meta.events.register("before-send", lambda **kw: sent.append(kw["request"].url))
    return sent


def test_an_unreachable_aws_endpoint_fails_in_seconds(sandbox: Any, tmp_path: Path) -> None:
    # Bug: a refused connection was retried like throttling (6 attempts, exponential backoff):
    # ~15 s per call, ~45 s per scan, for an answer that does not change.
    import time

    from botocore.exceptions import EndpointConnectionError

    client = _clients(sandbox, tmp_path, f"http://127.0.0.1:{_closed_port()}").client("cognito-idp")
    sent = _attempts(client)
    began = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        client.describe_user_pool(UserPoolId="us-east-1_x")
    assert len(sent) == 2 and time.monotonic() - began < 10, (len(sent), time.monotonic() - began)


def test_throttling_keeps_its_retries(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError
    from botocore.retries import adaptive, standard

    # No waiting (backoff, adaptive mode's client-side rate limiter): only the attempts are counted.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(adaptive.ClientRateLimiter, "on_sending_request", lambda self, request, **kw: None)
    client = _clients(sandbox, tmp_path, sandbox.aws.endpoint_url).client("cognito-idp")
    sent = _attempts(client)
    sandbox.aws.throttle("DescribeUserPool", times=100)
    try:
        with pytest.raises(ClientError, match="ThrottlingException"):
            client.describe_user_pool(UserPoolId="us-east-1_x")
    finally:
        sandbox.aws.clear_faults()
    assert len(sent) == 6
