"""Property tests: whatever YAML text or structure reaches the loaders, the outcome is a valid
load or a clean UnusableInputError (exit 3) — never any other exception.

CI runs the fixed-seed `ci` profile (registered in tests/conftest.py, < 1 min); locally,
`HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/unit/test_hostile_input_properties.py` explores more.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from auditor.config import load_config
from auditor.errors import UnusableInputError
from auditor.policy.loader import load_policies

_KEYS = st.sampled_from([
    "version", "okta", "aws", "federations", "policies", "reports", "org_url", "auth", "token_env", "region",
    "name", "okta_app", "id", "label", "user_pool_id", "app_client", "identity_provider", "scp", "controls",
    "resource", "assert", "path", "equals", "severity", "title", "all", "any", "when", "remediation", "verison",
    "contains", "denies", "matches", "{{ x }}", "${HOME}", "", "0", "1"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["{{ cognito.user_pool.Id }}", "{{ nope }}", "{%",
                                                           "${UNSET_VAR_XYZ}", "okta.app", "high", "(", "[a-"]))
_DOCS = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(_KEYS, inner, max_size=5)), max_leaves=25)
_YAML_BITS = st.sampled_from(["version: 1\n", "controls:\n", "  - id: X\n", "    assert:\n", "- &a [*a]\n",
                              "a: &x 1\nb: *x\n", "key: [unclosed\n", "\t", ": :\n", "!!python/object:os.system\n",
                              "%YAML 1.1\n", "---\n", "...\n", "a: b\na: c\n", "\xff", "{", "'", "? x\n"])
_TEXT = st.one_of(st.text(max_size=200), st.lists(_YAML_BITS, max_size=12).map("".join), st.binary(max_size=200))


def _write(data: str | bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hyp-"))
    path = folder / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _load_config_cleanly(path: Path) -> None:
    try:
        load_config(path)
    except UnusableInputError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


def _load_policies_cleanly(path: Path) -> None:
    try:
        load_policies([path], include_builtin=False)
    except UnusableInputError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@given(_TEXT)
def test_config_text(text: str | bytes) -> None:
    _load_config_cleanly(_write(text, "config.yaml"))


@given(_DOCS)
def test_config_structure(doc: Any) -> None:
    _load_config_cleanly(_write(yaml.safe_dump(doc), "config.yaml"))


@given(_DOCS)
def test_config_structure_near_valid(doc: Any) -> None:
    base: dict[str, Any] = {"version": 1, "okta": {"org_url": "https://x.okta.com", "auth": {"token_env": "T"}},
                            "aws": {"region": "us-east-1"},
                            "federations": [{"name": "f", "okta_app": {"id": "0oa1"}, "user_pool_id": "us-east-1_A",
                                             "app_client": {"name": "c"}, "identity_provider": "Okta"}]}
    if isinstance(doc, dict):
        base["federations"][0].update(doc)
    _load_config_cleanly(_write(yaml.safe_dump(base), "config.yaml"))


@given(_TEXT)
def test_policy_text(text: str | bytes) -> None:
    _load_policies_cleanly(_write(text, "p.yaml"))


@given(_DOCS)
def test_policy_structure(doc: Any) -> None:
    _load_policies_cleanly(_write(yaml.safe_dump({"version": 1, "controls": [doc]}), "p.yaml"))


@given(st.dictionaries(_KEYS, _DOCS, max_size=4))
def test_policy_assertion_structure(assertion: dict[str, Any]) -> None:
    control = {"id": "HYP-ONE", "title": "t", "severity": "low", "resource": "okta.app", "assert": [assertion]}
    _load_policies_cleanly(_write(yaml.safe_dump({"version": 1, "controls": [control]}), "p.yaml"))


def test_control_character_is_a_clean_error() -> None:
    # Bug found by the property test: PyYAML's reader raised outside the error handling.
    try:
        load_policies([_write("controls: \x1b\n", "p.yaml")], include_builtin=False)
    except UnusableInputError as exc:
        assert "character" in str(exc) and "p.yaml:1" in str(exc)
    else:
        raise AssertionError("a control character was accepted")


def test_recursive_alias_is_a_clean_error() -> None:
    # Bug found by the property test: `&a [*a]` recursed until RecursionError.
    try:
        load_config(_write("- &a [*a]\n", "config.yaml"))
    except UnusableInputError as exc:
        assert "nested" in str(exc)
    else:
        raise AssertionError("a recursive alias was accepted")
