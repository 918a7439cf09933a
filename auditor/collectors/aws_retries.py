"""Fail fast when AWS cannot be reached, while throttling keeps its full retries.

botocore's standard and adaptive modes retry a refused or timed-out *connection* as often as a
throttled call (6 attempts with exponential backoff): against an unreachable endpoint that is
~15 s per call and ~45 s per scan, for an answer that will not change. A connection that cannot
be made is tried `CONNECT_ATTEMPTS` times; anything else (throttling, 5xx, a connection dropped
mid-response) keeps botocore's policy untouched.
"""

from __future__ import annotations

from typing import Any

CONNECT_ATTEMPTS = 2
CONNECT_TIMEOUT_S = 5


def fail_fast_when_unreachable(client: Any, attempts: int = CONNECT_ATTEMPTS) -> Any:
    """Register, ahead of botocore's retry handler, a check that gives up on an endpoint that
    refused (or timed out) `attempts` connections in a row for one call. Returns the client."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    service = client.meta.service_model.service_id.hyphenize()

    def give_up(**kwargs: Any) -> None:
        caught = kwargs.get("caught_exception")
        if isinstance(caught, (EndpointConnectionError, ConnectTimeoutError)) and kwargs.get("attempts", 0) >= attempts:
            raise caught  # out of botocore's retry loop: the call fails with this error now
        return None  # no opinion: botocore's own handler decides

    client.meta.events.register_first(f"needs-retry.{service}", give_up, unique_id=f"auditor-fail-fast-{service}")
    return client
