"""A Cognito IdP whose MetadataURL serves metadata shaped as real IdPs publish it, through a real
scan (boto3 against the local AWS, the okta SDK against the simulator): an EntitiesDescriptor
around the Okta app's own metadata is read; a certificate outside the XML-DSig namespace FAILs
COGNITO-IDP-METADATA with "the metadata carries no signing certificate" (issue 18)."""

from __future__ import annotations

import http.server
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.models import Status
from auditor.sandbox.scenario import Sandbox, SeededFederation, public_metadata_url, seed_federation
from tests.conftest import by_control, scan_sandbox

pytestmark = pytest.mark.integration


class _Served:
    """A loopback server answering every GET with `body` (the test sets it)."""

    body = b""


@pytest.fixture
def served() -> Iterator[tuple[type[_Served], str]]:
    state = type("State", (_Served,), {})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/metadata"
    server.shutdown()
    server.server_close()


def _okta_metadata(sandbox: Sandbox, fed: SeededFederation) -> bytes:
    """The Okta app's metadata as the simulator serves it (the document Cognito should read)."""
    with urllib.request.urlopen(public_metadata_url(sandbox, fed.app_id), timeout=10) as response:
        return bytes(response.read())


def _point_idp_at(sandbox: Sandbox, fed: SeededFederation, url: str) -> None:
    sandbox.aws.client("cognito-idp").update_identity_provider(
        UserPoolId=fed.pool_id, ProviderName="Okta", ProviderDetails={"MetadataURL": url})


def test_entities_descriptor_around_the_okta_metadata_passes(
        sandbox: Sandbox, tmp_path: Path, served: tuple[type[_Served], str]) -> None:
    # SAML metadata §2.3.1: an EntitiesDescriptor may wrap the one EntityDescriptor.
    state, url = served
    fed = seed_federation(sandbox, "entities-descriptor")
    entity = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", _okta_metadata(sandbox, fed))
    state.body = (b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" Name="urn:example">'
                  + entity + b"</md:EntitiesDescriptor>")
    _point_idp_at(sandbox, fed, url)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    finding = by_control(out, fed.name)["COGNITO-IDP-METADATA"]
    assert finding.status is Status.PASS, finding.message


def test_certificate_outside_xmldsig_namespace_fails_saying_so(
        sandbox: Sandbox, tmp_path: Path, served: tuple[type[_Served], str]) -> None:
    state, url = served
    fed = seed_federation(sandbox, "misplaced-certificate")
    okta = _okta_metadata(sandbox, fed)
    # The certificate moved out of the ds: namespace, as seen in hand-edited documents.
    misplaced = re.sub(rb"<(/?)ds:X509Certificate>", rb"<\1X509Certificate>", okta)
    misplaced = misplaced.replace(b"<X509Certificate>", b'<X509Certificate xmlns="urn:example:certs">')
    assert misplaced != okta
    state.body = misplaced
    _point_idp_at(sandbox, fed, url)
    out = scan_sandbox(sandbox, [fed], tmp_path)
    findings = by_control(out, fed.name)
    finding = findings["COGNITO-IDP-METADATA"]
    assert finding.status is Status.FAIL
    assert "cognito.idp_metadata.signing_certificate: the metadata carries no signing certificate" in finding.message
    assert "X509Certificate (namespace urn:example:certs)" in finding.message
    assert {k for k, v in findings.items() if v.status is not Status.PASS} == {"COGNITO-IDP-METADATA"}
