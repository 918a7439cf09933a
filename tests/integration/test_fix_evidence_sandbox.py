"""The evidence of `--fix` runs stays true: a rollback is its own run and never edits the fix run's
folder, every run records its mode, and an interrupted fix (SIGINT/SIGTERM while a write is in
flight) still leaves a complete, verifiable, recorded run that `auditor rollback` undoes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.config import load_config
from auditor.history import History
from auditor.runner import ScanOptions, scan
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, write_config
from tests.conftest import scan_sandbox
from tests.integration.test_remediate_sandbox import FIX, changed_paths, drifted, objects, writes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _clean_aws(sandbox: Sandbox) -> None:
    sandbox.reset()


@pytest.fixture(autouse=True)
def _clear_faults(sandbox: Sandbox) -> Any:
    yield
    sandbox.okta.clear_faults()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rollback_is_its_own_run_and_the_fix_run_stays_verifiable(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fed = drifted(sandbox, "ev-undo", ["email_mapping", "audience"])
    before = objects(sandbox, fed)
    fix = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    fix_files = _tree(fix.run_dir)
    config = str(tmp_path / "config.yaml")
    capsys.readouterr()

    assert main(["rollback", "-c", config, fix.result.run_id, "--yes"]) == 0
    out = capsys.readouterr().out
    for kind in before:
        assert changed_paths(before[kind], objects(sandbox, fed)[kind]) == set(), kind
    # The fix run's folder is byte for byte what it was when its manifest was written.
    assert _tree(fix.run_dir) == fix_files
    assert main(["verify", str(fix.run_dir)]) == 0

    history = History(tmp_path / "reports" / "history.sqlite")
    [undo] = [r for r in history.runs() if r.mode == "rollback"]
    assert undo.undoes == fix.result.run_id and undo.run_id != fix.result.run_id
    assert undo.federations == (fed.name,) and undo.exit_code == 0
    assert history.get(fix.result.run_id).mode == "fix"
    undo_dir = Path(undo.run_dir or "")
    assert undo_dir.parent == fix.run_dir.parent and undo.run_id in out
    assert {"journal.jsonl", "rollback.json", "manifest.json"} <= set(_tree(undo_dir))
    assert main(["verify", str(undo_dir)]) == 0
    doc = json.loads((undo_dir / "rollback.json").read_text())
    assert doc["mode"] == "rollback" and doc["undoes"] == fix.result.run_id
    assert {o["state"] for o in doc["outcomes"]} == {"restored"}
    events = [json.loads(line)["event"] for line in (undo_dir / "journal.jsonl").read_text().splitlines()]
    assert fix.result.remediation is not None
    assert events.count("rollback-done") == len(fix.result.remediation.plan.changes) >= 2

    # Rolling back again writes nothing: its preconditions see the restored objects (and it says
    # which earlier run restored them); it is a run of its own too, and the fix run is untouched.
    okta_from, aws_from = len(sandbox.okta.requests), len(sandbox.aws.calls)
    assert main(["rollback", "-c", config, fix.result.run_id, "--yes"]) == 0
    out = capsys.readouterr().out
    assert writes(sandbox, okta_from, aws_from) == []
    assert "already as before the fix" in out and undo.run_id in out
    assert len([r for r in history.runs() if r.mode == "rollback"]) == 2
    assert _tree(fix.run_dir) == fix_files

    # A rollback collected nothing: the next scan's changes are computed against the fix run.
    nxt = scan_sandbox(sandbox, [fed], tmp_path)
    assert nxt.result.changes is not None and nxt.result.changes.previous_run_id == fix.result.run_id
    assert [p.run_id for p in nxt.result.trend] == [fix.result.run_id, nxt.result.run_id]


def test_every_run_records_its_mode_and_history_filters_by_it(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fed = drifted(sandbox, "ev-modes", ["email_mapping"])
    config = write_config(tmp_path / "config.yaml",
                          config_document(sandbox, [fed], reports_dir=str(tmp_path / "reports")))
    c = str(config)
    assert main(["plan", "-c", c, "-q"]) == 1
    assert main(["scan", "-c", c, "--fix", "--dry-run", "-q"]) == 1
    assert main(["scan", "-c", c, "--fix", "--yes", "-q"]) == 1  # the SCP controls still fail
    assert main(["scan", "-c", c, "-q"]) == 1
    capsys.readouterr()
    assert main(["history", "-c", c, "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["mode"] for r in runs] == ["scan", "fix", "dry-run", "plan"]
    for r in runs:
        report = json.loads((Path(r["run_dir"]) / "report.json").read_text())
        assert report["run"]["mode"] == r["mode"]
    assert main(["history", "-c", c, "--mode", "fix"]) == 0
    listing = capsys.readouterr().out
    assert runs[1]["run_id"] in listing and runs[0]["run_id"] not in listing and runs[3]["run_id"] not in listing


def test_history_of_an_earlier_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    conn = sqlite3.connect(path)
    # The schema as version 1 of the history created it (no column naming the run a rollback undid).
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
            mode TEXT NOT NULL, tool_version TEXT NOT NULL, exit_code INTEGER NOT NULL, snapshot_sha256 TEXT,
            run_dir TEXT, federations TEXT NOT NULL, counts TEXT NOT NULL);
        CREATE TABLE findings (run_id TEXT NOT NULL, uid TEXT NOT NULL, control_id TEXT NOT NULL,
            federation TEXT NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL,
            PRIMARY KEY (run_id, uid));
        INSERT INTO runs VALUES ('20260101T000000Z-aaaaaa', '2026-01-01T00:00:00+00:00',
            '2026-01-01T00:00:05+00:00', 'scan', '0.9', 1, NULL, '/r/a', '["prod"]', '{"FAIL": 2}');
    """)
    conn.commit()
    conn.close()
    history = History(path)
    [old] = history.runs()
    assert (old.mode, old.undoes, old.counts) == ("scan", None, {"FAIL": 2})
    history.record_rollback(run_id="20260102T000000Z-bbbbbb", started_at="2026-01-02T00:00:00+00:00",
                            finished_at="2026-01-02T00:00:01+00:00", tool_version="1.0", exit_code=0,
                            run_dir=tmp_path / "b", federations=("prod",), undoes=old.run_id)
    assert [(r.mode, r.undoes) for r in history.runs()] == [("rollback", old.run_id), ("scan", None)]
    assert [r.run_id for r in history.runs(mode="scan")] == [old.run_id]
    assert [r.run_id for r in history.rollbacks_of(old.run_id)] == ["20260102T000000Z-bbbbbb"]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "3"
        # Version 3 keeps each finding's attribution (for `auditor diff`).
        assert "attribution" in {row[1] for row in check.execute("PRAGMA table_info(findings)")}


def test_signal_during_the_re_collection_still_records_the_fix(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = drifted(sandbox, "ev-recollect", ["email_mapping"])

    def progress(federation: str, message: str) -> None:
        if message.startswith("re-collecting"):  # the changes are applied; now verifying them
            os.kill(os.getpid(), signal.SIGTERM)

    config = load_config(write_config(tmp_path / "config.yaml", config_document(
        sandbox, [fed], reports_dir=str(tmp_path / "reports"))))
    out = scan(config, ScanOptions(), remediation=FIX, progress=progress)
    assert out.interrupted == "SIGTERM"
    rem = json.loads(out.files["json"].read_text())["remediation"]
    assert rem["interrupted"] == "SIGTERM"
    assert rem["outcomes"] and {(o["state"], "not re-collected" in o["detail"]) for o in rem["outcomes"]} == {
        ("applied, not verified", True)}
    assert History(tmp_path / "reports" / "history.sqlite").get(out.result.run_id).exit_code == 130
    assert main(["verify", str(out.run_dir)]) == 0


# --- interrupted --fix ---------------------------------------------------------------------------

def _start_fix(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> subprocess.Popen[str]:
    config = write_config(tmp_path / "config.yaml", config_document(sandbox, [fed], reports_dir=str(tmp_path / "r")))
    cmd = [sys.executable, "-m", "auditor", "scan", "--fix", "--yes", "-c", str(config)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **sandbox.environment()})


class _Lines:
    """A child's stderr read on a thread, so the test can wait for a line without blocking."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def wait_for(self, text: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def _held_write_then(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path,
                     signals: list[signal.Signals]) -> tuple[int, str, str, Path]:
    """Run `scan --fix --yes` with the Okta app's PUT held, send `signals` once it is in flight."""
    sandbox.okta.inject_fault(f"^/api/v1/apps/{fed.app_id}$", kind="timeout", method="PUT")
    proc = _start_fix(sandbox, fed, tmp_path)
    err = _Lines(proc.stderr)
    journal = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and journal is None:
        for found in (tmp_path / "r").glob("*/journal.jsonl"):
            if f'"change_id": "{fed.name}:okta.app"' in found.read_text():
                journal = found
        time.sleep(0.05)
    assert journal is not None, "the apply never reached the Okta app"
    time.sleep(0.2)  # the PUT itself is on its way (the journal line is written just before it)
    proc.send_signal(signals[0])
    if len(signals) > 1:
        assert err.wait_for("again to abandon"), err.text()
        proc.send_signal(signals[1])
    assert proc.stdout is not None
    stdout = proc.stdout.read()  # not communicate(): it would race _Lines for stderr
    return proc.wait(timeout=60), stdout, err.text(), journal.parent


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGTERM, signal.SIGINT]], ids=["sigint", "twice"])
def test_interrupted_fix_reports_records_and_rolls_back(sandbox: Sandbox, tmp_path: Path,
                                                        signals: list[signal.Signals]) -> None:
    fed = drifted(sandbox, f"ev-int-{len(signals)}", ["email_mapping", "client_lost_idp", "audience",
                                                      "missing_group"])
    before = objects(sandbox, fed)
    code, stdout, stderr, run_dir = _held_write_then(sandbox, fed, tmp_path, signals)
    run_id = run_dir.name
    assert code == 130, stderr
    assert "Traceback" not in stderr and f"{run_id}/report.json" in stdout
    # What was changed, what was not, and how to undo it.
    assert f"{fed.name}:cognito.identity_provider" in stderr and f"{fed.name}:cognito.app_client" in stderr
    assert f"auditor rollback {run_id}" in stderr
    report = json.loads((run_dir / "report.json").read_text())
    rem = report["remediation"]
    assert rem["interrupted"] == signals[0].name and report["run"]["mode"] == "fix"
    assert f"Interrupted ({signals[0].name})" in (run_dir / "report.html").read_text()
    states = {o["change_id"]: o["state"] for o in rem["outcomes"]}
    assert states[f"{fed.name}:cognito.identity_provider"] == "applied, not verified"
    assert states[f"{fed.name}:cognito.app_client"] == "applied, not verified"
    # The held write was abandoned: its outcome is re-read, never guessed.
    assert states[f"{fed.name}:okta.app"] == "unknown"
    assert all(s in ("applied, not verified", "unknown", "skipped") for s in states.values())
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events if e["change_id"] == f"{fed.name}:okta.app"] == ["pending", "abandoned"]

    history = History(tmp_path / "r" / "history.sqlite")
    recorded = history.get(run_id)
    assert (recorded.mode, recorded.exit_code) == ("fix", 130)
    assert main(["verify", str(run_dir)]) == 0

    assert main(["rollback", "-c", str(tmp_path / "config.yaml"), run_id, "--yes"]) == 0
    restored = objects(sandbox, fed)
    for kind in before:
        assert changed_paths(before[kind], restored[kind]) == set(), kind
    assert main(["verify", str(run_dir)]) == 0


def test_diff_shows_what_the_fix_and_its_rollback_changed_and_no_timestamp(
        sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fed = drifted(sandbox, "ev-diff", ["email_mapping", "audience", "client_lost_idp"])
    pre = scan_sandbox(sandbox, [fed], tmp_path)
    fix = scan_sandbox(sandbox, [fed], tmp_path, remediation=FIX)
    config = str(tmp_path / "config.yaml")
    assert main(["rollback", "-c", config, fix.result.run_id, "--yes"]) == 0
    post = scan_sandbox(sandbox, [fed], tmp_path)
    history = History(tmp_path / "reports" / "history.sqlite")

    # The client named COGNITO before: the fix adds Okta beside it.
    fixed = {"okta.app.settings.signOn.audience", "cognito.identity_provider.AttributeMapping.email",
             "cognito.app_client.SupportedIdentityProviders[1]"}
    # The fix run's report and `auditor diff PRE FIX` name the fields the fix changed, and nothing
    # the servers rewrote by themselves (Okta's lastUpdated, Cognito's LastModifiedDate).
    [changes] = history.diff(pre.result.run_id, fix.result.run_id).federations
    assert set(changes.resolved_failures) == {"OKTA-SAML-AUDIENCE", "COGNITO-IDP-EMAIL-MAPPING",
                                              "COGNITO-CLIENT-IDP-ENABLED"}
    assert fixed <= {c.path for c in changes.state}
    assert not [c.path for c in changes.state if c.path.endswith(("lastUpdated", "LastModifiedDate"))]
    assert fix.result.changes is not None and fix.result.changes.federations[0].state == changes.state
    # After the rollback the next scan shows the same fields going back, and only them.
    [back] = history.diff(fix.result.run_id, post.result.run_id).federations
    assert set(back.new_failures) == set(changes.resolved_failures)
    assert {c.path for c in back.state} == {c.path for c in changes.state}
    assert {(c.path, c.before, c.after) for c in back.state} == {(c.path, c.after, c.before) for c in changes.state}
    capsys.readouterr()
    assert main(["diff", "-c", config, pre.result.run_id, fix.result.run_id]) == 0
    out = capsys.readouterr().out
    assert "changed        okta.app.settings.signOn.audience" in out and "lastUpdated" not in out
