"""Containment: a missing Okta app or an undefined template value is a finding, never a traceback.

Through the CLI, against the sandbox (the real okta SDK over HTTP, real boto3): the scan names
what is missing, with near matches, judges the controls that depend on it by the dependency
rule, and always writes its report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config
from tests.paths import ROOT

# A policy that `auditor validate` accepts (okta.app is Okta's raw JSON: any field may exist) but
# whose expected value names a field the live app does not have.
UNDEFINED_POLICY = """\
version: 1
controls:
  - id: ACME-UNDEFINED-FIELD
    title: A template naming a field the app does not have
    severity: low
    resource: okta.app
    assert:
      - path: status
        equals: "{{ okta.app.nonexistent_key }}"
"""


@pytest.fixture(scope="module")
def feds(sandbox: Sandbox) -> Iterator[list[SeededFederation]]:
    sandbox.reset()
    yield [seed_federation(sandbox, name) for name in ("cnt-label", "cnt-id", "cnt-connect", "cnt-tmpl")]


def _run(sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path, edit: Callable[[dict[str, Any]], None],
         *argv: str) -> tuple[int, dict[str, Any]]:
    """Run `auditor <argv> -c CONFIG` on an edited config; (exit code, report.json)."""
    doc = config_document(sandbox, feds, reports_dir=str(tmp_path / "r"))
    edit(doc)
    config = write_config(tmp_path / "config.yaml", doc)
    code = main([*argv, "-c", str(config), "-q", "--format", "json"])
    [report] = sorted((tmp_path / "r").glob("*/report.json"))
    return code, json.loads(report.read_text())


def _findings(report: dict[str, Any], federation: str) -> dict[str, dict[str, Any]]:
    return {f["control_id"]: f for f in report["findings"] if f["federation"] == federation}


def test_missing_okta_app_by_label_is_a_fail_naming_near_matches(
        sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path) -> None:
    fed = feds[0]

    def renamed(doc: dict[str, Any]) -> None:  # the config still names the app's old label
        doc["federations"][0]["okta_app"] = {"label": "Contact Centre cnt-label"}

    code, report = _run(sandbox, [fed], tmp_path, renamed, "scan")
    assert code == 1
    found = _findings(report, fed.name)
    app = found["OKTA-APP-ACTIVE"]
    assert app["status"] == "FAIL"
    assert "no app with label 'Contact Centre cnt-label' in Okta" in app["message"]
    assert f"'Contact Center cnt-label' ({fed.app_id})" in app["message"]  # the near match, with its id
    # Its dependants, by the dependency rule: FAIL naming the object that does not exist.
    assert found["OKTA-CERT-EXPIRY"]["status"] == "FAIL"
    assert found["OKTA-ASSIGNMENTS"]["status"] == "FAIL"
    metadata = found["COGNITO-IDP-METADATA"]
    assert metadata["status"] == "FAIL"
    assert "okta.metadata does not exist" in metadata["message"]
    # The rest of the chain is judged as usual.
    assert found["COGNITO-IDP-EMAIL-MAPPING"]["status"] == "PASS"
    assert found["OKTA-CONNECT-APP"]["status"] == "PASS"


def test_missing_okta_app_by_id_is_a_fail_naming_near_matches(
        sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path) -> None:
    fed = feds[1]
    wrong = fed.app_id[:-1] + ("x" if fed.app_id[-1] != "x" else "y")  # a one-character typo

    def typo(doc: dict[str, Any]) -> None:
        doc["federations"][0]["okta_app"] = {"id": wrong}

    code, report = _run(sandbox, [fed], tmp_path, typo, "scan")
    assert code == 1
    found = _findings(report, fed.name)
    app = found["OKTA-APP-ACTIVE"]
    assert app["status"] == "FAIL"
    assert f"no app with id '{wrong}' in Okta" in app["message"]
    assert f"({fed.app_id})" in app["message"]
    assert found["OKTA-SAML-AUDIENCE"]["status"] == "FAIL"
    assert "no app with id" in found["OKTA-SAML-AUDIENCE"]["message"]
    assert found["COGNITO-IDP-METADATA"]["status"] == "FAIL"


def test_missing_connect_app_is_a_fail_of_okta_connect_app(
        sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path) -> None:
    fed = feds[2]

    def deleted(doc: dict[str, Any]) -> None:
        doc["federations"][0]["connect_sso"]["okta_app"] = {"label": "Amazon Connect cnt-connect (old)"}

    code, report = _run(sandbox, [fed], tmp_path, deleted, "scan")
    assert code == 1
    found = _findings(report, fed.name)
    connect = found["OKTA-CONNECT-APP"]
    assert connect["status"] == "FAIL"
    assert "no app with label 'Amazon Connect cnt-connect (old)' in Okta" in connect["message"]
    assert f"'Amazon Connect cnt-connect' ({fed.connect_app_id})" in connect["message"]
    provider = found["CONNECT-IAM-SAML-PROVIDER"]
    assert provider["status"] == "FAIL"
    assert "okta.connect_metadata does not exist" in provider["message"]
    # The Cognito app's chain is unaffected.
    assert {found[c]["status"] for c in ("OKTA-APP-ACTIVE", "COGNITO-IDP-METADATA", "OKTA-CERT-EXPIRY")} == {"PASS"}


def test_undefined_template_value_is_an_error_and_the_report_is_written(
        sandbox: Sandbox, feds: list[SeededFederation], tmp_path: Path) -> None:
    fed = feds[3]
    policy = tmp_path / "acme.yaml"
    policy.write_text(UNDEFINED_POLICY)

    def custom(doc: dict[str, Any]) -> None:
        doc["policies"] = [str(policy)]

    assert main(["validate", "-c", str(write_config(tmp_path / "v.yaml", {**config_document(sandbox, [fed]),
                                                                          "policies": [str(policy)]}))]) == 0
    code, report = _run(sandbox, [fed], tmp_path, custom, "scan")
    assert code == 2
    finding = _findings(report, fed.name)["ACME-UNDEFINED-FIELD"]
    assert finding["status"] == "ERROR"
    assert "{{ okta.app.nonexistent_key }}" in finding["message"]  # the template
    assert "okta.app.nonexistent_key" in finding["message"].replace("{{ okta.app.nonexistent_key }}", "")
    assert f"{policy}:" in finding["message"]  # where it is written
    # The built-in controls are judged as usual.
    assert _findings(report, fed.name)["OKTA-APP-ACTIVE"]["status"] == "PASS"

    # The same evidence judged offline, and the plan, contain it the same way.
    [snapshot] = sorted((tmp_path / "r").glob("*/snapshot.json"))
    config = str(tmp_path / "config.yaml")
    assert main(["evaluate", "-c", config, "--snapshot", str(snapshot), "-q", "--format", "json"]) == 2
    assert main(["plan", "-c", config]) == 2


def test_validate_rejects_fields_a_resource_cannot_have(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "impossible.yaml"
    policy.write_text("""\
version: 1
controls:
  - id: ACME-IMPOSSIBLE
    title: Templates naming fields no snapshot can hold
    severity: low
    resource: okta.app
    assert:
      - path: settings.signOn.audience
        equals: "{{ okta.metadata.nonexistent }}"
      - path: label
        equals: "{{ okta.nope.x }}"
      - path: status
        equals: "{{ okta.assignments.users[0].login }} {{ okta.app.anything.at.all }}"
""")
    config = tmp_path / "config.yaml"
    example = (ROOT / "config.example.yaml").read_text()
    assert "policies: []" in example
    config.write_text(example.replace("policies: []", f"policies: [{json.dumps(str(policy))}]", 1))
    assert main(["validate", "-c", str(config)]) == 3
    err = capsys.readouterr().err
    assert f"{policy}:9" in err and "okta.metadata.nonexistent" in err
    assert "entity_id" in err and "signing_certificate" in err  # the valid names
    assert f"{policy}:11" in err and "okta.nope" in err and "okta.assignments" in err
    assert f"{policy}:13" not in err  # a real field of a built shape; any field of a raw API object


def test_near_matches_rank_close_labels_and_ids() -> None:
    from auditor.collectors.okta import near_matches

    apps = [{"id": "0oa1prod", "label": "Contact Center prod"}, {"id": "0oa2stg", "label": "Contact Center staging"},
            {"id": "0oa3", "label": "Payroll"}, {"id": "0oa4prod", "label": "contact center PROD (old)"}]
    assert [a["id"] for a in near_matches({"label": "Contact Centre prod"}, apps)] == ["0oa1prod", "0oa4prod",
                                                                                       "0oa2stg"]
    assert near_matches({"id": "0oa1prd"}, apps)[0]["id"] == "0oa1prod"
    assert near_matches({"id": "Contact Center prod"}, apps)[0]["id"] == "0oa1prod"  # a label in the id field
    assert near_matches({"label": "Something else entirely"}, apps) == []
