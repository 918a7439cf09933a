"""`auditor sandbox`: started as a newcomer starts it (a subprocess), tried as README "Try it" walks
through it (plan, fix, history, rollback, diff against its config), and stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from auditor.cli import main
from tests.paths import ROOT

pytestmark = pytest.mark.integration


@dataclass
class Running:
    proc: subprocess.Popen[str]
    config: Path
    env: dict[str, str]
    out: list[str]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 90) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} from `auditor sandbox`: {lines}")


def _exports(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("sandbox-command")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "sandbox"], cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = _read_until(proc, "runs until Ctrl-C")
        config = folder / "sandbox.yaml"
        yield Running(proc, config, _exports(folder / "sandbox.env"), out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_it_writes_a_ready_config_and_says_what_to_try(running: Running) -> None:
    text = "\n".join(running.out)
    for command in ("auditor scan -c sandbox.yaml", "auditor plan -c sandbox.yaml",
                    "auditor scan -c sandbox.yaml --fix", "auditor rollback -c sandbox.yaml RUN_ID",
                    "auditor history -c sandbox.yaml", "auditor diff -c sandbox.yaml RUN_A RUN_B",
                    ". ./sandbox.env"):
        assert command in text, command
    doc = yaml.safe_load(running.config.read_text(encoding="utf-8"))
    assert [f["name"] for f in doc["federations"]] == ["prod", "staging"]
    assert doc["okta"]["org_url"].startswith("http://127.0.0.1:")
    assert doc["aws"]["endpoint_url"].startswith("http://127.0.0.1:")
    assert set(running.env) >= {"AUDITOR_SANDBOX_OKTA_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SHARED_CREDENTIALS_FILE"}
    assert main(["validate", "-c", str(running.config), "-q"]) == 0


def test_the_readme_walkthrough_plan_fix_history_rollback_diff(running: Running, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in running.env.items():
        monkeypatch.setenv(key, value)
    c = str(running.config)
    assert main(["plan", "-c", c, "-q"]) == 1
    assert main(["scan", "-c", c, "--fix", "--yes", "-q"]) == 1  # the certificate and the SCP are left for a human
    capsys.readouterr()
    assert main(["history", "-c", c, "--mode", "fix", "--format", "json"]) == 0
    [fix] = json.loads(capsys.readouterr().out)
    assert main(["rollback", "-c", c, fix["run_id"], "--yes"]) == 0
    assert main(["scan", "-c", c, "-q"]) == 1
    capsys.readouterr()
    assert main(["history", "-c", c, "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["mode"] for r in runs] == ["scan", "rollback", "fix", "plan"]
    assert runs[1]["undoes"] == fix["run_id"]
    # What the fix changed, field by field, and the rollback undoing it.
    assert main(["diff", "-c", c, runs[3]["run_id"], fix["run_id"]]) == 0
    fixed = capsys.readouterr().out
    assert "resolved       OKTA-SAML-AUDIENCE" in fixed and "changed        okta.app.settings.signOn.audience" in fixed
    assert main(["diff", "-c", c, fix["run_id"], runs[0]["run_id"]]) == 0
    undone = capsys.readouterr().out
    assert "new failure    OKTA-SAML-AUDIENCE" in undone and "lastUpdated" not in undone


def test_sigterm_stops_it_cleanly_and_frees_the_ports(running: Running) -> None:
    doc = yaml.safe_load(running.config.read_text(encoding="utf-8"))
    ports = [urlsplit(doc["okta"]["org_url"]).port, urlsplit(doc["aws"]["endpoint_url"]).port]
    running.proc.send_signal(signal.SIGTERM)
    rest, _ = running.proc.communicate(timeout=60)
    assert running.proc.returncode == 0, rest
    assert "SIGTERM: stopping the sandbox" in rest and "Traceback" not in rest
    assert running.config.exists() and not running.config.with_suffix(".env").exists()
    for port in ports:
        with socket.socket() as s, pytest.raises(OSError):
            s.connect(("127.0.0.1", port))


def test_it_never_overwrites_a_config_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "sandbox.yaml"
    mine.write_text("version: 1\n# my own\n", encoding="utf-8")
    assert main(["sandbox", "--config-out", str(mine), "-o", str(tmp_path / "r")]) == 3
    assert "was not written by `auditor sandbox`" in capsys.readouterr().err
    assert mine.read_text(encoding="utf-8") == "version: 1\n# my own\n"
