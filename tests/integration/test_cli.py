"""The command line as a user runs it: exit codes, messages, offline evaluation, handover, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config
from tests.paths import ROOT


def test_help_teaches_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("scan", "validate", "evaluate", "handover", "demo", "exit codes", "3  unusable"):
        assert text in out


def test_validate_ok_and_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(ROOT / "config.example.yaml")]) == 0
    bad = tmp_path / "config.yaml"
    bad.write_text((ROOT / "config.example.yaml").read_text().replace("region: us-east-1", "regoin: us-east-1"))
    assert main(["validate", "-c", str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "did you mean 'region'" in err


def test_missing_config_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "-c", str(tmp_path / "nope.yaml")]) == 3
    assert "config.example.yaml" in capsys.readouterr().err


@pytest.fixture(scope="module")
def feds(sandbox: Sandbox) -> Iterator[list[SeededFederation]]:
    sandbox.reset()
    yield [seed_federation(sandbox, "cli-ok"),
           seed_federation(sandbox, "cli-drift", ["email_mapping"], scp_target="root")]


def config_file(sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path) -> str:
    return str(write_config(tmp_path / "config.yaml", config_document(sandbox, feds, reports_dir=str(tmp_path / "r"))))


def test_scan_exit_codes(sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_file(sandbox, feds, tmp_path)
    assert main(["scan", "-c", config, "-f", "cli-ok", "-q"]) == 0
    assert main(["scan", "-c", config]) == 1
    out = capsys.readouterr().out
    assert "COGNITO-IDP-EMAIL-MAPPING" in out and "exit 1: drift" in out
    assert main(["scan", "-c", config, "-f", "nope"]) == 3
    monkeypatch.delenv("AUDITOR_SANDBOX_OKTA_TOKEN")
    assert main(["scan", "-c", config]) == 3
    assert "AUDITOR_SANDBOX_OKTA_TOKEN" in capsys.readouterr().err


def test_evaluate_snapshot_offline(sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(sandbox, feds, tmp_path)
    assert main(["scan", "-c", config, "-q", "--format", "json"]) == 1
    first = capsys.readouterr().out
    snapshot = next(line.split(": ", 1)[1] for line in first.splitlines() if line.startswith("snapshot:"))
    report = next(line.split(": ", 1)[1] for line in first.splitlines() if line.startswith("json:"))
    sandbox.okta.inject_fault(".*", kind="status", status=500, times=1000)  # offline: no API call may happen
    try:
        assert main(["evaluate", "-c", config, "--snapshot", snapshot, "-q", "--format", "json"]) == 1
        again = capsys.readouterr().out
        # Far in the future every certificate has expired: a different verdict from the same evidence.
        assert main(["evaluate", "-c", config, "--snapshot", snapshot, "-q", "--at", "2040-01-01T00:00:00Z"]) == 1
    finally:
        sandbox.okta.clear_faults()
    report2 = next(line.split(": ", 1)[1] for line in again.splitlines() if line.startswith("json:"))
    statuses = [(f["uid"], f["status"]) for f in json.loads(Path(report).read_text())["findings"]]
    statuses2 = [(f["uid"], f["status"]) for f in json.loads(Path(report2).read_text())["findings"]]
    assert statuses == statuses2
    assert main(["evaluate", "--snapshot", str(tmp_path / "config.yaml")]) == 3
    # A hand-edited federation block: one line naming the federation and the key, exit 3.
    doc = json.loads(Path(snapshot).read_text())
    del doc["federations"][0]["config"]["user_pool_id"]
    edited = tmp_path / "edited-snapshot.json"
    edited.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["evaluate", "--snapshot", str(edited), "-q"]) == 3
    assert "its config is not a valid federation block" in capsys.readouterr().err


def test_handover(sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path,
                  capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(sandbox, feds, tmp_path)
    assert main(["handover", "-c", config, "-f", "cli-ok", "--format", "json"]) == 0
    [sheet] = json.loads(capsys.readouterr().out)
    fed = feds[0]
    assert sheet["values"]["user_pool_id"] == fed.pool_id
    assert sheet["values"]["app_client_id"] == fed.client_id
    assert sheet["values"]["acs_url"] == f"https://{fed.domain}.auth.us-east-1.amazoncognito.com/saml2/idpresponse"
    assert sheet["values"]["audience"] == f"urn:amazon:cognito:sp:{fed.pool_id}"
    assert sheet["values"]["identity_provider_name"] == "Okta"
    # The Amazon Connect chain beside the Cognito one.
    instance_id = fed.instance_arn.rsplit("/", 1)[-1]
    assert sheet["values"]["connect_instance_id"] == instance_id
    assert sheet["values"]["connect_saml_provider_arn"] == fed.saml_provider_arn
    assert sheet["values"]["connect_role_arn"] == fed.role_arn
    assert sheet["values"]["connect_relay_state"] == \
        f"https://us-east-1.console.aws.amazon.com/connect/federate/{instance_id}"
    assert not sheet["problems"]


def test_handover_prints_what_the_controls_require(sandbox: Sandbox, feds: list[SeededFederation],
                                                   tmp_path: Path) -> None:
    """The sheet's values are the controls' expected values (their templates rendered), not a
    second copy of the formulas: another policy's template changes the sheet."""
    from auditor.config import load_config
    from auditor.handover import handover
    from auditor.policy.loader import load_policies

    config = load_config(Path(config_file(sandbox, feds, tmp_path)))
    policy = tmp_path / "policy.yaml"
    policy.write_text("""\
version: 1
controls:
  - id: OKTA-SAML-AUDIENCE
    title: a different audience
    severity: high
    resource: okta.app
    assert:
      - path: settings.signOn.audience
        equals: "urn:example:{{ cognito.user_pool.Id }}:{{ aws.region }}"
""")
    [sheet] = handover(config, ["cli-ok"], policies=load_policies([policy], include_builtin=False))
    fed = feds[0]
    assert sheet["values"]["audience"] == f"urn:example:{fed.pool_id}:us-east-1"
    # The policies lack the ACS URL control: the sheet says it cannot tell, and guesses nothing.
    assert sheet["values"]["acs_url"] is None and sheet["values"]["cognito_domain"] is None
    assert any("OKTA-SAML-ACS-URL" in p for p in sheet["problems"])


def test_demo_runs_in_a_fresh_process(tmp_path: Path) -> None:
    # A separate process: one local AWS per process, and the session sandbox is running here.
    proc = subprocess.run([sys.executable, "-m", "auditor", "demo", "-o", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "a real scan would exit 1" in proc.stdout
    [run] = list(tmp_path.glob("2*/report.json"))
    doc = json.loads(run.read_text())
    assert len(doc["findings"]) == 42  # 21 controls x 2 federations, the Connect chain included
    by_fed = {}
    for f in doc["findings"]:
        by_fed.setdefault(f["federation"], set()).add(f["status"])
    assert by_fed["prod"] == {"PASS"}
    failing = {f["control_id"] for f in doc["findings"] if f["status"] == "FAIL"}
    assert failing == {"COGNITO-IDP-EMAIL-MAPPING", "COGNITO-CLIENT-IDP-ENABLED", "SCP-DENY-INSTANCE-DELETION",
                       "OKTA-CERT-EXPIRY", "OKTA-SAML-AUDIENCE", "CONNECT-IAM-SAML-PROVIDER"}
