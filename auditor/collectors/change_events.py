"""Change events for attribution: Okta's System Log and CloudTrail's LookupEvents, read as plain
`ChangeEvent`s (the matching is auditor/evaluate/attribution.py's, without I/O).

Collection of evidence about findings, like the collectors: it never raises for an API failure; a
look-up that is refused or fails is a `LookupFailure` naming the permission or the error, which the
finding carries as a notice (the verdict never changes).

Manners:
- Okta: `GET /api/v1/logs` (listLogEvents) as a *bounded* request (`since` and `until`), so its
  last page has no `next` link, filtered to the app (`target.id eq "<app id>"`), 1,000 events a
  page (the documented maximum); through the same client, rate-limit pacing and retries as the
  Okta collector. Needs the `okta.logs.read` scope (management.yaml) or an admin's API token.
- CloudTrail: `LookupEvents` by event name (one lookup attribute per call is all AWS takes), 50
  events a page, paced to `attribution.cloudtrail_rps` (AWS: "two per second, per account, per
  Region") per credentials and Region, with a margin so that network jitter never puts three
  calls into one second. Needs `cloudtrail:LookupEvents`.
- Each look-up is made once per run (`read` takes the deduplicated plan).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from auditor.collectors.pacing import KeyedLimiters
from auditor.config import Config
from auditor.evaluate.attribution import (
    GLOBAL_REGION,
    ChangeEvent,
    ChangeQuery,
    LookupFailure,
    cloudtrail_event_link,
    okta_event_link,
)

# Okta's documented maximum page of listLogEvents.
OKTA_LOG_PAGE = 1000
# Stop reading one look-up after this many pages (a busy org): the newest are read last for Okta
# (ascending) and first for CloudTrail (newest first); a capped look-up says so.
MAX_PAGES = 20
CLOUDTRAIL_PAGE = 50
# Pace a little under the quota: calls paced exactly 0.5 s apart can arrive closer together.
PACING_MARGIN = 0.9

Results = dict[ChangeQuery, list[ChangeEvent] | LookupFailure]


class ChangeEventReader:
    """Reads the change events a run's attribution needs. Cheap to construct: no I/O until `read`."""

    def __init__(self, config: Config, okta_secret: str | None, *, aws_clients: Any = None) -> None:
        self.config = config
        self._secret = okta_secret
        self._aws_clients = aws_clients
        rate = config.attribution.cloudtrail_rps * PACING_MARGIN
        self._limiters = KeyedLimiters(rate, burst=1)
        self.cloudtrail_calls = 0
        self.okta_calls = 0
        self._lock = threading.Lock()

    def read(self, plan: Mapping[ChangeQuery, datetime], until: datetime) -> Results:
        """Every planned look-up's events (from its window start to `until`), or why not."""
        results: Results = {}
        okta = {q: since for q, since in plan.items() if q.system == "okta"}
        trail = {q: since for q, since in plan.items() if q.system == "cloudtrail"}
        if okta:
            results.update(asyncio.run(self._read_okta(okta, until)))
        if trail:
            with ThreadPoolExecutor(max_workers=4, thread_name_prefix="cloudtrail") as pool:
                for query, found in zip(trail, pool.map(lambda q: self._read_trail(q, trail[q], until), trail),
                                        strict=True):
                    results[query] = found
        return results

    # --- Okta ----------------------------------------------------------------------------------

    async def _read_okta(self, queries: Mapping[ChangeQuery, datetime], until: datetime) -> Results:
        from auditor.collectors.okta import OktaAPI, OktaError, next_link
        from auditor.collectors.pacing import OktaPacer

        results: Results = {}
        org_url = self.config.okta.org_url
        try:
            async with OktaAPI(self.config, self._secret, pacer=OktaPacer(self.config.okta.rate_limit_share)) as api:
                for query, since in queries.items():
                    params = {"since": _okta_time(since), "until": _okta_time(until),
                              "filter": f'target.id eq "{query.key}"', "limit": str(OKTA_LOG_PAGE)}
                    url: str | None = f"/api/v1/logs?{urlencode(params, quote_via=quote)}"
                    events: list[ChangeEvent] = []
                    try:
                        for _ in range(MAX_PAGES):
                            if url is None:
                                break
                            page, response = await api.get(url)
                            self.okta_calls += 1
                            if not isinstance(page, list):
                                raise OktaError(f"GET {url}: expected a JSON list")
                            events += [e for e in (okta_event(item, org_url) for item in page) if e is not None]
                            url = next_link(response.headers.getall("Link", [])) if page else None
                        results[query] = events
                    except OktaError as exc:
                        results[query] = LookupFailure(_okta_problem(exc))
        except Exception as exc:  # the client could not start (token request, config): every look-up says so
            for query in queries:
                results.setdefault(query, LookupFailure(f"Okta System Log: {type(exc).__name__}: {exc}"))
        return results

    # --- CloudTrail ----------------------------------------------------------------------------

    def _trail_client(self, query: ChangeQuery) -> Any:
        from auditor.collectors.aws import AwsClients

        if self._aws_clients is None:
            with self._lock:
                if self._aws_clients is None:
                    self._aws_clients = AwsClients(self.config)
        clients = self._aws_clients
        if query.credentials == "organization":
            profile = self.config.aws.organizations_profile or self.config.aws.profile
            session = clients.session_for(profile=profile)
        else:
            name = query.credentials.removeprefix("federation:")
            fed = next((f for f in self.config.federations if f.name == name), None)
            session = clients.session_for(fed)
        from botocore.config import Config as BotoConfig

        # The pacing keeps this process to the quota; other callers in the account share it, so a
        # throttle is still retried (botocore's standard mode: jittered exponential backoff).
        with self._lock:  # boto3 sessions are not thread-safe when creating clients
            return session.client("cloudtrail", region_name=query.region or GLOBAL_REGION,
                                  endpoint_url=self.config.aws.endpoint_url,
                                  config=BotoConfig(retries={"total_max_attempts": 4, "mode": "standard"},
                                                    user_agent_extra="auditor"))

    def _read_trail(self, query: ChangeQuery, since: datetime, until: datetime) -> list[ChangeEvent] | LookupFailure:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = self._trail_client(query)
            events: list[ChangeEvent] = []
            token: str | None = None
            for _ in range(MAX_PAGES):
                kwargs: dict[str, Any] = {"LookupAttributes": [{"AttributeKey": "EventName",
                                                                "AttributeValue": query.key}],
                                          "StartTime": since, "EndTime": until, "MaxResults": CLOUDTRAIL_PAGE}
                if token:
                    kwargs["NextToken"] = token
                self._limiters.acquire((query.credentials, query.region))
                with self._lock:
                    self.cloudtrail_calls += 1
                answer = client.lookup_events(**kwargs)
                events += [e for e in (trail_event(item, query.region) for item in answer.get("Events", []))
                           if e is not None]
                token = answer.get("NextToken")
                if not token:
                    break
            return events
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "?")
            where = f"{query.credentials.removeprefix('federation:')} credentials, {query.region}"
            if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                return LookupFailure(f"CloudTrail LookupEvents was denied ({where}): the scanner's credentials "
                                     "need cloudtrail:LookupEvents")
            return LookupFailure(f"CloudTrail LookupEvents failed ({where}): {code}: {err.get('Message', '')}")
        except BotoCoreError as exc:
            return LookupFailure(f"CloudTrail LookupEvents failed: {exc}")


def okta_event(item: Any, org_url: str) -> ChangeEvent | None:
    """A System Log LogEvent as a ChangeEvent (None: not a LogEvent)."""
    if not isinstance(item, dict) or not isinstance(item.get("uuid"), str):
        return None
    try:
        when = datetime.fromisoformat(str(item.get("published", "")).replace("Z", "+00:00"))
    except ValueError:
        return None
    actor = item.get("actor") or {}
    client = item.get("client") or {}
    agent = (client.get("userAgent") or {}).get("rawUserAgent") or ""
    targets = tuple(t for t in item.get("target") or [] if isinstance(t, dict))
    return ChangeEvent("okta", item["uuid"], str(item.get("eventType", "")), when.astimezone(UTC),
                       str(actor.get("alternateId") or actor.get("displayName") or actor.get("id") or "unknown"),
                       user_agent=str(agent), source_ip=client.get("ipAddress"), targets=targets,
                       link=okta_event_link(org_url, item["uuid"]))


def trail_event(item: Any, region: str) -> ChangeEvent | None:
    """A LookupEvents Event (with its CloudTrailEvent record) as a ChangeEvent."""
    if not isinstance(item, dict):
        return None
    try:
        record = json.loads(item.get("CloudTrailEvent") or "{}")
    except ValueError:
        record = {}
    identity = record.get("userIdentity") or {}
    when = item.get("EventTime")
    if not isinstance(when, datetime):
        try:
            when = datetime.fromisoformat(str(record.get("eventTime", "")).replace("Z", "+00:00"))
        except ValueError:
            return None
    session = None
    if identity.get("type") == "AssumedRole":
        session = str(identity.get("arn", "")).rsplit("/", 1)[-1] or None
        source_identity = (identity.get("sessionContext") or {}).get("sourceIdentity")
        if source_identity:
            session = f"{session}, source identity {source_identity}"
    event_id = str(item.get("EventId") or record.get("eventID") or "")
    params = record.get("requestParameters")
    return ChangeEvent("cloudtrail", event_id, str(item.get("EventName") or record.get("eventName") or ""),
                       when.astimezone(UTC), str(identity.get("arn") or item.get("Username") or "unknown"),
                       user_agent=str(record.get("userAgent") or ""), source_ip=record.get("sourceIPAddress"),
                       session=session, params=params if isinstance(params, dict) else {},
                       link=cloudtrail_event_link(region, event_id))


def _okta_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _okta_problem(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return (f"Okta refused the System Log ({exc}): the scanner needs the okta.logs.read scope "
                "(or an admin's API token)")
    return f"Okta System Log: {exc}"
