"""Fixtures shared by the integration tests (the session `sandbox` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.sandbox.local_aws import LocalAWS
from auditor.sandbox.scenario import Sandbox


@pytest.fixture(scope="module")
def server(sandbox: Sandbox) -> Iterator[LocalAWS]:
    # One LocalAWS per process (moto's state is global): use the session sandbox's.
    yield sandbox.aws
    sandbox.reset()


@pytest.fixture()
def aws(server: LocalAWS) -> LocalAWS:
    server.reset()
    return server
