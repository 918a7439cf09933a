"""An Okta SAML app's metadata, read where Okta documents it.

Okta publishes an app's IdP metadata in two documented ways, and only these are used:

- the management API, ``GET /api/v1/apps/{appId}/sso/saml/metadata`` (previewSAMLmetadataForApplication
  in management.yaml; the app's ``_links.metadata.href``), authenticated like every API call. The
  scanner reads the metadata here, through :class:`auditor.collectors.okta.OktaAPI`;
- the public "Metadata URL" of the app's Sign On tab, ``{org}/app/{entityKey}/sso/saml/metadata``
  (the same document is at ``{org}/app/{appName}/{entityKey}/sso/saml/metadata``, beside the app's
  SSO URL). Cognito fetches its ``MetadataURL`` without credentials, so this is the form the
  COGNITO-IDP-METADATA fix writes.

The entity key (``exk...``) is not in the app's JSON: it is the tail of the default IdP entity ID
``http://www.okta.com/{entityKey}``, and the segment after the app name in the SSO URL
``{org}/app/{appName}/{entityKey}/sso/saml`` (which also holds with a custom ``idpIssuer``).

The signing certificates and their expiry come from the app's keys,
``GET /api/v1/apps/{appId}/credentials/keys`` (listApplicationKeys: JsonWebKey with the
certificate in ``x5c``); the active one is the app's ``credentials.signing.kid``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from auditor.collectors.saml_metadata import MetadataError, certificate_info, parse_metadata

if TYPE_CHECKING:
    from auditor.collectors.okta import OktaAPI

_DEFAULT_ISSUER = re.compile(r"^https?://www\.okta\.com/([0-9A-Za-z]+)$")
_SSO_PATH = re.compile(r"/app/[^/]+/([0-9A-Za-z]+)/sso/saml/?$")


def metadata_api_url(org_url: str, app: dict[str, Any]) -> str:
    """The app's authenticated metadata URL: `_links.metadata.href` when it is on the org (the
    API token is never sent elsewhere), else `{org}/api/v1/apps/{id}/sso/saml/metadata`."""
    org = org_url.rstrip("/")
    href = ((app.get("_links") or {}).get("metadata") or {}).get("href")
    if isinstance(href, str) and href.startswith(org + "/api/v1/apps/"):
        return href
    return f"{org}/api/v1/apps/{quote(str(app.get('id', '')), safe='')}/sso/saml/metadata"


def entity_key(metadata: dict[str, Any]) -> str | None:
    """The app's entity key (`exk...`) from parsed metadata: the tail of the default entity ID,
    else the segment after the app name in an SSO URL; None when neither has it."""
    match = _DEFAULT_ISSUER.match(str(metadata.get("entity_id") or ""))
    if match:
        return match.group(1)
    for sso in metadata.get("sso_urls") or []:
        match = _SSO_PATH.search(urlsplit(str(sso.get("location") or "")).path)
        if match:
            return match.group(1)
    return None


def public_metadata_url(org_url: str, key: str) -> str:
    """The "Metadata URL" of the app's Sign On tab."""
    return f"{org_url.rstrip('/')}/app/{key}/sso/saml/metadata"


def same_public_metadata(url: str, public_url: str) -> bool:
    """True when `url` is one of the two documented public forms of the app whose Sign On tab URL
    is `public_url`: the same host, `/app/{key}/...` or `/app/{name}/{key}/...`."""
    reference, parts = urlsplit(public_url), urlsplit(url)
    match = re.fullmatch(r"/app/([^/]+)/sso/saml/metadata", reference.path)
    if match is None or (parts.scheme, parts.netloc) != (reference.scheme, reference.netloc) or parts.query:
        return False
    return re.fullmatch(rf"/app/(?:[^/]+/)?{re.escape(match.group(1))}/sso/saml/metadata", parts.path) is not None


def key_certificates(keys: Any) -> list[dict[str, Any]]:
    """The snapshot's cert shape, plus `kid`, for each key of listApplicationKeys with an `x5c`."""
    if not isinstance(keys, list):
        raise MetadataError("the app's keys (/credentials/keys) are not a JSON list")
    certificates = []
    for key in keys:
        if not isinstance(key, dict) or not key.get("x5c"):
            continue
        kid = key.get("kid")
        try:
            # x5c: standard base64 DER, the first entry is the key's own certificate (RFC 7517 4.7).
            der = base64.b64decode(str(key["x5c"][0]), validate=True)
            certificates.append({**certificate_info(der), "kid": kid})
        except (binascii.Error, ValueError, MetadataError, TypeError, IndexError, KeyError) as exc:
            detail = exc.message if isinstance(exc, MetadataError) else type(exc).__name__
            raise MetadataError(f"the certificate of signing key {kid} does not parse ({detail})") from None
    return certificates


def okta_metadata(org_url: str, app: dict[str, Any], xml: bytes, keys: Any) -> dict[str, Any]:
    """The ``okta.metadata`` snapshot shape (see auditor.snapshot) from the metadata document read
    through the API and the app's keys. Raises MetadataError."""
    url = metadata_api_url(org_url, app)
    document = parse_metadata(xml, url=url)
    certificates = key_certificates(keys)
    kid = ((app.get("credentials") or {}).get("signing") or {}).get("kid")
    if kid:
        active = next((c for c in certificates if c["kid"] == kid), None)
        if active is None:
            raise MetadataError(f"the app's signing key {kid} (credentials.signing.kid) is not among its keys "
                                f"({', '.join(str(c['kid']) for c in certificates) or 'none'})")
    else:
        # Okta sets credentials.signing.kid on SAML apps; without it, the certificate the metadata
        # document publishes is the one in use.
        published = document.get("signing_certificate") or {}
        active = next((c for c in certificates if c["fingerprint_sha256"] == published.get("fingerprint_sha256")),
                      document.get("signing_certificate"))
    key = entity_key(document)
    return {
        "url": url,
        "public_url": public_metadata_url(org_url, key) if key else None,
        "entity_id": document["entity_id"],
        "sso_urls": document["sso_urls"],
        "signing_certificates": certificates,
        "signing_certificate": active,
        # Why there is no active certificate (the parser's reason when the document carries none).
        "signing_certificate_problem": None if active else (
            document.get("signing_certificate_problem") or "the metadata carries no signing certificate"),
        "warnings": list(document.get("warnings") or []),
    }


async def read_okta_metadata(api: OktaAPI, org_url: str, app: dict[str, Any]) -> dict[str, Any]:
    """Read an app's metadata and keys through the API (concurrently) and shape them.
    Raises OktaError (the calls) or MetadataError (the content)."""
    keys_url = f"/api/v1/apps/{quote(str(app.get('id', '')), safe='')}/credentials/keys"
    (xml, _), (keys, _) = await asyncio.gather(api.get_xml(metadata_api_url(org_url, app)), api.get(keys_url))
    return okta_metadata(org_url, app, xml, keys)
