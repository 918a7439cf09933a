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
    assert result["signing_certificate_problem"] is None and result["warnings"] == []
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
    assert only_encryption["signing_certificate_problem"] == (
        "the metadata carries no signing certificate (the IDPSSODescriptor has no KeyDescriptor for signing, "
        "only use='encryption')")


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
    with pytest.raises(MetadataError, match="found EntityDescriptor"):
        parse_metadata(b'<md:EntityDescriptor xmlns:md="urn:example:not-saml" entityID="x"/>')
    with pytest.raises(MetadataError, match=r"the EntitiesDescriptor holds no SAML 2\.0 identity provider: "
                                            r"it holds no EntityDescriptor"):
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


# -- metadata as real identity providers publish it (issue 18) ---------------------------------
# Small hand-written documents, each shaped after a section of the SAML 2.0 metadata
# specification (OASIS saml-metadata-2.0-os, "§" below).

SAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML11 = "urn:oasis:names:tc:SAML:1.1:protocol"
SHIB1 = "urn:mace:shibboleth:1.0"
MD = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
DS = 'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def key_descriptor(der: bytes, *, use: str | None = "signing", cert_ns: str = "ds") -> str:
    """§2.4.1.1 KeyDescriptor: a ds:KeyInfo (XML-DSig §4.4) holding one X509Certificate."""
    use_attr = f' use="{use}"' if use else ""
    if cert_ns == "ds":
        cert = f"<ds:X509Certificate>{_b64(der)}</ds:X509Certificate>"
    elif cert_ns == "md":  # the default namespace leaks in: <X509Certificate> under md:
        cert = f"<md:X509Certificate>{_b64(der)}</md:X509Certificate>"
    else:  # no namespace at all
        cert = f'<X509Certificate xmlns="">{_b64(der)}</X509Certificate>'
    return (f"<md:KeyDescriptor{use_attr}><ds:KeyInfo {DS}><ds:X509Data>{cert}</ds:X509Data></ds:KeyInfo>"
            "</md:KeyDescriptor>")


def idp_role(protocols: str, location: str, keys: str = "", binding: str = POST) -> str:
    """§2.4.3 IDPSSODescriptor (a §2.4.1 RoleDescriptor: protocolSupportEnumeration is required)."""
    return (f'<md:IDPSSODescriptor protocolSupportEnumeration="{protocols}">{keys}'
            f'<md:SingleSignOnService Binding="{binding}" Location="{location}"/></md:IDPSSODescriptor>')


def entity(entity_id: str, *roles: str, xmlns: bool = True) -> str:
    """§2.3.2 EntityDescriptor: entityID and one or more role descriptors."""
    return f'<md:EntityDescriptor {MD if xmlns else ""} entityID="{entity_id}">{"".join(roles)}</md:EntityDescriptor>'


def doc(body: str, *, encoding: str = "UTF-8") -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{body}'.encode()


def malformed_name_certificate() -> bytes:
    """A certificate whose DER decodes but whose subject carries a commonName typed BIT STRING
    (RFC 5280 §4.1.2.4 / X.520 type it DirectoryString; only x500UniqueIdentifier is a BIT STRING).

    Built with cryptography with the subject CN=zq (UTF8String, DER ``0c 02 7a 71``), then that
    value is rewritten in place to the BIT STRING ``03 02 00 01`` (same length, so every
    enclosing length still holds): the certificate decodes, its name does not."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zq")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(7).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    cn_utf8, cn_bitstring = b"\x06\x03\x55\x04\x03\x0c\x02zq", b"\x06\x03\x55\x04\x03\x03\x02\x00\x01"
    assert der.count(cn_utf8) == 2  # subject and issuer
    return der.replace(cn_utf8, cn_bitstring)


@pytest.mark.parametrize("encoding", ["UF-8", "UCS-2", "utf8mb4", "x-user-defined", "shift_jis", "idna", "hex"])
def test_unreadable_xml_encoding_is_a_metadata_error_naming_it(cert_der: bytes, encoding: str) -> None:
    # XML 1.0 §4.3.3: the declaration names the encoding; one the parser cannot read is the
    # document's fault, and the message must say which name it was.
    body = entity("urn:idp", idp_role(SAML2, "https://idp.example.com/sso", key_descriptor(cert_der)))
    with pytest.raises(MetadataError, match=f"encoding {encoding!r}"):
        parse_metadata(doc(body, encoding=encoding))


def test_certificate_with_malformed_name_attribute_is_a_metadata_error(cert_der: bytes) -> None:
    # §2.4.1.1: the second signing key's certificate decodes as DER but its subject does not.
    keys = key_descriptor(cert_der) + key_descriptor(malformed_name_certificate())
    body = entity("urn:idp", idp_role(SAML2, "https://idp.example.com/sso", keys))
    with pytest.raises(MetadataError, match=r"signing certificate 2 \(KeyDescriptor 2 of the IDPSSODescriptor\) "
                                            r"does not parse: .*X500_UNIQUE_IDENTIFIER"):
        parse_metadata(doc(body))


def test_the_saml2_role_is_read_when_a_saml11_role_comes_first(cert_der: bytes) -> None:
    # §2.4.1: protocolSupportEnumeration lists the protocols a role supports. Federation
    # aggregates publish a Shibboleth 1.x role (SAML 1.1, no keys) before the SAML 2.0 one.
    shib = idp_role(f"{SAML11} {SHIB1}", "https://idp.example.edu/profile/Shibboleth/SSO",
                    binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest")
    saml2 = idp_role(f"{SAML11}  {SAML2}\n", "https://idp.example.edu/profile/SAML2/POST/SSO",
                     key_descriptor(cert_der))
    result = parse_metadata(doc(entity("https://idp.example.edu/idp", shib, saml2)))
    assert result["sso_urls"] == [{"binding": POST, "location": "https://idp.example.edu/profile/SAML2/POST/SSO"}]
    assert result["signing_certificate"]["fingerprint_sha256"] == hashlib.sha256(cert_der).hexdigest()
    assert result["signing_certificate_problem"] is None


def test_an_idp_without_a_saml2_role_is_refused_saying_so(cert_der: bytes) -> None:
    shib = idp_role(f"{SAML11} {SHIB1}", "https://idp.example.edu/profile/Shibboleth/SSO", key_descriptor(cert_der))
    with pytest.raises(MetadataError, match=rf"no IDPSSODescriptor for SAML 2\.0.*{SAML11} {SHIB1}"):
        parse_metadata(doc(entity("https://idp.example.edu/idp", shib)))


@pytest.mark.parametrize("cert_ns", ["md", "none"])
def test_a_certificate_outside_the_xmldsig_namespace_is_reported(cert_der: bytes, cert_ns: str) -> None:
    # §2.4.1.1 KeyDescriptor holds a ds:KeyInfo; X509Certificate is XML-DSig's element (§4.4.4
    # of xmldsig-core): in another namespace no SAML consumer reads it.
    body = entity("urn:idp", idp_role(SAML2, "https://idp.example.com/sso", key_descriptor(cert_der, cert_ns=cert_ns)))
    result = parse_metadata(doc(body))
    assert result["signing_certificate"] is None and result["signing_certificates"] == []
    problem = result["signing_certificate_problem"]
    assert problem.startswith("the metadata carries no signing certificate")
    assert "KeyDescriptor 1" in problem and "not in the XML-DSig namespace" in problem


def test_a_misplaced_certificate_beside_a_good_one_is_a_warning(cert_der: bytes) -> None:
    keys = key_descriptor(cert_der) + key_descriptor(cert_der, cert_ns="md")
    result = parse_metadata(doc(entity("urn:idp", idp_role(SAML2, "https://idp.example.com/sso", keys))))
    assert result["signing_certificate_problem"] is None and len(result["signing_certificates"]) == 1
    assert any("KeyDescriptor 2" in w and "XML-DSig" in w for w in result["warnings"])


@pytest.mark.parametrize(
    ("keys", "reason"),
    [("", "has no KeyDescriptor"),
     ("encryption", "no KeyDescriptor for signing, only use='encryption'"),
     ("unknown-use", "no KeyDescriptor for signing, only use='encryption', 'sign'"),
     ("keyname", "no ds:X509Certificate")],
)
def test_no_signing_certificate_is_a_stated_fact(cert_der: bytes, keys: str, reason: str) -> None:
    key = {"": "", "encryption": key_descriptor(cert_der, use="encryption"),
           "unknown-use": key_descriptor(cert_der, use="sign") + key_descriptor(cert_der, use="encryption"),
           "keyname": f'<md:KeyDescriptor use="signing"><ds:KeyInfo {DS}><ds:KeyName>k1</ds:KeyName></ds:KeyInfo>'
                      "</md:KeyDescriptor>"}[keys]
    result = parse_metadata(doc(entity("urn:idp", idp_role(SAML2, "https://idp.example.com/sso", key))))
    assert result["signing_certificate"] is None
    assert result["signing_certificate_problem"].startswith("the metadata carries no signing certificate")
    assert reason in result["signing_certificate_problem"]
    assert any("use='sign'" in w for w in result["warnings"]) is (keys == "unknown-use")


def test_an_entities_descriptor_holding_one_idp_is_read(cert_der: bytes) -> None:
    # §2.3.1 EntitiesDescriptor: a group of EntityDescriptor and nested EntitiesDescriptor
    # elements. One IdP among service providers, nested one level down, is that IdP's metadata.
    sp = ('<md:EntityDescriptor entityID="https://sp.example.com/sp"><md:SPSSODescriptor '
          f'protocolSupportEnumeration="{SAML2}"/></md:EntityDescriptor>')
    idp = entity("https://idp.example.com/idp", idp_role(SAML2, "https://idp.example.com/sso",
                                                         key_descriptor(cert_der)), xmlns=False)
    body = (f'<md:EntitiesDescriptor {MD} Name="urn:federation">{sp}'
            f'<md:EntitiesDescriptor Name="urn:federation:idps">{idp}</md:EntitiesDescriptor></md:EntitiesDescriptor>')
    result = parse_metadata(doc(body))
    assert result["entity_id"] == "https://idp.example.com/idp"
    assert result["sso_urls"] == [{"binding": POST, "location": "https://idp.example.com/sso"}]
    assert result["signing_certificate"]["fingerprint_sha256"] == hashlib.sha256(cert_der).hexdigest()


def test_an_entities_descriptor_holding_several_idps_is_refused_naming_them(cert_der: bytes) -> None:
    idps = "".join(entity(f"https://idp{i}.example.com/idp", idp_role(SAML2, f"https://idp{i}.example.com/sso",
                                                                       key_descriptor(cert_der)), xmlns=False)
                   for i in (1, 2))
    with pytest.raises(MetadataError, match=r"2 identity providers.*https://idp1\.example\.com/idp, "
                                            r"https://idp2\.example\.com/idp"):
        parse_metadata(doc(f"<md:EntitiesDescriptor {MD}>{idps}</md:EntitiesDescriptor>"))


def test_an_entities_descriptor_without_an_idp_is_refused() -> None:
    sp = ('<md:EntityDescriptor entityID="https://sp.example.com/sp"><md:SPSSODescriptor '
          f'protocolSupportEnumeration="{SAML2}"/></md:EntityDescriptor>')
    with pytest.raises(MetadataError, match=r"holds no SAML 2\.0 identity provider"):
        parse_metadata(doc(f"<md:EntitiesDescriptor {MD}>{sp}</md:EntitiesDescriptor>"))
