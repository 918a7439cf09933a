"""A local Okta simulator: the subset of Okta's management API this project uses, with Okta's rules.

It serves, on 127.0.0.1 and a free port, from an aiohttp app on a background thread:

- ``/api/v1/apps`` (custom SAML 2.0 apps: list/create/get/replace/delete, lifecycle),
  ``/api/v1/apps/{id}/users`` and ``/groups`` (assignments), ``/api/v1/users``,
  ``/api/v1/groups`` (enough to seed state through the API);
- SAML IdP metadata at the forms Okta documents only: public at the app's "Metadata URL" of its
  Sign On tab, ``/app/{externalKey}/sso/saml/metadata`` and ``/app/{name}/{externalKey}/sso/saml/metadata``,
  and authenticated at ``/api/v1/apps/{id}/sso/saml/metadata`` (previewSAMLmetadataForApplication);
  ``/app/{appId}/sso/saml/metadata`` (the ``0oa...`` id) is not one of them and is 404;
- ``/api/v1/apps/{id}/credentials/keys`` and ``.../keys/{kid}``: the app's signing keys (JsonWebKey);
- ``/oauth2/v1/token`` (client credentials with ``private_key_jwt``).

Okta behaviour reproduced, with the source each rule follows:

- Auth: ``Authorization: SSWS <token>`` (note the space) or ``Bearer <access token>``; anything
  else is 401 E0000011. The okta SDK's generated methods send ``SSWS<token>`` without the space;
  that is deliberately refused here so the scanner must send the documented form.
- Errors carry ``errorCode``, ``errorSummary``, ``errorLink``, ``errorId``, ``errorCauses``
  (https://developer.okta.com/docs/reference/error-codes/): E0000001 validation (400),
  E0000003 malformed body (400), E0000006 forbidden (403), E0000007 not found (404),
  E0000011 invalid token (401), E0000022 method not supported (405), E0000047 rate limit (429),
  E0000056 delete of an active app (400), E0000009 internal error (500).
- Pagination with an opaque ``after`` cursor and two ``Link`` headers, ``rel="self"`` first and
  ``rel="next"`` second; no next link on the last page (Okta support article
  "Pagination Overview", https://support.okta.com/help/s/article/Pagination-Overview, and the
  design-principles page it cites). A ``limit`` above the maximum is clamped.
- Every response carries ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset`` (UTC epoch seconds)
  for its bucket (https://developer.okta.com/docs/reference/rl-best-practices/); over the
  limit is 429 E0000047.
  Buckets are those of Okta's management rate limits page
  (https://developer.okta.com/docs/reference/rl-global-mgmt/): ``/api/v1/apps`` counts the list
  "and all other endpoints of the form /api/v1/apps/* including /api/v1/apps/{id}/*" (an app's
  users, groups, metadata and keys share it), ``/api/v1/apps/{id}`` only the explicit item;
  ``/api/v1/groups`` all but ``/api/v1/groups/{id}``; ``/api/v1/users`` the collection,
  ``/api/v1/users/{id}`` the item; ``/api/v1/logs`` its own; "most other API actions" one
  ``/api/v1`` bucket (see :func:`okta_rate_limit_bucket`).
- A PUT of an app replaces it: settings left out of the body fall back to their defaults,
  which is why callers must read-modify-write the whole object.
- App users include those assigned through a group, with ``scope: "GROUP"``.
- Metadata: ``entityID`` is ``settings.signOn.idpIssuer`` with ``${org.externalKey}`` resolved
  (default ``http://www.okta.com/<externalKey>``), SSO endpoints at
  ``/app/<app name>/<externalKey>/sso/saml`` (the example of operation
  previewSAMLmetadataForApplication in management.yaml). The authenticated form answers
  ``text/xml`` (its only response type in management.yaml) and refuses a request whose ``Accept``
  admits no XML with 400 E0000019, as Okta does (okta/okta-sdk-golang#446,
  okta/okta-sdk-java#1635: "Accept and/or Content-Type headers likely do not match supported
  values"). The public forms are the "Metadata URL" an admin copies from the app's Sign On tab
  (https://developer.okta.com/docs/guides/build-sso-integration/saml2/main/, "Identity Provider
  metadata" link; https://saml-doc.okta.com/SAML_Docs/How-to-Configure-SAML-2.0-Template-self.html,
  "Sign on methods > SAML 2.0 > Metadata details > Metadata URL"), of the form
  ``{org}/app/{externalKey}/sso/saml/metadata``; ``{org}/app/{name}/{externalKey}/...`` is the same
  document beside the app's SSO URL ``/app/{name}/{externalKey}/sso/saml``.
- Signing keys: an app keeps every key it had (a rollover adds one and points
  ``credentials.signing.kid`` at it; Okta's "Rotate the SAML signing certificate" procedure), and
  ``GET /api/v1/apps/{id}/credentials/keys`` lists them as JsonWebKey (``x5c``, ``expiresAt``,
  ``x5t#S256``; listApplicationKeys in management.yaml).

- System Log: every write the simulator serves (app create/update/activate/deactivate/delete,
  user and group assignments) records a LogEvent of the documented shape (LogEvent in
  management.yaml: uuid, published, eventType, version, severity, displayMessage, actor, client,
  outcome, target, transaction) under the event type Okta's catalogue names for it
  (https://developer.okta.com/docs/reference/api/event-types/): application.lifecycle.create,
  .update, .activate, .deactivate, .delete; application.user_membership.add, .remove;
  group.application_assignment.add, .update, .remove. The actor is the admin an API token
  belongs to ("An API token is issued for a specific user. All requests made with the token act
  on behalf of the user": https://help.okta.com/en-us/Content/Topics/security/api.htm) or, with OAuth 2.0, the
  service app (the Actor object: "the user, app, client, or other entity");
  ``client.userAgent.rawUserAgent`` is the request's User-Agent and ``client.ipAddress`` its
  address. ``GET /api/v1/logs`` (listLogEvents, scope okta.logs.read) serves them with the
  parameters the System Log API documents (okta-developer-docs, reference/api/system-log):
  ``since`` (default 7 days before ``until``), ``until`` (default now), ``filter`` (SCIM
  expressions ``attr eq|ne|sw|co|ew "value"`` joined by ``and``; an unknown operator or attribute
  is 400 E0000053), ``q`` (every keyword must match exactly, case-insensitive; more than 40
  characters in a keyword is 400 E0000001), ``limit`` (0..1000, default 100), ``sortOrder``
  (ASCENDING by ``published``, or DESCENDING) and an opaque ``after`` cursor in the ``next``
  link; ``since`` with ``after`` is refused. A bounded request (``since`` and ``until``) has a
  last page without a ``next`` link; a polling request (no ``until``, ascending) always has one,
  even when the page is empty.

Knobs a real Okta does not have (latency, rate limits, injected faults, certificate validity)
are Python methods; they run on the server's loop, which is the only place state is touched.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import secrets
import string
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from xml.sax.saxutils import escape, quoteattr

import jwt
from aiohttp import web
from jwt.algorithms import RSAAlgorithm

from auditor.sandbox import certs

T = TypeVar("T")

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ALNUM = string.ascii_letters + string.digits
DEFAULT_RATE_LIMIT = 10_000  # effectively unlimited unless set_rate_limit is called
DEFAULT_RATE_WINDOW_S = 60.0

_ITEM = r"/[^/]+"


def okta_rate_limit_bucket(path: str) -> str:
    """The rate-limit bucket Okta counts a request path in, after the management rate limits page
    (https://developer.okta.com/docs/reference/rl-global-mgmt/):

    - "Create, list, or other app actions: Calls to the /api/v1/apps endpoint and all other
      endpoints of the form /api/v1/apps/* including /api/v1/apps/{id}/*" -> ``/api/v1/apps``;
    - "Get, update, or delete an app by ID: Explicit calls to the app instance: /api/v1/apps/{id}"
      -> ``/api/v1/apps/{id}``;
    - "/api/v1/groups except /api/v1/groups/{id}" -> ``/api/v1/groups``; "/api/v1/groups/{id}
      only" -> ``/api/v1/groups/{id}``;
    - "/api/v1/users" (create or list) and "/api/v1/users/{id}" (one user) -> those two;
    - "/api/v1/logs" -> its own; "Most other API actions: /api/v1" -> ``/api/v1``.

    Outside ``/api/v1`` (``/oauth2/...``, the public ``/app/...`` metadata, which the page does not
    list) each endpoint template is a bucket of its own.
    """
    if re.fullmatch(rf"/api/v1/apps{_ITEM}", path):
        return "/api/v1/apps/{id}"
    if path == "/api/v1/apps" or path.startswith("/api/v1/apps/"):
        return "/api/v1/apps"
    if re.fullmatch(rf"/api/v1/groups{_ITEM}", path):
        return "/api/v1/groups/{id}"
    if path == "/api/v1/groups" or path.startswith("/api/v1/groups/"):
        return "/api/v1/groups"
    if path == "/api/v1/users":
        return "/api/v1/users"
    if re.fullmatch(rf"/api/v1/users{_ITEM}", path):
        return "/api/v1/users/{id}"
    if path == "/api/v1/logs":
        return "/api/v1/logs"
    if path.startswith("/api/v1/"):
        return "/api/v1"
    return re.sub(r"^/app/.+/sso/saml/metadata$", "/app/{app}/sso/saml/metadata", path)
TIMEOUT_FAULT_HOLD_S = 30.0
ACCESS_TOKEN_TTL_S = 3600
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
IDP_ISSUER_TEMPLATE = "http://www.okta.com/${org.externalKey}"
# Who made the request (the System Log's actor), set by _authorize.
_ACTOR = web.RequestKey("okta_actor", dict)
FAULT_KINDS = ("status", "timeout", "reset", "garbage", "truncated")

# (collection path prefix, default limit, max limit) for the paginated lists.
APPS_PAGE = (20, 200)
APP_USERS_PAGE = (50, 500)
APP_GROUPS_PAGE = (20, 200)
USERS_PAGE = (200, 200)
GROUPS_PAGE = (10_000, 10_000)

_ERROR_CODE_FOR_STATUS = {
    400: ("E0000001", "Api validation failed"),
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
    405: ("E0000022", "The endpoint does not support the provided HTTP method"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
}


def _rand(prefix: str, n: int = 17) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


def okta_timestamp(moment: datetime | None = None) -> str:
    """Okta's timestamp format: ``2026-11-28T08:00:00.000Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class OktaApiError(Exception):
    """Raised inside a handler; turned into an Okta error body by the middleware."""

    def __init__(
        self,
        status: int,
        error_code: str,
        summary: str,
        causes: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(summary)
        self.status = status
        self.error_code = error_code
        self.summary = summary
        self.causes = causes or []
        self.headers = headers or {}


def _not_found(resource_id: str, kind: str) -> OktaApiError:
    return OktaApiError(404, "E0000007", f"Not found: Resource not found: {resource_id} ({kind})")


def _validation(causes: list[str]) -> OktaApiError:
    return OktaApiError(400, "E0000001", "Api validation failed: " + ", ".join(
        c.split(":", 1)[0] for c in causes), causes)


def error_body(error_code: str, summary: str, causes: list[str] | None = None) -> JSON:
    """An Okta error document."""
    return {
        "errorCode": error_code,
        "errorSummary": summary,
        "errorLink": error_code,
        "errorId": _rand("oae", 22),
        "errorCauses": [{"errorSummary": c} for c in (causes or [])],
    }


def _json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received (for tests)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    kind: str
    status: int
    remaining: int
    method: str | None = None  # None: any method
    rate_limit_headers: bool = True  # False: a 429/5xx without X-Rate-Limit-* (a proxy's answer)


@dataclass
class _Bucket:
    limit: int
    window_s: float
    window_start: float = 0.0
    used: int = 0


@dataclass
class _SigningKey:
    kid: str
    private_key_pem: bytes
    cert_der: bytes
    created: str


@dataclass
class _App:
    seq: int
    data: JSON
    external_key: str
    key: _SigningKey  # the active one (credentials.signing.kid)
    keys: list[_SigningKey] = field(default_factory=list)  # every key the app has had, oldest first

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys.append(self.key)


@dataclass(frozen=True)
class TokenOwner:
    """The admin an SSWS API token belongs to: the System Log names them as the actor."""

    id: str
    login: str
    display_name: str


@dataclass
class _ServiceApp:
    client_id: str
    public_jwk: JSON
    scopes: frozenset[str]


@dataclass
class _AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class _State:
    seq: int = 0
    apps: dict[str, _App] = field(default_factory=dict)
    users: dict[str, JSON] = field(default_factory=dict)
    user_seq: dict[str, int] = field(default_factory=dict)
    groups: dict[str, JSON] = field(default_factory=dict)
    group_seq: dict[str, int] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)  # group id -> user ids
    app_users: dict[str, dict[str, JSON]] = field(default_factory=dict)  # app -> user -> record
    app_groups: dict[str, dict[str, JSON]] = field(default_factory=dict)  # app -> group -> record
    service_apps: dict[str, _ServiceApp] = field(default_factory=dict)
    tokens: dict[str, _AccessToken] = field(default_factory=dict)
    used_jti: set[str] = field(default_factory=set)
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    configured_buckets: dict[str, _Bucket] = field(default_factory=dict)
    template_buckets: dict[str, _Bucket] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    latency_ms: float = 0.0
    app_names: set[str] = field(default_factory=set)
    # The System Log, oldest first, and the admins API tokens belong to (token -> owner).
    logs: list[JSON] = field(default_factory=list)
    token_owners: dict[str, TokenOwner] = field(default_factory=dict)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", label.lower()) or "app"


def _default_sign_on() -> JSON:
    # The values Okta gives a new custom SAML 2.0 app (App Integration Wizard defaults).
    return {
        "defaultRelayState": "",
        "idpIssuer": IDP_ISSUER_TEMPLATE,
        "subjectNameIdTemplate": "${user.userName}",
        "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        "responseSigned": True,
        "assertionSigned": True,
        "signatureAlgorithm": "RSA_SHA256",
        "digestAlgorithm": "SHA256",
        "honorForceAuthn": True,
        "authnContextClassRef": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "requestCompressed": False,
        "allowMultipleAcsEndpoints": False,
        "acsEndpoints": [],
        "samlSignedRequestEnabled": False,
        "attributeStatements": [],
        "inlineHooks": [],
        "slo": {"enabled": False},
        "participateSlo": {"enabled": False},
    }


class OktaSimulator:
    """The local Okta org. Construct, `start()` (returns the base URL), use, `stop()`."""

    def __init__(
        self, *, api_token: str = "sandbox-api-token", latency_ms: float = 0.0, org_name: str = "sandbox"
    ) -> None:
        self.org_name = org_name
        self.url = ""
        self.requests: list[RecordedRequest] = []
        # (bucket, path) of every request answered 429 for its bucket's limit (for tests and benchmarks).
        self.rate_limited: list[tuple[str, str]] = []
        self._state = _State(latency_ms=latency_ms)
        self._api_token = api_token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._state.token_owners[api_token] = TokenOwner(
            _rand("00u"), f"admin@{org_name}.example.com", "Sandbox Admin")

    @property
    def api_token(self) -> str:
        """The org admin's API token (SSWS). Assigning another rotates it: the old one stops
        working, as a revoked token does, and the new one acts as the same admin. A test knob
        standing in for the Admin Console (Security > API > Tokens), which the API does not
        cover; README "How the sandbox differs" lists it."""
        return self._api_token

    @api_token.setter
    def api_token(self, token: str) -> None:
        owner = self._state.token_owners.pop(self._api_token, None)
        self._api_token = token
        self._state.token_owners[token] = owner or TokenOwner(
            _rand("00u"), f"admin@{self.org_name}.example.com", "Sandbox Admin")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving on 127.0.0.1 (free port); returns the base URL."""
        if self._thread is not None:
            return self.url
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="okta-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=15):
            raise RuntimeError("Okta simulator did not start within 15 s")
        if self._startup_error is not None:
            raise RuntimeError(f"Okta simulator failed to start: {self._startup_error}")
        return self.url

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_site(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=2 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop serving; releases requests held by a "timeout" fault. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._stopping is not None:
                self._stopping.set()
            if self._runner is not None:
                await self._runner.cleanup()

        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OktaSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` where state lives: on the server loop once started, inline before."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    # -- knobs (a sandbox has them; a real Okta does not) -----------------------------------

    def set_latency(self, ms: float) -> None:
        """Delay every response by `ms` milliseconds."""

        def apply() -> None:
            self._state.latency_ms = max(0.0, float(ms))

        self._on_loop(apply)

    def set_rate_limit(self, bucket_prefix: str, limit: int, window_s: float = 60.0) -> None:
        """Limit requests whose path starts with `bucket_prefix` (one shared counter; the longest
        configured prefix wins) to `limit` per `window_s` seconds."""
        if limit < 0 or window_s <= 0:
            raise ValueError("limit must be >= 0 and window_s > 0")

        def apply() -> None:
            self._state.configured_buckets[bucket_prefix] = _Bucket(limit=limit, window_s=window_s)

        self._on_loop(apply)

    def set_template_rate_limit(self, template: str, limit: int, window_s: float = 60.0) -> None:
        """Limit one of Okta's buckets (a name :func:`okta_rate_limit_bucket` gives): `/api/v1/apps`
        (the list and every `/api/v1/apps/{id}/...` sub-resource), `/api/v1/apps/{id}` (the item
        only), `/api/v1/groups`, `/api/v1/logs`, `/api/v1`, ... Template limits win over
        `set_rate_limit` prefixes."""
        if limit < 0 or window_s <= 0:
            raise ValueError("limit must be >= 0 and window_s > 0")

        def apply() -> None:
            self._state.template_buckets[template] = _Bucket(limit=limit, window_s=window_s)

        self._on_loop(apply)

    def inject_fault(
        self, path_regex: str, *, status: int | None = None, times: int = 1, kind: str = "status",
        method: str | None = None, rate_limit_headers: bool = True,
    ) -> None:
        """Make the next `times` requests whose path matches `path_regex` (re.search) fail.

        `method` limits the fault to one HTTP method (e.g. only the PUT of an app, not its GET).
        `rate_limit_headers=False` leaves out the `X-Rate-Limit-*` headers (a 429 or 503 from a
        proxy in front of Okta carries none, so a client cannot know when to come back).

        kind: "status" (that status, default 500, with an Okta error body), "timeout" (hold the
        request 30 s or until stop), "reset" (close the connection without a response),
        "garbage" (200 with a non-JSON body), "truncated" (200 with half of the real JSON body).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        fault = _Fault(re.compile(path_regex), kind, status or 500, times, method.upper() if method else None,
                       rate_limit_headers)
        self._on_loop(lambda: self._state.faults.append(fault))

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        self._on_loop(self._state.faults.clear)

    def add_api_token(self, token: str, *, login: str, display_name: str) -> None:
        """Another admin's SSWS API token: what it changes is logged with that admin as the actor
        (an API token acts as, and is logged as, the admin who created it)."""
        owner = TokenOwner(_rand("00u"), login, display_name)
        self._on_loop(lambda: self._state.token_owners.__setitem__(token, owner))

    def log_events(self) -> list[JSON]:
        """A copy of the System Log, oldest first (for tests; the scanner reads /api/v1/logs)."""
        return self._on_loop(lambda: json.loads(json.dumps(self._state.logs)))

    def register_service_app(self, client_id: str, public_jwk: dict[str, Any], scopes: list[str]) -> None:
        """An OAuth 2.0 service app that authenticates with `private_key_jwt` and may be granted
        `scopes` (e.g. okta.apps.read)."""
        RSAAlgorithm.from_jwk(json.dumps(public_jwk))  # fail fast on a bad key
        app = _ServiceApp(client_id, dict(public_jwk), frozenset(scopes))
        self._on_loop(lambda: self._state.service_apps.__setitem__(client_id, app))

    def set_app_certificate_validity(self, app_id: str, not_before: datetime, not_after: datetime) -> None:
        """Give the app a new signing key and certificate valid from `not_before` to `not_after`.

        Okta's API cannot mint a certificate that expires in ten days (it generates keys valid
        for years); this knob exists so the demo can show the "certificate expires soon" drift.
        """

        def apply() -> None:
            app = self._state.apps.get(app_id)
            if app is None:
                raise KeyError(f"no app {app_id}")
            app.key = self._new_signing_key(not_before, not_after)
            app.keys.append(app.key)  # the old key stays listed, as after an Okta rollover
            app.data.setdefault("credentials", {}).setdefault("signing", {})["kid"] = app.key.kid
            app.data["lastUpdated"] = okta_timestamp()

        self._on_loop(apply)

    # -- seeding helpers for tests (go through the same code as the HTTP API) ---------------

    def app_signing_certificate(self, app_id: str) -> bytes:
        """The DER of the app's current signing certificate."""
        return self._on_loop(lambda: self._get_app(app_id).key.cert_der)

    def app_external_key(self, app_id: str) -> str:
        """The app's externalKey (the tail of its entity id)."""
        return self._on_loop(lambda: self._get_app(app_id).external_key)

    # -- plumbing --------------------------------------------------------------------------

    def _new_signing_key(
        self, not_before: datetime | None = None, not_after: datetime | None = None
    ) -> _SigningKey:
        now = datetime.now(UTC)
        nb = not_before or (now - timedelta(minutes=1))
        na = not_after or (now + timedelta(days=3652))  # Okta's app certs are valid for ten years
        key_pem, der = certs.make_self_signed(self.org_name, nb, na)
        return _SigningKey(kid=secrets.token_urlsafe(32), private_key_pem=key_pem, cert_der=der,
                           created=okta_timestamp(now))

    def _base(self, request: web.Request) -> str:
        return self.url or f"{request.scheme}://{request.host}"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        st = self._state
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), dict(request.headers))
        )
        if st.latency_ms > 0:
            await asyncio.sleep(st.latency_ms / 1000.0)

        fault = self._take_fault(request.method, request.path)
        bucket_headers, limited = self._count_request(request.path)
        try:
            if fault is not None and fault.kind != "truncated":
                return await self._apply_fault(request, fault, bucket_headers)
            if limited:
                raise OktaApiError(429, "E0000047", _ERROR_CODE_FOR_STATUS[429][1])
            if request.path.startswith("/api/"):
                self._authorize(request)
            response = await handler(request)
        except OktaApiError as exc:
            response = _json_response(error_body(exc.error_code, exc.summary, exc.causes), exc.status)
            response.headers.update(exc.headers)
        except web.HTTPException as exc:
            code, summary = _ERROR_CODE_FOR_STATUS.get(exc.status, ("E0000009", "Internal Server Error"))
            if exc.status == 404:
                summary = f"Not found: Resource not found: {request.path}"
            response = _json_response(error_body(code, summary), exc.status)
        if request.path.startswith(("/api/", "/oauth2/", "/app/")) and (fault is None or fault.rate_limit_headers):
            response.headers.update(bucket_headers)
        if fault is not None and fault.kind == "truncated" and isinstance(response, web.Response):
            body = response.body if isinstance(response.body, bytes) else b""
            response.body = body[: max(1, len(body) // 2)]
            response.set_status(200)
        return response

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._state.faults:
            if fault.pattern.search(path) and fault.method in (None, method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._state.faults.remove(fault)
                return fault
        return None

    async def _apply_fault(
        self, request: web.Request, fault: _Fault, headers: dict[str, str]
    ) -> web.StreamResponse:
        if fault.kind == "status":
            code, summary = _ERROR_CODE_FOR_STATUS.get(fault.status, ("E0000009", "Internal Server Error"))
            response = _json_response(error_body(code, summary), fault.status)
            if fault.rate_limit_headers:
                response.headers.update(headers)
            return response
        if fault.kind == "garbage":
            return web.Response(body=b"<html><body>upstream error</body></html>", status=200,
                                content_type="application/json")
        if fault.kind == "timeout":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TIMEOUT_FAULT_HOLD_S)
        # "reset", and a "timeout" that has been held long enough: drop the connection.
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()

    def _bucket_for(self, path: str) -> tuple[str, _Bucket]:
        st = self._state
        name = okta_rate_limit_bucket(path)
        if name in st.template_buckets:
            return name, st.template_buckets[name]
        best = max((p for p in st.configured_buckets if path.startswith(p)), key=len, default=None)
        if best is not None:
            return best, st.configured_buckets[best]
        bucket = st.buckets.get(name)
        if bucket is None:
            bucket = st.buckets[name] = _Bucket(DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW_S)
        return name, bucket

    def _count_request(self, path: str) -> tuple[dict[str, str], bool]:
        name, bucket = self._bucket_for(path)
        now = time.time()
        if now - bucket.window_start >= bucket.window_s:
            bucket.window_start, bucket.used = now, 0
        bucket.used += 1
        limited = bucket.used > bucket.limit
        if limited:
            self.rate_limited.append((name, path))
        headers = {
            "X-Rate-Limit-Limit": str(bucket.limit),
            "X-Rate-Limit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "X-Rate-Limit-Reset": str(math.ceil(bucket.window_start + bucket.window_s)),
        }
        return headers, limited

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        owner = self._state.token_owners.get(header[len("SSWS "):]) if header.startswith("SSWS ") else None
        if owner is not None:
            request[_ACTOR] = {"id": owner.id, "type": "User", "alternateId": owner.login,
                                     "displayName": owner.display_name}
            return
        if header.startswith("Bearer "):
            token = self._state.tokens.get(header[len("Bearer "):])
            if token is not None and token.expires_at > time.time():
                needed = self._required_scopes(request)
                if needed and not (needed & token.scopes):
                    raise OktaApiError(403, "E0000006", _ERROR_CODE_FOR_STATUS[403][1])
                # An OAuth 2.0 service app acts as itself (the System Log's Actor object names
                # "the user, app, client, or other entity" that performs the action).
                request[_ACTOR] = {"id": token.client_id, "type": "PublicClientApp",
                                         "alternateId": token.client_id, "displayName": token.client_id}
                return
        raise OktaApiError(401, "E0000011", "Invalid token provided")

    @staticmethod
    def _required_scopes(request: web.Request) -> set[str]:
        # Every GET is allowed with the resource's .read scope (or its .manage), writes need
        # .manage: the oauth2 scopes management.yaml (5.1.0) lists for the operations the scanner
        # and its fixes call, previewSAMLmetadataForApplication's okta.apps.read included (a test
        # checks the scan's requests against the file).
        match = re.match(r"^/api/v1/(apps|users|groups|logs)(?:/|$)", request.path)
        if match is None:
            return set()
        resource = match.group(1)
        if resource == "logs":  # listLogEvents: security oauth2 okta.logs.read (management.yaml)
            return {"okta.logs.read"}
        manage = f"okta.{resource}.manage"
        if request.method in ("GET", "HEAD"):
            return {f"okta.{resource}.read", manage}
        return {manage}

    # -- routes ----------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/oauth2/v1/token", self._token)
        r.add_get("/api/v1/apps", self._list_apps)
        r.add_post("/api/v1/apps", self._create_app)
        r.add_get("/api/v1/apps/{appId}", self._get_app_h)
        r.add_put("/api/v1/apps/{appId}", self._replace_app)
        r.add_delete("/api/v1/apps/{appId}", self._delete_app)
        r.add_post("/api/v1/apps/{appId}/lifecycle/activate", self._activate_app)
        r.add_post("/api/v1/apps/{appId}/lifecycle/deactivate", self._deactivate_app)
        r.add_get("/api/v1/apps/{appId}/sso/saml/metadata", self._api_metadata)
        r.add_get("/api/v1/apps/{appId}/credentials/keys", self._list_keys)
        r.add_get("/api/v1/apps/{appId}/credentials/keys/{keyId}", self._get_key)
        r.add_get("/api/v1/apps/{appId}/users", self._list_app_users)
        r.add_post("/api/v1/apps/{appId}/users", self._assign_user)
        r.add_get("/api/v1/apps/{appId}/users/{userId}", self._get_app_user)
        r.add_delete("/api/v1/apps/{appId}/users/{userId}", self._unassign_user)
        r.add_get("/api/v1/apps/{appId}/groups", self._list_app_groups)
        r.add_get("/api/v1/apps/{appId}/groups/{groupId}", self._get_app_group)
        r.add_put("/api/v1/apps/{appId}/groups/{groupId}", self._assign_group)
        r.add_delete("/api/v1/apps/{appId}/groups/{groupId}", self._unassign_group)
        r.add_get("/api/v1/users", self._list_users)
        r.add_post("/api/v1/users", self._create_user)
        r.add_get("/api/v1/users/{userId}", self._get_user_h)
        r.add_get("/api/v1/groups", self._list_groups)
        r.add_post("/api/v1/groups", self._create_group)
        r.add_get("/api/v1/groups/{groupId}", self._get_group_h)
        r.add_get("/api/v1/groups/{groupId}/users", self._list_group_users)
        r.add_put("/api/v1/groups/{groupId}/users/{userId}", self._add_member)
        r.add_delete("/api/v1/groups/{groupId}/users/{userId}", self._remove_member)
        r.add_get("/api/v1/logs", self._list_logs)
        r.add_get("/app/{appKey}/sso/saml/metadata", self._public_metadata)
        r.add_get("/app/{appName}/{appKey}/sso/saml/metadata", self._public_metadata)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _json_body(request: web.Request, *, optional: bool = False) -> JSON:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return {}
            raise OktaApiError(400, "E0000003", "The request body was not well-formed.")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise OktaApiError(400, "E0000003", "The request body was not well-formed.") from exc
        if not isinstance(data, dict):
            raise OktaApiError(400, "E0000003", "The request body was not well-formed.")
        return data

    @staticmethod
    def _bool_param(request: web.Request, name: str, default: bool) -> bool:
        value = request.query.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _validation([f"{name}: must be true or false"])

    def _page(
        self, request: web.Request, items: list[tuple[str, JSON]], limits: tuple[int, int]
    ) -> web.Response:
        """One page of `items` ((cursor id, json) in order) with Okta's Link headers."""
        default, maximum = limits
        raw_limit = request.query.get("limit")
        limit = default
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError as exc:
                raise _validation(["limit: must be an integer"]) from exc
            limit = default if limit <= 0 else min(limit, maximum)
        start = 0
        after = request.query.get("after")
        if after:
            ids = [i for i, _ in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        page = items[start : start + limit]
        response = _json_response([j for _, j in page])
        base = self._base(request) + request.path
        self_query = dict(request.query)
        response.headers.add("Link", f'<{base}?{urllib.parse.urlencode(self_query)}>; rel="self"'
                             if self_query else f'<{base}>; rel="self"')
        if start + limit < len(items) and page:
            # Okta's order: the cursor first, then the limit, then the caller's other parameters.
            next_query = {"after": page[-1][0], "limit": str(limit)}
            next_query.update((k, v) for k, v in request.query.items() if k not in next_query)
            response.headers.add("Link", f'<{base}?{urllib.parse.urlencode(next_query)}>; rel="next"')
        return response

    def _get_app(self, app_id: str) -> _App:
        app = self._state.apps.get(app_id)
        if app is None:
            raise _not_found(app_id, "AppInstance")
        return app

    def _get_user(self, id_or_login: str) -> JSON:
        user = self._state.users.get(id_or_login)
        if user is not None:
            return user
        for candidate in self._state.users.values():
            if candidate["profile"].get("login", "").lower() == id_or_login.lower():
                return candidate
        raise _not_found(id_or_login, "User")

    def _get_group(self, group_id: str) -> JSON:
        group = self._state.groups.get(group_id)
        if group is None:
            raise _not_found(group_id, "UserGroup")
        return group

    # -- OAuth 2.0 ---------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()

        def oauth_error(status: int, error: str, description: str) -> web.Response:
            return _json_response({"error": error, "error_description": description}, status)

        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type",
                               "The authorization grant type is not supported by the authorization server.")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
            return oauth_error(
                401, "invalid_client",
                "Client authentication failed: a private_key_jwt client assertion is required.",
            )
        assertion = str(form["client_assertion"])
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return oauth_error(401, "invalid_client", "The client_assertion token is malformed.")
        client_id = str(unverified.get("iss", ""))
        service = self._state.service_apps.get(client_id)
        if service is None:
            return oauth_error(401, "invalid_client", "The client_id provided is invalid.")
        audience = self._base(request) + "/oauth2/v1/token"
        try:
            key = RSAAlgorithm.from_jwk(json.dumps(service.public_jwk))
            claims = jwt.decode(
                assertion, key=key, algorithms=["RS256"], audience=audience, issuer=client_id,  # type: ignore[arg-type]
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return oauth_error(401, "invalid_client", f"The client_assertion token is invalid: {exc}")
        if claims.get("sub") != client_id:
            return oauth_error(401, "invalid_client", "The client_assertion token's sub must equal its iss.")
        jti = claims.get("jti")
        if jti is not None:
            if jti in self._state.used_jti:
                return oauth_error(401, "invalid_client", "The client_assertion token has already been used.")
            self._state.used_jti.add(str(jti))
        requested = set(str(form.get("scope", "")).split())
        if not requested:
            return oauth_error(400, "invalid_scope", "The 'scope' parameter is required.")
        denied = sorted(requested - service.scopes)
        if denied:
            return oauth_error(400, "invalid_scope",
                               "The following scopes are not allowed: " + ", ".join(denied))
        access_token = secrets.token_urlsafe(32)
        self._state.tokens[access_token] = _AccessToken(
            client_id, frozenset(requested), time.time() + ACCESS_TOKEN_TTL_S
        )
        return _json_response({
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "access_token": access_token,
            "scope": " ".join(sorted(requested)),
        })

    # -- apps ---------------------------------------------------------------------------------

    def _app_links(self, app: _App) -> JSON:
        base = self.url
        app_id, name = app.data["id"], app.data["name"]
        links: JSON = {
            "help": {"href": f"{base}/app/{name}/{app_id}/setup/help/SAML_2_0/external-doc",
                     "type": "text/html"},
            "metadata": {"href": f"{base}/api/v1/apps/{app_id}/sso/saml/metadata", "type": "application/xml"},
            "appLinks": [{"name": f"{name}_link", "href": f"{base}/home/{name}/{app_id}/aln1",
                          "type": "text/html"}],
            "groups": {"href": f"{base}/api/v1/apps/{app_id}/groups"},
            "logo": [{"name": "medium", "href": f"{base}/assets/img/logos/default.png", "type": "image/png"}],
            "users": {"href": f"{base}/api/v1/apps/{app_id}/users"},
            "self": {"href": f"{base}/api/v1/apps/{app_id}"},
        }
        if app.data.get("status") == "ACTIVE":
            links["deactivate"] = {"href": f"{base}/api/v1/apps/{app_id}/lifecycle/deactivate"}
        else:
            links["activate"] = {"href": f"{base}/api/v1/apps/{app_id}/lifecycle/activate"}
        return links

    def _app_json(self, app: _App) -> JSON:
        data = json.loads(json.dumps(app.data))
        data["_links"] = self._app_links(app)
        return data

    @staticmethod
    def _validate_app_body(body: JSON) -> None:
        causes: list[str] = []
        if not isinstance(body.get("label"), str) or not body["label"].strip():
            causes.append("label: The field cannot be left blank")
        if body.get("signOnMode") != "SAML_2_0":
            causes.append("signOnMode: this simulator serves custom SAML 2.0 apps only (SAML_2_0)")
        settings = body.get("settings")
        sign_on = settings.get("signOn") if isinstance(settings, dict) else None
        if not isinstance(sign_on, dict):
            causes.append("settings.signOn: The field cannot be left blank")
        else:
            for key in ("ssoAcsUrl", "audience"):
                if not isinstance(sign_on.get(key), str) or not sign_on[key]:
                    causes.append(f"settings.signOn.{key}: The field cannot be left blank")
        if causes:
            raise _validation(causes)

    def _build_app_data(self, body: JSON, *, existing: _App | None, app_id: str, name: str) -> JSON:
        """The stored app: the client's object, server-owned fields and defaults filled in."""
        now = okta_timestamp()
        data = {k: v for k, v in json.loads(json.dumps(body)).items() if k not in ("_links", "_embedded")}
        settings = data.setdefault("settings", {})
        sign_on = {**_default_sign_on(), **settings["signOn"]}
        sign_on.setdefault("recipient", sign_on["ssoAcsUrl"])
        sign_on.setdefault("destination", sign_on["ssoAcsUrl"])
        settings["signOn"] = sign_on
        settings.setdefault("app", {})
        settings.setdefault("notifications", {"vpn": {"network": {"connection": "DISABLED"}}})
        settings.setdefault("manualProvisioning", False)
        settings.setdefault("implicitAssignment", False)
        settings.setdefault("notes", {})
        data.setdefault("accessibility", {"selfService": False})
        data.setdefault("visibility", {"autoSubmitToolbar": False, "hide": {"iOS": False, "web": False},
                                       "appLinks": {f"{name}_link": True}})
        data.setdefault("features", [])
        data.setdefault("licensing", {"seatCount": 0})
        data.setdefault("profile", {})
        credentials = data.setdefault("credentials", {})
        credentials.setdefault("userNameTemplate", {"template": "${source.login}", "type": "BUILT_IN"})
        data["id"] = app_id
        data["name"] = name
        data["created"] = existing.data["created"] if existing else now
        data["lastUpdated"] = now
        data["status"] = existing.data["status"] if existing else "ACTIVE"
        return data

    async def _list_apps(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        status_filter: str | None = None
        flt = request.query.get("filter")
        if flt:
            match = re.fullmatch(r'\s*status\s+eq\s+"(ACTIVE|INACTIVE)"\s*', flt)
            if match is None:
                raise OktaApiError(
                    400, "E0000031", "Invalid search criteria.",
                    [f'filter: unsupported expression {flt!r} (supported: status eq "ACTIVE")'],
                )
            status_filter = match.group(1)
        items = [
            (a.data["id"], self._app_json(a))
            for a in sorted(self._state.apps.values(), key=lambda a: a.seq)
            if (not q or a.data["label"].lower().startswith(q) or a.data["name"].lower().startswith(q))
            and (status_filter is None or a.data["status"] == status_filter)
        ]
        return self._page(request, items, APPS_PAGE)

    async def _create_app(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        activate = self._bool_param(request, "activate", True)
        self._validate_app_body(body)
        app_id = _rand("0oa")
        base_name = f"{self.org_name}_{_slug(body['label'])}"
        n = 1
        while f"{base_name}_{n}" in self._state.app_names:
            n += 1
        name = f"{base_name}_{n}"
        self._state.app_names.add(name)
        # RSA key generation (~60 ms) releases the GIL: off the event loop, the simulator keeps
        # answering other requests meanwhile and concurrent app creations use both cores.
        key = await asyncio.get_running_loop().run_in_executor(None, self._new_signing_key)
        app = _App(seq=self._state.next_seq(), data={}, external_key=_rand("exk"), key=key)
        app.data = self._build_app_data(body, existing=None, app_id=app_id, name=name)
        app.data["status"] = "ACTIVE" if activate else "INACTIVE"
        app.data["credentials"]["signing"] = {"kid": key.kid}
        self._state.apps[app_id] = app
        self._record_event(request, "application.lifecycle.create", "Add application", [self._app_target(app)])
        if activate:
            self._record_event(request, "application.lifecycle.activate", "Activate application",
                               [self._app_target(app)])
        return _json_response(self._app_json(app))

    async def _get_app_h(self, request: web.Request) -> web.Response:
        return _json_response(self._app_json(self._get_app(request.match_info["appId"])))

    async def _replace_app(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        body = await self._json_body(request)
        self._validate_app_body(body)
        data = self._build_app_data(body, existing=app, app_id=app.data["id"], name=app.data["name"])
        # The signing key belongs to the server; a client cannot invent a kid.
        data["credentials"]["signing"] = {**data["credentials"].get("signing", {}), "kid": app.key.kid}
        app.data = data
        self._record_event(request, "application.lifecycle.update", "Update application", [self._app_target(app)])
        return _json_response(self._app_json(app))

    async def _delete_app(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        if app.data["status"] == "ACTIVE":
            raise OktaApiError(400, "E0000056", "Delete application forbidden.",
                               ["The application must be deactivated before it can be deleted."])
        del self._state.apps[app.data["id"]]
        self._state.app_users.pop(app.data["id"], None)
        self._state.app_groups.pop(app.data["id"], None)
        self._record_event(request, "application.lifecycle.delete", "Delete application", [self._app_target(app)])
        return web.Response(status=204)

    async def _activate_app(self, request: web.Request) -> web.Response:
        return self._set_status(request, "ACTIVE")

    async def _deactivate_app(self, request: web.Request) -> web.Response:
        return self._set_status(request, "INACTIVE")

    def _set_status(self, request: web.Request, status: str) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        if app.data["status"] != status:
            app.data["status"] = status
            app.data["lastUpdated"] = okta_timestamp()
            verb = "activate" if status == "ACTIVE" else "deactivate"
            self._record_event(request, f"application.lifecycle.{verb}", f"{verb.title()} application",
                               [self._app_target(app)])
        return _json_response({})

    # -- metadata -----------------------------------------------------------------------------

    def _metadata_xml(self, app: _App) -> bytes:
        """Okta-style SAML 2.0 IdP metadata for the app."""
        issuer = str(app.data.get("settings", {}).get("signOn", {}).get("idpIssuer") or IDP_ISSUER_TEMPLATE)
        entity_id = issuer.replace("${org.externalKey}", app.external_key)
        sso = f"{self.url}/app/{app.data['name']}/{app.external_key}/sso/saml"
        cert_b64 = base64.b64encode(app.key.cert_der).decode("ascii")
        cert_lines = "\n".join(cert_b64[i : i + 64] for i in range(0, len(cert_b64), 64))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<md:EntityDescriptor entityID={quoteattr(entity_id)} '
            'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
            f"<ds:X509Data><ds:X509Certificate>{escape(cert_lines)}</ds:X509Certificate></ds:X509Data>"
            "</ds:KeyInfo></md:KeyDescriptor>"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f"Location={quoteattr(sso)}/>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f"Location={quoteattr(sso)}/>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        ).encode()

    @staticmethod
    def _xml_response(body: bytes, content_type: str = "application/xml") -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    async def _api_metadata(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        # management.yaml: the only response type is text/xml; Okta answers an Accept that admits
        # no XML (the SDKs' default application/json) with E0000019 (okta-sdk-golang#446).
        accept = request.headers.get("Accept", "").lower()
        if not any(t in accept for t in ("text/xml", "application/xml")):
            raise OktaApiError(400, "E0000019",
                               "Bad request.  Accept and/or Content-Type headers likely do not match supported values.")
        return self._xml_response(self._metadata_xml(app), "text/xml")

    async def _public_metadata(self, request: web.Request) -> web.Response:
        # Only the app's entity key (externalKey) names it here, never its 0oa... id; with the
        # app name in front, the name must be the app's (the form of its SSO URL).
        key, name = request.match_info["appKey"], request.match_info.get("appName")
        app = next((a for a in self._state.apps.values()
                    if a.external_key == key and name in (None, a.data["name"])), None)
        if app is None:
            raise _not_found(key, "AppInstance")
        return self._xml_response(self._metadata_xml(app))

    def _key_json(self, app: _App, key: _SigningKey) -> JSON:
        """One signing key as Okta's JsonWebKey (listApplicationKeys): the certificate in `x5c`,
        its end in `expiresAt`, its SHA-256 thumbprint in `x5t#S256`."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        cert = x509.load_der_x509_certificate(key.cert_der)
        public = cert.public_key()
        assert isinstance(public, RSAPublicKey)
        numbers = public.public_numbers()

        def b64url(value: bytes) -> str:
            return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")

        def uint(n: int) -> bytes:
            return n.to_bytes((n.bit_length() + 7) // 8, "big")

        return {
            "created": key.created,
            "lastUpdated": key.created,
            "expiresAt": okta_timestamp(cert.not_valid_after_utc),
            "x5c": [base64.b64encode(key.cert_der).decode("ascii")],
            "e": b64url(uint(numbers.e)),
            "n": b64url(uint(numbers.n)),
            "kid": key.kid,
            "kty": "RSA",
            "use": "sig",
            "x5t#S256": b64url(hashlib.sha256(key.cert_der).digest()),
        }

    async def _list_keys(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        return _json_response([self._key_json(app, k) for k in app.keys])

    async def _get_key(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        kid = request.match_info["keyId"]
        key = next((k for k in app.keys if k.kid == kid), None)
        if key is None:
            raise _not_found(kid, "JsonWebKey")
        return _json_response(self._key_json(app, key))

    # -- users and groups -----------------------------------------------------------------------

    def _user_links(self, user_id: str) -> JSON:
        return {"self": {"href": f"{self.url}/api/v1/users/{user_id}"}}

    async def _create_user(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        activate = self._bool_param(request, "activate", True)
        profile = body.get("profile")
        if not isinstance(profile, dict):
            raise _validation(["profile: The field cannot be left blank"])
        causes = [f"{k}: The field cannot be left blank" for k in ("firstName", "lastName", "email", "login")
                  if not isinstance(profile.get(k), str) or not profile[k]]
        if causes:
            raise _validation(causes)
        login = profile["login"].lower()
        if any(u["profile"]["login"].lower() == login for u in self._state.users.values()):
            raise _validation(["login: An object with this field already exists in the current organization"])
        now = okta_timestamp()
        user_id = _rand("00u")
        user: JSON = {
            "id": user_id,
            "status": "ACTIVE" if activate else "STAGED",
            "created": now,
            "activated": now if activate else None,
            "statusChanged": now if activate else None,
            "lastLogin": None,
            "lastUpdated": now,
            "passwordChanged": None,
            "type": {"id": "oty1sandboxdefault0"},
            "profile": dict(profile),
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": self._user_links(user_id),
        }
        self._state.users[user_id] = user
        self._state.user_seq[user_id] = self._state.next_seq()
        return _json_response(user)

    async def _list_users(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        items = [
            (u["id"], u) for u in self._state.users.values()
            if not q or any(str(u["profile"].get(k, "")).lower().startswith(q)
                            for k in ("firstName", "lastName", "email", "login"))
        ]
        return self._page(request, items, USERS_PAGE)

    async def _get_user_h(self, request: web.Request) -> web.Response:
        return _json_response(self._get_user(request.match_info["userId"]))

    async def _create_group(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        profile = body.get("profile")
        if not isinstance(profile, dict) or not isinstance(profile.get("name"), str) or not profile["name"]:
            raise _validation(["name: The field cannot be left blank"])
        if any(g["profile"]["name"] == profile["name"] for g in self._state.groups.values()):
            raise _validation(["name: An object with this field already exists in the current organization"])
        now = okta_timestamp()
        group_id = _rand("00g")
        base = f"{self.url}/api/v1/groups/{group_id}"
        group: JSON = {
            "id": group_id,
            "created": now,
            "lastUpdated": now,
            "lastMembershipUpdated": now,
            "objectClass": ["okta:user_group"],
            "type": "OKTA_GROUP",
            "profile": {"name": profile["name"], "description": profile.get("description") or "",
                        **{k: v for k, v in profile.items() if k not in ("name", "description")}},
            "_links": {
                "logo": [{"name": "medium", "href": f"{self.url}/assets/img/logos/groups/okta-medium.png",
                          "type": "image/png"}],
                "users": {"href": f"{base}/users"},
                "apps": {"href": f"{base}/apps"},
                "self": {"href": base},
            },
        }
        self._state.groups[group_id] = group
        self._state.group_seq[group_id] = self._state.next_seq()
        self._state.members[group_id] = set()
        return _json_response(group)

    async def _list_groups(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        items = [(g["id"], g) for g in self._state.groups.values()
                 if not q or g["profile"]["name"].lower().startswith(q)]
        return self._page(request, items, GROUPS_PAGE)

    async def _get_group_h(self, request: web.Request) -> web.Response:
        return _json_response(self._get_group(request.match_info["groupId"]))

    async def _list_group_users(self, request: web.Request) -> web.Response:
        group = self._get_group(request.match_info["groupId"])
        members = self._state.members[group["id"]]
        items = [(uid, u) for uid, u in self._state.users.items() if uid in members]
        return self._page(request, items, USERS_PAGE)

    async def _add_member(self, request: web.Request) -> web.Response:
        group = self._get_group(request.match_info["groupId"])
        user = self._get_user(request.match_info["userId"])
        self._state.members[group["id"]].add(user["id"])
        group["lastMembershipUpdated"] = okta_timestamp()
        return web.Response(status=204)

    async def _remove_member(self, request: web.Request) -> web.Response:
        group = self._get_group(request.match_info["groupId"])
        user = self._get_user(request.match_info["userId"])
        self._state.members[group["id"]].discard(user["id"])
        group["lastMembershipUpdated"] = okta_timestamp()
        return web.Response(status=204)

    # -- assignments ------------------------------------------------------------------------------

    def _app_user_json(self, app: _App, user: JSON, record: JSON | None, scope: str,
                       expand_user: bool = False) -> JSON:
        app_id = app.data["id"]
        now = okta_timestamp()
        created = record["created"] if record else now
        result: JSON = {
            "id": user["id"],
            "created": created,
            "lastUpdated": record["lastUpdated"] if record else created,
            "scope": scope,
            "status": "ACTIVE",
            "statusChanged": record["created"] if record else created,
            "passwordChanged": None,
            "syncState": "DISABLED",
            "credentials": (record or {}).get("credentials") or {"userName": user["profile"]["login"]},
            "profile": (record or {}).get("profile") or {},
            "_links": {
                "app": {"href": f"{self.url}/api/v1/apps/{app_id}"},
                "user": {"href": f"{self.url}/api/v1/users/{user['id']}"},
            },
        }
        if expand_user:
            result["_embedded"] = {"user": user}
        return result

    def _effective_app_users(self, app: _App, expand_user: bool) -> list[tuple[str, JSON]]:
        app_id = app.data["id"]
        direct = self._state.app_users.get(app_id, {})
        via_groups: dict[str, JSON] = {}
        for group_id, grecord in self._state.app_groups.get(app_id, {}).items():
            for uid in self._state.members.get(group_id, set()):
                via_groups.setdefault(uid, grecord)
        result: list[tuple[str, JSON]] = []
        for uid in sorted(set(direct) | set(via_groups), key=lambda u: self._state.user_seq.get(u, 0)):
            user = self._state.users.get(uid)
            if user is None:
                continue
            if uid in direct:
                result.append((uid, self._app_user_json(app, user, direct[uid], "USER", expand_user)))
            else:
                grecord = via_groups[uid]
                record = {"created": grecord["created"], "lastUpdated": grecord["lastUpdated"]}
                result.append((uid, self._app_user_json(app, user, record, "GROUP", expand_user)))
        return result

    async def _list_app_users(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        expand_user = request.query.get("expand") == "user"
        return self._page(request, self._effective_app_users(app, expand_user), APP_USERS_PAGE)

    async def _assign_user(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        body = await self._json_body(request)
        user_id = body.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise _validation(["id: The field cannot be left blank"])
        user = self._get_user(user_id)
        scope = body.get("scope", "USER")
        if scope != "USER":
            raise _validation(["scope: only USER can be assigned directly (group assignments make GROUP)"])
        credentials = body.get("credentials") or {"userName": user["profile"]["login"]}
        if not isinstance(credentials, dict):
            raise _validation(["credentials: must be an object"])
        now = okta_timestamp()
        assigned = self._state.app_users.setdefault(app.data["id"], {})
        previous = assigned.get(user["id"])
        record = {
            "created": previous["created"] if previous else now,
            "lastUpdated": now,
            "credentials": credentials,
            "profile": body.get("profile") if isinstance(body.get("profile"), dict) else {},
        }
        assigned[user["id"]] = record
        if previous is None:
            self._record_event(request, "application.user_membership.add", "Add user to application membership",
                               [self._app_target(app), self._user_target(user)])
        return _json_response(self._app_user_json(app, user, record, "USER"))

    async def _get_app_user(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        user_id = request.match_info["userId"]
        for uid, item in self._effective_app_users(app, request.query.get("expand") == "user"):
            if uid == user_id:
                return _json_response(item)
        raise _not_found(user_id, "AppUser")

    async def _unassign_user(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        user_id = request.match_info["userId"]
        assigned = self._state.app_users.get(app.data["id"], {})
        if user_id not in assigned:
            raise _not_found(user_id, "AppUser")
        del assigned[user_id]
        user = self._state.users.get(user_id, {"id": user_id})
        self._record_event(request, "application.user_membership.remove", "Remove users application membership",
                           [self._app_target(app), self._user_target(user)])
        return web.Response(status=204)

    def _app_group_json(self, app: _App, group_id: str, record: JSON) -> JSON:
        app_id = app.data["id"]
        return {
            "id": group_id,
            "lastUpdated": record["lastUpdated"],
            "priority": record["priority"],
            "profile": record["profile"],
            "_links": {
                "app": {"href": f"{self.url}/api/v1/apps/{app_id}"},
                "self": {"href": f"{self.url}/api/v1/apps/{app_id}/groups/{group_id}"},
                "group": {"href": f"{self.url}/api/v1/groups/{group_id}"},
            },
        }

    async def _list_app_groups(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        assigned = self._state.app_groups.get(app.data["id"], {})
        items = [(gid, self._app_group_json(app, gid, rec))
                 for gid, rec in sorted(assigned.items(), key=lambda kv: kv[1]["priority"])]
        if request.query.get("expand") == "group":
            # Okta's `expand=group` embeds each assigned group (`_embedded.group`), sparing a
            # GET /api/v1/groups/{id} per group.
            for gid, item in items:
                item["_embedded"] = {"group": self._get_group(gid)}
        return self._page(request, items, APP_GROUPS_PAGE)

    async def _get_app_group(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        group_id = request.match_info["groupId"]
        record = self._state.app_groups.get(app.data["id"], {}).get(group_id)
        if record is None:
            raise _not_found(group_id, "ApplicationGroupAssignment")
        return _json_response(self._app_group_json(app, group_id, record))

    async def _assign_group(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        group = self._get_group(request.match_info["groupId"])
        body = await self._json_body(request, optional=True)
        assigned = self._state.app_groups.setdefault(app.data["id"], {})
        priority = body.get("priority")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            raise _validation(["priority: must be an integer"])
        profile = body.get("profile", {})
        if not isinstance(profile, dict):
            raise _validation(["profile: must be an object"])
        now = okta_timestamp()
        previous = assigned.get(group["id"])
        record = {
            "created": previous["created"] if previous else now,
            "lastUpdated": now,
            "priority": priority if priority is not None else (
                previous["priority"] if previous else len(assigned)),
            "profile": profile,
        }
        assigned[group["id"]] = record
        kind = "update" if previous else "add"
        self._record_event(request, f"group.application_assignment.{kind}",
                           "Update app assignment" if previous else "Assign app to group",
                           [self._app_target(app), self._group_target(group["id"])])
        return _json_response(self._app_group_json(app, group["id"], record))

    async def _unassign_group(self, request: web.Request) -> web.Response:
        app = self._get_app(request.match_info["appId"])
        group_id = request.match_info["groupId"]
        assigned = self._state.app_groups.get(app.data["id"], {})
        if group_id not in assigned:
            raise _not_found(group_id, "ApplicationGroupAssignment")
        del assigned[group_id]
        self._record_event(request, "group.application_assignment.remove", "Remove app from group",
                           [self._app_target(app), self._group_target(group_id)])
        return web.Response(status=204)

    # -- System Log ------------------------------------------------------------------------------

    def _record_event(self, request: web.Request, event_type: str, message: str, targets: list[JSON]) -> None:
        """Append one LogEvent (management.yaml LogEvent; okta-developer-docs system-log "LogEvent
        object") for a write this request made. Maps in `detailEntry`/`debugData`/`detail` are
        left out: management.yaml types their values as objects, and there is nothing to say."""
        actor = request.get(_ACTOR) or {"id": "unknown", "type": "User"}
        self._state.logs.append({
            "uuid": str(uuid.uuid4()),
            "published": okta_timestamp(),
            "eventType": event_type,
            "version": "0",
            "severity": "INFO",
            "displayMessage": message,
            "actor": dict(actor),
            "client": {"userAgent": {"rawUserAgent": request.headers.get("User-Agent", "UNKNOWN"),
                                     "os": "Unknown", "browser": "UNKNOWN"},
                       "device": "Unknown", "ipAddress": request.remote or "127.0.0.1"},
            "outcome": {"result": "SUCCESS"},
            "target": targets,
            "transaction": {"type": "WEB", "id": _rand("W", 27)},
            "request": {"ipChain": [{"ip": request.remote or "127.0.0.1", "version": "V4"}]},
        })

    @staticmethod
    def _app_target(app: _App) -> JSON:
        label = str(app.data.get("label", ""))
        return {"id": app.data["id"], "type": "AppInstance", "alternateId": label, "displayName": label}

    @staticmethod
    def _user_target(user: JSON) -> JSON:
        profile = user.get("profile", {})
        return {"id": user["id"], "type": "User", "alternateId": profile.get("login", ""),
                "displayName": f"{profile.get('firstName', '')} {profile.get('lastName', '')}".strip()}

    def _group_target(self, group_id: str) -> JSON:
        name = str(self._state.groups.get(group_id, {}).get("profile", {}).get("name", group_id))
        return {"id": group_id, "type": "UserGroup", "alternateId": "unknown", "displayName": name}

    async def _list_logs(self, request: web.Request) -> web.Response:
        """listLogEvents with the documented parameters (see the module docstring)."""
        query = request.query
        if "since" in query and "after" in query:
            raise _validation(["since: since and after are mutually exclusive"])
        now = datetime.now(UTC)
        until = _log_time(query["until"], "until") if "until" in query else now
        since = _log_time(query["since"], "since") if "since" in query else until - timedelta(days=7)
        descending = query.get("sortOrder", "ASCENDING").upper() == "DESCENDING"
        limit = _log_limit(query.get("limit"))
        match = _log_filter(query.get("filter", ""))
        keywords = query.get("q", "").split()
        if any(len(k) > 40 for k in keywords):
            raise _validation(["q: Freeform search cannot contain items longer than 40 characters."])
        events = [e for e in self._state.logs
                  if since <= _parse_okta_time(e["published"]) < until and match(e) and _has_keywords(e, keywords)]
        if descending:
            events.reverse()
        after = query.get("after")
        if after:  # the cursor names the last event of the previous page
            ids = [e["uuid"] for e in events]
            events = events[ids.index(after) + 1:] if after in ids else []
        page = events[:limit]
        response = _json_response(page)
        base = self._base(request) + request.path
        response.headers.add("Link", f'<{base}?{urllib.parse.urlencode(dict(query))}>; rel="self"')
        polling = "until" not in query and not descending
        if (len(events) > limit and page) or polling:
            next_query = {k: v for k, v in query.items() if k not in ("since", "after")}
            next_query["limit"] = str(limit)
            if page:
                next_query["after"] = page[-1]["uuid"]
            elif after:
                next_query["after"] = after
            else:
                next_query["since"] = query.get("since", okta_timestamp(since))
            response.headers.add("Link", f'<{base}?{urllib.parse.urlencode(next_query)}>; rel="next"')
        return response


def _parse_okta_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _log_time(value: str, name: str) -> datetime:
    """An RFC 3339 `since`/`until`; anything else is Okta's E0000001 for that parameter."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _validation([f"{name}: The date format in your query is not recognized. Please enter dates using "
                           "ISO8601 string format."])
    return moment.astimezone(UTC)


def _log_limit(raw: str | None) -> int:
    if raw is None:
        return 100
    try:
        limit = int(raw)
    except ValueError as exc:
        raise _validation(["limit: must be an integer"]) from exc
    if not 0 <= limit <= 1000:
        raise _validation(["limit: must be between 0 and 1000"])
    return limit


_FILTER_TERM = re.compile(r'\s*([A-Za-z][\w.]*)\s+(eq|ne|sw|co|ew)\s+"((?:[^"\\]|\\.)*)"\s*')
# The attributes this simulator can filter on (Okta takes any LogEvent attribute path).
_FILTER_ATTRIBUTES = ("eventType", "uuid", "target.id", "target.type", "target.alternateId", "actor.id",
                      "actor.alternateId", "actor.type", "outcome.result", "client.ipAddress",
                      "transaction.id", "severity")
_FILTER_OPS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda v, x: v == x, "ne": lambda v, x: v != x, "sw": lambda v, x: v.startswith(x),
    "co": lambda v, x: x in v, "ew": lambda v, x: v.endswith(x)}


def _log_filter(expression: str) -> Callable[[JSON], bool]:
    """A SCIM filter of `attr op "value"` terms joined by `and` (every example of the System Log
    docs has this form); an expression it cannot read is Okta's E0000053 "Invalid filter"."""
    if not expression.strip():
        return lambda event: True
    terms: list[tuple[str, str, str]] = []
    for part in re.split(r"\s+and\s+", expression.strip()):
        m = _FILTER_TERM.fullmatch(part)
        if m is None or m.group(1) not in _FILTER_ATTRIBUTES:
            raise OktaApiError(400, "E0000053", f"Invalid filter '{expression}'")
        terms.append((m.group(1), m.group(2), m.group(3).replace('\\"', '"')))

    def values(event: JSON, path: str) -> list[str]:
        head, _, tail = path.partition(".")
        node = event.get(head)
        items = node if isinstance(node, list) else [node]
        if not tail:
            return [str(i) for i in items if i is not None]
        return [str(i[tail]) for i in items if isinstance(i, dict) and i.get(tail) is not None]

    def match(event: JSON) -> bool:
        # A list attribute (target) matches when any of its items does ("target.id eq A and
        # target.id eq B": an event with both targets).
        for path, op, value in terms:
            found = values(event, path)
            if op == "ne":
                if value in found:
                    return False
            elif not any(_FILTER_OPS[op](v, value) for v in found):
                return False
        return True

    return match


def _has_keywords(event: JSON, keywords: list[str]) -> bool:
    """`q`: every keyword matches some attribute value exactly, ignoring case; hyphenated values
    also match each of their parts (the System Log API's "Keyword filter")."""
    if not keywords:
        return True
    words: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif node is not None:
            text = str(node).lower()
            words.add(text)
            words.update(text.split("-"))

    walk(event)
    return all(k.lower() in words for k in keywords)
