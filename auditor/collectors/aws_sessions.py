"""AWS sessions for many accounts: a federation's `aws.role_arn` is assumed through STS.

One boto3 session per (source profile, role, external id), created on first use and kept for
the life of the process, so a scheduler running for months assumes each role once and then only
refreshes it. The credentials are botocore's `DeferredRefreshableCredentials`: nothing is
called until a client signs its first request, and botocore calls AssumeRole again on its own
when the credentials come within 15 minutes of their expiry (10 minutes: mandatory), so a long
scan never signs with expired keys.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

# The STS role session name: `[\w+=,.@-]{2,64}`. CloudTrail in the target account shows it.
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")
# One hour: the default maximum of a role; a role allowing less makes AssumeRole fail loudly.
DEFAULT_DURATION_SECONDS = 3600


def role_session_name(federation: str) -> str:
    """`auditor-<federation>`, cut to STS's 64 characters and its character set."""
    return _SESSION_NAME_BAD.sub("-", f"auditor-{federation}")[:64]


def assume_role_fetcher(sts_client: Callable[[], Any], role_arn: str, *, session_name: str,
                        external_id: str | None = None,
                        duration_seconds: int = DEFAULT_DURATION_SECONDS) -> Callable[[], dict[str, str]]:
    """A `refresh_using` function for botocore: calls AssumeRole, returns credential metadata.

    `sts_client` makes the STS client from the *source* credentials (the default chain or
    `aws.profile`); it is called on every refresh so a rotated source key is picked up.
    """
    def fetch() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name,
                                  "DurationSeconds": duration_seconds}
        if external_id:
            kwargs["ExternalId"] = external_id
        creds = sts_client().assume_role(**kwargs)["Credentials"]
        expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }
    return fetch


def assumed_role_session(source: Any, role_arn: str, *, region: str, session_name: str,
                         external_id: str | None = None, endpoint_url: str | None = None,
                         duration_seconds: int = DEFAULT_DURATION_SECONDS,
                         time_fetcher: Callable[[], datetime] | None = None) -> Any:
    """A boto3 Session whose credentials are `role_arn` assumed from the `source` session.

    `time_fetcher` (botocore's clock for the expiry check) is for tests only.
    """
    import boto3
    import botocore.session
    from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials

    def sts() -> Any:
        return source.client("sts", region_name=region, endpoint_url=endpoint_url)

    fetch = assume_role_fetcher(sts, role_arn, session_name=session_name, external_id=external_id,
                                duration_seconds=duration_seconds)
    extra: dict[str, Any] = {"time_fetcher": time_fetcher} if time_fetcher else {}
    credentials = DeferredRefreshableCredentials(refresh_using=fetch, method="assume-role", **extra)

    class _AssumedRole(CredentialProvider):
        METHOD = "assume-role"

        def load(self) -> Any:
            return credentials

    core = botocore.session.Session()
    share_loader(core)
    # First in the chain: this session must never fall back to the source's own credentials.
    core.get_component("credential_provider").insert_before("env", _AssumedRole())
    return boto3.session.Session(botocore_session=core, region_name=region)


_LOADER_LOCK = threading.Lock()
_LOADER: Any = None


def share_loader(core: Any) -> Any:
    """Give a botocore session the process's one data loader, and return the session.

    Each botocore session otherwise parses the service models (JSON, megabytes for Connect and
    IAM) again for its first client: with a session per account that is ~0.4 s of CPU and tens
    of MB per account. The loader only reads files and caches them; sharing it is safe.
    """
    global _LOADER
    from botocore.loaders import create_loader

    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = create_loader()
        core.register_component("data_loader", _LOADER)
    return core


class SessionCache:
    """Sessions keyed by (profile, role, external id); thread-safe for concurrent collectors."""

    def __init__(self, make_source: Callable[[str | None], Any], *, endpoint_url: str | None) -> None:
        self._make_source = make_source
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str | None, str | None, str | None], Any] = {}

    def get(self, *, profile: str | None, role_arn: str | None, external_id: str | None, region: str,
            federation: str) -> Any:
        """The session for these credentials; the same object on every call.

        The session name is that of the first federation to use the role; the key deliberately
        leaves it (and the region: clients name theirs) out so that federations sharing an
        account share one assumed session.
        """
        key = (profile, role_arn, external_id)
        with self._lock:
            if key not in self._sessions:
                source = self._make_source(profile)
                self._sessions[key] = source if role_arn is None else assumed_role_session(
                    source, role_arn, region=region, session_name=role_session_name(federation),
                    external_id=external_id, endpoint_url=self._endpoint_url)
            return self._sessions[key]
