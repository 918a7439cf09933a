"""Shared fixtures: one sandbox (Okta simulator + local AWS) for the whole test session.

moto keeps its state in module globals, so a process runs one local AWS; modules that need a
clean AWS call `sandbox.reset()` in their own module-scoped fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from auditor.config import load_config
from auditor.models import Finding
from auditor.runner import RunOutput, ScanOptions, scan
from auditor.sandbox.scenario import Sandbox, SeededFederation, config_document, write_config

# Property tests: a fixed-seed, bounded profile for CI (< 1 min); `HYPOTHESIS_PROFILE=long` locally.
settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder is the marker: tests/unit/ runs on plain data (`make test-fast`), tests/integration/
    drives the sandbox, subprocesses or Chromium (`-m integration` / `-m "not integration"`)."""
    for item in items:
        folder = item.path.parent.name
        if folder in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(autouse=True)
def _isolated_okta_sdk_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The okta SDK reads ~/.okta/okta.yaml and OKTA_CLIENT_* by itself: keep the host's out of tests."""
    for key in list(os.environ):
        if key.startswith("OKTA_CLIENT_") or key.startswith("OKTA_TESTING_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        # Attribution paces CloudTrail lookups to 2 per second (as AWS limits them): the tests of
        # attribution ask for it (`attribute=` or their own config); every other scan skips it.
        sb.config_defaults["attribution"] = {"mode": "none"}
        saved = dict(os.environ)
        os.environ.update(sb.environment())
        try:
            yield sb
        finally:
            os.environ.clear()
            os.environ.update(saved)


def scan_sandbox(sb: Sandbox, feds: Sequence[SeededFederation], tmp_path: Path, *,
                 edit: Any = None, remediation: Any = None, progress: Any = None, **options: Any) -> RunOutput:
    """Write a config for the seeded federations (optionally edited) and run a real scan."""
    doc = config_document(sb, feds, reports_dir=str(tmp_path / "reports"))
    if edit is not None:
        edit(doc)
    config = load_config(write_config(tmp_path / "config.yaml", doc))
    return scan(config, ScanOptions(**options), remediation=remediation, progress=progress)


def by_control(out: RunOutput, federation: str) -> dict[str, Finding]:
    """The findings of one federation keyed by control id."""
    return {f.control_id: f for f in out.result.findings if f.federation == federation}
