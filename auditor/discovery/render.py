"""Rendering discovery's result: config blocks (YAML) and the coverage table. Reads a Coverage."""

from __future__ import annotations

import json
from typing import Any

import yaml

from auditor.discovery.match import Coverage

KINDS = {"okta-audience": "Okta audience -> pool", "okta-acs": "Okta ACS -> pool",
         "idp-metadata": "Cognito IdP -> Okta metadata", "client-idp": "app client -> IdP",
         "iam-provider": "IAM SAML provider -> Okta app"}


def config_blocks(coverage: Coverage, *, only_unaudited: bool = False) -> list[dict[str, Any]]:
    """The config blocks of the federations found (of the unaudited ones only, if asked)."""
    return [f["config"] for f in coverage.federations
            if f["config"] is not None and (not only_unaudited or f["configured_as"] is None)]


def blocks_yaml(blocks: list[dict[str, Any]]) -> str:
    """`federations:` list items as YAML, in the config's key order."""
    return yaml.safe_dump(blocks, sort_keys=False, default_flow_style=None, width=110) if blocks else ""


def coverage_text(coverage: Coverage, *, evidence: bool = True) -> str:
    """The coverage table: configured and found, unaudited, configured but not found, dangling."""
    out: list[str] = []
    scope = coverage.scope
    out.append(f"scanned: {len(scope.get('accounts') or [])} account(s) ({', '.join(scope.get('accounts') or [])}), "
               f"Region(s) {', '.join(scope.get('regions') or [])}, and the Okta org")
    found = [f for f in coverage.federations if f["configured_as"] is not None]
    unaudited = coverage.unaudited
    missing = [c for c in coverage.configured if c["status"] != "found"]
    dangling = coverage.dangling
    out.append("")
    out.append(f"{'coverage':34} count")
    for label, n in (("configured and found", len(found)), ("found, not configured (unaudited)", len(unaudited)),
                     ("configured, not found", len(missing)), ("dangling references", len(dangling))):
        out.append(f"{label:34} {n:>5}")

    def federation(fed: dict[str, Any], tag: str) -> None:
        pieces = []
        if fed.get("okta_app"):
            pieces.append(f"Okta {fed['okta_app']['label']!r} ({fed['okta_app']['id']})")
        if fed.get("user_pool"):
            pieces.append(f"pool {fed['user_pool']['id']}")
        if fed.get("identity_provider"):
            pieces.append(f"IdP {fed['identity_provider']!r}")
        if fed.get("app_client"):
            pieces.append(f"client {fed['app_client']['name']!r}")
        conn = fed.get("connect")
        if conn:
            pieces.append(f"Connect {(conn.get('instance') or {}).get('alias') or '?'} via "
                          f"{conn.get('saml_provider_arn') or '?'}")
        out.append(f"  {tag:11} {fed['name']:28} account {fed['account_id']} {fed['region']}: {', '.join(pieces)}")
        if evidence:
            out.extend(f"      evidence: {e}" for e in fed["evidence"])
            out.extend(f"      note: {n}" for n in fed["notes"])

    if found or unaudited:
        out.append("")
        out.append("federations found:")
        for fed in found:
            federation(fed, "audited")
        for fed in unaudited:
            federation(fed, "UNAUDITED")
    if missing:
        out.append("")
        out.append("configured, not found:")
        out.extend(f"  {c['status'].upper():11} {c['name']:28} {c['detail']}" for c in missing)
    if dangling:
        out.append("")
        out.append("dangling references:")
        for ref in dangling:
            where = (f"account {ref['account_id']} {ref['region']}" if ref.get("account_id")
                     else (ref.get("region") or ""))
            out.append(f"  {KINDS.get(ref['kind'], ref['kind']):30} {ref['subject']} ({where}): {ref['reason']}")
    if coverage.notices:
        out.append("")
        out.append("notices (not read; discovery went on with the rest):")
        for notice in coverage.notices:
            need = f" [needs {notice['permission']}]" if notice.get("permission") else ""
            out.append(f"  {notice['where']}: {notice['message']}{need}")
    return "\n".join(out) + "\n"


def render(coverage: Coverage, fmt: str) -> str:
    """`text` (blocks of the unaudited federations, then the table), `json` or `yaml`."""
    doc = {**coverage.to_json(), "config_blocks": config_blocks(coverage)}
    if fmt == "json":
        return json.dumps(doc, indent=2, default=str) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(doc, sort_keys=False))
    text = coverage_text(coverage)
    blocks = config_blocks(coverage, only_unaudited=True)
    if blocks:
        text += "\n# config blocks for the unaudited federations (auditor discover --write FILE adds them):\n"
        text += "federations:\n" + _indent(blocks_yaml(blocks), 2)
    return text


def _indent(text: str, n: int) -> str:
    return "".join((" " * n + line) if line.strip() else line for line in text.splitlines(keepends=True))
