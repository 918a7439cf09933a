"""Config loading: validation errors name file, line and fix; secrets only from the environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from auditor.config import load_config, okta_secret
from auditor.errors import ConfigError
from tests.paths import ROOT

GOOD = """\
version: 1
okta:
  org_url: https://example.okta.com
  auth: {token_env: TEST_OKTA_TOKEN}
aws: {region: us-east-1}
federations:
  - name: prod
    okta_app: {label: Contact Center}
    user_pool_id: us-east-1_Abc123
    app_client: {name: app-client}
    identity_provider: Okta
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    return [str(p) for p in exc.value.problems]


def test_good_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    fed = config.federations[0]
    assert fed.data["cert_min_days"] == 30
    assert fed.data["required_assignments"] == {"users": [], "groups": []}
    assert fed.data["scp"] is None
    assert config.reports_dir == tmp_path / "reports"
    assert config.formats == ("html", "json")


def test_unknown_key_names_line_and_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("    identity_provider: Okta", "    identity_provider: Okta\n    cert_min_dayz: 10")
    [msg] = problems(tmp_path, text)
    assert "config.yaml:12:" in msg
    assert "cert_min_dayz" in msg and "did you mean 'cert_min_days'" in msg


def test_wrong_type_and_bad_enum(tmp_path: Path) -> None:
    text = GOOD + "reports: {formats: [pdf]}\n"
    [msg] = problems(tmp_path, text)
    assert ":12:" in msg and "pdf" in msg and "valid values: 'html', 'json'" in msg


def test_http_org_url_needs_flag_and_loopback(tmp_path: Path) -> None:
    text = GOOD.replace("https://example.okta.com", "http://example.okta.com")
    [msg] = problems(tmp_path, text)
    assert "must use https" in msg and ":3:" in msg
    text2 = text.replace("  auth:", "  allow_insecure_http: true\n  auth:")
    [msg2] = problems(tmp_path, text2)
    assert "loopback" in msg2
    text3 = text2.replace("http://example.okta.com", "http://127.0.0.1:8080")
    assert load_config(write(tmp_path, text3)).okta.allow_insecure_http


def test_duplicate_federation_names_and_keys(tmp_path: Path) -> None:
    fed = GOOD.split("federations:\n", 1)[1]
    [msg] = problems(tmp_path, GOOD + fed)
    assert "used twice" in msg
    [dup] = problems(tmp_path, GOOD.replace("aws: {region: us-east-1}", "aws: {region: us-east-1}\naws: {}"))
    assert "duplicate key 'aws'" in dup and ":6:" in dup


def test_scp_arns_must_be_in_the_account(tmp_path: Path) -> None:
    text = GOOD + textwrap.indent(textwrap.dedent("""\
        scp:
          account_id: "123456789012"
          connect_role_arn: arn:aws:iam::999999999999:role/R
          connect_instance_arn: arn:aws:connect:us-east-1:123456789012:instance/abc
        """), "    ")
    [msg] = problems(tmp_path, text)
    assert "999999999999" in msg and "connect_role_arn" in msg


def test_env_interpolation_and_missing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOL_SUFFIX", "Xyz9")
    config = load_config(write(tmp_path, GOOD.replace("us-east-1_Abc123", "us-east-1_${POOL_SUFFIX}")))
    assert config.federations[0].user_pool_id == "us-east-1_Xyz9"
    monkeypatch.delenv("POOL_SUFFIX")
    [msg] = problems(tmp_path, GOOD.replace("us-east-1_Abc123", "us-east-1_${POOL_SUFFIX}"))
    assert "POOL_SUFFIX is not set" in msg and ":9:" in msg


def test_token_comes_only_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, GOOD))
    monkeypatch.delenv("TEST_OKTA_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="TEST_OKTA_TOKEN"):
        okta_secret(config)
    monkeypatch.setenv("TEST_OKTA_TOKEN", "  s3cret  ")
    assert okta_secret(config) == "s3cret"


@pytest.mark.parametrize("content,expected", [
    (b"", "file is empty"),
    (b"version: [1\n", "YAML syntax error"),
    (b"\xff\xfe bad", "not valid UTF-8"),
    (b"- just\n- a list\n", "must be a mapping"),
    (b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
     b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", "alias bomb"),
])
def test_broken_files_give_clear_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert expected in str(exc.value)
    assert str(path) in str(exc.value)


def test_example_config_is_valid() -> None:
    example = ROOT / "config.example.yaml"
    config = load_config(example)
    assert config.federations[0].name == "contact-center-prod"


CONNECT_SSO = """\
    connect_sso:
      okta_app: {label: Amazon Connect}
      saml_provider_arn: arn:aws:iam::123456789012:saml-provider/OktaConnect
      instance_id: 11111111-2222-3333-4444-555555555555
"""
SCP = """\
    scp:
      account_id: "123456789012"
      connect_role_arn: arn:aws:iam::123456789012:role/AmazonConnectUserRole
      connect_instance_arn: arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555
"""


def test_connect_sso_takes_the_role_from_the_scp_block(tmp_path: Path) -> None:
    fed = load_config(write(tmp_path, GOOD + CONNECT_SSO + SCP)).federations[0]
    assert fed.data["connect_sso"]["role_arn"] == "arn:aws:iam::123456789012:role/AmazonConnectUserRole"
    assert fed.connect_role_arn == fed.data["connect_sso"]["role_arn"]
    assert fed.connect_instance_id == "11111111-2222-3333-4444-555555555555"


def test_connect_sso_without_scp_needs_role_arn(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD + CONNECT_SSO)
    assert "connect_sso needs role_arn" in problem and "config.yaml:12" in problem
    role = "      role_arn: arn:aws:iam::123456789012:role/Agents\n"
    fed = load_config(write(tmp_path, GOOD + CONNECT_SSO + role)).federations[0]
    assert fed.connect_role_arn == "arn:aws:iam::123456789012:role/Agents"
    assert fed.connect_instance_id == "11111111-2222-3333-4444-555555555555"


def test_connect_sso_and_scp_must_name_the_same_role_and_instance(tmp_path: Path) -> None:
    sso = CONNECT_SSO.replace("11111111-2222-3333-4444-555555555555", "other") + \
        "      role_arn: arn:aws:iam::123456789012:role/Other\n"
    found = problems(tmp_path, GOOD + sso + SCP)
    assert any("role_arn differs from scp.connect_role_arn" in p for p in found)
    assert any("instance_id is not the instance in scp.connect_instance_arn" in p for p in found)
