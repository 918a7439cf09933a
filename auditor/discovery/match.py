"""Matching the estate's pieces into federations, and comparing them with the config. Pure: it
reads the inventory (`auditor.collectors.discovery`) and the config's federation blocks, and
returns plain data; every match states its evidence, every doubt a note.

How pieces are matched (each rule is a piece of evidence in the result):

- Okta app -> user pool: the app's audience `urn:amazon:cognito:sp:<poolId>` names the pool, and/or
  its ACS is `https://<prefix>.auth.<region>.amazoncognito.com/saml2/idpresponse` of the pool's
  domain (or `https://<custom domain>/saml2/idpresponse`).
- pool IdP -> Okta app: the document the IdP's MetadataURL serves (fetched once per URL), or its
  MetadataFile, carries the app's entity ID.
- app client -> IdP: the IdP's name is in the client's SupportedIdentityProviders.
- IAM SAML provider -> Okta app: the provider's metadata carries the app's entity ID (and,
  checked, its current signing certificate).
- Connect instance -> Okta app: the app's default relay state opens the instance.
- role -> provider: the role's trust policy lets the provider call sts:AssumeRoleWithSAML (and
  the app's Role attribute pairs the two).
- Connect chain -> Cognito federation: the same account and Region, and either the only pair
  there or names that agree (pool, instance alias, app labels).
- the SCPs in effect on the account: named as found (their meaning is judged by a scan).

A reference is *dangling* only when discovery saw the place where its target should be: a pool
in a Region and accounts read completely, an Okta org listed completely. What could not be seen
is never reported as missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.discovery.patterns import (
    COGNITO,
    COGNITO_ACS,
    COGNITO_AUDIENCE,
    CUSTOM_ACS,
    IAM,
    RELAY_STATE,
    host_of,
    role_pairs,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_OKTA_ENTITY = re.compile(r"^https?://www\.okta\.com/")
# Words that name the kind of thing, not the contact center: left out when comparing names.
_GENERIC = frozenset({"contact", "center", "centre", "cc", "amazon", "connect", "aws", "app", "login", "pool",
                      "okta", "saml", "sso", "user", "users", "the"})
# Built-in "providers" a client may enable that are not IdPs of the pool.
_BUILT_IN_PROVIDERS = frozenset({"COGNITO"})


@dataclass(frozen=True)
class Coverage:
    """Discovery's result: the federations found (each with its pieces, evidence, notes and config
    block), the configured federations and whether they were found, every reference checked
    (dangling ones have `resolves: false`), and what could not be read.

    `federations` items: {name, configured_as, kind, account_id, region, okta_app, user_pool,
    identity_provider, app_client, connect, scps, evidence, notes, config}; `configured` items:
    {name, status ('found' | 'not found' | 'not in scope' | 'unknown'), detail, found_as};
    `references` items: {id, kind, federation, account_id, region, subject, target, resolves, reason}.
    """

    federations: tuple[dict[str, Any], ...] = ()
    configured: tuple[dict[str, Any], ...] = ()
    references: tuple[dict[str, Any], ...] = ()
    notices: tuple[dict[str, Any], ...] = ()
    scope: dict[str, Any] = field(default_factory=dict)

    @property
    def unaudited(self) -> list[dict[str, Any]]:
        """Found, not in the config."""
        return [f for f in self.federations if f["configured_as"] is None]

    @property
    def dangling(self) -> list[dict[str, Any]]:
        """References whose target is not there."""
        return [r for r in self.references if not r["resolves"]]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (the JSON output of `auditor discover`, and the snapshot's coverage)."""
        return {"scope": self.scope, "federations": list(self.federations), "configured": list(self.configured),
                "references": list(self.references), "notices": list(self.notices)}


class _Index:
    """The inventory's pieces by the keys matching looks them up with."""

    def __init__(self, inventory: dict[str, Any]) -> None:
        self.pools: dict[str, dict[str, Any]] = {}
        self.by_domain: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_custom: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self.providers: list[dict[str, Any]] = []
        self.roles: list[dict[str, Any]] = []
        self.scps: dict[str, Any] = {}
        # Where a missing pool can be asserted missing: Regions read completely in every account.
        self.regions_complete: dict[str, bool] = {}
        accounts = inventory.get("accounts") or []
        self.all_reached = all(a.get("reached", True) for a in accounts)
        for acct in accounts:
            self.scps[acct["account_id"]] = acct.get("scps")
            for p in acct.get("saml_providers") or []:
                self.providers.append({**p, "account_id": acct["account_id"]})
            for r in acct.get("saml_roles") or []:
                self.roles.append({**r, "account_id": acct["account_id"]})
            for reg in acct.get("regions") or []:
                region = reg["region"]
                self.regions_complete[region] = self.regions_complete.get(region, True) and bool(reg.get("complete"))
                for pool in reg.get("user_pools") or []:
                    self.pools[pool["id"]] = pool
                    if pool.get("domain"):
                        self.by_domain[(pool["domain"], region)] = pool
                    if pool.get("custom_domain"):
                        self.by_custom[str(pool["custom_domain"]).lower()] = pool
                for inst in reg.get("connect_instances") or []:
                    self.instances[str(inst["id"])] = {**inst, "account_id": acct["account_id"], "region": region}
        scope_regions = (inventory.get("scope") or {}).get("regions") or []
        for region in scope_regions:
            self.regions_complete.setdefault(region, False)  # no account read it
        self.iam_complete = bool(accounts) and self.all_reached and all(a.get("iam_complete") for a in accounts)
        okta = inventory.get("okta") or {}
        self.okta_complete = bool(okta.get("complete"))
        self.apps: list[dict[str, Any]] = list(okta.get("apps") or [])
        self.app_by_entity: dict[str, dict[str, Any]] = {}
        for app in self.apps:
            entity = (app.get("metadata") or {}).get("entity_id")
            if entity:
                self.app_by_entity.setdefault(entity, app)
        self.okta_host = host_of(str(okta.get("org_url") or ""))
        self.metadata: dict[str, dict[str, Any]] = dict(inventory.get("metadata") or {})

    def region_seen(self, region: str) -> bool:
        """True when every account in scope listed this Region's pools completely."""
        return self.all_reached and self.regions_complete.get(region, False)

    def idp_entity(self, idp: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """(entity ID the IdP reads, the metadata result of its URL or its file)."""
        if idp.get("metadata_url"):
            doc = self.metadata.get(idp["metadata_url"])
            return (doc or {}).get("entity_id"), doc
        doc = idp.get("metadata_file")
        return (doc or {}).get("entity_id"), doc


def match(inventory: dict[str, Any], configured: Sequence[dict[str, Any]], *, default_region: str) -> Coverage:
    """Match the inventory's pieces into federations and compare them with `configured` (the
    config's federation blocks, as `FederationConfig.data`)."""
    ix = _Index(inventory)
    scope = dict(inventory.get("scope") or {})
    role_name = scope.get("role_name")
    feds: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    for app in sorted(ix.apps, key=lambda a: a["id"]):
        if app.get("kind") == COGNITO:
            fed, app_refs = _cognito_federation(app, ix)
            refs += app_refs
            if fed is not None:
                feds.append(fed)
    chains = [_connect_chain(app, ix) for app in sorted(ix.apps, key=lambda a: a["id"]) if app.get("kind") == IAM]
    leftover = _pair_chains(feds, [c for c in chains if c is not None])
    refs += _idp_references(ix)
    refs += _client_references(ix)
    refs += _provider_references(ix)
    # Configured or not; then names and config blocks.
    taken = {c["name"] for c in configured}
    status = {c["name"]: _configured_status(c, ix, default_region) for c in configured}
    for fed in feds:
        match_name = _configured_match(fed, configured)
        fed["configured_as"] = match_name
        if match_name is not None:
            status[match_name] = {"name": match_name, "status": "found", "found_as": match_name,
                                  "detail": "found: " + _pieces_line(fed)}
            conf = next(c for c in configured if c["name"] == match_name)
            if fed["connect"] is not None and not conf.get("connect_sso"):
                fed["notes"].append(f"the config has no connect_sso for it: the Amazon Connect chain found "
                                    f"(instance {fed['connect']['instance']['id']}) is not audited")
    for chain in leftover:
        conf_name = next((c["name"] for c in configured
                          if (c.get("connect_sso") or {}).get("instance_id") == (chain["instance"] or {}).get("id")
                          and chain["instance"] is not None), None)
        feds.append({**_chain_item(chain), "configured_as": conf_name})
    for fed in sorted(feds, key=_sort_key):
        if fed["configured_as"] is not None:
            fed["name"] = fed["configured_as"]
        else:
            fed["name"] = unique_name(_derived_name(fed), taken)
            taken.add(fed["name"])
        fed["config"] = _config_block(fed, role_name=role_name, default_region=default_region)
    for ref in refs:  # the federation each reference belongs to, by its pieces
        ref["federation"] = _owner(ref, feds)
    return Coverage(
        federations=tuple(sorted(feds, key=lambda f: f["name"])),
        configured=tuple(status[c["name"]] for c in configured),
        references=tuple(sorted(refs, key=lambda r: r["id"])),
        notices=tuple(inventory.get("notices") or ()),
        scope=scope,
    )


# --- Okta app -> user pool -> IdP -> app client -------------------------------------------------

def _cognito_federation(app: dict[str, Any], ix: _Index) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    evidence: list[str] = []
    notes: list[str] = []
    refs: list[dict[str, Any]] = []
    audience, acs = str(app.get("audience") or ""), str(app.get("sso_acs_url") or "")
    aud = COGNITO_AUDIENCE.match(audience)
    by_aud = ix.pools.get(aud.group("pool")) if aud else None
    acs_match = COGNITO_ACS.match(acs)
    by_acs = None
    if acs_match:
        by_acs = ix.by_domain.get((acs_match.group("prefix"), acs_match.group("region")))
    elif CUSTOM_ACS.match(acs):
        by_acs = ix.by_custom.get(host_of(acs))
    label = f"Okta app {app.get('label')!r} ({app['id']})"
    if aud:
        pool_id = aud.group("pool")
        region = pool_id.split("_", 1)[0]
        if by_aud is not None:
            evidence.append(f"{label}: audience {audience} names user pool {pool_id} "
                            f"(account {by_aud['account_id']}, {by_aud['region']})")
            refs.append(_ref(f"okta-audience:{app['id']}", "okta-audience", by_aud, label, pool_id, True,
                             "the pool exists"))
        elif ix.region_seen(region):
            refs.append(_ref(f"okta-audience:{app['id']}", "okta-audience", None, label, pool_id, False,
                             f"the audience {audience} names user pool {pool_id}, which does not exist in the "
                             f"accounts scanned ({region})", region=region))
    if by_acs is not None:
        evidence.append(f"{label}: ACS {acs} is the domain of user pool {by_acs['id']}")
    elif acs_match and ix.region_seen(acs_match.group("region")) and not aud:
        refs.append(_ref(f"okta-acs:{app['id']}", "okta-acs", None, label, acs, False,
                         f"the ACS {acs} is no user pool's domain in the accounts scanned",
                         region=acs_match.group("region")))
    pool = by_acs or by_aud
    if pool is None:
        return None, refs
    if by_aud is not None and by_acs is not None and by_aud is not by_acs:
        notes.append(f"the audience names pool {by_aud['id']} but the ACS posts to pool {by_acs['id']}'s domain")
    elif by_acs is not None and by_aud is None and aud:
        notes.append(f"the audience {audience} does not name this pool ({pool['id']}): OKTA-SAML-AUDIENCE will fail")
    if by_acs is None:
        notes.append(f"the ACS {acs or '(none)'} is not the pool's domain: OKTA-SAML-ACS-URL will fail")
    entity = (app.get("metadata") or {}).get("entity_id")
    idp = None
    for candidate in pool.get("identity_providers") or []:
        if candidate.get("type") != "SAML":
            continue
        read, _ = ix.idp_entity(candidate)
        if entity and read == entity:
            idp = candidate
            how = f"MetadataURL {candidate['metadata_url']}" if candidate.get("metadata_url") else "MetadataFile"
            evidence.append(f"IdP {candidate['name']!r} of pool {pool['id']}: its {how} carries the app's entity ID "
                            f"{entity}")
            break
    if idp is None:
        saml = [c for c in pool.get("identity_providers") or [] if c.get("type") == "SAML"]
        if len(saml) == 1:
            idp = saml[0]
            notes.append(f"IdP {idp['name']!r} does not read this app's metadata"
                         + (f" (the app's entity ID is {entity})" if entity else " (the app's metadata was not read)")
                         + ": COGNITO-IDP-METADATA will fail")
        else:
            notes.append(f"no SAML IdP of pool {pool['id']} reads this app's metadata")
    client = None
    if idp is not None:
        enabling = [c for c in pool.get("app_clients") or []
                    if idp["name"] in c.get("supported_identity_providers", [])]
        if enabling:
            client = enabling[0]
            evidence.append(f"app client {client['name']!r} ({client['id']}) enables IdP {idp['name']!r}")
            if len(enabling) > 1:
                notes.append(f"{len(enabling)} app clients enable the IdP; the block names the first")
        elif pool.get("app_clients"):
            client = pool["app_clients"][0]
            notes.append(f"no app client enables IdP {idp['name']!r}: COGNITO-CLIENT-IDP-ENABLED will fail "
                         f"(the block names {client['name']!r})")
    if not pool.get("domain") and not pool.get("custom_domain"):
        notes.append("the pool has no domain: COGNITO-DOMAIN will fail")
    fed = {
        "name": None, "configured_as": None, "kind": COGNITO, "account_id": pool["account_id"],
        "region": pool["region"],
        "okta_app": {"id": app["id"], "label": app.get("label"), "status": app.get("status")},
        "user_pool": {"id": pool["id"], "name": pool.get("name"), "domain": pool.get("domain")},
        "identity_provider": idp["name"] if idp else None,
        "app_client": {"id": client["id"], "name": client.get("name")} if client else None,
        "app_client_names": [c.get("name") for c in pool.get("app_clients") or []],
        "connect": None, "scps": _scp_names(ix.scps.get(pool["account_id"])),
        "evidence": evidence, "notes": notes, "config": None,
    }
    if fed["scps"] is not None:
        fed["evidence"].append(f"SCPs in effect on account {pool['account_id']}: {', '.join(fed['scps']) or 'none'}")
    return fed, refs


# --- Okta app -> IAM SAML provider -> role -> Connect instance -------------------------------------

def _connect_chain(app: dict[str, Any], ix: _Index) -> dict[str, Any] | None:
    label = f"Okta app {app.get('label')!r} ({app['id']})"
    evidence: list[str] = []
    notes: list[str] = []
    entity = (app.get("metadata") or {}).get("entity_id")
    fingerprints = set((app.get("metadata") or {}).get("fingerprints") or [])
    providers = [p for p in ix.providers if entity and p.get("entity_id") == entity]
    pairs = role_pairs(app.get("role_values") or [])
    provider = None
    for p in providers:
        same_cert = bool(fingerprints & set(p.get("fingerprints") or []))
        provider = provider or p
        evidence.append(f"IAM SAML provider {p['arn']} carries the app's entity ID {entity}"
                        + (" and its current signing certificate" if same_cert else ""))
        if not same_cert:
            notes.append(f"IAM SAML provider {p['arn']} does not carry the app's current signing certificate: "
                         "CONNECT-IAM-SAML-PROVIDER will fail")
    named = [pr for _, pr in pairs]
    if provider is None and named:
        provider = next((p for p in ix.providers if p["arn"] in named), None)
        if provider is not None:
            notes.append(f"the Role attribute names {provider['arn']}, whose metadata is not this app's")
    relay = RELAY_STATE.match(str(app.get("default_relay_state") or ""))
    instance = ix.instances.get(relay.group("instance")) if relay else None
    if instance is not None:
        evidence.append(f"{label}: its relay state opens Connect instance {instance['id']} "
                        f"({instance.get('alias')}, account {instance['account_id']}, {instance['region']})")
    role = None
    if provider is not None:
        trusting = [r for r in ix.roles if provider["arn"] in r["providers"]]
        by_attr = [r for r in trusting if any(r["arn"] == ro for ro, pr in pairs if pr == provider["arn"])]
        role = next(iter(by_attr or trusting), None)
        if role is not None:
            evidence.append(f"role {role['arn']} trusts {provider['arn']} for sts:AssumeRoleWithSAML"
                            + (" and the app's Role attribute pairs the two" if by_attr else ""))
    if provider is None and instance is None:
        return None
    account = (instance or provider or {}).get("account_id")
    return {"app": app, "provider": provider, "instance": instance, "role": role, "account_id": account,
            "region": (instance or {}).get("region"), "evidence": evidence, "notes": notes}


def _words(*names: Any) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= {w for w in re.split(r"[^a-z0-9]+", str(name or "").lower()) if w and w not in _GENERIC}
    return out


def _pair_chains(feds: list[dict[str, Any]], chains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach each Connect chain to the Cognito federation of its account and Region; returns the
    chains left over."""
    leftover = []
    for chain in chains:
        place = (chain["account_id"], chain["region"])
        candidates = [f for f in feds if (f["account_id"], f["region"]) == place and f["connect"] is None]
        here = [c for c in chains if (c["account_id"], c["region"]) == place]
        chosen, why = None, ""
        if len(candidates) == 1 and len(here) == 1:
            chosen = candidates[0]
            why = (f"the only Cognito federation and the only Amazon Connect chain in account {place[0]} "
                   f"{place[1]}")
        elif candidates:
            mine = _words((chain["instance"] or {}).get("alias"), chain["app"].get("label"))
            scored = sorted(((len(mine & _words(f["user_pool"]["name"], f["okta_app"]["label"])), f["name"] or "",
                              i) for i, f in enumerate(candidates)), reverse=True)
            if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
                chosen = candidates[scored[0][2]]
                shared = sorted(mine & _words(chosen["user_pool"]["name"], chosen["okta_app"]["label"]))
                why = f"names agree ({', '.join(shared)}): pool {chosen['user_pool']['name']!r}, instance " \
                      f"{(chain['instance'] or {}).get('alias')!r}, app {chain['app'].get('label')!r}"
        if chosen is None:
            leftover.append(chain)
            continue
        chosen["connect"] = _connect_piece(chain)
        chosen["evidence"] += chain["evidence"] + [f"Amazon Connect chain paired with this federation: {why}"]
        chosen["notes"] += chain["notes"]
    return leftover


def _connect_piece(chain: dict[str, Any]) -> dict[str, Any]:
    inst, prov, role, app = chain["instance"], chain["provider"], chain["role"], chain["app"]
    return {"okta_app": {"id": app["id"], "label": app.get("label")},
            "instance": {"id": inst["id"], "arn": inst["arn"], "alias": inst.get("alias")} if inst else None,
            "saml_provider_arn": prov["arn"] if prov else None, "role_arn": role["arn"] if role else None}


def _chain_item(chain: dict[str, Any]) -> dict[str, Any]:
    """A Connect chain with no Cognito federation to belong to: listed, never a config block (a
    config federation is built around a user pool)."""
    app = chain["app"]
    return {"name": None, "kind": IAM, "account_id": chain["account_id"], "region": chain["region"],
            "okta_app": None, "user_pool": None, "identity_provider": None, "app_client": None,
            "app_client_names": [], "connect": _connect_piece(chain),
            "scps": None, "evidence": list(chain["evidence"]),
            "notes": chain["notes"] + [f"no Cognito federation in account {chain['account_id']} {chain['region']} "
                                       f"to attach it to: not a config block of its own (Okta app "
                                       f"{app.get('label')!r})"],
            "config": None, "connect_label": app.get("label")}


# --- dangling references -------------------------------------------------------------------------

def _ref(ref_id: str, kind: str, where: dict[str, Any] | None, subject: str, target: str, resolves: bool,
         reason: str, *, region: str | None = None, account: str | None = None) -> dict[str, Any]:
    return {"id": ref_id, "kind": kind, "federation": None,
            "account_id": account or (where or {}).get("account_id"), "region": region or (where or {}).get("region"),
            "subject": subject, "target": target, "resolves": resolves, "reason": reason}


def _idp_references(ix: _Index) -> list[dict[str, Any]]:
    """Each pool's SAML IdP -> the Okta app whose metadata it reads."""
    refs = []
    for pool in ix.pools.values():
        for idp in pool.get("identity_providers") or []:
            if idp.get("type") != "SAML":
                continue
            entity, doc = ix.idp_entity(idp)
            subject = f"IdP {idp['name']!r} of user pool {pool['id']}"
            ref_id = f"idp-metadata:{pool['id']}/{idp['name']}"
            url = idp.get("metadata_url")
            target = url or "MetadataFile"
            if url and doc is not None and doc.get("dangling"):
                refs.append(_ref(ref_id, "idp-metadata", pool, subject, target, False,
                                 f"its MetadataURL serves no metadata: {doc.get('error')}"))
                continue
            if not entity:
                continue  # not read (a notice says why): unknown, not dangling
            app = ix.app_by_entity.get(entity)
            if app is not None:
                refs.append(_ref(ref_id, "idp-metadata", pool, subject, target, True,
                                 f"serves the metadata of Okta app {app.get('label')!r} ({app['id']})"))
            elif url and host_of(url) == ix.okta_host:
                # Okta serves the public metadata of current apps only: the app exists, it just
                # points at neither Cognito nor AWS (so discovery did not read its metadata).
                refs.append(_ref(ref_id, "idp-metadata", pool, subject, target, True,
                                 f"serves the metadata of an Okta app of the org ({entity})"))
            elif _OKTA_ENTITY.match(entity) and ix.okta_complete:
                refs.append(_ref(ref_id, "idp-metadata", pool, subject, target, False,
                                 f"reads the metadata of Okta entity {entity}, which no current Okta app has"))
    return refs


def _client_references(ix: _Index) -> list[dict[str, Any]]:
    """Each app client -> the IdPs it enables."""
    refs = []
    for pool in ix.pools.values():
        if not pool.get("complete"):
            continue  # the IdP list may be partial: a missing name proves nothing
        names = {i["name"] for i in pool.get("identity_providers") or []}
        for client in pool.get("app_clients") or []:
            for name in client.get("supported_identity_providers") or []:
                if name in _BUILT_IN_PROVIDERS:
                    continue
                ok = name in names
                refs.append(_ref(f"client-idp:{pool['id']}/{client['id']}/{name}", "client-idp", pool,
                                 f"app client {client.get('name')!r} ({client['id']}) of user pool {pool['id']}", name,
                                 ok, "the IdP exists" if ok else
                                 f"it enables IdP {name!r}, which the pool no longer has"))
    return refs


def _provider_references(ix: _Index) -> list[dict[str, Any]]:
    """Each IAM SAML provider issued by Okta -> the Okta app with its entity ID."""
    refs = []
    for p in ix.providers:
        entity = p.get("entity_id")
        if not entity or not _OKTA_ENTITY.match(entity):
            continue  # not Okta's (or unreadable: a notice says so)
        app = ix.app_by_entity.get(entity)
        subject = f"IAM SAML provider {p['arn']}"
        if app is not None:
            refs.append(_ref(f"iam-provider:{p['arn']}", "iam-provider", p, subject, entity, True,
                             f"Okta app {app.get('label')!r} ({app['id']}) has its entity ID"))
        elif ix.okta_complete:
            refs.append(_ref(f"iam-provider:{p['arn']}", "iam-provider", p, subject, entity, False,
                             f"no current Okta app has its entity ID {entity}"))
    return refs


def _owner(ref: dict[str, Any], feds: Iterable[dict[str, Any]]) -> str | None:
    """The federation a reference belongs to (by the pool, app or provider it starts from)."""
    rid = ref["id"]
    for fed in feds:
        pool = (fed.get("user_pool") or {}).get("id")
        app = (fed.get("okta_app") or {}).get("id")
        provider = (fed.get("connect") or {}).get("saml_provider_arn")
        if rid.startswith(("okta-audience:", "okta-acs:")) and app and rid.split(":", 1)[1] == app:
            return str(fed["name"])
        if rid.startswith(("idp-metadata:", "client-idp:")) and pool and rid.split(":", 1)[1].startswith(pool + "/"):
            return str(fed["name"])
        if rid.startswith("iam-provider:") and provider and rid.split(":", 1)[1] == provider:
            return str(fed["name"])
    return None


# --- the config ------------------------------------------------------------------------------------

def _configured_match(fed: dict[str, Any], configured: Sequence[dict[str, Any]]) -> str | None:
    app = fed["okta_app"] or {}
    for conf in configured:
        if conf.get("user_pool_id") != fed["user_pool"]["id"]:
            continue
        ref = conf.get("okta_app") or {}
        if ref.get("id") == app.get("id") or ("label" in ref and ref["label"] == app.get("label")):
            return str(conf["name"])
    return None


def _configured_status(conf: dict[str, Any], ix: _Index, default_region: str) -> dict[str, Any]:
    """A configured federation that no found federation matched: why (as far as discovery saw)."""
    pool_id = str(conf.get("user_pool_id") or "")
    region = pool_id.split("_", 1)[0] if "_" in pool_id else default_region
    ref = conf.get("okta_app") or {}
    app = next((a for a in ix.apps if a["id"] == ref.get("id") or ("label" in ref and a.get("label") == ref["label"])),
               None)
    parts = []
    parts.append(f"user pool {pool_id} " + ("found" if pool_id in ix.pools else "not found"))
    parts.append(f"Okta app {ref.get('id') or ref.get('label')!r} " + ("found" if app else "not found"))
    if pool_id in ix.pools and app:
        status, detail = "not found", "both pieces exist but do not point at each other: " + "; ".join(parts)
    elif region not in ix.regions_complete:
        status, detail = "not in scope", f"its Region {region} was not scanned; " + "; ".join(parts)
    elif not ix.region_seen(region) or not ix.okta_complete:
        status, detail = "unknown", "discovery could not read everything (see the notices); " + "; ".join(parts)
    else:
        status, detail = "not found", "; ".join(parts) + " (in the accounts and Regions scanned)"
    return {"name": conf["name"], "status": status, "detail": detail, "found_as": None}


def _derived_name(fed: dict[str, Any]) -> str:
    label = (fed.get("okta_app") or {}).get("label") or fed.get("connect_label") or ""
    slug = re.sub(r"[^a-z0-9._-]+", "-", str(label).lower()).strip("-._")[:64]
    if not slug or not NAME_PATTERN.match(slug):
        pool = (fed.get("user_pool") or {}).get("id") or (fed.get("connect") or {}).get("instance", {}) or ""
        slug = re.sub(r"[^a-z0-9._-]+", "-", f"federation-{pool}".lower()).strip("-._")[:64]
    return slug


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`... (within the 64-character limit) when it is taken."""
    if name not in taken:
        return name
    n = 2
    while f"{name[:60]}-{n}" in taken:
        n += 1
    return f"{name[:60]}-{n}"


def _sort_key(fed: dict[str, Any]) -> tuple[str, str, str]:
    return (str(fed.get("account_id") or ""), str(fed.get("region") or ""),
            str((fed.get("okta_app") or {}).get("id") or (fed.get("connect") or {}).get("saml_provider_arn") or ""))


def _config_block(fed: dict[str, Any], *, role_name: str | None, default_region: str) -> dict[str, Any] | None:
    """The federation's block for the config (valid against its schema), or None when it cannot
    be one (a Connect chain without a user pool)."""
    if fed["kind"] != COGNITO:
        return None
    client = fed["app_client"]
    if client is None:
        client_ref: dict[str, str] = {"name": "(no app client)"}
    elif client.get("name") and fed["app_client_names"].count(client["name"]) == 1:
        client_ref = {"name": client["name"]}
    else:
        client_ref = {"id": client["id"]}
    block: dict[str, Any] = {
        "name": fed["name"],
        "okta_app": {"id": fed["okta_app"]["id"]},
        "user_pool_id": fed["user_pool"]["id"],
        "app_client": client_ref,
        "identity_provider": fed["identity_provider"] or "(no SAML IdP)",
    }
    aws: dict[str, Any] = {}
    if role_name:
        aws["role_arn"] = f"arn:aws:iam::{fed['account_id']}:role/{role_name}"
    if fed["region"] != default_region:
        aws["region"] = fed["region"]
    if aws:
        block["aws"] = aws
    connect = fed["connect"]
    same_account = connect is not None and all(
        arn and arn.split(":")[4] == fed["account_id"]
        for arn in ((connect["instance"] or {}).get("arn"), connect["role_arn"]))
    if connect and connect["instance"] and connect["saml_provider_arn"] and connect["role_arn"] and same_account:
        block["connect_sso"] = {"okta_app": {"id": connect["okta_app"]["id"]},
                                "saml_provider_arn": connect["saml_provider_arn"],
                                "instance_id": connect["instance"]["id"]}
        block["scp"] = {"account_id": fed["account_id"], "connect_role_arn": connect["role_arn"],
                        "connect_instance_arn": connect["instance"]["arn"]}
    return block


def _scp_names(scps: dict[str, Any] | None) -> list[str] | None:
    if scps is None:
        return None
    return [str(p.get("name") or p["id"]) for p in scps.get("policies") or []]


def _pieces_line(fed: dict[str, Any]) -> str:
    parts = []
    if fed.get("okta_app"):
        parts.append(f"Okta app {fed['okta_app']['id']}")
    if fed.get("user_pool"):
        parts.append(f"pool {fed['user_pool']['id']} (account {fed['account_id']}, {fed['region']})")
    if fed.get("connect") and fed["connect"].get("instance"):
        parts.append(f"Connect instance {fed['connect']['instance']['id']}")
    return ", ".join(parts)


def estate_items(coverage: Coverage) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The coverage as the snapshot's estate-level resources (auditor.resources: the shapes of
    `coverage.federation` and `coverage.reference`): every federation found, every reference."""
    feds = []
    for fed in coverage.federations:
        app = fed.get("okta_app") or {}
        pool = (fed.get("user_pool") or {}).get("id")
        conn = fed.get("connect") or {}
        target = pool or (conn.get("instance") or {}).get("id")
        key = f"{app.get('id') or conn.get('saml_provider_arn') or '?'}|{target}"
        where = f"account {fed.get('account_id')} {fed.get('region')}"
        what = (f"Okta app {app.get('label')!r} ({app.get('id')}) -> user pool {pool}" if pool
                else f"Amazon Connect chain {conn.get('saml_provider_arn')}")
        feds.append({"id": key, "name": str(fed["name"]), "configured": fed["configured_as"] is not None,
                     "configured_as": fed["configured_as"], "kind": str(fed["kind"]),
                     "account_id": fed.get("account_id"), "region": fed.get("region"),
                     "okta_app_id": app.get("id"), "okta_app_label": app.get("label"), "user_pool_id": pool,
                     "summary": f"{what} ({where})", "evidence": list(fed["evidence"]), "notes": list(fed["notes"])})
    return feds, [dict(r) for r in coverage.references]
