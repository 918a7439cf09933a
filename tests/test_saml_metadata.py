"""SAML metadata fetch/parse: good documents, hostile documents, and hostile servers."""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from auditor.collectors.saml_metadata import MetadataError, fetch_metadata, parse_metadata
from auditor.sandbox.certs import make_self_signed

NOT_BEFORE = datetime(2024, 12, 8, 10, 0, 0, tzinfo=UTC)
NOT_AFTER = datetime(2026, 12, 8, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cert_der() -> bytes:
    return make_self_signed("example", NOT_BEFORE, NOT_AFTER)[1]


def metadata(cert_der: bytes, *, use: str | None = "signing", extra_key: str = "") -> bytes:
    use_attr = f' use="{use}"' if use else ""
    b64 = base64.b64encode(cert_der).decode()
    wrapped = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/exkABC">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {extra_key}
    <md:KeyDescriptor{use_attr}>
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>
{wrapped}
        </ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://example.okta.com/app/example_app_1/exkABC/sso/saml"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://example.okta.com/app/example_app_1/exkABC/sso/saml"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".encode()


# -- parsing -----------------------------------------------------------------------------------


def test_parse_good_metadata(cert_der: bytes) -> None:
    result = parse_metadata(metadata(cert_der), url="https://example.okta.com/app/exkABC/sso/saml/metadata")
    assert result["url"] == "https://example.okta.com/app/exkABC/sso/saml/metadata"
    assert result["entity_id"] == "http://www.okta.com/exkABC"
    assert result["sso_urls"] == [
        {
            "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            "location": "https://example.okta.com/app/example_app_1/exkABC/sso/saml",
        },
        {
            "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            "location": "https://example.okta.com/app/example_app_1/exkABC/sso/saml",
        },
    ]
    cert = result["signing_certificate"]
    assert result["signing_certificates"] == [cert]
    assert set(cert) == {"subject", "issuer", "serial", "not_before", "not_after", "fingerprint_sha256"}
    assert cert["not_before"] == "2024-12-08T10:00:00+00:00"
    assert cert["not_after"] == "2026-12-08T10:00:00+00:00"
    assert cert["fingerprint_sha256"] == hashlib.sha256(cert_der).hexdigest()
    assert "CN=example" in cert["subject"] and cert["subject"] == cert["issuer"]
    assert all(c in "0123456789abcdef" for c in cert["serial"])


def test_keydescriptor_without_use_is_signing_and_encryption_is_not(cert_der: bytes) -> None:
    assert parse_metadata(metadata(cert_der, use=None))["signing_certificate"] is not None
    only_encryption = parse_metadata(metadata(cert_der, use="encryption"))
    assert only_encryption["signing_certificates"] == []
    assert only_encryption["signing_certificate"] is None


@pytest.mark.parametrize(
    "payload",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol3;"/>',
        # external entity (XXE)
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>',
        # even a harmless DTD
        b'<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor>'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
    ],
    ids=["billion-laughs", "xxe", "dtd"],
)
def test_rejects_dtd_and_entities(payload: bytes) -> None:
    with pytest.raises(MetadataError, match="DTD or entity"):
        parse_metadata(payload)


@pytest.mark.parametrize("payload", [b"", b"   ", b"not xml at all", b'{"json": true}', b"<unclosed>"])
def test_rejects_non_xml(payload: bytes) -> None:
    with pytest.raises(MetadataError, match=r"empty|not well-formed"):
        parse_metadata(payload)


def test_rejects_wrong_root_and_names_it() -> None:
    with pytest.raises(MetadataError, match=r"found html \(no namespace\)"):
        parse_metadata(b"<html><body>Sign in</body></html>")
    with pytest.raises(MetadataError, match="found EntitiesDescriptor"):
        parse_metadata(b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>')


def test_rejects_metadata_without_idp_descriptor() -> None:
    sp_only = (
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp">'
        b'<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
        b"</md:EntityDescriptor>"
    )
    with pytest.raises(MetadataError, match="no IDPSSODescriptor"):
        parse_metadata(sp_only)


def test_rejects_certificate_that_does_not_parse(cert_der: bytes) -> None:
    with pytest.raises(MetadataError, match="does not parse"):
        parse_metadata(metadata(b"definitely not DER"))
    broken_b64 = metadata(cert_der).replace(b"<ds:X509Certificate>", b"<ds:X509Certificate>%%%")
    with pytest.raises(MetadataError, match="base64"):
        parse_metadata(broken_b64)


# -- fetching ----------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._send(200, self.body)
        elif self.path == "/big":
            self._send(200, b"<x>" + b"a" * 5000 + b"</x>")
        elif self.path == "/redirect-insecure":
            self.send_response(302)
            self.send_header("Location", "http://example.com/metadata")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not here")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(cert_der: bytes) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"body": metadata(cert_der)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_and_parse_over_loopback_http(server: str, cert_der: bytes) -> None:
    body = fetch_metadata(server + "/ok", allow_insecure_http=True)
    assert (
        parse_metadata(body)["signing_certificate"]["fingerprint_sha256"]
        == hashlib.sha256(cert_der).hexdigest()
    )
    localhost = server.replace("127.0.0.1", "localhost")
    assert fetch_metadata(localhost + "/ok", allow_insecure_http=True) == body


def test_http_refused_without_opt_in(server: str) -> None:
    with pytest.raises(MetadataError, match="https"):
        fetch_metadata(server + "/ok")


def test_http_refused_for_non_loopback_even_with_opt_in() -> None:
    with pytest.raises(MetadataError, match="loopback"):
        fetch_metadata("http://example.com/metadata", allow_insecure_http=True)
    with pytest.raises(MetadataError, match="loopback"):
        fetch_metadata("http://10.0.0.1/metadata", allow_insecure_http=True)


@pytest.mark.parametrize("url", ["ftp://example.com/m.xml", "file:///etc/passwd", "example.com/metadata"])
def test_bad_scheme(url: str) -> None:
    with pytest.raises(MetadataError, match="scheme"):
        fetch_metadata(url, allow_insecure_http=True)


def test_redirect_to_disallowed_url_refused(server: str) -> None:
    with pytest.raises(MetadataError, match="loopback"):
        fetch_metadata(server + "/redirect-insecure", allow_insecure_http=True)


def test_http_error_status(server: str) -> None:
    with pytest.raises(MetadataError, match="HTTP 404"):
        fetch_metadata(server + "/missing", allow_insecure_http=True)


def test_oversize_body(server: str) -> None:
    with pytest.raises(MetadataError, match="larger than the 1000-byte limit"):
        fetch_metadata(server + "/big", allow_insecure_http=True, max_bytes=1000)
    assert len(fetch_metadata(server + "/big", allow_insecure_http=True, max_bytes=5007)) == 5007


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MetadataError, match="cannot connect"):
        fetch_metadata(f"http://127.0.0.1:{port}/m", allow_insecure_http=True, timeout=2)


def test_timeout_when_server_never_answers() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(MetadataError, match="timed out"):
            fetch_metadata(f"http://127.0.0.1:{port}/m", allow_insecure_http=True, timeout=0.5)
        assert time.monotonic() - started < 3
