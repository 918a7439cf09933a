"""SAML metadata fetched once per scan per URL.

The Okta collector reads each app's metadata, and the Cognito collector reads the IdP's
`MetadataURL` - normally the very same Okta URL. Both ask this cache, from any thread; the first
asker downloads and parses, concurrent askers wait for it, later ones get the stored result
(a failure is stored too: both collectors then report the same error, and the URL is not hit
again within the scan).
"""

from __future__ import annotations

from typing import Any

from auditor.collectors.pacing import OnceCache
from auditor.collectors.saml_metadata import fetch_metadata, parse_metadata
from auditor.config import Config


class MetadataCache:
    """Parsed SAML metadata by URL, for one scan."""

    def __init__(self, config: Config) -> None:
        self._timeout = config.okta.timeout_seconds
        self._allow_insecure_http = config.okta.allow_insecure_http
        self._cache = OnceCache()
        self.fetches = 0

    def get(self, url: str) -> dict[str, Any]:
        """`parse_metadata` of the document at `url`; raises MetadataError. Do not mutate the result."""
        def load() -> dict[str, Any]:
            self.fetches += 1
            xml = fetch_metadata(url, timeout=self._timeout, allow_insecure_http=self._allow_insecure_http)
            return parse_metadata(xml, url=url)

        result: dict[str, Any] = self._cache.get(url, load)
        return result
