"""What a command imports is what it uses (issue 17: start-up CPU). A module imported by mistake
costs every run its import time without failing anything, so these tests look at `sys.modules`
in a fresh interpreter after the command's path has run. Nothing is timed.

- `auditor validate` loads the config and the policies: no remediation stack, no collectors, no
  SDKs, and no jsonschema for valid input (the compiled schema checks accept it).
- `auditor scan` without `--fix` (its whole path, with no collectors so that no server is needed,
  plus the Okta client's set-up): no remediation actions, no okta SDK models or `okta.client`
  (~5 s), no jsonschema, and with an API token Cryptodome's RSA is not run (its cffi bindings
  parse C declarations with pycparser, ~30 ms); with a private key the SDK's JWT still signs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import factories as f
from tests.paths import ROOT

REMEDIATION_STACK = ("auditor.remediate.actions", "auditor.remediate.targets", "auditor.remediate.plan",
                     "auditor.remediate.apply", "auditor.remediate.journal", "auditor.remediate.interrupt")
NEVER_IN_A_SCAN = (*REMEDIATION_STACK, "okta.client", "okta.models", "pydantic", "jsonschema", "pycparser")
NEVER_IN_VALIDATE = (*NEVER_IN_A_SCAN, "auditor.remediate", "auditor.collectors.okta", "auditor.collectors.aws",
                     "boto3", "aiohttp", "cryptography", "asyncio")


def _config(tmp_path: Path, auth: dict[str, str] | None = None, name: str = "config.yaml") -> Path:
    doc = {
        "version": 1,
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json", "html"]},
        "okta": {"org_url": "https://example.okta.com", "auth": auth or {"token_env": "AUDITOR_TEST_OKTA_TOKEN"}},
        "aws": {"region": f.REGION},
        "federations": [f.fed_config()],
    }
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    return path


def _imported_after(code: str, config: Path) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITOR_TEST_OKTA_TOKEN": "00test-token",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CONFIG": str(config)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(done.stdout.split())


def test_validate_imports_no_remediation_collectors_sdks_or_jsonschema(tmp_path: Path) -> None:
    modules = _imported_after(
        "import os\n"
        "from auditor.cli import main\n"
        "assert main(['validate', '--config', os.environ['CONFIG']]) == 0\n", _config(tmp_path))
    assert "auditor.policy.loader" in modules  # the probe ran the command
    assert sorted(set(NEVER_IN_VALIDATE) & modules) == []


def test_a_scan_without_fix_imports_no_remediation_okta_models_or_jsonschema(tmp_path: Path) -> None:
    modules = _imported_after(
        "import asyncio, os\n"
        "from auditor.cli import _cmd_scan, build_parser\n"
        "from auditor.collectors.okta import OktaAPI\n"
        "import auditor.runner\n"
        "real_scan = auditor.runner.scan\n"
        "auditor.runner.scan = lambda *a, **k: real_scan(*a, **{**k, 'collectors': ()})  # no servers\n"
        "args = build_parser().parse_args(['scan', '--config', os.environ['CONFIG'], '-q'])\n"
        "assert _cmd_scan(args) in (0, 1, 2)\n"
        "from auditor.config import load_config, okta_secret\n"
        "config = load_config(__import__('pathlib').Path(os.environ['CONFIG']))\n"
        "async def okta_client():\n"
        "    async with OktaAPI(config, okta_secret(config)):\n"
        "        pass\n"
        "asyncio.run(okta_client())\n", _config(tmp_path))
    assert {"auditor.runner", "auditor.report.json_report", "okta.request_executor"} <= modules  # it ran
    assert sorted(set(NEVER_IN_A_SCAN) & modules) == []
    assert list((tmp_path / "reports").glob("*/report.json"))  # the whole path, reports included


def test_with_a_private_key_the_sdk_still_signs_after_a_token_scan_deferred_rsa(tmp_path: Path) -> None:
    """A process that first used an API token (RSA deferred) and then a private key: the SDK's
    private-key JWT (okta.jwt, RSA.import_key) works."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "service.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    oauth = _config(tmp_path, {"client_id": "0oaService", "private_key_file": str(pem), "key_id": "kid1"},
                    name="oauth.yaml")
    modules = _imported_after(
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from auditor.collectors.okta import OktaAPI\n"
        "from auditor.config import load_config, okta_secret\n"
        "async def enter(path):\n"
        "    config = load_config(Path(path))\n"
        "    async with OktaAPI(config, okta_secret(config)):\n"
        "        pass\n"
        "asyncio.run(enter(os.environ['CONFIG']))\n"
        "assert 'pycparser' not in sys.modules\n"
        f"asyncio.run(enter({str(oauth)!r}))\n"
        "from okta.jwt import JWT\n"
        f"token = JWT.create_token('https://example.okta.com', '0oaService', open({str(pem)!r}).read(), 'kid1')\n"
        "import jwt\n"
        "assert jwt.get_unverified_header(token)['alg'] == 'RS256', token\n", _config(tmp_path))
    assert "Cryptodome.Math._IntegerGMP" in modules  # RSA ran, for the private key
