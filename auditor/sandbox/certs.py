"""Key and certificate generation for the sandbox (self-signed X.509, RSA service-app keys).

Everything here is for the local simulator and tests only: keys are generated in memory,
never written anywhere by this module.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

RSA_KEY_BITS = 2048


def new_rsa_key(bits: int = RSA_KEY_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA private key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _okta_like_name(common_name: str) -> x509.Name:
    # Okta's per-app SAML signing certificates carry this subject (and the same issuer,
    # being self-signed): C=US, ST=California, L=San Francisco, O=Okta, OU=SSOProvider,
    # CN=<org subdomain>, emailAddress=info@okta.com (see the certificate in the metadata
    # example of management.yaml, operation previewSAMLmetadataForApplication).
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Okta"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SSOProvider"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "info@okta.com"),
        ]
    )


def make_self_signed_with_key(
    key: rsa.RSAPrivateKey, common_name: str, not_before: datetime, not_after: datetime
) -> bytes:
    """A self-signed SHA-256 certificate for `key`; returns the certificate as DER."""
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ValueError("certificate validity bounds must be timezone-aware datetimes")
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    name = _okta_like_name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before.astimezone(UTC))
        .not_valid_after(not_after.astimezone(UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def make_self_signed(
    common_name: str, not_before: datetime, not_after: datetime
) -> tuple[bytes, bytes]:
    """A new RSA key and a self-signed certificate for it: ``(private_key_pem, cert_der)``."""
    key = new_rsa_key()
    return private_key_pem(key), make_self_signed_with_key(key, common_name, not_before, not_after)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half of `key` as an RS256 signing JWK (RFC 7517)."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "e": _b64url_uint(numbers.e),
        "n": _b64url_uint(numbers.n),
    }


@dataclass(frozen=True)
class ServiceAppKeyPair:
    """An OAuth 2.0 service app's key: register `public_jwk` with Okta, sign with the PEM."""

    kid: str
    public_jwk: dict[str, Any]
    private_key_pem: bytes


def make_service_app_keypair(kid: str | None = None) -> ServiceAppKeyPair:
    """A fresh RSA key pair for `private_key_jwt` client authentication."""
    key = new_rsa_key()
    kid = kid or secrets.token_urlsafe(16)
    return ServiceAppKeyPair(kid=kid, public_jwk=public_jwk(key, kid), private_key_pem=private_key_pem(key))
