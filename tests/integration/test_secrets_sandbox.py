"""Secrets never leak (issue 6): an SSWS token, an OAuth private key and AWS secret keys planted
in the environment appear in no artifact and no output of a scan, a failed scan and a `--fix`.

Each run is a CLI subprocess (the way cron runs it), verbose, with text and JSON logs. Every file
the runs leave in the reports folder is searched: reports, snapshots, plan, journal, manifest, the
history database (its compressed blobs inflated) and the bundle zips (their members inflated) —
for each secret whole and for distinctive pieces of it (the middle of the token, each line of the
PEM body), so a secret that was re-wrapped, truncated or partly masked is still caught.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.sandbox.certs import make_service_app_keypair
from auditor.sandbox.scenario import (
    SANDBOX_TOKEN,
    TOKEN_ENV,
    Sandbox,
    SeededFederation,
    config_document,
    seed_federation,
    write_config,
)

pytestmark = pytest.mark.integration

SERVICE_APP = "0oaLeakTestService"


@dataclass
class Planted:
    """The secrets, and the pieces of them that must not show up either."""

    okta_token: str
    private_key_pem: bytes
    key_id: str
    aws_secret: str
    aws_session_token: str

    def needles(self) -> dict[str, str]:
        """name -> text that must appear nowhere."""
        out = {
            "okta token": self.okta_token,
            "okta token (middle)": self.okta_token[8:32],
            "aws secret key": self.aws_secret,
            "aws secret key (middle)": self.aws_secret[8:32],
            "aws session token": self.aws_session_token,
            "aws session token (middle)": self.aws_session_token[40:72],
        }
        body = [line for line in self.private_key_pem.decode().splitlines() if line and not line.startswith("-----")]
        # Every full 64-character line of the PEM body (the last one may be short; keep it if long enough).
        for i, line in enumerate(body):
            if len(line) >= 24:
                out[f"private key PEM line {i + 1}"] = line
        out["private key PEM header"] = "PRIVATE KEY-----"
        return out


@pytest.fixture(scope="module")
def planted() -> Planted:
    keys = make_service_app_keypair()
    # Shaped like the real things: an Okta API token (00 + 40 URL-safe characters), an AWS secret
    # access key (40 characters) and an STS session token (long base64).
    return Planted(okta_token="00" + secrets.token_urlsafe(30)[:40], private_key_pem=keys.private_key_pem,
                   key_id=keys.kid, aws_secret=secrets.token_urlsafe(30)[:40],
                   aws_session_token="IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(150))


@pytest.fixture(scope="module")
def world(sandbox: Sandbox, planted: Planted) -> Iterator[SeededFederation]:
    """One drifted federation; Okta accepts the planted token (and the service app's key) meanwhile."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from auditor.sandbox.certs import public_jwk

    sandbox.reset()
    fed = seed_federation(sandbox, "leaks", ["audience", "email_mapping", "client_lost_idp"])
    key = load_pem_private_key(planted.private_key_pem, password=None)
    sandbox.okta.register_service_app(SERVICE_APP, public_jwk(key, planted.key_id),  # type: ignore[arg-type]
                                      ["okta.apps.read", "okta.users.read", "okta.groups.read", "okta.apps.manage"])
    sandbox.okta.api_token = planted.okta_token
    try:
        yield fed
    finally:
        sandbox.okta.api_token = SANDBOX_TOKEN
        sandbox.okta.clear_faults()
        sandbox.aws.clear_faults()


@dataclass
class Output:
    args: list[str]
    code: int
    stdout: str
    stderr: str


def _config(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path, name: str, *, oauth: Path | None = None,
            key_id: str = "", client_id: str = SERVICE_APP) -> Path:
    doc = config_document(sandbox, [fed], reports_dir=str(tmp_path / "reports"))
    doc["okta"]["timeout_seconds"] = 2
    if oauth is not None:
        doc["okta"]["auth"] = {"client_id": client_id, "private_key_file": str(oauth), "key_id": key_id}
    return write_config(tmp_path / f"{name}.yaml", doc)


def _run(planted: Planted, *args: str, log_format: str) -> Output:
    env = dict(os.environ)
    env.update({TOKEN_ENV: planted.okta_token, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": planted.aws_secret, "AWS_SESSION_TOKEN": planted.aws_session_token})
    cmd = [sys.executable, "-m", "auditor", *args, "--log-format", log_format]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return Output(cmd, proc.returncode, proc.stdout, proc.stderr)


def _parallel(planted: Planted, commands: list[list[str]], log_formats: list[str]) -> list[Output]:
    """Independent runs side by side (the sandbox serves them concurrently): the test stays quick."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda c, f: _run(planted, *c, log_format=f), commands, log_formats))


def _inflate(data: bytes) -> bytes | None:
    try:
        return zlib.decompress(data)
    except zlib.error:
        return None


def _texts(reports: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) for every file under reports, plus the inflated insides of zips and of the
    history database's compressed blobs."""
    for path in sorted(p for p in reports.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path), data
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    yield f"{path}!{name}", zf.read(name)
        if path.suffix == ".sqlite":
            conn = sqlite3.connect(path)
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table in tables:
                    for row in conn.execute(f'SELECT * FROM "{table}"'):
                        for i, cell in enumerate(row):
                            where = f"{path}:{table}[{i}]"
                            if isinstance(cell, bytes):
                                yield where, cell
                                inflated = _inflate(cell)
                                if inflated is not None:
                                    yield where + " (inflated)", inflated
                            elif isinstance(cell, str):
                                yield where, cell.encode()
            finally:
                conn.close()


def _leaks(planted: Planted, outputs: list[Output], reports: Path) -> list[str]:
    found = []
    needles = planted.needles()
    for out in outputs:
        for stream, text in (("stdout", out.stdout), ("stderr", out.stderr)):
            for name, needle in needles.items():
                if needle in text:
                    found.append(f"{name} in {stream} of {' '.join(out.args[2:4])} ({out.args[-1]} logs)")
    for where, data in _texts(reports):
        for name, needle in needles.items():
            if needle.encode() in data:
                found.append(f"{name} in {where}")
    return found


def _run_id(out: Output) -> str:
    for line in out.stdout.splitlines():
        if line.startswith("json: "):
            return Path(line.split(": ", 1)[1]).parent.name
    raise AssertionError(f"no report path printed:\n{out.stdout}\n{out.stderr}")


def test_no_secret_in_any_artifact_or_output(sandbox: Sandbox, world: SeededFederation, planted: Planted,
                                             tmp_path: Path) -> None:
    key_file = tmp_path / "service-app.pem"
    key_file.write_bytes(planted.private_key_pem)
    key_file.chmod(0o600)
    token_cfg = _config(sandbox, world, tmp_path, "token")
    oauth_cfg = _config(sandbox, world, tmp_path, "oauth", oauth=key_file, key_id=planted.key_id)
    unknown_client_cfg = _config(sandbox, world, tmp_path, "oauth-unknown", oauth=key_file, key_id=planted.key_id,
                                 client_id="0oaNotRegistered")
    fmt = ["--format", "html,json,junit,ocsf,csv,markdown"]

    # (a) scans that work: the SSWS token (JSON logs) and the OAuth service app (text logs).
    outputs = _parallel(planted, [["scan", "--config", str(token_cfg), *fmt, "-v"],
                                  ["scan", "--config", str(oauth_cfg), *fmt, "-v"]], ["json", "text"])
    assert [o.code for o in outputs] == [1, 1], [o.stderr for o in outputs]

    # (b) scans that fail: Okta refuses the token (401) while AWS denies reads; OAuth with a client
    # Okta does not know (401 invalid_client).
    sandbox.okta.api_token = SANDBOX_TOKEN
    sandbox.aws.deny("DescribeIdentityProvider")
    sandbox.aws.deny("GetRole")
    try:
        failed = _parallel(planted, [["scan", "--config", str(token_cfg), *fmt, "-v"],
                                     ["scan", "--config", str(unknown_client_cfg), *fmt, "-v"]], ["text", "json"])
    finally:
        sandbox.okta.api_token = planted.okta_token
        sandbox.aws.clear_faults()
    assert [o.code for o in failed] == [2, 2], [o.stderr for o in failed]
    report = json.loads((tmp_path / "reports" / _run_id(failed[0]) / "report.json").read_text())
    messages = " ".join(f["message"] for f in report["findings"])
    assert "401" in messages and "iam:GetRole" in messages, messages
    outputs += failed

    # (c) --fix with a journal, through the OAuth service app (okta.apps.manage): the Okta change
    # applies, a denied Cognito write fails and is journaled with its error.
    sandbox.aws.deny("UpdateUserPoolClient")
    try:
        outputs.append(_run(planted, "scan", "--config", str(oauth_cfg), *fmt, "-v", "--fix", "--yes",
                            log_format="json"))
    finally:
        sandbox.aws.clear_faults()
    fix_run = _run_id(outputs[-1])
    journal = (tmp_path / "reports" / fix_run / "journal.jsonl").read_text()
    assert '"event": "done"' in journal and '"event": "failed"' in journal, journal

    # Evidence of every run: a bundle each, and the history's own outputs.
    for out in list(outputs):
        outputs.append(_run(planted, "bundle", "--config", str(token_cfg), _run_id(out), log_format="text"))
    outputs.append(_run(planted, "history", "--config", str(token_cfg), "--format", "json", log_format="json"))
    outputs.append(_run(planted, "diff", "--config", str(token_cfg), _run_id(outputs[0]), fix_run,
                        log_format="text"))

    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "history.sqlite" for p in files) and any(p.suffix == ".zip" for p in files)
    assert any(p.name == "plan.json" for p in files) and any(p.name == "manifest.json" for p in files)
    leaks = _leaks(planted, outputs, tmp_path / "reports")
    assert leaks == [], "\n".join(leaks)


def test_the_search_finds_a_planted_secret(planted: Planted, tmp_path: Path) -> None:
    # The check itself: a secret written into a report, a zip and a compressed history blob is seen.
    reports = tmp_path / "reports"
    (reports / "run").mkdir(parents=True)
    (reports / "run" / "report.json").write_text(json.dumps({"m": f"SSWS {planted.okta_token}"}))
    with zipfile.ZipFile(reports / "run.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("run/snapshot.json", planted.aws_secret * 3)
    conn = sqlite3.connect(reports / "history.sqlite")
    conn.execute("CREATE TABLE t (blob BLOB)")
    conn.execute("INSERT INTO t VALUES (?)", (zlib.compress(planted.private_key_pem),))
    conn.commit()
    conn.close()
    out = Output(["python", "-m", "scan", "x", "json"], 0, planted.aws_session_token[40:80], "")
    found: Any = _leaks(planted, [out], reports)
    assert any(f.startswith("okta token in") and "report.json" in f for f in found)
    assert any(f.startswith("aws secret key in") and "run.zip!run/snapshot.json" in f for f in found)
    assert any(f.startswith("private key PEM line 1 in") and "(inflated)" in f for f in found)
    assert any(f.startswith("aws session token (middle) in stdout") for f in found)
