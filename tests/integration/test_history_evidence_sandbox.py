"""Two real scans of the sandbox with drift in between: history, changes, the field-level diff,
the evidence manifest (verify, signature, bundle), waivers and S3 publishing."""

from __future__ import annotations

import json
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from auditor.cli import main
from auditor.config import load_config
from auditor.models import Status
from auditor.report import Format
from auditor.runner import RunOutput, ScanOptions, scan
from auditor.sandbox.scenario import (
    EMAIL_CLAIM,
    Sandbox,
    SeededFederation,
    config_document,
    seed_federation,
    write_config,
)

FED = "hist"


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> Iterator[SeededFederation]:
    sandbox.reset()
    yield seed_federation(sandbox, FED)


def _scan(sandbox: Sandbox, fed: SeededFederation, base: Path, extra: dict[str, Any] | None = None,
          formats: tuple[Format, ...] = (Format.HTML, Format.JSON)) -> RunOutput:
    doc = config_document(sandbox, [fed], reports_dir=str(base / "reports"))
    doc.update(extra or {})
    if "reports" in (extra or {}):
        doc["reports"] = {"dir": str(base / "reports"), **extra["reports"]}  # type: ignore[index]
    config = load_config(write_config(base / "config.yaml", doc))
    return scan(config, ScanOptions(formats=formats))


@pytest.fixture(scope="module")
def two_runs(sandbox: Sandbox, seeded: SeededFederation,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[RunOutput, RunOutput, Path]:
    base = tmp_path_factory.mktemp("history")
    first = _scan(sandbox, seeded, base)
    cognito = sandbox.aws.client("cognito-idp")
    # The drift a control covers: the e-mail claim mapping.
    cognito.update_identity_provider(UserPoolId=seeded.pool_id, ProviderName="Okta",
                                     AttributeMapping={"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"})
    # A change no control covers: honorForceAuthn switched off in Okta.
    app = sandbox.admin.call("GET", f"/api/v1/apps/{seeded.app_id}")
    app["settings"]["signOn"]["honorForceAuthn"] = False
    sandbox.admin.call("PUT", f"/api/v1/apps/{seeded.app_id}", app)
    try:
        second = _scan(sandbox, seeded, base, formats=tuple(Format))
    finally:
        cognito.update_identity_provider(UserPoolId=seeded.pool_id, ProviderName="Okta",
                                         AttributeMapping={"email": EMAIL_CLAIM})
        app["settings"]["signOn"]["honorForceAuthn"] = True
        sandbox.admin.call("PUT", f"/api/v1/apps/{seeded.app_id}", app)
    return first, second, base


def test_second_run_shows_exactly_the_drift_as_new(two_runs: tuple[RunOutput, RunOutput, Path]) -> None:
    first, second, _ = two_runs
    assert first.result.changes is None  # first run in the history
    assert first.result.exit_code == 0
    changes = second.result.changes
    assert changes is not None and changes.previous_run_id == first.result.run_id
    fc = changes.for_federation(FED)
    assert fc is not None
    assert fc.new_failures == ("COGNITO-IDP-EMAIL-MAPPING",)
    assert fc.resolved_failures == () and fc.still_failing == ()
    paths = {c.path: c for c in fc.state}
    force = paths["okta.app.settings.signOn.honorForceAuthn"]
    assert (force.before, force.after) == (True, False)
    mapping = paths["cognito.identity_provider.AttributeMapping.email"]
    assert mapping.before == EMAIL_CLAIM and mapping.after.endswith("/claims/name")
    # The uncovered change is visible though no control fails for it.
    statuses = {f.control_id: f.status for f in second.result.findings}
    assert [c for c, s in statuses.items() if s is Status.FAIL] == ["COGNITO-IDP-EMAIL-MAPPING"]
    assert [p.run_id for p in second.result.trend] == [first.result.run_id, second.result.run_id]


def test_second_report_html_and_json_show_the_changes(two_runs: tuple[RunOutput, RunOutput, Path]) -> None:
    _, second, _ = two_runs
    page = second.files["html"].read_text(encoding="utf-8")
    assert 'data-new-failure="COGNITO-IDP-EMAIL-MAPPING"' in page
    assert 'data-state-path="okta.app.settings.signOn.honorForceAuthn"' in page
    assert '<span class="num" data-change="new">1</span>' in page
    assert page.count("data-trend-run=") == 2
    doc = json.loads(second.files["json"].read_text())
    [fed] = doc["changes"]["federations"]
    assert fed["new_failures"] == ["COGNITO-IDP-EMAIL-MAPPING"]
    md = second.files["markdown"].read_text()
    assert "new failures: `COGNITO-IDP-EMAIL-MAPPING`" in md


def test_history_and_diff_commands(two_runs: tuple[RunOutput, RunOutput, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    first, second, base = two_runs
    config = str(base / "config.yaml")
    assert main(["history", "-c", config, "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == [second.result.run_id, first.result.run_id]
    assert main(["diff", "-c", config, first.result.run_id, second.result.run_id]) == 0
    out = capsys.readouterr().out
    assert "new failure    COGNITO-IDP-EMAIL-MAPPING" in out
    assert "okta.app.settings.signOn.honorForceAuthn: true -> false" in out
    assert main(["diff", "-c", config, "nope", second.result.run_id]) == 3


def test_manifest_lists_every_artifact_and_verify_names_an_edited_byte(
        two_runs: tuple[RunOutput, RunOutput, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, second, base = two_runs
    run_dir = second.run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    listed = {a["path"] for a in manifest["artifacts"]}
    assert listed == {"report.html", "report.json", "report.junit.xml", "report.ocsf.json", "report.csv",
                      "report.md", "findings.asff.json", "snapshot.json"}
    assert manifest["tool"]["version"] and manifest["policy_files"] and manifest["config"]["sha256_redacted"]
    assert main(["verify", str(run_dir)]) == 0
    capsys.readouterr()
    for name in sorted(listed):
        copy = base / f"tampered-{name}"
        copy.mkdir()
        for p in run_dir.iterdir():
            (copy / p.name).write_bytes(p.read_bytes())
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 0x01  # one byte
        (copy / name).write_bytes(bytes(data))
        assert main(["verify", str(copy)]) == 1, name
        assert f"ALTERED {name}: altered" in capsys.readouterr().out
    assert main(["bundle", "-c", str(base / "config.yaml"), second.result.run_id]) == 0
    zpath = Path(capsys.readouterr().out.split("bundle: ", 1)[1].strip())
    with zipfile.ZipFile(zpath) as zf:
        assert f"{second.result.run_id}/manifest.json" in zf.namelist()


def test_signed_manifest_and_a_wrong_signature(sandbox: Sandbox, seeded: SeededFederation, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    pub = PublicFormat.SubjectPublicKeyInfo
    (tmp_path / "signing.pub").write_bytes(key.public_key().public_bytes(Encoding.PEM, pub))
    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.pub").write_bytes(other.public_key().public_bytes(Encoding.PEM, pub))
    out = _scan(sandbox, seeded, tmp_path, {"reports": {"signing_key": "signing.pem"}})
    run_dir = out.run_dir
    assert (run_dir / "manifest.sig").exists()
    assert main(["verify", str(run_dir), "--public-key", str(tmp_path / "signing.pub")]) == 0
    assert main(["verify", str(run_dir), "--public-key", str(tmp_path / "other.pub")]) == 1
    assert "signed with a different key" in capsys.readouterr().out
    # Re-sign the manifest with another key: the signature no longer matches the manifest's key.
    data = (run_dir / "manifest.json").read_bytes()
    import base64
    (run_dir / "manifest.sig").write_text(base64.b64encode(other.sign(data)).decode())
    assert main(["verify", str(run_dir)]) == 1
    assert "manifest.sig: bad signature" in capsys.readouterr().out


def test_expired_waiver_no_longer_hides_and_active_one_does(sandbox: Sandbox, tmp_path: Path) -> None:
    fed = seed_federation(sandbox, "waived", ["email_mapping", "client_lost_idp"])
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    later = (date.today() + timedelta(days=30)).isoformat()
    (tmp_path / "waivers.yaml").write_text(f"""version: 1
waivers:
  - control: COGNITO-IDP-EMAIL-MAPPING
    federation: waived
    reason: vendor maps the name claim until the migration (CHG-1)
    approver: j.doe@example.com
    expires: {yesterday}
  - control: COGNITO-CLIENT-IDP-ENABLED
    federation: "*"
    reason: the new client ships next sprint (CHG-2)
    approver: a.lee@example.com
    expires: {later}
  - control: not-an-id
    federation: waived
""")
    out = _scan(sandbox, fed, tmp_path, {"waivers": "waivers.yaml"})
    by = {f.control_id: f for f in out.result.findings}
    assert by["COGNITO-IDP-EMAIL-MAPPING"].status is Status.FAIL
    assert f"waiver expired on {yesterday}" in by["COGNITO-IDP-EMAIL-MAPPING"].message
    waived = by["COGNITO-CLIENT-IDP-ENABLED"]
    assert waived.status is Status.WAIVED
    assert "a.lee@example.com" in waived.message and later in waived.message and "CHG-2" in waived.message
    assert out.result.exit_code == 1  # the expired one still fails the run
    notices = "\n".join(out.result.notices)
    assert "expired on" in notices and "COGNITO-IDP-EMAIL-MAPPING" in notices
    assert "waivers.yaml:13" in notices  # the malformed entry, by line
    page = out.files["html"].read_text()
    assert "Notices (" in page and f"expired on {yesterday}" in page


def test_publish_to_s3_with_sse_and_presigned_link(sandbox: Sandbox, seeded: SeededFederation, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    s3 = sandbox.aws.client("s3")
    s3.create_bucket(Bucket="audit-reports")
    kms = sandbox.aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    out = _scan(sandbox, seeded, tmp_path,
                {"reports": {"s3": {"bucket": "audit-reports", "prefix": "nightly/", "kms_key_id": kms,
                                    "presign_seconds": 600}}})
    published = out.published
    assert published is not None, out.publish_error
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="audit-reports")["Contents"]}
    assert f"nightly/{out.result.run_id}/report.html" in keys and f"nightly/{out.result.run_id}/manifest.json" in keys
    head = s3.head_object(Bucket="audit-reports", Key=f"nightly/{out.result.run_id}/report.html")
    assert head["ServerSideEncryption"] == "aws:kms" and kms in head["SSEKMSKeyId"]
    assert "X-Amz-Expires=600" in published.url
    with urllib.request.urlopen(published.url, timeout=10) as resp:  # the link works without credentials
        assert resp.read() == out.files["html"].read_bytes()
    (tmp_path / "b").mkdir()
    out2 = _scan(sandbox, seeded, tmp_path / "b", {"reports": {"s3": {"bucket": "audit-reports"}}})
    assert out2.published is not None
    head = s3.head_object(Bucket="audit-reports", Key=f"{out2.result.run_id}/report.html")
    assert head["ServerSideEncryption"] == "AES256"
