"""The Okta collector: the SAML app, its assignments and its SAML metadata, through the okta SDK.

We drive the SDK's RequestExecutor (its HTTP client, retries, 429 back-off and OAuth 2.0
private-key flow) with raw JSON, not its generated models, because:
- the `SamlApplication` model drops `attributeStatements` and any field it does not know;
- the generated API methods send `Authorization: SSWS<token>` without the space Okta
  documents, while the executor's default header is the documented `SSWS <token>`;
- the SDK's response objects keep one `Link` header of several; the aiohttp response the
  executor returns keeps them all, which pagination needs.

Only `okta.request_executor` and its small dependencies are imported, lazily: `okta.client`
imports every API and model of the SDK (~5 s, ~110 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote
from xml.parsers.expat import ExpatError

from auditor import __version__
from auditor.collectors.base import CollectOptions, Collector, Sink
from auditor.collectors.okta_metadata import read_okta_metadata
from auditor.collectors.pacing import OktaPacer
from auditor.collectors.saml_metadata import MetadataError
from auditor.config import Config, FederationConfig

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')
APP_USERS_PAGE = 500
APP_GROUPS_PAGE = 200
APPS_PAGE = 200
# The Accept of previewSAMLmetadataForApplication (see OktaAPI.get_xml).
XML_ACCEPT = "text/xml, application/json"
MAX_XML_BYTES = 1_000_000
# When a configured app is missing, the app list is read on to this many pages (once per scan,
# shared by every missing app) to name the apps whose label or id is close: a renamed label or
# a one-character id typo is then one glance away. Costs nothing while every app is found.
SIMILAR_MAX_PAGES = 5
SIMILAR_MAX = 3

# Retries are ours, not the SDK's (its `rateLimit.maxRetries` is set to 0), because the SDK
# sleeps for whatever X-Rate-Limit-Reset says (an hour, if the header says so) before it checks
# its own timeout, retries 503/504 without any pause, never retries 500/502 or a dropped
# connection, and gives up on a 429 without rate-limit headers with a misleading message.
MAX_ATTEMPTS = 3  # per call: the first try and two retries
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5  # exponential with full jitter: up to 0.5 s, then up to 1 s, ...
BACKOFF_CAP_S = 8.0
# The longest a 429's X-Rate-Limit-Reset may make us wait; beyond it the call fails at once
# (Okta's windows are one minute, so a longer wait means a broken or hostile header).
MAX_RATE_LIMIT_WAIT_S = 60.0
SDK_LOGGER = "okta-sdk-python"


@contextlib.contextmanager
def _okta_package_without_models() -> Iterator[None]:
    """While it lasts, `import okta.<module>` skips the SDK's package `__init__`, which imports the
    SDK's pydantic model layer (~0.2 s of CPU, every scan) that the scanner does not use: `okta`
    is a bare package module with the SDK's path and `__version__` (okta.user_agent reads it).
    Afterwards `okta` is forgotten again, so that a later `import okta` runs the real `__init__`
    (the submodules imported meanwhile stay imported). Nothing is done when `okta` is already
    imported, or the SDK is not laid out as expected (it is then imported the ordinary way)."""
    import importlib.util
    import sys
    import types

    spec = None if "okta" in sys.modules else importlib.util.find_spec("okta")
    version = None
    if spec is not None and spec.origin and spec.submodule_search_locations:
        try:
            with open(spec.origin, encoding="utf-8") as fh:
                version = re.search(r'^__version__ = "([^"]+)"', fh.read(), re.M)
        except OSError:
            version = None
    if spec is None or version is None:
        yield
        return
    package = types.ModuleType("okta")
    package.__spec__, package.__file__, package.__package__ = spec, spec.origin, "okta"
    package.__path__ = list(spec.submodule_search_locations or [])
    package.__dict__["__version__"] = version.group(1)
    sys.modules["okta"] = package
    try:
        yield
    finally:
        if sys.modules.get("okta") is package:
            del sys.modules["okta"]


# Cryptodome's RSA module: the SDK imports it at once (okta.dpop, okta.jwt) but uses it only for
# OAuth (the private key's JWT, DPoP). Importing it costs ~30 ms of CPU, pycryptodome parsing its
# C declarations for cffi (Legrandin/pycryptodome#328).
_SDK_RSA = "Cryptodome.PublicKey.RSA"
_SDK_RSA_LOCK = threading.Lock()


def _sdk_rsa(*, needed: bool) -> None:
    """With an API token (`needed` False), let the SDK import Cryptodome's RSA module without
    running it: a module object whose code runs at its first attribute read
    (importlib.util.LazyLoader), which nothing does then. With a private key, run it now, here,
    under a lock: LazyLoader is not thread-safe before Python 3.12. Nothing is done when the
    module is already imported, or cannot be found (the SDK's import then fails as it would)."""
    import importlib
    import importlib.util
    import sys

    with _SDK_RSA_LOCK:
        module = sys.modules.get(_SDK_RSA)
        if needed:
            if module is None:
                importlib.import_module(_SDK_RSA)
            else:
                getattr(module, "RsaKey", None)  # runs a deferred module's code
            return
        if module is not None:
            return
        try:
            spec = importlib.util.find_spec(_SDK_RSA)
        except ImportError:
            return
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_SDK_RSA] = module
        spec.loader.exec_module(module)
        parent, _, name = _SDK_RSA.rpartition(".")
        setattr(sys.modules[parent], name, module)


class OktaError(Exception):
    """An Okta request failed; the message names the call and Okta's error code."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


def sdk_config(config: Config, secret: str | None) -> dict[str, Any]:
    """The okta SDK configuration, built explicitly.

    We do not use the SDK's ConfigSetter: it silently merges `~/.okta/okta.yaml`, `./okta.yaml`
    and `OKTA_CLIENT_*` variables, so the scanner's behaviour would depend on files the
    config does not name.
    """
    okta = config.okta
    client: dict[str, Any] = {
        "orgUrl": okta.org_url,
        "userAgent": f"auditor/{__version__}",
        "requestTimeout": okta.timeout_seconds,
        "rateLimit": {"maxRetries": 0},  # OktaAPI.send retries, with bounded waits
        "cache": {"enabled": False, "defaultTtl": 300, "defaultTti": 300},
        "logging": {"enabled": False, "logLevel": 50},
        "oauthTokenRenewalOffset": 5,
        "connectionTimeout": okta.timeout_seconds,
    }
    if okta.auth.mode == "token":
        client.update({"authorizationMode": "SSWS", "token": secret})
    else:
        client.update({
            "authorizationMode": "PrivateKey",
            "clientId": okta.auth.client_id,
            "scopes": list(okta.auth.scopes),
            "privateKey": secret,
        })
        if okta.auth.key_id:
            client["kid"] = okta.auth.key_id
    return {"client": client, "testing": {"testingDisableHttpsCheck": okta.allow_insecure_http}}


class OktaAPI:
    """A thin raw-JSON client over the SDK's RequestExecutor. Use as an async context manager."""

    def __init__(self, config: Config, secret: str | None, *, pacer: OktaPacer | None = None) -> None:
        self._sdk_config = sdk_config(config, secret)
        self._executor: Any = None
        self._session: Any = None
        # Keeps each rate-limit bucket under the configured share (None: no pacing).
        self._pacer = pacer
        self.calls = 0

    async def __aenter__(self) -> OktaAPI:
        import aiohttp

        _sdk_rsa(needed=self._sdk_config["client"]["authorizationMode"] != "SSWS")
        with _okta_package_without_models():
            from okta.cache.no_op_cache import NoOpCache
            from okta.config.config_validator import ConfigValidator
            from okta.request_executor import RequestExecutor

        _quiet_sdk_logger()
        ConfigValidator(self._sdk_config)
        self._executor = RequestExecutor(self._sdk_config, NoOpCache(), None)
        self._session = aiohttp.ClientSession()
        self._executor.set_session(self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str) -> tuple[Any, Any]:
        """GET a path or absolute URL; returns (parsed JSON, aiohttp response)."""
        return await self.send("GET", url)

    async def send(self, method: str, url: str, body: Any = None) -> tuple[Any, Any]:
        """Any method; returns (parsed JSON or None for an empty body, aiohttp response).

        Bodies go out exactly as given (`keep_empty_params`): the SDK would otherwise drop empty
        lists and strings, and a PUT replaces the whole app, so a dropped field is a reset field.
        """
        text, response = await self._request(method, url, body, None)
        if not text:
            return None, response
        try:
            return json.loads(text), response
        except (TypeError, ValueError) as exc:
            raise OktaError(f"{method} {_short(url)}: Okta returned a body that is not JSON") from exc

    async def get_xml(self, url: str) -> tuple[bytes, Any]:
        """GET an XML document (an app's SAML metadata, previewSAMLmetadataForApplication) through
        the same auth, pacing and retries as every call; returns (body, aiohttp response).

        management.yaml gives `text/xml` as the operation's only response type, and Okta refuses
        the SDK's default `Accept: application/json` with E0000019 (okta-sdk-golang#446), so the
        request asks for XML; JSON stays acceptable, for Okta's error bodies.
        """
        text, response = await self._request("GET", url, None, XML_ACCEPT)
        body = (text or "").encode("utf-8")
        if len(body) > MAX_XML_BYTES:
            raise OktaError(f"GET {_short(url)}: the document is larger than the {MAX_XML_BYTES}-byte limit")
        return body, response

    async def _request(self, method: str, url: str, body: Any, accept: str | None) -> tuple[str, Any]:
        """One call with bounded retries; returns (response text, aiohttp response)."""
        self.calls += 1
        what = f"{method} {_short(url)}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send_once(method, url, body, what, accept)
            except _Transient as exc:
                # A write is retried only when Okta refused it before doing anything (429): after
                # a timeout or a 5xx we cannot know whether it was applied.
                if attempt >= MAX_ATTEMPTS or not (method == "GET" or exc.status == 429 or exc.token):
                    tries = f" (gave up after {attempt} attempt{'s' if attempt != 1 else ''})"
                    raise OktaError(exc.message + tries, exc.status) from None
                delay = exc.wait if exc.wait is not None else backoff_delay(attempt)
                if delay > MAX_RATE_LIMIT_WAIT_S:
                    raise OktaError(f"{exc.message}: Okta asks to wait {delay:.0f} s, more than the "
                                    f"{MAX_RATE_LIMIT_WAIT_S:.0f} s this scanner waits", exc.status) from None
                await asyncio.sleep(delay)

    async def _send_once(self, method: str, url: str, body: Any, what: str, accept: str | None) -> tuple[str, Any]:
        headers = {"Accept": accept} if accept else {}
        try:
            request, error = await self._executor.create_request(method, url, body, headers, keep_empty_params=True)
        except (ValueError, ExpatError) as exc:  # the SDK decodes the token endpoint's answer itself
            raise OktaError(f"{what}: cannot authenticate: the OAuth token endpoint's answer is unusable "
                            f"({type(exc).__name__})") from None
        if error is not None:
            status = getattr(error, "status", None)
            message = f"{what}: cannot authenticate: {_describe(error)}"
            if status in RETRY_STATUSES or _is_transport_error(error):
                # Only the token request was sent: retrying it is always safe.
                raise _Transient(message, status, None, token=True)
            raise OktaError(message, status)
        try:
            response, text, error = await self._execute(request, url)
        except (ValueError, ExpatError) as exc:  # the SDK decodes bodies itself and raises on garbage
            kind = "XML" if accept == XML_ACCEPT else "JSON"
            raise OktaError(f"{what}: Okta returned a body that is not {kind} ({type(exc).__name__})") from None
        if error is not None:
            status = getattr(error, "status", None)
            message = f"{what}: {_describe(error)}"
            if status in RETRY_STATUSES:
                wait = rate_limit_wait(response.headers) if status == 429 and response is not None else None
                raise _Transient(message, status, wait)
            if status is None and _is_transport_error(error):
                raise _Transient(message, None, None)
            raise OktaError(message, status)
        return text or "", response

    async def _execute(self, request: Any, url: str) -> tuple[Any, Any, Any]:
        """The SDK's execute, inside the pacer's slot for the URL's bucket (which learns from the
        response's X-Rate-Limit-* headers, a 429's included)."""
        if self._pacer is None:
            result: tuple[Any, Any, Any] = await self._executor.execute(request)
            return result
        async with self._pacer.slot(url) as seen:
            response = None
            try:
                result = await self._executor.execute(request)
                response = result[0]
            finally:
                seen(getattr(response, "headers", None))
            return result

    async def get_all(self, url: str) -> list[Any]:
        """Every item of a paginated list, following `Link: <...>; rel="next"` headers."""
        items: list[Any] = []
        next_url: str | None = url
        pages = 0
        while next_url:
            page, response = await self.get(next_url)
            if not isinstance(page, list):
                raise OktaError(f"GET {_short(next_url)}: expected a JSON list")
            items.extend(page)
            next_url = next_link(response.headers.getall("Link", []))
            pages += 1
            if pages > 10_000:
                raise OktaError(f"GET {_short(url)}: more than 10,000 pages; stopping")
        return items


class _Transient(Exception):
    """A failure worth retrying: a 429, a 5xx, a timeout or a dropped connection."""

    def __init__(self, message: str, status: int | None, wait: float | None, *, token: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.wait = wait  # seconds Okta asked us to wait (429 with X-Rate-Limit-Reset), else None
        self.token = token  # the OAuth token request failed (no API call was sent)


def _is_transport_error(error: Any) -> bool:
    import aiohttp

    return isinstance(error, aiohttp.ClientError | asyncio.TimeoutError | OSError)


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter after the `attempt`-th failure (1-based)."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def rate_limit_wait(headers: Any) -> float | None:
    """Seconds until X-Rate-Limit-Reset (epoch seconds), measured against Okta's own `Date` so a
    skewed local clock does not matter; None without the header (then: exponential backoff)."""
    try:
        resets = [float(v) for v in headers.getall("X-Rate-Limit-Reset", [])]
    except (TypeError, ValueError, AttributeError):
        return None
    if not resets:
        return None
    now = time.time()
    date = headers.get("Date")
    if date:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            now = parsedate_to_datetime(date).timestamp()
    # +0.2 s: the header has one-second resolution, and coming back early costs another 429.
    return max(0.0, min(resets) - now) + 0.2


def _quiet_sdk_logger() -> None:
    """Keep the SDK's log records away from stderr and from the caller's log handlers.

    Every failure reaches the report through OktaError; the SDK would otherwise print a
    traceback for each dropped connection (Python's last-resort handler), and at DEBUG it logs
    whole requests, Authorization header included.
    """
    logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def next_link(headers: list[str]) -> str | None:
    """The rel="next" URL among Link headers (several headers, or several links in one)."""
    for header in headers:
        for m in _LINK.finditer(header):
            if m.group(2) == "next":
                return m.group(1)
    return None


def _short(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _describe(error: Any) -> str:
    code = getattr(error, "error_code", None)
    if code:
        return f"HTTP {getattr(error, 'status', '?')} {code} {getattr(error, 'error_summary', '')}".strip()
    status = getattr(error, "status", None)
    if status:
        return f"HTTP {status}"
    text = str(error) or type(error).__name__
    if isinstance(error, asyncio.TimeoutError):
        text = "timed out"
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


class OktaCollector(Collector):
    """okta.app, okta.assignments and okta.metadata for every federation; okta.connect_app and
    okta.connect_metadata (the Amazon Connect sign-in app) for federations with `connect_sso`."""

    name = "okta"  # provides: the catalogue's okta.* keys
    _COGNITO_CHAIN = ("okta.app", "okta.assignments", "okta.metadata")

    def __init__(self, config: Config, secret: str | None, progress: Any = None,
                 options: CollectOptions | None = None) -> None:
        super().__init__(config, progress, options)
        self._secret = secret
        self.pacer = OktaPacer(self.options.okta_rate_limit_share)
        share = self.options.okta_rate_limit_share
        self.pacer.on_wait = lambda bucket, seconds: self.progress("okta", (
            f"waiting {seconds:.0f} s for Okta's {bucket} rate-limit window: this scan's share ({share:.0%}) of it "
            "is spent, the rest is left to the org's other integrations"))
        self._apps: AppDirectory | None = None
        # Each app's metadata and assignments read once per scan, however many federations name the app.
        self._metadata_reads: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._assignment_reads: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # And each app reference (by id or label) looked up once, when the app list does not settle it.
        self._app_reads: dict[tuple[str, str], asyncio.Future[dict[str, Any] | None]] = {}

    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        """Run the async collection on a private event loop."""
        asyncio.run(self._collect_all(federations, sinks))

    async def _collect_all(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        # Futures of the previous collect's loop are not awaitable on this one (and a new scan reads anew).
        self._metadata_reads, self._assignment_reads, self._app_reads = {}, {}, {}
        try:
            async with OktaAPI(self.config, self._secret, pacer=self.pacer) as api:
                refs = [fed.data["okta_app"] for fed in federations]
                refs += [fed.data["connect_sso"]["okta_app"] for fed in federations if fed.data.get("connect_sso")]
                self._apps = AppDirectory(api, refs)
                # One aiohttp session, up to `concurrency` federations at a time.
                gate = asyncio.Semaphore(self.options.concurrency)

                async def one(fed: FederationConfig) -> None:
                    async with gate:
                        try:
                            await self._collect_one(api, fed, sinks[fed.name])
                        finally:
                            self.on_done(fed.name)

                await asyncio.gather(*(one(fed) for fed in federations))
        except ValueError as exc:  # the SDK's ConfigValidator
            for fed in federations:
                for key in self.provides:
                    sinks[fed.name].fail(key, f"the Okta SDK rejected its configuration: {exc}".strip())

    async def _collect_one(self, api: OktaAPI, fed: FederationConfig, sink: Sink) -> None:
        if fed.data.get("connect_sso"):  # the two apps' chains are independent: collect them together
            await asyncio.gather(self._collect_cognito_app(api, fed, sink), self._collect_connect_app(api, fed, sink))
        else:
            await self._collect_cognito_app(api, fed, sink)

    async def _collect_cognito_app(self, api: OktaAPI, fed: FederationConfig, sink: Sink) -> None:
        self.progress(fed.name, "okta: app")
        try:
            app = await self._find_app(api, fed.data["okta_app"])
        except OktaError as exc:
            for key in self._COGNITO_CHAIN:
                sink.fail(key, f"Okta: {exc}")
            return
        if app is None:
            reason = await self._missing_app(fed.data["okta_app"], "okta.app", sink)
            sink.put_absent("okta.assignments", f"the Okta app does not exist: {reason}")
            sink.put_absent("okta.metadata", f"the Okta app does not exist: {reason}")
            return
        sink.put("okta.app", app)
        self.progress(fed.name, "okta: assignments")
        read = self._assignment_reads.get(str(app["id"]))
        if read is None:  # the first federation naming the app reads them; the others wait for it
            read = self._assignment_reads[str(app["id"])] = asyncio.ensure_future(self._assignments(api, app["id"]))
        try:
            sink.put("okta.assignments", await asyncio.shield(read))
        except OktaError as exc:
            sink.fail("okta.assignments", f"Okta: {exc}")
        self.progress(fed.name, "okta: metadata")
        await self._metadata(api, app, "okta.metadata", sink)

    async def _collect_connect_app(self, api: OktaAPI, fed: FederationConfig, sink: Sink) -> None:
        """The second app: Okta federated with AWS IAM, which agents use to open Amazon Connect."""
        self.progress(fed.name, "okta: Amazon Connect app")
        try:
            app = await self._find_app(api, fed.data["connect_sso"]["okta_app"])
        except OktaError as exc:
            for key in ("okta.connect_app", "okta.connect_metadata"):
                sink.fail(key, f"Okta: {exc}")
            return
        if app is None:
            reason = await self._missing_app(fed.data["connect_sso"]["okta_app"], "okta.connect_app", sink)
            sink.put_absent("okta.connect_metadata", f"the Okta Amazon Connect app does not exist: {reason}")
            return
        sink.put("okta.connect_app", app)
        self.progress(fed.name, "okta: Amazon Connect app metadata")
        await self._metadata(api, app, "okta.connect_metadata", sink)

    async def _metadata(self, api: OktaAPI, app: dict[str, Any], key: str, sink: Sink) -> None:
        """The app's metadata and signing keys, through the API (auditor.collectors.okta_metadata);
        the first federation naming the app reads them, the others wait for that read (its failure too)."""
        read = self._metadata_reads.get(str(app.get("id")))
        if read is None:
            read = asyncio.ensure_future(read_okta_metadata(api, self.config.okta.org_url, app))
            self._metadata_reads[str(app.get("id"))] = read
        try:
            sink.put(key, await asyncio.shield(read))
        except OktaError as exc:
            sink.fail(key, f"Okta: {exc}")
        except MetadataError as exc:
            sink.fail(key, f"the SAML metadata of Okta app {app.get('id')}: {exc}")

    async def _missing_app(self, ref: dict[str, str], key: str, sink: Sink) -> str:
        """Record `key` as not existing, naming what was looked for and the apps close to it;
        returns the reason."""
        how, value = ("id", ref["id"]) if "id" in ref else ("label", ref["label"])
        reason = f"no app with {how} {value!r} in Okta"
        similar = await self._apps.similar(ref) if self._apps is not None else []
        sink.put_absent(key, reason, [f"{str(a.get('label'))!r} ({a.get('id')})" for a in similar])
        return reason

    async def _find_app(self, api: OktaAPI, ref: dict[str, str]) -> dict[str, Any] | None:
        if self._apps is not None:
            found, app = await self._apps.find(ref)
            if found:
                return app
        key = ("id", ref["id"]) if "id" in ref else ("label", ref["label"])
        read = self._app_reads.get(key)
        if read is None:  # federations naming the same app share one lookup (and its failure)
            read = self._app_reads[key] = asyncio.ensure_future(self.find_app_directly(api, ref))
        return await asyncio.shield(read)

    @staticmethod
    async def find_app_directly(api: OktaAPI, ref: dict[str, str]) -> dict[str, Any] | None:
        """One app by id (GET) or by exact label (a `q=` search); None when there is none."""
        if "id" in ref:
            try:
                app, _ = await api.get(f"/api/v1/apps/{quote(ref['id'])}")
            except OktaError as exc:
                if exc.status == 404:
                    return None
                raise
            return app if isinstance(app, dict) else None
        label = ref["label"]
        # `q` matches label prefixes; keep exact matches only.
        apps = await api.get_all(f"/api/v1/apps?q={quote(label)}&limit={APPS_PAGE}")
        matches = [a for a in apps if isinstance(a, dict) and a.get("label") == label]
        if len(matches) > 1:
            ids = ", ".join(a.get("id", "?") for a in matches)
            raise OktaError(f"{len(matches)} apps are labelled {label!r} ({ids}); name the app by id in the config")
        return matches[0] if matches else None

    async def _assignments(self, api: OktaAPI, app_id: str) -> dict[str, Any]:
        users_raw = await api.get_all(f"/api/v1/apps/{quote(app_id)}/users?limit={APP_USERS_PAGE}")
        # expand=group embeds each group, so its name needs no GET /api/v1/groups/{id} of its own.
        groups_raw = await api.get_all(f"/api/v1/apps/{quote(app_id)}/groups?limit={APP_GROUPS_PAGE}&expand=group")
        users = []
        for u in users_raw:
            profile = u.get("profile") or {}
            creds = u.get("credentials") or {}
            users.append({"id": u.get("id"), "login": creds.get("userName"), "email": profile.get("email"),
                          "status": u.get("status"), "scope": u.get("scope")})
        groups = []
        for g in groups_raw:
            name = ((g.get("_embedded") or {}).get("group") or {}).get("profile", {}).get("name")
            if name is None:
                group, _ = await api.get(f"/api/v1/groups/{quote(g['id'])}")
                name = (group.get("profile") or {}).get("name")
            groups.append({"id": g.get("id"), "name": name})
        user_refs = sorted({r for u in users for r in (u["id"], u["login"], u["email"]) if r})
        group_refs = sorted({r for g in groups for r in (g["id"], g["name"]) if r})
        return {"users": users, "groups": groups, "user_refs": user_refs, "group_refs": group_refs}


class AppDirectory:
    """The org's app list, read once per scan when that costs fewer calls than finding each app.

    Finding N apps one by one costs N calls (a GET by id, or a `q=` search by label, whose
    bucket, `/api/v1/apps`, is Okta's tightest). The list costs one call per page of APPS_PAGE
    apps, and Okta does not say how many pages there are. So the list is read page by page while
    its cost stays under half of the one-by-one cost: an org with few apps is read whole and
    every reference is answered from it; a huge org stops early (wasting at most half the
    calls it would have saved), and the references not settled fall back to one-by-one lookups.
    An id found in a partial list is settled; a label only when the whole list was read (two
    apps may share a label, and that is an error the config must fix). When an app turns out
    missing, `similar` reads on to SIMILAR_MAX_PAGES to name the apps close to it.
    """

    def __init__(self, api: OktaAPI, refs: Sequence[dict[str, str]]) -> None:
        self._api = api
        self._ids = {r["id"] for r in refs if "id" in r}
        self._labels = {r["label"] for r in refs if "label" in r}
        self._budget = (len(self._ids) + len(self._labels)) // 2
        self._loaded: asyncio.Task[None] | None = None
        self._read_on: asyncio.Task[None] | None = None
        self._next_url: str | None = f"/api/v1/apps?limit={APPS_PAGE}"
        self._reading = asyncio.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_label: dict[str, list[dict[str, Any]]] = {}
        self.complete = False
        self.pages = 0

    async def find(self, ref: dict[str, str]) -> tuple[bool, dict[str, Any] | None]:
        """(True, app or None) when the list settles `ref`; (False, None) to look it up directly.

        Raises OktaError when the whole list shows two apps with the label (as the direct search would).
        """
        if self._budget < 1:
            return False, None
        if self._loaded is None:  # the first caller starts the read; the others wait for it
            self._loaded = asyncio.ensure_future(self._load())
        try:
            await asyncio.shield(self._loaded)
        except OktaError:
            return False, None  # the list failed: each federation tries (and reports) its own lookup
        if "id" in ref:
            app = self._by_id.get(ref["id"])
            return (True, app) if app is not None or self.complete else (False, None)
        if not self.complete:
            return False, None
        matches = self._by_label.get(ref["label"], [])
        if len(matches) > 1:
            ids = ", ".join(str(a.get("id", "?")) for a in matches)
            raise OktaError(f"{len(matches)} apps are labelled {ref['label']!r} ({ids}); "
                            "name the app by id in the config")
        return True, (matches[0] if matches else None)

    async def similar(self, ref: dict[str, str]) -> list[dict[str, Any]]:
        """The apps whose label or id is close to `ref`'s (a missing app), best first.

        From the pages already read, read on (once, shared) to SIMILAR_MAX_PAGES; a failure to
        read them only means fewer suggestions.
        """
        if self._read_on is None:
            self._read_on = asyncio.ensure_future(self._read_more())
        with contextlib.suppress(OktaError):
            await asyncio.shield(self._read_on)
        return near_matches(ref, self._by_id.values())

    async def _read_more(self) -> None:
        if self._loaded is not None:  # never two readers of the one list position
            with contextlib.suppress(OktaError):
                await asyncio.shield(self._loaded)
        while self._next_url and self.pages < SIMILAR_MAX_PAGES:
            await self._read_page()

    async def _load(self) -> None:
        while self._next_url and self.pages < self._budget:
            await self._read_page()
            if self._next_url and not self._labels and self._ids <= self._by_id.keys():
                return  # every id found: the rest of the list is not needed

    async def _read_page(self) -> None:
        async with self._reading:  # one reader of the list position at a time
            url = self._next_url
            if url is None:
                return
            page, response = await self._api.get(url)
            if not isinstance(page, list):
                raise OktaError(f"GET {_short(url)}: expected a JSON list")
            self._take(page, next_link(response.headers.getall("Link", [])))

    def _take(self, page: list[Any], next_url: str | None) -> None:
        self.pages += 1
        for app in page:
            if isinstance(app, dict):
                self._by_id[str(app.get("id"))] = app
                self._by_label.setdefault(str(app.get("label")), []).append(app)
        self._next_url = next_url
        if not next_url:
            self.complete = True


def near_matches(ref: dict[str, str], apps: Iterable[dict[str, Any]], limit: int = SIMILAR_MAX) -> list[dict[str, Any]]:
    """Up to `limit` apps whose label (case-insensitive) or id is close to the reference's value
    (difflib's ratio of at least 0.6), best first; a label is compared with labels and an id
    with ids and labels (an id field holding a label is a common slip)."""
    wanted = (ref.get("id") or ref.get("label") or "").strip()
    if not wanted:
        return []
    scored = []
    for app in apps:
        label, app_id = str(app.get("label") or ""), str(app.get("id") or "")
        score = difflib.SequenceMatcher(None, wanted.lower(), label.lower()).ratio()
        if "id" in ref:
            score = max(score, difflib.SequenceMatcher(None, wanted, app_id).ratio())
        if score >= 0.6:
            scored.append((-score, label, app_id, app))
    scored.sort(key=lambda item: item[:3])
    return [app for *_, app in scored[:limit]]
