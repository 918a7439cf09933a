"""Policy files: schema generated from the operator registry, errors with file:line and choices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest

from auditor.errors import PolicyError
from auditor.evaluate.operators import OPERATORS
from auditor.policy.loader import BUILTIN_POLICY_DIR, load_policies
from auditor.policy.schema import policy_schema

CATALOGUE = {
    "OKTA-APP-ACTIVE", "OKTA-SAML-ACS-URL", "OKTA-SAML-AUDIENCE", "OKTA-SAML-EMAIL-ATTRIBUTE",
    "OKTA-SAML-SIGNING", "OKTA-ASSIGNMENTS", "OKTA-CERT-EXPIRY", "COGNITO-DOMAIN", "COGNITO-IDP-SAML",
    "COGNITO-IDP-NAME", "COGNITO-IDP-METADATA", "COGNITO-IDP-EMAIL-MAPPING", "COGNITO-CLIENT-IDP-ENABLED",
    "SCP-DENY-ROLE-DELETION", "SCP-DENY-INSTANCE-DELETION", "SCP-PROTECTED-RESOURCES-EXIST",
    "CONNECT-INSTANCE-SAML", "CONNECT-IAM-SAML-PROVIDER", "CONNECT-ROLE-TRUST", "CONNECT-ROLE-FEDERATION",
    "OKTA-CONNECT-APP", "COVERAGE-UNAUDITED-FEDERATION", "COVERAGE-DANGLING-REFERENCE",
}


def user_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def errors(path: Path) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policies([path])
    return str(exc.value)


def test_builtin_catalogue_is_complete_and_valid() -> None:
    ids = {c.id for c in load_policies().controls}
    assert ids == CATALOGUE


def test_the_shipped_pack_passes_every_check_the_runs_skip() -> None:
    """A run trusts the shipped policies and frameworks (they ship with the code); this is where
    they get the schema, template, regex and remediation checks a user's files get on every run."""
    checked = load_policies(check_builtin=True)
    assert checked == load_policies()
    assert {f.id for f in checked.frameworks.frameworks} == {f.id for f in load_policies().frameworks.frameworks}


def test_a_shipped_file_copied_out_is_checked_like_any_user_file(tmp_path: Path) -> None:
    broken = (BUILTIN_POLICY_DIR / "okta.yaml").read_text(encoding="utf-8").replace("severity: high", "severity: hi", 1)
    assert "severity: hi\n" in broken
    with pytest.raises(PolicyError, match="severity"):
        load_policies([user_policy(tmp_path, broken)], include_builtin=False)


def test_meta_every_operator_documented_and_in_schema() -> None:
    props = policy_schema()["$defs"]["assertion"]["properties"]
    for name, op in OPERATORS.items():
        assert op.doc, f"operator {name} has no description"
        assert name in props, f"operator {name} missing from the generated schema"
    jsonschema.Draft202012Validator.check_schema(policy_schema())


def test_meta_builtin_files_validate_against_generated_schema() -> None:
    import yaml

    validator = jsonschema.Draft202012Validator(policy_schema())
    for path in BUILTIN_POLICY_DIR.glob("*.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


def test_user_policy_loads_beside_builtin(tmp_path: Path) -> None:
    path = user_policy(tmp_path, """\
        controls:
          - id: ACME-PROMPT-LOGIN
            title: Force authentication
            severity: low
            resource: okta.app
            assert:
              - path: settings.signOn.honorForceAuthn
                equals: true
        """)
    ids = {c.id for c in load_policies([path]).controls}
    assert "ACME-PROMPT-LOGIN" in ids and ids >= CATALOGUE


def test_unknown_operator_names_line_and_choices(tmp_path: Path) -> None:
    path = user_policy(tmp_path, """\
        controls:
          - id: X-1
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: status
                equal: ACTIVE
        """)
    msg = errors(path)
    assert "mine.yaml:8:" in msg and "'equal'" in msg and "did you mean 'equals'" in msg
    assert "days_until_at_least" in msg  # the valid choices are listed


def test_unknown_template_name_is_a_load_error(tmp_path: Path) -> None:
    path = user_policy(tmp_path, """\
        controls:
          - id: X-1
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: settings.signOn.audience
                equals: "urn:amazon:cognito:sp:{{ cognitoo.user_pool.Id }}"
        """)
    msg = errors(path)
    assert "mine.yaml:8:" in msg and "unknown template name 'cognitoo'" in msg and "did you mean 'cognito'" in msg


def test_template_syntax_error_and_bad_regex_and_bad_resource(tmp_path: Path) -> None:
    path = user_policy(tmp_path, """\
        controls:
          - id: X-1
            title: t
            severity: urgent
            resource: okta.apps
            assert:
              - path: label
                equals: "{{ config.name "
              - path: label
                matches: "([a-z"
        """)
    msg = errors(path)
    assert "urgent" in msg and "okta.apps" in msg and "did you mean 'okta.app'" in msg


def test_two_operators_in_one_assertion_and_duplicate_id(tmp_path: Path) -> None:
    path = user_policy(tmp_path, """\
        controls:
          - id: OKTA-APP-ACTIVE
            title: t
            severity: low
            resource: okta.app
            assert:
              - path: status
                equals: ACTIVE
                exists: true
        """)
    msg = errors(path)
    assert "several operators (equals, exists)" in msg
    assert "already defined" in msg


def test_missing_policy_path(tmp_path: Path) -> None:
    assert "does not exist" in errors(tmp_path / "nope.yaml")


def test_meta_every_operator_is_in_the_readme_table() -> None:
    readme = (BUILTIN_POLICY_DIR.parent / "README.md").read_text(encoding="utf-8")
    for name in OPERATORS:
        assert f"| `{name}` |" in readme, f"operator {name} missing from README's operator table"


@pytest.mark.parametrize(("source", "context", "expected"), [
    # Live values are never re-parsed: jinja's NativeTemplate `literal_eval`ed them, so an
    # account id without a leading zero came back as an int and list-looking text as a list.
    ("{{ x }}", {"x": "123456789012"}, "123456789012"),
    ("{{ x }}", {"x": "012345678901"}, "012345678901"),
    ("{{ x }}", {"x": "[1, 2]"}, "[1, 2]"),
    ("{{ x }}", {"x": "True"}, "True"),
    # A single expression keeps its native value, constants included; anything else is text.
    ("{{ x }}", {"x": [1, 2]}, [1, 2]),
    ("{{ 30 }}", {}, 30),
    ("{{ x | length }}", {"x": "abc"}, 3),
    ("a{{ x }}", {"x": 1}, "a1"),
])
def test_templates_render_native_values_and_never_reparse_text(source: str, context: dict[str, object],
                                                               expected: object) -> None:
    from auditor.policy.templates import render

    out = render(source, context)
    assert out == expected and type(out) is type(expected)
