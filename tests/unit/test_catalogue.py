"""The resource catalogue (auditor/resources.py) and everything derived from it stay one.

Per catalogue key: the collector that writes it, its JSON Schema and its `--fix` target kind,
each checked against the code that serves it; `drift` names every disagreement (and is shown to
catch each kind of drift); the README's resource table is the catalogue's; labels and target
locations are what they were before the catalogue held them; and adding a resource takes one
catalogue entry and one collector (README "Extending").
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.collectors import collect, default_collectors
from auditor.collectors.base import Collector, Sink
from auditor.config import Config, FederationConfig, load_config
from auditor.errors import PolicyError
from auditor.evaluate.engine import evaluate
from auditor.models import Status
from auditor.policy.loader import load_policies
from auditor.policy.model import RESOURCE_KEYS
from auditor.policy.schema import policy_schema
from auditor.policy.templates import RESOURCE_ROOTS
from auditor.remediate.actions import ACTIONS, CannotFix
from auditor.remediate.plan import target_for
from auditor.remediate.targets import IMPLEMENTATIONS, KINDS, TargetKind
from auditor.resources import (
    ESTATE_RESOURCES,
    RESOURCES,
    Resource,
    fix_targets,
    markdown_table,
    provided_by,
    resource_label,
    resource_roots,
)
from auditor.snapshot import FederationSnapshot
from tests import factories as f
from tests.paths import ROOT


def _config() -> Config:
    # Collectors are built from a config; building one makes no call.
    return load_config(ROOT / "config.example.yaml")


def _keys_written(cls: type[Collector]) -> set[str]:
    """The resource keys a collector's code names: every string that looks like a key of a
    catalogue root (`okta.x`), and every literal key it puts, marks absent or fails."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    looks_like_key = re.compile(rf"^({'|'.join(resource_roots())})\.[a-z_]+$")
    keys = {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and looks_like_key.match(n.value)}
    for call in ast.walk(tree):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("put", "put_absent", "fail") and call.args
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
            keys.add(call.args[0].value)
    return keys


def drift(collectors: Sequence[Collector], implementations: Iterable[TargetKind]) -> list[str]:
    """Every disagreement between the catalogue, the collectors, the target kinds and the actions."""
    problems = []
    by_name = {c.name: c for c in collectors}
    for r in RESOURCES.values():
        if r.key in ESTATE_RESOURCES:  # one per scan, from `auditor discover` (runner.discover_estate)
            if r.collector != "discovery":
                problems.append(f"{r.key}: estate resources come from discovery, not {r.collector!r}")
            continue
        collector = by_name.get(r.collector)
        if collector is None:
            problems.append(f"{r.key}: no collector is named {r.collector!r}")
        elif r.key not in collector.provides:
            problems.append(f"{r.key}: collector {r.collector!r} does not provide it")
    for c in collectors:
        if not c.provides:
            problems.append(f"collector {c.name!r} provides no catalogue key")
        for key in sorted(set(c.provides) - set(RESOURCES)):
            problems.append(f"collector {c.name!r} provides {key}, which the catalogue lacks")
        for key in sorted(_keys_written(type(c)) - set(c.provides)):
            problems.append(f"collector {c.name!r} writes {key}, which the catalogue does not give it")
    implemented = {i.name for i in implementations}
    for kind, key in fix_targets().items():
        if kind not in implemented:
            problems.append(f"{key}: target kind {kind!r} has no implementation (remediate/targets.py)")
    for kind in sorted(implemented - set(fix_targets())):
        problems.append(f"target kind {kind!r}: no catalogue entry names it")
    for action in ACTIONS.values():
        if action.kind not in fix_targets():
            problems.append(f"action {action.name!r} edits {action.kind!r}, which no catalogue entry names")
    return problems


def _entry_id(key: str) -> str:
    r = RESOURCES[key]
    return f"{key}|{r.collector}|fix:{r.fix_target or '-'}"


@pytest.mark.parametrize("key", list(RESOURCES), ids=_entry_id)
def test_each_catalogue_entry_is_served(key: str) -> None:
    entry = RESOURCES[key]
    jsonschema.Draft202012Validator.check_schema(entry.shape)
    identity = entry.identity(FederationConfig.from_data("prod", f.fed_config()))
    if key in ESTATE_RESOURCES:
        # Written once per scan by discovery (each finding names its own item), not per federation.
        assert entry.collector == "discovery" and identity == ""
        assert f'"{key}"' in (ROOT / "auditor" / "runner.py").read_text(encoding="utf-8")
        return
    collectors = {c.name: c for c in default_collectors(_config(), None)}
    assert key in collectors[entry.collector].provides
    assert isinstance(identity, str) and identity
    if entry.fix_target is not None:
        assert KINDS[entry.fix_target].resource == key


def test_nothing_drifts_from_the_catalogue() -> None:
    assert drift(default_collectors(_config(), None), IMPLEMENTATIONS) == []
    assert list(KINDS) == list(fix_targets())
    assert tuple(RESOURCES) == RESOURCE_KEYS
    assert RESOURCE_ROOTS == resource_roots() == ("okta", "cognito", "organizations", "iam", "connect", "coverage")
    control = policy_schema()["$defs"]["control"]["properties"]
    assert control["resource"]["enum"] == list(RESOURCES)


def _stray_collectors() -> tuple[type[Collector], type[Collector]]:
    class Writes(Collector):
        name = "cognito"

        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            for fed in federations:
                sinks[fed.name].put("cognito.risk_configuration", {})

    class Declares(Writes):
        name = "cognito"
        provides = (*provided_by("cognito"), "cognito.risk_configuration")

    return Writes, Declares


class _UnnamedKind(TargetKind):
    name = "cognito.user_pool"


def test_drift_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config()
    collectors = default_collectors(config, None)
    others = [c for c in collectors if c.name != "cognito"]
    writes, declares = _stray_collectors()
    # A collector that writes a key the catalogue lacks, or says it provides one.
    assert drift([*others, writes(config)], IMPLEMENTATIONS) == [
        "collector 'cognito' writes cognito.risk_configuration, which the catalogue does not give it"]
    assert drift([*others, declares(config)], IMPLEMENTATIONS) == [
        "collector 'cognito' provides cognito.risk_configuration, which the catalogue lacks"]
    # A target kind no catalogue entry names.
    assert drift(collectors, [*IMPLEMENTATIONS, _UnnamedKind()]) == [
        "target kind 'cognito.user_pool': no catalogue entry names it"]
    # An entry whose collector does not exist, with a target kind nothing implements (the entry
    # is replaced in place: the catalogue's order is what everything lists).
    monkeypatch.setitem(RESOURCES, "cognito.domain", Resource(
        "cognito.domain", "", {}, collector="nobody", identity=lambda c: "", fix_target="cognito.domain"))
    assert drift(collectors, IMPLEMENTATIONS) == [
        "cognito.domain: no collector is named 'nobody'",
        "cognito.domain: target kind 'cognito.domain' has no implementation (remediate/targets.py)"]


def test_readme_lists_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"<!-- resources: .*? -->\n(.*?)\n<!-- /resources -->", readme, re.S)
    assert listed, "README 'Writing policies' lost its resource table"
    assert listed.group(1) == markdown_table(), \
        "README's resource table differs from the catalogue: paste auditor.resources.markdown_table() into it"


# What findings named their resource before the catalogue held the labels (evaluate/engine.py):
# uids and reports must not change with it.
_LABELS = {
    "okta.app": "okta.app:Contact Center",
    "okta.assignments": "okta.assignments:Contact Center",
    "okta.metadata": "okta.metadata:Contact Center",
    "cognito.user_pool": f"cognito.user_pool:{f.POOL}",
    "cognito.domain": f"cognito.domain:{f.POOL}",
    "cognito.identity_provider": f"cognito.identity_provider:{f.POOL}/Okta",
    "cognito.idp_metadata": f"cognito.idp_metadata:{f.POOL}/Okta",
    "cognito.app_client": f"cognito.app_client:{f.POOL}/app-client",
    "organizations": "organizations:123456789012",
    "iam.connect_role": f"iam.connect_role:{f.ROLE_ARN}",
    "connect.instance": f"connect.instance:{f.INSTANCE_ARN}",
    "okta.connect_app": "okta.connect_app:Amazon Connect",
    "okta.connect_metadata": "okta.connect_metadata:Amazon Connect",
    "iam.connect_role_policies": f"iam.connect_role_policies:{f.ROLE_ARN}",
    "iam.saml_provider": f"iam.saml_provider:{f.PROVIDER_ARN}",
}
_LABEL_VARIANTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("full", f.fed_config(), {}),
    ("no connect_sso", f.fed_config(connect_sso=None), {
        "okta.connect_app": "okta.connect_app:Contact Center",
        "okta.connect_metadata": "okta.connect_metadata:Contact Center",
        "iam.saml_provider": "iam.saml_provider"}),
    ("no scp", f.fed_config(scp=None), {
        "organizations": "organizations", "connect.instance": f"connect.instance:{f.INSTANCE_ID}"}),
    ("ids", f.fed_config(okta_app={"id": "0oaA"}, app_client={"id": "cid"}), {
        "okta.app": "okta.app:0oaA", "okta.assignments": "okta.assignments:0oaA",
        "okta.metadata": "okta.metadata:0oaA", "cognito.app_client": f"cognito.app_client:{f.POOL}/cid"}),
]


def test_a_snapshot_config_that_is_no_federation_block_is_refused_by_name() -> None:
    # Labels come from the typed config; a hand-edited snapshot's block must fail clearly, not as
    # an AttributeError halfway through judging.
    with pytest.raises(ValueError, match="federation 'prod': its config is not a valid federation block"):
        FederationConfig.from_data("prod", {})


@pytest.mark.parametrize(("config", "changed"), [v[1:] for v in _LABEL_VARIANTS], ids=[v[0] for v in _LABEL_VARIANTS])
def test_labels_are_what_they_were(config: dict[str, Any], changed: dict[str, str]) -> None:
    typed = FederationConfig.from_data("prod", config)
    assert {k: resource_label(k, typed) for k in RESOURCES if k not in ESTATE_RESOURCES} == {**_LABELS, **changed}


def test_each_target_kind_locates_its_object_as_before() -> None:
    fed = f.snapshot().federations[0]
    located = {kind: target_for(kind, fed)[0] for kind in fix_targets()}
    assert located == {
        "okta.app": {"app_id": "0oa1"},
        "okta.assignments": {"app_id": "0oa1"},
        "cognito.identity_provider": {"user_pool_id": f.POOL, "provider_name": "Okta"},
        "cognito.app_client": {"user_pool_id": f.POOL, "client_id": "c1"},
        "organizations.scp": {"account_id": "123456789012", "name": "auditor-protect-prod"},
        "okta.connect_app": {"app_id": "0oa2"},
        "iam.saml_provider": {"arn": f.PROVIDER_ARN}}
    assert target_for("okta.app", fed)[1] is fed.resources["okta.app"]
    assert target_for("organizations.scp", fed)[1] is None
    assert target_for("okta.assignments", fed)[1] == {"users": ["00u1"], "groups": ["00g1"]}
    # What --fix says when the scan saw no object to start from.
    cannot = {
        "okta.app": "the Okta app does not exist (create it by hand)",
        "okta.assignments": "the Okta app or its assignments could not be read",
        "cognito.identity_provider": "the identity provider does not exist (create it by hand)",
        "cognito.app_client": "the app client does not exist",
        "okta.connect_app": "the Okta Amazon Connect app does not exist (create it by hand)",
        "iam.saml_provider": "the IAM SAML provider does not exist (create it by hand)"}
    for kind, message in cannot.items():
        gone = FederationSnapshot("prod", fed.config, {**fed.resources, fix_targets()[kind]: None})
        with pytest.raises(CannotFix, match=f"^{re.escape(message)}$"):
            target_for(kind, gone)
    with pytest.raises(CannotFix, match=re.escape("no target kind 'cognito.user_pool'")):
        target_for("cognito.user_pool", fed)


# --- Extending: a hypothetical resource, `okta.widget`, in one catalogue entry and one collector.

WIDGET_POLICY = """\
version: 1
controls:
  - id: WIDGET-ENABLED
    title: The app's widget is enabled
    severity: low
    resource: okta.widget
    assert:
      - path: enabled
        equals: true
      - path: id
        equals: "w-{{ federation }}"
"""


@pytest.fixture
def widget_collector(monkeypatch: pytest.MonkeyPatch) -> type[Collector]:
    """The two steps README "Extending" names; nothing else in the code base changes."""
    # 1. The catalogue entry: what it is, its shape, who collects it, what findings call it.
    monkeypatch.setitem(RESOURCES, "okta.widget", Resource(
        "okta.widget", "a hypothetical Okta object, one per app",
        {"type": "object", "additionalProperties": False, "required": ["id", "enabled"],
         "properties": {"id": {"type": "string"}, "enabled": {"type": "boolean"}}},
        collector="widgets", identity=lambda config: f"{config.user_pool_id}/widget"))

    # 2. The collector that writes it (its `provides` comes from the catalogue).
    class WidgetCollector(Collector):
        name = "widgets"

        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            for fed in federations:
                sinks[fed.name].put("okta.widget", {"id": f"w-{fed.name}", "enabled": fed.name == "prod"})
                self.on_done(fed.name)

    return WidgetCollector


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_new_resource_takes_one_catalogue_entry_and_one_collector(widget_collector: type[Collector],
                                                                    tmp_path: Path) -> None:
    config = _config()
    collector = widget_collector(config)
    assert collector.provides == ("okta.widget",)
    assert drift([*default_collectors(config, None), collector], IMPLEMENTATIONS) == []
    assert "| `okta.widget` | widgets | a hypothetical Okta object, one per app | closed | - |" in markdown_table()

    # Policies may name it, and a read its shape rules out is refused at load.
    policies = load_policies([_write(tmp_path / "widget.yaml", WIDGET_POLICY)], include_builtin=False)
    (tmp_path / "bad").mkdir()
    with pytest.raises(PolicyError, match=re.escape("okta.widget has no field 'colour'")):
        load_policies([_write(tmp_path / "bad" / "widget.yaml",
                              WIDGET_POLICY.replace("w-{{ federation }}", "{{ okta.widget.colour }}"))],
                      include_builtin=False)

    # Collected, judged, and named by its identity.
    feds = [FederationConfig.from_data("prod", f.fed_config()), FederationConfig.from_data("staging", f.fed_config())]
    findings = {x.federation: x for x in evaluate(collect(config, feds, [collector], run_id="r"), policies)}
    assert findings["prod"].status is Status.PASS, findings["prod"].message
    assert findings["staging"].status is Status.FAIL
    assert findings["prod"].resource == f"okta.widget:{f.POOL}/widget"

    # A crash marks the keys it provides as not collected: ERROR, never PASS.
    class Crashing(widget_collector):  # type: ignore[valid-type,misc]
        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            raise RuntimeError("boom")

    crashed = evaluate(collect(config, feds[:1], [Crashing(config)], run_id="r"), policies)
    assert [(x.status, "widgets collector crashed" in x.message) for x in crashed] == [(Status.ERROR, True)]

    # A crash inside one federation's work on the AWS collectors' pool names its cause too (it
    # was marked done in a `finally`, so collect() skipped it: "not collected", no reason).
    from auditor.collectors.aws import for_each_federation

    class CrashingOnStaging(widget_collector):  # type: ignore[valid-type,misc]
        def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
            def work(fed: FederationConfig) -> None:
                if fed.name == "staging":
                    raise KeyError("Widgets")
                sinks[fed.name].put("okta.widget", {"id": f"w-{fed.name}", "enabled": True})
            for_each_federation(self, federations, work)

    for concurrency in (1, 4):
        crasher = CrashingOnStaging(config)
        crasher.options = replace(crasher.options, concurrency=concurrency)
        results = {x.federation: x for x in evaluate(collect(config, feds, [crasher], run_id="r"), policies)}
        assert results["prod"].status is Status.PASS, (concurrency, results["prod"].message)
        assert results["staging"].status is Status.ERROR
        message = results["staging"].message
        assert "widgets collector crashed: KeyError" in message, (concurrency, message)
