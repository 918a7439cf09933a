"""Fetch and parse SAML 2.0 IdP metadata (Okta's app metadata, Cognito's MetadataURL/MetadataFile).

`fetch_metadata` downloads the document (https only, except plain http to a loopback host when
explicitly allowed, for the local simulator); `parse_metadata` turns it into the plain JSON
shape of ``okta.metadata`` in :mod:`auditor.snapshot`::

    {url, entity_id, sso_urls: [{binding, location}],
     signing_certificates: [cert], signing_certificate: cert | None}
    cert = {subject, issuer, serial, not_before, not_after, fingerprint_sha256}

Dates are ISO 8601 in UTC (``2026-12-08T10:00:00+00:00``), ``serial`` is the certificate serial
number in lowercase hex, ``fingerprint_sha256`` the SHA-256 of the DER in lowercase hex without
colons. XML is parsed with defusedxml: DTDs, entity declarations and external references are
refused (no billion laughs, no XXE).

Kept deliberately light: standard library, defusedxml and cryptography only.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import http.client
import ipaddress
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from cryptography import x509
from defusedxml import DefusedXmlException

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_ENTITY_DESCRIPTOR = f"{{{MD_NS}}}EntityDescriptor"

_READ_CHUNK = 64 * 1024


class MetadataError(Exception):
    """The metadata could not be fetched or is not usable SAML IdP metadata."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (the only hosts plain http may reach)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure_http: bool = False) -> None:
    """Raise MetadataError unless `url` may be fetched: https, or http to loopback when allowed."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname:
            raise MetadataError(f"metadata URL has no host: {url}")
        return
    if scheme == "http":
        if not allow_insecure_http:
            raise MetadataError(
                f"refusing plain-http metadata URL {url}: metadata must be fetched over https "
                "(http is allowed only for a loopback host with allow_insecure_http)"
            )
        if not is_loopback_host(parts.hostname):
            raise MetadataError(
                f"refusing plain-http metadata URL {url}: allow_insecure_http permits http only "
                "to a loopback host (127.0.0.0/8, ::1, localhost)"
            )
        return
    raise MetadataError(
        f"unsupported metadata URL scheme {parts.scheme or '(none)'!r} in {url!r}: expected https"
    )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Apply the same scheme/host rule to every redirect target (no https -> http downgrade)."""

    def __init__(self, allow_insecure_http: bool) -> None:
        super().__init__()
        self._allow_insecure_http = allow_insecure_http

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        check_url(newurl, allow_insecure_http=self._allow_insecure_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _is_timeout(exc: BaseException | object) -> bool:
    return isinstance(exc, TimeoutError)


# Transient failures (429, 5xx, timeouts, dropped connections) are retried with backoff.
FETCH_ATTEMPTS = 3
FETCH_BACKOFF_BASE_S = 0.25
_RETRY_HTTP = frozenset({429, 500, 502, 503, 504})


class _TransientFetch(MetadataError):
    """A failure worth another attempt."""


def fetch_metadata(
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    allow_insecure_http: bool = False,
) -> bytes:
    """Download a metadata document and return its raw bytes.

    `timeout` bounds each socket operation and each attempt's whole download (a server that
    drips one byte at a time cannot hold the scan). Transient failures are retried up to
    FETCH_ATTEMPTS times with jittered exponential backoff. Raises MetadataError for a refused
    URL, an HTTP status >= 400, a timeout, a connection failure, or a body larger than
    `max_bytes`.
    """
    check_url(url, allow_insecure_http=allow_insecure_http)
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            return _fetch_once(url, timeout=timeout, max_bytes=max_bytes, allow_insecure_http=allow_insecure_http)
        except _TransientFetch as exc:
            if attempt == FETCH_ATTEMPTS:
                raise MetadataError(f"{exc.message} (gave up after {attempt} attempts)") from None
            time.sleep(random.uniform(0, FETCH_BACKOFF_BASE_S * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=2)
def _opener(allow_insecure_http: bool) -> urllib.request.OpenerDirector:
    """One opener per setting: building one (every default handler, the proxy settings read
    from the environment) cost more CPU than the fetch itself, 400 times a scan of 200
    federations. Its handlers keep no per-request state, so threads may share it."""
    return urllib.request.build_opener(_CheckedRedirects(allow_insecure_http))


def _fetch_once(url: str, *, timeout: float, max_bytes: int, allow_insecure_http: bool) -> bytes:
    opener = _opener(allow_insecure_http)
    request = urllib.request.Request(
        url, headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"}
    )
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            chunks: list[bytes] = []
            size = 0
            while size <= max_bytes:
                if time.monotonic() > deadline:
                    raise _TransientFetch(f"timed out after {timeout:g} s reading metadata from {url}")
                # read1: one socket read at most, so the deadline is checked between trickles
                # (read(n) would block until n bytes arrived, each byte resetting the socket timeout).
                chunk = response.read1(min(_READ_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > max_bytes:
                raise MetadataError(f"metadata from {url} is larger than the {max_bytes}-byte limit")
            return b"".join(chunks)
    except MetadataError:
        raise
    except urllib.error.HTTPError as exc:
        error = _TransientFetch if exc.code in _RETRY_HTTP else MetadataError
        raise error(f"HTTP {exc.code} {exc.reason} fetching metadata from {url}") from exc
    except urllib.error.URLError as exc:
        if _is_timeout(exc.reason):
            raise _TransientFetch(f"timed out after {timeout:g} s fetching metadata from {url}") from exc
        if isinstance(exc.reason, OSError):
            raise _TransientFetch(f"cannot connect to fetch metadata from {url}: {exc.reason}") from exc
        raise MetadataError(f"cannot connect to fetch metadata from {url}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise _TransientFetch(f"timed out after {timeout:g} s fetching metadata from {url}") from exc
    except (OSError, http.client.HTTPException) as exc:
        # RemoteDisconnected, IncompleteRead, a reset connection...
        raise _TransientFetch(f"failed to fetch metadata from {url}: {exc!r}") from exc
    except ValueError as exc:
        raise MetadataError(f"failed to fetch metadata from {url}: {exc!r}") from exc


def _iso_utc(value: Any) -> str:
    return str(value.isoformat())


def certificate_info(der: bytes) -> dict[str, Any]:
    """The snapshot's cert shape for one DER certificate; raises MetadataError if it won't parse."""
    try:
        cert = x509.load_der_x509_certificate(der)
        return {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "not_before": _iso_utc(cert.not_valid_before_utc),
            "not_after": _iso_utc(cert.not_valid_after_utc),
            "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
        }
    except ValueError as exc:
        raise MetadataError(f"signing certificate in metadata does not parse: {exc}") from exc


def _decode_certificate(text: str | None) -> bytes:
    compact = "".join((text or "").split())
    if not compact:
        raise MetadataError("signing certificate in metadata is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MetadataError(f"signing certificate in metadata is not valid base64: {exc}") from exc


def _describe(tag: str) -> str:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return f"{local} (namespace {ns})"
    return f"{tag} (no namespace)"


def _parse_xml(xml: bytes) -> Element:
    try:
        return SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise MetadataError(
            f"metadata rejected: it contains a DTD or entity declaration ({type(exc).__name__}), "
            "which SAML metadata never needs"
        ) from exc
    except ParseError as exc:
        raise MetadataError(f"metadata is not well-formed XML: {exc}") from exc


def parse_metadata(xml: bytes, *, url: str | None = None) -> dict[str, Any]:
    """Parse SAML 2.0 IdP metadata into the ``okta.metadata`` snapshot shape.

    A KeyDescriptor without ``use`` counts as signing (SAML metadata spec, section 2.4.1.1).
    Raises MetadataError for non-XML, DTD/entity payloads, a root that is not an
    EntityDescriptor, a missing IDPSSODescriptor, or a certificate that does not parse.
    """
    if not xml or not xml.strip():
        raise MetadataError("metadata is empty")
    root = _parse_xml(xml)
    if root.tag != _ENTITY_DESCRIPTOR:
        raise MetadataError(
            f"not SAML metadata: expected an EntityDescriptor (namespace {MD_NS}) as the root "
            f"element, found {_describe(root.tag)}"
        )
    entity_id = root.get("entityID")
    if not entity_id:
        raise MetadataError("EntityDescriptor has no entityID")
    idp = root.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if idp is None:
        raise MetadataError(f"metadata for {entity_id} has no IDPSSODescriptor (not an identity provider)")

    certificates: list[dict[str, Any]] = []
    for descriptor in idp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if descriptor.get("use") not in (None, "signing"):
            continue
        for cert_el in descriptor.iter(f"{{{DS_NS}}}X509Certificate"):
            certificates.append(certificate_info(_decode_certificate(cert_el.text)))

    sso_urls = [
        {"binding": sso.get("Binding"), "location": sso.get("Location")}
        for sso in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
    ]
    return {
        "url": url,
        "entity_id": entity_id,
        "sso_urls": sso_urls,
        "signing_certificates": certificates,
        "signing_certificate": certificates[0] if certificates else None,
    }
