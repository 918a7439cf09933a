"""Many accounts: a federation's `aws.role_arn` is assumed through STS, cached and refreshed.

Against the local AWS: the collectors of that federation sign with the assumed credentials
(read back from the Authorization header of every request), and STS names the assumed role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors.aws import AwsClients, CognitoCollector, IamConnectCollector, OrganizationsCollector
from auditor.collectors.aws_sessions import assumed_role_session, role_session_name
from auditor.collectors.okta import OktaCollector
from auditor.config import Config, load_config
from auditor.models import Status
from auditor.report import Format
from auditor.runner import ScanOptions, scan
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, seed_federation, write_config

ACCOUNT = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/AuditorReadOnly"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


@pytest.fixture(scope="module")
def fed(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.reset()
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "cc-ext-42"}}}]}
    sandbox.aws.client("iam").create_role(RoleName="AuditorReadOnly", AssumeRolePolicyDocument=json.dumps(trust))
    yield seed_federation(sandbox, "acct-b")


def _config(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path, **aws: Any) -> Config:
    doc = config_document(sandbox, [fed], reports_dir=str(tmp_path / "reports"))
    doc["federations"][0]["aws"] = {"role_arn": ROLE_ARN, "external_id": "cc-ext-42", **aws}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(tmp_path / "config.yaml", doc))


def test_collectors_sign_with_the_assumed_role(sandbox: Sandbox, fed: SeededFederation, tmp_path: Path) -> None:
    config = _config(sandbox, fed, tmp_path)
    fconf = config.federations[0]
    clients = AwsClients(config)
    session = clients.session_for(fconf)
    seen: list[tuple[str, str]] = []

    def record(request: Any, **kwargs: Any) -> None:
        header = request.headers.get("Authorization", b"")
        match = _CREDENTIAL.search(header.decode() if isinstance(header, bytes) else header)
        seen.append((kwargs["event_name"].split(".")[1], match.group(1) if match else ""))

    # Clients made from this session afterwards inherit the handler.
    session.events.register("before-send", record)
    collectors = [OktaCollector(config, sandbox.environment()["AUDITOR_SANDBOX_OKTA_TOKEN"]),
                  CognitoCollector(config, clients), OrganizationsCollector(config, clients),
                  IamConnectCollector(config, clients)]
    out = scan(config, ScanOptions(formats=(Format.JSON,)), collectors=collectors)
    statuses = {f.control_id: f.status for f in out.result.findings}
    assert statuses["COGNITO-IDP-SAML"] is Status.PASS and statuses["CONNECT-ROLE-TRUST"] is Status.PASS
    assumed_key = session.get_credentials().get_frozen_credentials().access_key
    source_key = sandbox.environment()["AWS_ACCESS_KEY_ID"]
    assert assumed_key != source_key
    services = {svc for svc, _ in seen}
    assert {"cognito-identity-provider", "iam", "connect"} <= services, services
    # Every federation call signed with the role's keys (the STS call itself happens on the source session).
    assert {key for _, key in seen} == {assumed_key}
    identity = clients.client("sts", federation=fconf).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/AuditorReadOnly/auditor-acct-b"
    # The external id is not evidence: the snapshot keeps role and region only.
    snapshot = json.loads((out.run_dir / "snapshot.json").read_text())
    assert snapshot["federations"][0]["config"]["aws"] == {"role_arn": ROLE_ARN}
    assert "cc-ext-42" not in (out.run_dir / "snapshot.json").read_text()


def test_sessions_are_cached_per_role_and_external_id(sandbox: Sandbox, fed: SeededFederation,
                                                      tmp_path: Path) -> None:
    config = _config(sandbox, fed, tmp_path)
    fconf = config.federations[0]
    clients = AwsClients(config)
    assert clients.session_for(fconf) is clients.session_for(fconf)
    assert clients.client("iam", federation=fconf) is clients.client("iam", federation=fconf)
    other = _config(sandbox, fed, tmp_path / "other", external_id="another-id").federations[0]
    assert clients.session_for(other) is not clients.session_for(fconf)
    assert clients.session_for(None) is not clients.session_for(fconf)
    assert role_session_name("x" * 80 + " y") == ("auditor-" + "x" * 80)[:64]


def test_credentials_are_refreshed_before_expiry(sandbox: Sandbox, fed: SeededFederation) -> None:
    import boto3

    source = boto3.session.Session(region_name="us-east-1")
    clock = {"now": datetime.now(UTC)}
    session = assumed_role_session(source, ROLE_ARN, region="us-east-1", session_name="auditor-t",
                                   external_id="cc-ext-42", endpoint_url=sandbox.aws.endpoint_url,
                                   time_fetcher=lambda: clock["now"])
    creds = session.get_credentials()
    first = creds.get_frozen_credentials().access_key
    assert creds.get_frozen_credentials().access_key == first  # cached while far from expiry
    clock["now"] += timedelta(minutes=50)  # inside the 15-minute advisory window of a 1-hour session
    assert creds.get_frozen_credentials().access_key != first


def test_region_override_reaches_clients_and_templates(sandbox: Sandbox, fed: SeededFederation,
                                                       tmp_path: Path) -> None:
    config = _config(sandbox, fed, tmp_path, region="eu-central-1")
    fconf = config.federations[0]
    clients = AwsClients(config)
    assert clients.client("cognito-idp", federation=fconf).meta.region_name == "eu-central-1"
    assert clients.client("cognito-idp").meta.region_name == "us-east-1"
