"""Fetch and parse SAML 2.0 IdP metadata (Okta's app metadata, Cognito's MetadataURL/MetadataFile).

`fetch_metadata` downloads the document (https only, except plain http to a loopback host when
explicitly allowed, for the local simulator); `parse_metadata` turns it into the plain JSON
shape of ``okta.metadata`` in :mod:`auditor.snapshot`::

    {url, entity_id, sso_urls: [{binding, location}],
     signing_certificates: [cert], signing_certificate: cert | None,
     signing_certificate_problem: str | None, warnings: [str]}
    cert = {subject, issuer, serial, not_before, not_after, fingerprint_sha256}

Dates are ISO 8601 in UTC (``2026-12-08T10:00:00+00:00``), ``serial`` is the certificate serial
number in lowercase hex, ``fingerprint_sha256`` the SHA-256 of the DER in lowercase hex without
colons. XML is parsed with defusedxml: DTDs, entity declarations and external references are
refused (no billion laughs, no XXE).

Which role is read (SAML metadata spec, OASIS saml-metadata-2.0-os): the root is an
EntityDescriptor (§2.3.2) or an EntitiesDescriptor (§2.3.1) holding exactly one SAML 2.0 IdP
(several are refused, naming their entity IDs); of that entity, the first IDPSSODescriptor whose
protocolSupportEnumeration (§2.4.1) lists ``urn:oasis:names:tc:SAML:2.0:protocol`` - federation
aggregates put a SAML 1.1 / Shibboleth role before it. Metadata with none is refused.

No signing certificate is not a parse failure but a stated fact: ``signing_certificate`` is
None and ``signing_certificate_problem`` says why, always starting "the metadata carries no
signing certificate" (no KeyDescriptor, encryption keys only, no ds:X509Certificate, or a
certificate outside the XML-DSig namespace, which no SAML consumer reads). It is None whenever
there is a certificate. ``warnings`` lists what was ignored in a usable document (a misplaced
certificate beside a good one, a KeyDescriptor with an unknown ``use``, a second SAML 2.0 role).
Anything that makes the document unusable raises MetadataError, and nothing else escapes
`parse_metadata` (tests/unit/test_saml_metadata_properties.py mutates documents to hold it to that).

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
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from typing import IO, Any
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

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
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


def certificate_info(der: bytes, *, where: str = "signing certificate in metadata") -> dict[str, Any]:
    """The snapshot's cert shape for one DER certificate; raises MetadataError if it won't parse.

    `where` names the certificate in the message (``signing certificate 2 (KeyDescriptor 3 of
    the IDPSSODescriptor)``).
    """
    try:
        return dict(_certificate_fields(der))
    except Exception as exc:
        # cryptography decodes the DER lazily: a name attribute with the wrong ASN.1 type only
        # fails when the name is read, as TypeError ("oid must be X500_UNIQUE_IDENTIFIER for
        # BitString type"); other corruptions raise ValueError. Whatever it raises about these
        # untrusted bytes means the same thing: this certificate does not parse.
        raise MetadataError(f"{where} does not parse: {exc}") from exc


# A scan meets each app's certificate three times (the app's metadata, its keys, and Cognito's
# copy or IAM's SAML provider): parsed once (~0.1 ms each). Only certificates that parse are kept.
@functools.lru_cache(maxsize=512)
def _certificate_fields(der: bytes) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": _iso_utc(cert.not_valid_before_utc),
        "not_after": _iso_utc(cert.not_valid_after_utc),
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
    }


def _decode_certificate(text: str | None, where: str) -> bytes:
    compact = "".join((text or "").split())
    if not compact:
        raise MetadataError(f"{where} is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MetadataError(f"{where} is not valid base64: {exc}") from exc


def _describe(tag: str) -> str:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return f"{local} (namespace {ns})"
    return f"{tag} (no namespace)"


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']{0,100})["']""")


def _declared_encoding(xml: bytes) -> str | None:
    match = _DECLARED_ENCODING.match(xml[:300])
    return match.group(1).decode("ascii", "replace") if match else None


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
    except (LookupError, ValueError) as exc:
        # expat hands an encoding it does not know itself to Python's codecs: an unknown name
        # ("UF-8", "utf8mb4") raises LookupError, a multi-byte one ("shift_jis") ValueError,
        # a codec that cannot decode expat's way ("idna") UnicodeError (a ValueError).
        encoding = _declared_encoding(xml)
        named = f"the character encoding {encoding!r}" if encoding is not None else "a character encoding"
        raise MetadataError(
            f"metadata's XML declaration names {named}, which cannot be read ({exc}); "
            "serve the metadata as UTF-8"
        ) from exc


SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
NO_SIGNING_CERTIFICATE = "the metadata carries no signing certificate"
_ENTITIES_DESCRIPTOR = f"{{{MD_NS}}}EntitiesDescriptor"
_IDP_DESCRIPTOR = f"{{{MD_NS}}}IDPSSODescriptor"
_KEY_DESCRIPTOR = f"{{{MD_NS}}}KeyDescriptor"
_DS_CERTIFICATE = f"{{{DS_NS}}}X509Certificate"
_NAMED_AT_MOST = 10  # entity IDs a refusal names (an aggregate holds thousands)


def _protocols(role: Element) -> list[str]:
    # §2.4.1: protocolSupportEnumeration is a whitespace-separated list of anyURI.
    return (role.get("protocolSupportEnumeration") or "").split()


def _is_saml2_idp(entity: Element) -> bool:
    return any(SAML2_PROTOCOL in _protocols(role) for role in entity.findall(_IDP_DESCRIPTOR))


def _entities(group: Element) -> list[Element]:
    """Every EntityDescriptor of an EntitiesDescriptor, through nested EntitiesDescriptors (§2.3.1).

    Walked with an explicit stack: a hostile document may nest groups deeper than Python recurses.
    """
    found: list[Element] = []
    stack = [group]
    while stack:
        for child in reversed(stack.pop()):
            if child.tag == _ENTITY_DESCRIPTOR:
                found.append(child)
            elif child.tag == _ENTITIES_DESCRIPTOR:
                stack.append(child)
    found.reverse()
    return found


def _name_entities(entities: list[Element]) -> str:
    ids = [e.get("entityID") or "(no entityID)" for e in entities]
    more = len(ids) - _NAMED_AT_MOST
    return ", ".join(ids[:_NAMED_AT_MOST]) + (f" and {more} more" if more > 0 else "")


def _idp_entity(root: Element) -> Element:
    """The EntityDescriptor to read: the root, or the one SAML 2.0 IdP of an EntitiesDescriptor."""
    if root.tag == _ENTITY_DESCRIPTOR:
        return root
    if root.tag != _ENTITIES_DESCRIPTOR:
        raise MetadataError(
            f"not SAML metadata: expected an EntityDescriptor or EntitiesDescriptor (namespace {MD_NS}) "
            f"as the root element, found {_describe(root.tag)}"
        )
    entities = _entities(root)
    idps = [e for e in entities if _is_saml2_idp(e)]
    if len(idps) == 1:
        return idps[0]
    if idps:
        raise MetadataError(
            f"the EntitiesDescriptor holds {len(idps)} identity providers ({_name_entities(idps)}); "
            "the metadata of one IdP is needed: use that IdP's own metadata URL"
        )
    other_idps = [e for e in entities if e.find(_IDP_DESCRIPTOR) is not None]
    if other_idps:
        detail = f"its identity providers ({_name_entities(other_idps)}) list no SAML 2.0 protocol"
    elif entities:
        detail = f"none of its {len(entities)} EntityDescriptor elements has an IDPSSODescriptor"
    else:
        detail = "it holds no EntityDescriptor"
    raise MetadataError(f"the EntitiesDescriptor holds no SAML 2.0 identity provider: {detail}")


def _saml2_role(entity: Element, entity_id: str, warnings: list[str]) -> tuple[Element, str]:
    """The IDPSSODescriptor listing SAML 2.0 (§2.4.1), and how messages name it."""
    roles = entity.findall(_IDP_DESCRIPTOR)
    if not roles:
        raise MetadataError(f"metadata for {entity_id} has no IDPSSODescriptor (not an identity provider)")
    saml2 = [i for i, role in enumerate(roles) if SAML2_PROTOCOL in _protocols(role)]
    if not saml2:
        listed = "; ".join(" ".join(_protocols(role)) or "(empty)" for role in roles)
        raise MetadataError(
            f"metadata for {entity_id} has no IDPSSODescriptor for SAML 2.0: none lists {SAML2_PROTOCOL} "
            f"in protocolSupportEnumeration (found: {listed})"
        )
    if len(saml2) > 1:
        warnings.append(f"{len(saml2)} IDPSSODescriptor elements list SAML 2.0; the first is read")
    index = saml2[0]
    name = "the IDPSSODescriptor" if len(roles) == 1 else f"IDPSSODescriptor {index + 1}"
    return roles[index], name


def _signing_certificates(
    role: Element, role_name: str, warnings: list[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The role's signing certificates (§2.4.1.1), and why there is none when there is none."""
    certificates: list[dict[str, Any]] = []
    misplaced: list[str] = []
    descriptors = role.findall(_KEY_DESCRIPTOR)
    signing = 0
    for k, descriptor in enumerate(descriptors, 1):
        use = descriptor.get("use")
        # §2.4.1.1: `use` is "signing" or "encryption"; a KeyDescriptor without it is for both.
        if use == "encryption":
            continue
        if use not in (None, "signing"):
            warnings.append(f"KeyDescriptor {k} of {role_name} has use={use!r}, neither signing nor encryption: "
                            "ignored")
            continue
        signing += 1
        for element in descriptor.iter():
            if element.tag == _DS_CERTIFICATE:
                where = f"signing certificate {len(certificates) + 1} (KeyDescriptor {k} of {role_name})"
                certificates.append(certificate_info(_decode_certificate(element.text, where), where=where))
            elif _local_name(element.tag) == "X509Certificate":
                misplaced.append(f"KeyDescriptor {k} holds {_describe(element.tag)}")
    if misplaced:
        note = (f"{'; '.join(misplaced)}: not in the XML-DSig namespace {DS_NS}, so SAML consumers do "
                "not read it as a certificate")
        if certificates:
            warnings.append(f"{role_name}: {note}")
        else:
            return certificates, f"{NO_SIGNING_CERTIFICATE} ({note})"
    if certificates:
        return certificates, None
    if not descriptors:
        return certificates, f"{NO_SIGNING_CERTIFICATE} ({role_name} has no KeyDescriptor)"
    if not signing:
        uses = ", ".join(sorted({repr(d.get("use")) for d in descriptors}))
        return certificates, f"{NO_SIGNING_CERTIFICATE} ({role_name} has no KeyDescriptor for signing, only use={uses})"
    return certificates, (f"{NO_SIGNING_CERTIFICATE} (the signing KeyDescriptors of {role_name} "
                          "hold no ds:X509Certificate)")


def parse_metadata(xml: bytes, *, url: str | None = None) -> dict[str, Any]:
    """Parse SAML 2.0 IdP metadata into the ``okta.metadata`` snapshot shape.

    Reads the IDPSSODescriptor whose protocolSupportEnumeration lists SAML 2.0, of the root
    EntityDescriptor or of the one SAML 2.0 IdP an EntitiesDescriptor holds. A KeyDescriptor
    without ``use`` counts as signing (SAML metadata spec, section 2.4.1.1). Metadata without a
    signing certificate parses: ``signing_certificate_problem`` says why there is none.
    Raises MetadataError - and nothing else - for anything that makes the document unusable:
    empty, not XML, an unreadable declared encoding, DTD/entity payloads, a root that is neither
    descriptor, an EntitiesDescriptor with no or several SAML 2.0 IdPs, no SAML 2.0
    IDPSSODescriptor, or a signing certificate that does not decode or parse.
    """
    if not xml or not xml.strip():
        raise MetadataError("metadata is empty")
    return {**_copied(_parsed(xml)), "url": url}


def _copied(value: Any) -> Any:
    """A copy of a parsed document's lists and objects (the cached one is never handed out)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


# One Okta document is parsed by two collectors in a scan: an app's metadata read through the API
# by the Okta collector, and the same bytes again from Cognito's MetadataURL or in IAM's SAML
# provider. A document is a pure function of its bytes: parsed once (~0.25 ms); failures are not
# kept (they raise again). Keyed by the bytes' digest, so the cache holds no documents.
_PARSED: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
_PARSED_MAX = 512
_PARSED_LOCK = threading.Lock()


def _parsed(xml: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(xml).digest()
    with _PARSED_LOCK:
        document = _PARSED.get(digest)
        if document is not None:
            _PARSED.move_to_end(digest)
            return document
    document = _parse_document(xml)
    with _PARSED_LOCK:
        _PARSED[digest] = document
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return document


def _parse_document(xml: bytes) -> dict[str, Any]:
    entity = _idp_entity(_parse_xml(xml))
    entity_id = entity.get("entityID")
    if not entity_id:
        raise MetadataError("EntityDescriptor has no entityID")
    warnings: list[str] = []
    idp, role_name = _saml2_role(entity, entity_id, warnings)
    certificates, problem = _signing_certificates(idp, role_name, warnings)
    sso_urls = [
        {"binding": sso.get("Binding"), "location": sso.get("Location")}
        for sso in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
    ]
    return {
        "url": None,
        "entity_id": entity_id,
        "sso_urls": sso_urls,
        "signing_certificates": certificates,
        "signing_certificate": certificates[0] if certificates else None,
        "signing_certificate_problem": problem,
        "warnings": warnings,
    }
