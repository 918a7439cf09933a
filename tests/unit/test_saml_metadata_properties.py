"""Property test: whatever a metadata URL serves, `parse_metadata` returns a result or raises
MetadataError (its callers catch nothing else) - never another exception, never a hang.

Real-looking documents in the shapes IdPs publish (Okta; ADFS / Entra ID with a ds:Signature
and WS-Federation roles; a Shibboleth federation aggregate; Google's default namespaces;
Keycloak's EntitiesDescriptor) are mutated: byte flips, truncation, inserted and deleted bytes,
other declared or actual encodings, duplicated and removed elements, certificates of random or
corrupted bytes, deep nesting. Every input is bounded (a few KB, nesting depth <= 200).

CI runs the fixed-seed `ci` profile (tests/conftest.py); `HYPOTHESIS_PROFILE=long` explores more.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from auditor.collectors.saml_metadata import NO_SIGNING_CERTIFICATE, MetadataError, parse_metadata


def _certificate(common_name: str, serial: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())  # EC: fast to make, still a real certificate
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Okta"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.EMAIL_ADDRESS, "info@example.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


SIGNING = _certificate("acme", 0x1234)
ENCRYPTION = _certificate("acme-encryption", 0x5678)


def _b64(der: bytes, width: int = 64) -> str:
    text = base64.b64encode(der).decode()
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


SAML2 = "urn:oasis:names:tc:SAML:2.0:protocol"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

OKTA = f"""<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/exk1a2b3c4d5e6f7g8h9"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{SAML2}"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{_b64(SIGNING)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="{POST}" Location="https://acme.okta.com/app/acme_cc_1/exk1a2b3c4d5e6f7g8h9/sso/saml"/><md:SingleSignOnService Binding="{REDIRECT}" Location="https://acme.okta.com/app/acme_cc_1/exk1a2b3c4d5e6f7g8h9/sso/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>"""  # noqa: E501

# ADFS and Entra ID: a signed document, WS-Federation RoleDescriptors (xsi:type) before the
# IDPSSODescriptor, signing and encryption keys, default-namespace ds elements.
ADFS = f"""\ufeff<?xml version="1.0" encoding="utf-8"?>
<EntityDescriptor ID="_3f1b2c" entityID="http://adfs.example.com/adfs/services/trust" xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
 <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_3f1b2c"><ds:DigestValue>q83vEjRWeJA=</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAECAwQ=</ds:SignatureValue><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{_b64(SIGNING, 76)}</X509Certificate></X509Data></KeyInfo></ds:Signature>
 <RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/ws-sx/ws-trust/200512" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{_b64(SIGNING, 76)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor></RoleDescriptor>
 <SPSSODescriptor WantAssertionsSigned="true" protocolSupportEnumeration="{SAML2}"><AssertionConsumerService Binding="{POST}" Location="https://adfs.example.com/adfs/ls/" index="0" isDefault="true"/></SPSSODescriptor>
 <IDPSSODescriptor protocolSupportEnumeration="{SAML2}">
  <KeyDescriptor use="encryption"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{_b64(ENCRYPTION, 76)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
  <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>{_b64(SIGNING, 76)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
  <SingleLogoutService Binding="{REDIRECT}" Location="https://adfs.example.com/adfs/ls/"/>
  <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
  <SingleSignOnService Binding="{REDIRECT}" Location="https://adfs.example.com/adfs/ls/"/>
  <SingleSignOnService Binding="{POST}" Location="https://adfs.example.com/adfs/ls/"/>
  <Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/>
 </IDPSSODescriptor>
</EntityDescriptor>"""  # noqa: E501

# A federation aggregate: service providers, and an IdP with a Shibboleth 1.x role first.
AGGREGATE = f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" Name="urn:mace:example.org:federation" validUntil="2030-01-01T00:00:00Z">
 <md:EntityDescriptor entityID="https://sp.example.org/shibboleth"><md:SPSSODescriptor protocolSupportEnumeration="{SAML2}"><md:AssertionConsumerService Binding="{POST}" Location="https://sp.example.org/Shibboleth.sso/SAML2/POST" index="1"/></md:SPSSODescriptor></md:EntityDescriptor>
 <md:EntitiesDescriptor Name="urn:mace:example.org:idps">
  <md:EntityDescriptor entityID="https://idp.example.edu/idp/shibboleth">
   <md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="en">Example University</mdui:DisplayName></mdui:UIInfo></md:Extensions>
   <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:mace:shibboleth:1.0">
    <md:SingleSignOnService Binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest" Location="https://idp.example.edu/idp/profile/Shibboleth/SSO"/>
   </md:IDPSSODescriptor>
   <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol {SAML2}">
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{_b64(SIGNING)}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="{POST}" Location="https://idp.example.edu/idp/profile/SAML2/POST/SSO"/>
   </md:IDPSSODescriptor>
  </md:EntityDescriptor>
 </md:EntitiesDescriptor>
</md:EntitiesDescriptor>"""  # noqa: E501

# Google Workspace: unprefixed md namespace, ds declared on KeyInfo.
GOOGLE = f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://accounts.google.com/o/saml2?idpid=C01abcdef" validUntil="2030-01-01T00:00:00.000Z">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{SAML2}">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data>
          <ds:X509Certificate>{_b64(SIGNING)}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="{REDIRECT}" Location="https://accounts.google.com/o/saml2/idp?idpid=C01abcdef"/>
    <md:SingleSignOnService Binding="{POST}" Location="https://accounts.google.com/o/saml2/idp?idpid=C01abcdef"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""  # noqa: E501

# Keycloak serves its realm's IdP metadata inside an EntitiesDescriptor.
KEYCLOAK = f"""<md:EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Name="urn:keycloak"><md:EntityDescriptor entityID="https://sso.example.com/realms/acme"><md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="{SAML2}"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>k3y1d</ds:KeyName><ds:X509Data><ds:X509Certificate>{_b64(SIGNING, 10_000)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sso.example.com/realms/acme/protocol/saml/resolve" index="0"/><md:SingleSignOnService Binding="{POST}" Location="https://sso.example.com/realms/acme/protocol/saml"/></md:IDPSSODescriptor></md:EntityDescriptor></md:EntitiesDescriptor>"""  # noqa: E501

DOCUMENTS = {"okta": OKTA, "adfs": ADFS, "aggregate": AGGREGATE, "google": GOOGLE, "keycloak": KEYCLOAK}
EXPECTED_ENTITY = {
    "okta": "http://www.okta.com/exk1a2b3c4d5e6f7g8h9", "adfs": "http://adfs.example.com/adfs/services/trust",
    "aggregate": "https://idp.example.edu/idp/shibboleth",
    "google": "https://accounts.google.com/o/saml2?idpid=C01abcdef", "keycloak": "https://sso.example.com/realms/acme",
}

_ELEMENTS = re.compile(
    rb"<((?:md:|ds:)?(?:KeyDescriptor|IDPSSODescriptor|EntityDescriptor|SingleSignOnService|X509Certificate"
    rb"|KeyInfo|X509Data|EntitiesDescriptor|Signature|Extensions))\b[^>]*?(?:/>|>.*?</\1>)", re.DOTALL)
_CERTIFICATES = re.compile(rb"(<(?:ds:)?X509Certificate>)(.*?)(</(?:ds:)?X509Certificate>)", re.DOTALL)
_ATTRIBUTES = re.compile(rb'(protocolSupportEnumeration|use|entityID|xmlns(?::\w+)?)="[^"]*"')
_DECLARED = ["UTF-8", "utf-16", "UTF-32", "ISO-8859-1", "windows-1252", "UF-8", "UCS-2", "utf8mb4",
             "x-user-defined", "shift_jis", "idna", "hex", "utf-7", "ebcdic-cp-us", "", "\xe9"]
_TRANSCODE = ["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig", "cp037"]
_VALUES = [b"", b" ", SAML2.encode(), b"urn:oasis:names:tc:SAML:1.1:protocol", b"signing", b"encryption", b"both",
           b"urn:oasis:names:tc:SAML:2.0:metadata", b"http://www.w3.org/2000/09/xmldsig#", b"\xff\xfe", b"&#0;"]


# Byte-level damage almost always ends in "not well-formed": the structural mutations, which
# reach the parser's later stages, are drawn three times as often.
_STRUCTURAL = ["declare", "transcode", "duplicate", "remove", "certificate", "der", "attribute", "nest"]
_KINDS = ["flip", "truncate", "insert", "delete", *_STRUCTURAL * 3]


def _matches(pattern: re.Pattern[bytes], data: bytes) -> list[re.Match[bytes]]:
    return list(pattern.finditer(data))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    data = DOCUMENTS[name].encode("utf-8")
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(_KINDS))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(max_size=24)) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)):]
        elif kind == "declare":
            encoding = draw(st.sampled_from(_DECLARED)).encode("utf-8")
            body = re.sub(rb"^\s*(\xef\xbb\xbf)?<\?xml[^>]*\?>", b"", data)
            data = b'<?xml version="1.0" encoding="' + encoding + b'"?>' + body
        elif kind == "transcode":
            encoding = draw(st.sampled_from(_TRANSCODE))
            with contextlib.suppress(ValueError):  # not text any more, or not encodable: leave as is
                data = data.decode("utf-8").encode(encoding)
        elif kind in ("duplicate", "remove") and (found := _matches(_ELEMENTS, data)):
            m = found[draw(st.integers(0, len(found) - 1))]
            if kind == "duplicate":
                data = data[:m.end()] + m.group(0) + data[m.end():]
            else:
                data = data[:m.start()] + data[m.end():]
        elif kind in ("certificate", "der") and (found := _matches(_CERTIFICATES, data)):
            m = found[draw(st.integers(0, len(found) - 1))]
            if kind == "certificate":
                der = draw(st.binary(max_size=600))
            else:  # a real certificate with a few bytes changed: gets past the outer DER decoding
                der = bytearray(draw(st.sampled_from([SIGNING, ENCRYPTION])))
                for _ in range(draw(st.integers(1, 4))):
                    der[draw(st.integers(0, len(der) - 1))] = draw(st.integers(0, 255))
            data = data[:m.start(2)] + base64.b64encode(bytes(der)) + data[m.end(2):]
        elif kind == "attribute" and (found := _matches(_ATTRIBUTES, data)):
            m = found[draw(st.integers(0, len(found) - 1))]
            data = data[:m.start()] + m.group(1) + b'="' + draw(st.sampled_from(_VALUES)) + b'"' + data[m.end():]
        elif kind == "nest":
            depth = draw(st.integers(1, 200))
            tag = draw(st.sampled_from([b"md:EntitiesDescriptor", b"md:Extensions", b"ds:KeyInfo", b"x"]))
            cut = data.find(b">", at) + 1 or len(data)
            data = data[:cut] + (b"<" + tag + b">") * depth + (b"</" + tag + b">") * depth + data[cut:]
    return data


def _check(data: bytes) -> None:
    try:
        result: dict[str, Any] = parse_metadata(data, url="https://idp.example.com/metadata")
    except MetadataError as exc:
        assert isinstance(exc.message, str) and exc.message.strip()
        return
    assert isinstance(result["entity_id"], str) and result["entity_id"]
    certificates, problem = result["signing_certificates"], result["signing_certificate_problem"]
    assert result["signing_certificate"] == (certificates[0] if certificates else None)
    assert (problem is None) == bool(certificates)
    assert problem is None or problem.startswith(NO_SIGNING_CERTIFICATE)
    assert all(isinstance(w, str) for w in result["warnings"])
    json.dumps(result)  # the snapshot is plain JSON


def test_the_documents_parse_unmutated() -> None:
    for name, text in DOCUMENTS.items():
        result = parse_metadata(text.encode("utf-8"))
        assert result["entity_id"] == EXPECTED_ENTITY[name]
        assert result["signing_certificate"] is not None, name
        assert all(u["binding"].startswith("urn:oasis:names:tc:SAML:2.0:bindings:") for u in result["sso_urls"])


@given(_mutated())
def test_mutated_metadata_is_a_result_or_a_metadata_error(data: bytes) -> None:
    _check(data)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_a_result_or_a_metadata_error(data: bytes) -> None:
    _check(data)


# --- parsed once per document ----------------------------------------------------------------

def test_a_document_parsed_again_gives_its_own_copy_and_url() -> None:
    # The scan parses one Okta document twice (through the API, then from Cognito's MetadataURL
    # or IAM's SAML provider): the second parse is the first's result, never the same objects.
    first = parse_metadata(OKTA.encode(), url="https://acme.okta.com/api/v1/apps/0oa1/sso/saml/metadata")
    first["sso_urls"][0]["location"] = "changed by a caller"
    first["signing_certificates"][0]["subject"] = "changed by a caller"
    first["warnings"].append("changed by a caller")
    second = parse_metadata(OKTA.encode(), url="https://acme.okta.com/app/exk1/sso/saml/metadata")
    assert second["url"] == "https://acme.okta.com/app/exk1/sso/saml/metadata"
    assert second["sso_urls"][0]["location"].endswith("/sso/saml")
    subject = second["signing_certificates"][0]["subject"]
    assert subject == second["signing_certificate"]["subject"] != "changed by a caller"
    assert second["warnings"] == []
    assert list(second) == ["url", "entity_id", "sso_urls", "signing_certificates", "signing_certificate",
                            "signing_certificate_problem", "warnings"]


def test_a_document_that_failed_fails_again() -> None:
    broken = OKTA.replace('entityID="http://www.okta.com/exk1a2b3c4d5e6f7g8h9"', "").encode()
    for _ in range(2):
        with contextlib.suppress(MetadataError):
            parse_metadata(broken)
            raise AssertionError("parsed a document without an entityID")
