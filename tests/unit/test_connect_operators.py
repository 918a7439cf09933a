"""The `allows` and `trusts_only` operators on plain data (the Amazon Connect chain's IAM checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auditor.evaluate.operators import OPERATORS, OpContext, OperatorError, Outcome

CTX = OpContext(now=datetime(2026, 11, 28, tzinfo=UTC), settings={})
INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/i-1"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/OktaConnect"
AUD = {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
FEDERATE = {"action": "connect:GetFederationToken", "resource": f"{INSTANCE}/user/${{aws:userid}}"}
TRUST_ARG = {"principal": {"Federated": PROVIDER}, "action": "sts:AssumeRoleWithSAML", "condition": AUD}


def allows(*statements: dict[str, Any], arg: dict[str, str] = FEDERATE) -> Outcome:
    policies = [{"id": f"p{i}", "name": f"p{i}", "content": {"Version": "2012-10-17", "Statement": [s]}}
                for i, s in enumerate(statements)]
    return OPERATORS["allows"].fn(policies, arg, CTX)


def allow(resource: str, action: str = "connect:GetFederationToken", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize("resource", [
    f"{INSTANCE}/user/${{aws:userid}}",  # the documented policy
    f"{INSTANCE}/user/${{AWS:UserId}}",  # variable names are case-insensitive
    f"{INSTANCE}/user/*",
    f"{INSTANCE}/*",
    "*",
])
def test_allows_the_agents_own_user(resource: str) -> None:
    outcome = allows(allow(resource))
    assert outcome.ok, outcome.message


@pytest.mark.parametrize("resource,why", [
    ("arn:aws:connect:us-east-1:123456789012:instance/other/user/${aws:userid}", "not allowed"),
    ("arn:aws:connect:eu-west-2:123456789012:instance/i-1/user/${aws:userid}", "not allowed"),
    (f"{INSTANCE}/user/AIDAONEUSER", "not allowed"),  # one fixed user is not every agent
    (f"{INSTANCE}/user/${{aws:username}}", "only when"),  # another variable: may or may not match
])
def test_does_not_allow_every_agent(resource: str, why: str) -> None:
    outcome = allows(allow(resource))
    assert not outcome.ok
    assert why in outcome.message
    assert "auditor-variable" not in outcome.message  # the stand-in never leaks into messages


def test_explicit_deny_wins_and_conditions_are_not_allows() -> None:
    deny = {"Effect": "Deny", "Action": "connect:*", "Resource": "*"}
    assert not allows(allow("*"), deny).ok
    conditional = allow("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    outcome = allows(conditional)
    assert not outcome.ok and "aws:MultiFactorAuthPresent" in outcome.message


def test_allows_needs_policies_and_valid_documents() -> None:
    with pytest.raises(OperatorError):
        OPERATORS["allows"].fn({"not": "a list"}, FEDERATE, CTX)
    with pytest.raises(OperatorError):
        allows({"Effect": "Allow", "Action": "connect:*"})  # identity policies need a Resource


def trust(*statements: dict[str, Any], arg: dict[str, Any] = TRUST_ARG) -> Outcome:
    return OPERATORS["trusts_only"].fn({"Version": "2012-10-17", "Statement": list(statements)}, arg, CTX)


SAML = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": AUD}


def test_trusts_exactly_the_provider() -> None:
    outcome = trust(SAML)
    assert outcome.ok, outcome.message
    assert outcome.actual_summary == {"may_assume": [{
        "principal_type": "Federated", "principal": PROVIDER, "actions": ["sts:AssumeRoleWithSAML"],
        "conditions": AUD, "statement": "#1"}]}


def test_trust_accepts_text_and_case_insensitive_condition_keys() -> None:
    import json

    stmt = {**SAML, "Condition": {"StringEquals": {"saml:AUD": "https://signin.aws.amazon.com/saml"}}}
    assert OPERATORS["trusts_only"].fn(json.dumps({"Statement": stmt}), TRUST_ARG, CTX).ok


def test_trust_without_aud_condition_fails() -> None:
    outcome = trust({k: v for k, v in SAML.items() if k != "Condition"})
    assert not outcome.ok and "without the condition SAML:aud StringEquals" in outcome.message


def test_trust_with_wrong_audience_fails() -> None:
    outcome = trust({**SAML, "Condition": {"StringEquals": {"SAML:aud": "https://example.com/saml"}}})
    assert not outcome.ok and "https://example.com/saml" in outcome.message


def test_a_second_statement_without_the_condition_makes_it_moot() -> None:
    loose = {k: v for k, v in SAML.items() if k != "Condition"}
    assert not trust(SAML, {**loose, "Action": "sts:*"}).ok


@pytest.mark.parametrize("extra,named", [
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"},
     "AWS arn:aws:iam::123456789012:root"),
    ({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole*"}, "anyone"),
    ({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole"]},
     "Service ec2.amazonaws.com"),
    ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/x"}, "Action": "sts:AssumeRole"},
     "everyone except AWS arn:aws:iam::123456789012:user/x"),
    ({"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/Other"},
      "Action": "sts:AssumeRoleWithSAML", "Condition": AUD}, "saml-provider/Other"),
])
def test_other_principals_are_named(extra: dict[str, Any], named: str) -> None:
    outcome = trust(SAML, extra)
    assert not outcome.ok
    assert "other principals may assume the role" in outcome.message and named in outcome.message


def test_tag_session_alone_does_not_trust_anyone() -> None:
    tag = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:TagSession"}
    assert trust(SAML, tag).ok


def test_unconditional_deny_of_the_provider_fails() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRoleWithSAML"}
    outcome = trust(SAML, deny)
    assert not outcome.ok and "denies" in outcome.message


def test_no_statement_for_the_provider_fails() -> None:
    outcome = trust({**SAML, "Action": "sts:AssumeRoleWithWebIdentity"})
    assert not outcome.ok and f"no statement lets Federated {PROVIDER} call sts:AssumeRoleWithSAML" in outcome.message


def test_malformed_trust_policy_is_an_operator_error() -> None:
    with pytest.raises(OperatorError):
        OPERATORS["trusts_only"].fn("{not json", TRUST_ARG, CTX)
    with pytest.raises(OperatorError):
        trust({"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML"})  # no Principal


# ---------------------------------------------------------------------------------------------
# Every form AWS documents as valid passes; every form AWS sign-in refuses fails. Each case
# names its source: page title, then section.

IAM_ASSERTIONS = "IAM: Configure SAML assertions for the authentication response"
IAM_TROUBLESHOOT = "IAM: Troubleshoot SAML 2.0 federation with AWS"
IAM_ROLE_SAML = "IAM: Create a role for SAML 2.0 federation"
CONNECT_GUIDE = "Amazon Connect: Configure SAML with IAM for Amazon Connect"
SIGNIN_ENDPOINTS = "AWS General Reference: AWS Sign-In endpoints and quotas"
REGIONAL = "https://eu-west-2.signin.aws.amazon.com/saml"
GLOBAL = "https://signin.aws.amazon.com/saml"
ROLE = "arn:aws:iam::123456789012:role/AmazonConnectUserRole"
INSTANCE_ID = INSTANCE.rsplit("/", 1)[-1]


def op(name: str, value: Any, arg: dict[str, Any]) -> Outcome:
    return OPERATORS[name].fn(value, arg, CTX)


@pytest.mark.parametrize("url,source", [
    (GLOBAL, f"{IAM_ASSERTIONS}, Subject and NameID (the global endpoint)"),
    (REGIONAL, f"{IAM_ASSERTIONS}, Subject and NameID; {CONNECT_GUIDE}, regional SAML endpoints"),
    ("https://us-east-2.signin.aws.amazon.com/saml", f"{SIGNIN_ENDPOINTS}, Region table"),
    ("https://eu-west-2.signin.aws.amazon.com/saml/acs/a1b2c3d4-0000-1111-2222-333344445555",
     f"{IAM_ASSERTIONS}, Subject and NameID (SAML encryption: /acs/IdP-ID)"),
    ("https://signin.aws.amazon.com/static/saml", f"{IAM_ASSERTIONS}, Subject and NameID ('you can also use')"),
])
def test_signin_endpoint_valid_forms_pass(url: str, source: str) -> None:
    outcome = op("aws_signin_endpoint", url, {})
    assert outcome.ok, f"{source}: {outcome.message}"


@pytest.mark.parametrize("url,why,source", [
    ("https://us-east-1.signin.aws.amazon.com/saml", "us-east-1's sign-in endpoint is",
     f"{SIGNIN_ENDPOINTS}, Region table: us-east-1 is signin.aws.amazon.com"),
    ("http://signin.aws.amazon.com/saml", "not an AWS sign-in SAML endpoint", f"{IAM_ASSERTIONS}: https endpoints"),
    ("https://signin.aws.amazon.com/saml/", "not an AWS sign-in SAML endpoint", f"{IAM_ASSERTIONS}: exact URL"),
    ("https://signin.aws.amazon.com.evil.example/saml", "not an AWS sign-in", f"{IAM_ASSERTIONS}: exact host"),
    ("https://acme.okta.com/app/x/sso/saml", "not an AWS sign-in", f"{IAM_ASSERTIONS}, Subject and NameID"),
    ("https://eu-west-2.signin.aws.amazon.com/static/saml", "global endpoint only",
     f"{IAM_ASSERTIONS}: /static/saml is given for the AWS (global) value only"),
])
def test_signin_endpoint_refused_forms_fail(url: str, why: str, source: str) -> None:
    outcome = op("aws_signin_endpoint", url, {})
    assert not outcome.ok, source
    assert why in outcome.message


def trust_doc(condition: dict[str, Any] | None) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                            "Action": "sts:AssumeRoleWithSAML"}
    if condition is not None:
        stmt["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [stmt]}


SIGNIN_TRUST = {"principal": {"Federated": PROVIDER}, "action": "sts:AssumeRoleWithSAML", "aws_signin_audience": True}


@pytest.mark.parametrize("condition,source", [
    ({"StringEquals": {"SAML:aud": GLOBAL}}, f"{IAM_ROLE_SAML}, prerequisites (the example trust policy)"),
    ({"StringEquals": {"SAML:aud": [GLOBAL, REGIONAL]}},
     f"{CONNECT_GUIDE}, regional SAML endpoints ('replace the singular SAML:aud condition with a multivalued one')"),
    ({"StringEquals": {"SAML:aud": REGIONAL}}, f"{IAM_ROLE_SAML}: regional sign-in URLs may be used"),
    ({"StringEquals": {"saml:aud": GLOBAL}}, "IAM: Condition element (condition key names are not case-sensitive)"),
    ({"StringLike": {"SAML:aud": "https://*.signin.aws.amazon.com/saml"}},
     f"{IAM_ASSERTIONS}, Mapping SAML attributes (string values: StringEquals or StringLike)"),
    ({"StringEqualsIgnoreCase": {"SAML:aud": GLOBAL}}, "IAM: Condition operators (string condition operators)"),
    ({"ForAnyValue:StringEquals": {"SAML:aud": [GLOBAL, REGIONAL]}},
     f"{IAM_ASSERTIONS}, Mapping SAML attributes (ForAnyValue set operator)"),
    ({"StringEquals": {"SAML:aud": GLOBAL, "SAML:sub_type": "persistent"}},
     f"{IAM_ROLE_SAML}: more attribute conditions may be added"),
])
def test_trust_saml_aud_valid_forms_pass(condition: dict[str, Any], source: str) -> None:
    outcome = op("trusts_only", trust_doc(condition), SIGNIN_TRUST)
    assert outcome.ok, f"{source}: {outcome.message}"


@pytest.mark.parametrize("condition,why,source", [
    (None, "no SAML:aud condition", f"{IAM_ROLE_SAML}: the Condition element is required for console access"),
    ({"StringEquals": {"SAML:aud": "urn:amazon:webservices"}}, "Audience value",
     f"{IAM_ASSERTIONS}, AudienceRestriction: saml:aud comes from the Recipient, not the Audience"),
    ({"StringEquals": {"SAML:aud": [GLOBAL, "https://example.com/saml"]}}, "https://example.com/saml",
     f"{IAM_ASSERTIONS}, Subject and NameID: only AWS sign-in endpoints"),
    ({"ForAllValues:StringEquals": {"SAML:aud": GLOBAL}}, "holds when the request has no SAML:aud",
     "IAM: Multivalued context keys (ForAllValues is true when the key is missing)"),
    ({"StringEqualsIfExists": {"SAML:aud": GLOBAL}}, "holds when the request has no SAML:aud",
     "IAM: Condition operators (...IfExists is true when the key is not present)"),
    ({"StringNotEquals": {"SAML:aud": "https://example.com/saml"}}, "no SAML:aud condition",
     "IAM: Condition operators (a negated test admits every other value)"),
    ({"StringLike": {"SAML:aud": "https://*"}}, "admits endpoints other than AWS sign-in",
     f"{IAM_ASSERTIONS}, Subject and NameID"),
])
def test_trust_saml_aud_refused_forms_fail(condition: dict[str, Any] | None, why: str, source: str) -> None:
    outcome = op("trusts_only", trust_doc(condition), SIGNIN_TRUST)
    assert not outcome.ok, source
    assert why in outcome.message


def test_trust_saml_aud_every_grant_must_restrict() -> None:
    # IAM: Policy evaluation logic -- any one Allow grants; a second grant without the
    # restriction makes the first one's moot.
    doc = trust_doc({"StringEquals": {"SAML:aud": GLOBAL}})
    doc["Statement"].append({**doc["Statement"][0], "Condition": {"StringEquals": {"SAML:aud": "https://x.example"}}})
    assert not op("trusts_only", doc, SIGNIN_TRUST).ok


RECIPIENT_ARG = {"principal": PROVIDER}


@pytest.mark.parametrize("recipient,condition,ok,source", [
    (GLOBAL, {"StringEquals": {"SAML:aud": GLOBAL}}, True, IAM_ROLE_SAML),
    (REGIONAL, {"StringEquals": {"SAML:aud": [GLOBAL, REGIONAL]}}, True, f"{CONNECT_GUIDE}, regional SAML endpoints"),
    (REGIONAL, {"StringLike": {"SAML:aud": "https://*.signin.aws.amazon.com/saml"}}, True,
     f"{IAM_ASSERTIONS}, Mapping SAML attributes (StringLike)"),
    # The IdP posts to a regional endpoint the trust policy does not list: saml:aud is the
    # Recipient, so STS refuses ("Not authorized to perform sts:AssumeRoleWithSAML").
    (REGIONAL, {"StringEquals": {"SAML:aud": GLOBAL}}, False,
     f"{IAM_ASSERTIONS}, AudienceRestriction (saml:aud = Recipient); {IAM_TROUBLESHOOT}, Not authorized"),
    (GLOBAL, {"StringEquals": {"SAML:aud": REGIONAL}}, False, f"{CONNECT_GUIDE}, regional SAML endpoints"),
])
def test_recipient_must_be_admitted_by_the_trust_policy(recipient: str, condition: dict[str, Any], ok: bool,
                                                        source: str) -> None:
    outcome = op("aws_signin_endpoint", recipient, {**RECIPIENT_ARG, "accepted_by": trust_doc(condition)})
    assert outcome.ok is ok, f"{source}: {outcome.message}"
    if not ok:
        assert "AWS sign-in refuses" in outcome.message


def test_recipient_with_no_grant_for_the_provider_fails() -> None:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
                                                   "Action": "sts:AssumeRole"}]}
    assert not op("aws_signin_endpoint", GLOBAL, {**RECIPIENT_ARG, "accepted_by": doc}).ok


BASE = f"https://us-east-1.console.aws.amazon.com/connect/federate/{INSTANCE_ID}"
RELAY_ARG = {"instance_arn": INSTANCE}


@pytest.mark.parametrize("relay,source", [
    (BASE, f"{CONNECT_GUIDE}, step 'Configure the relay state'"),
    (f"{BASE}?destination=%2Fccp-v2", f"{CONNECT_GUIDE}, Use a destination in your relay state URL"),
    (f"{BASE}?destination=%2Fccp-v2%2Fchat&new_domain=true", f"{CONNECT_GUIDE}, Use a destination (new_domain)"),
    (f"{BASE}?destination=%2Fagent-app-v2", f"{CONNECT_GUIDE}, Use a destination ('another example')"),
    (f"{BASE}?destination=https%3A%2F%2Fportal.example.com",
     f"{CONNECT_GUIDE}, Use a destination (an approved origin outside the instance)"),
])
def test_relay_state_valid_forms_pass(relay: str, source: str) -> None:
    outcome = op("connect_relay_state", relay, RELAY_ARG)
    assert outcome.ok, f"{source}: {outcome.message}"


def test_relay_state_govcloud_form_passes() -> None:
    # Connect guide, 'Configure the relay state': "For a GovCloud instance, the URL is
    # https://console.amazonaws-us-gov.com/".
    arn = "arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/i-9"
    assert op("connect_relay_state", "https://console.amazonaws-us-gov.com/connect/federate/i-9",
              {"instance_arn": arn}).ok


@pytest.mark.parametrize("relay,why,source", [
    (BASE.replace("us-east-1", "eu-west-2"), "instance's own region",
     f"{CONNECT_GUIDE}: 'the Region name where you created your Amazon Connect instance'"),
    (BASE.replace(INSTANCE_ID, "00000000-0000-0000-0000-000000000000"), "of this instance",
     f"{CONNECT_GUIDE}: 'Replace the instance-id with the instance ID for your instance'"),
    (BASE.replace("https://", "http://"), "instance's own region", f"{CONNECT_GUIDE}: the https URL"),
    (f"{BASE}?destination=/connect/ccp", "not URL-encoded",
     f"{CONNECT_GUIDE}, Use a destination: 'You must use URL encoding for the destination value'"),
    ("", "agents land in the AWS console", f"{CONNECT_GUIDE}: the relay state points to the instance"),
    (f"https://us-east-1.console.aws.amazon.com/connect/home?id={INSTANCE_ID}", "of this instance",
     f"{CONNECT_GUIDE}: /connect/federate/<instance id>"),
])
def test_relay_state_refused_forms_fail(relay: str, why: str, source: str) -> None:
    outcome = op("connect_relay_state", relay, RELAY_ARG)
    assert not outcome.ok, source
    assert why in outcome.message


def test_relay_state_expected_is_the_value_the_fix_writes() -> None:
    # The okta.connect_relay_state fix writes `expected`: the documented base, keeping a valid
    # destination, never an invalid one.
    moved = op("connect_relay_state", BASE.replace("us-east-1", "eu-west-2") + "?destination=%2Fccp-v2", RELAY_ARG)
    assert moved.expected == f"{BASE}?destination=%2Fccp-v2"
    unencoded = op("connect_relay_state", f"{BASE}?destination=/ccp-v2", RELAY_ARG)
    assert unencoded.expected == BASE and op("connect_relay_state", unencoded.expected, RELAY_ARG).ok
    with pytest.raises(OperatorError):
        op("connect_relay_state", BASE, {"instance_arn": "not-an-arn"})


ROLE_URI = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_URI = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
DURATION_URI = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
ATTR_ARG = {"role_arn": ROLE, "provider_arn": PROVIDER}


def statements(*pairs: tuple[str, list[str]]) -> list[dict[str, Any]]:
    return [{"type": "EXPRESSION", "name": n, "namespace": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
             "values": v} for n, v in pairs]


SESSION = (SESSION_URI, ["user.login"])


@pytest.mark.parametrize("attrs,source", [
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), SESSION), f"{IAM_ASSERTIONS}, SAML Role attribute (role first)"),
    (statements((ROLE_URI, [f"{PROVIDER},{ROLE}"]), SESSION),
     "AWS Managed Services: AD FS claim rule and SAML settings, Role claim (provider first)"),
    (statements((ROLE_URI, [f"arn:aws:iam::123456789012:role/Other,{PROVIDER}", f"{ROLE},{PROVIDER}"]), SESSION),
     f"{IAM_ASSERTIONS}, SAML Role attribute ('can contain multiple pairs')"),
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), SESSION, (DURATION_URI, ["43200"])),
     f"{IAM_ASSERTIONS}, SAML SessionDuration attribute (900 to 43200)"),
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), SESSION, (DURATION_URI, ["900"])),
     f"{IAM_ASSERTIONS}, SAML SessionDuration attribute (lower bound)"),
])
def test_saml_attributes_valid_forms_pass(attrs: list[dict[str, Any]], source: str) -> None:
    outcome = op("aws_saml_attributes", attrs, ATTR_ARG)
    assert outcome.ok, f"{source}: {outcome.message}"


@pytest.mark.parametrize("attrs,why,source", [
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"])), "RoleSessionName is required",
     f"{IAM_TROUBLESHOOT}, 'RoleSessionName is required in AuthnResponse'"),
    (statements(SESSION), "no https://aws.amazon.com/SAML/Attributes/Role attribute",
     f"{IAM_TROUBLESHOOT}, 'Your request included an invalid SAML response'"),
    (statements(("https://aws.amazon.com/SAML/Attributes/role", [f"{ROLE},{PROVIDER}"]),
                SESSION), "exactly (case-sensitive)",
     f"{IAM_ASSERTIONS}, SAML Role attribute: 'The value of the Name attribute ... is case-sensitive'"),
    (statements((ROLE_URI, [ROLE]), SESSION), "not '<role ARN>,<provider ARN>' pairs",
     f"{IAM_TROUBLESHOOT}, invalid SAML response: each value a comma-separated pair"),
    (statements((ROLE_URI, [f"{ROLE};{PROVIDER}"]), SESSION), "not '<role ARN>,<provider ARN>' pairs",
     f"{IAM_ASSERTIONS}, SAML Role attribute: a comma-delimited pair"),
    (statements((ROLE_URI, [f"{ROLE},arn:aws:iam::123456789012:saml-provider/Other"]), SESSION),
     "does not pair", f"{IAM_TROUBLESHOOT}, 'Specified provider doesn't exist'"),
    (statements((ROLE_URI, [f"{ROLE.lower()},{PROVIDER}"]), SESSION), "does not pair",
     f"{IAM_TROUBLESHOOT}, Not authorized: 'role names are case sensitive'"),
    (statements((ROLE_URI, []), SESSION), "has no value", f"{IAM_ASSERTIONS}: at least one role-provider pair"),
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), (SESSION_URI, ["user.login", "user.email"])),
     "exactly one value", f"{IAM_ASSERTIONS}, SAML RoleSessionName attribute: 'one AttributeValue element'"),
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), SESSION, (DURATION_URI, ["86400"])), "from 900 to 43200",
     f"{IAM_ASSERTIONS}, SAML SessionDuration attribute: 900 to 43200 seconds"),
    (statements((ROLE_URI, [f"{ROLE},{PROVIDER}"]), SESSION, (DURATION_URI, ["600"])), "from 900 to 43200",
     f"{IAM_ASSERTIONS}, SAML SessionDuration attribute: 900 to 43200 seconds"),
])
def test_saml_attributes_refused_forms_fail(attrs: list[dict[str, Any]], why: str, source: str) -> None:
    outcome = op("aws_saml_attributes", attrs, ATTR_ARG)
    assert not outcome.ok, source
    assert why in outcome.message


BY_INSTANCE = {**FEDERATE, "context": {"connect:InstanceId": INSTANCE_ID}}


@pytest.mark.parametrize("statement,source", [
    (allow(f"{INSTANCE}/user/${{aws:userid}}"), f"{CONNECT_GUIDE}, IAM policy (all users of one instance)"),
    (allow("*", Condition={"StringEquals": {"connect:InstanceId": INSTANCE_ID}}),
     f"{CONNECT_GUIDE}, IAM policy (Resource * with connect:InstanceId)"),
    (allow("*", Condition={"StringEquals": {"connect:InstanceId": [INSTANCE_ID, "1234567-78a2-2e74"]}}),
     f"{CONNECT_GUIDE}, IAM policy (several instances: 'Note the brackets')"),
    (allow(f"{INSTANCE}/*"), "IAM: Resource element (a wildcard covering the user ARN)"),
])
def test_federation_permission_valid_forms_pass(statement: dict[str, Any], source: str) -> None:
    outcome = allows(statement, arg=BY_INSTANCE)
    assert outcome.ok, f"{source}: {outcome.message}"


@pytest.mark.parametrize("statement,why,source", [
    (allow("*", Condition={"StringEquals": {"connect:InstanceId": "00000000-0000-0000-0000-000000000000"}}),
     "does not hold", f"{CONNECT_GUIDE}, IAM policy: the condition names another instance"),
    (allow(INSTANCE), "not allowed", f"{CONNECT_GUIDE}, IAM policy: the resource is the user, not the instance"),
    (allow(f"{INSTANCE}/user/AIDAONEUSER"), "not allowed", f"{CONNECT_GUIDE}, IAM policy: ${{aws:userid}}"),
    (allow("*", Condition={"StringEquals": {"aws:PrincipalTag/team": "cc"}}), "only when",
     "IAM: Condition element (a condition on an unknown key stays a condition)"),
])
def test_federation_permission_refused_forms_fail(statement: dict[str, Any], why: str, source: str) -> None:
    outcome = allows(statement, arg=BY_INSTANCE)
    assert not outcome.ok, source
    assert why in outcome.message


def test_conditional_deny_on_the_instance_is_decided_too() -> None:
    # IAM: Policy evaluation logic -- an explicit deny whose condition holds for the request wins.
    deny = {"Effect": "Deny", "Action": "connect:*", "Resource": "*",
            "Condition": {"StringEquals": {"connect:InstanceId": INSTANCE_ID}}}
    assert not allows(allow(f"{INSTANCE}/user/${{aws:userid}}"), deny, arg=BY_INSTANCE).ok
    other = {**deny, "Condition": {"StringEquals": {"connect:InstanceId": "other"}}}
    assert allows(allow(f"{INSTANCE}/user/${{aws:userid}}"), other, arg=BY_INSTANCE).ok


@pytest.mark.parametrize("name,value,arg", [
    ("aws_saml_attributes", [{"name": "https://aws.amazon.com/SAML/Attributes/Role", "values": "not-a-list"},
                             {"name": 7}, "junk", {"values": [None]}], ATTR_ARG),
    ("aws_saml_attributes", {"not": "a list"}, ATTR_ARG),
    ("aws_signin_endpoint", 42, {}),
    ("aws_signin_endpoint", None, {}),
    ("connect_relay_state", ["x"], RELAY_ARG),
])
def test_malformed_values_fail_without_raising(name: str, value: Any, arg: dict[str, Any]) -> None:
    assert not op(name, value, arg).ok


def test_malformed_arguments_are_operator_errors() -> None:
    with pytest.raises(OperatorError):
        op("connect_relay_state", BASE, {"instance_arn": {"not": "a string"}})
    with pytest.raises(OperatorError):
        op("aws_signin_endpoint", GLOBAL, {"principal": PROVIDER, "accepted_by": None})


@pytest.mark.parametrize("condition,expected", [
    # IAM: Condition operators -- string operators against a known request context key.
    ({"StringLike": {"connect:InstanceId": "i-?"}}, True),
    ({"StringLike": {"connect:InstanceId": "x-*"}}, False),
    ({"StringEqualsIgnoreCase": {"CONNECT:INSTANCEID": "I-1"}}, True),
    ({"StringNotEquals": {"connect:InstanceId": "other"}}, True),
    ({"StringNotEquals": {"connect:InstanceId": "i-1"}}, False),
    ({"StringEqualsIfExists": {"connect:InstanceId": "i-1"}}, True),
    ({"ForAnyValue:StringEquals": {"connect:InstanceId": ["i-1", "i-2"]}}, True),
    # Unknown keys or operators stay undecided (None), unless a known test already fails.
    ({"StringEquals": {"connect:InstanceId": "i-1", "aws:SourceIp": "10.0.0.1"}}, None),
    ({"NumericEquals": {"connect:InstanceId": "1"}}, None),
    ({"StringEquals": {"connect:InstanceId": "i-2"}, "Bool": {"aws:SecureTransport": "true"}}, False),
    ({"StringEquals": {"connect:InstanceId": "${aws:username}"}}, None),
])
def test_conditions_decided_by_known_request_context(condition: dict[str, Any], expected: bool | None) -> None:
    from auditor.evaluate.iam import evaluate_allow

    policy = [{"id": "p", "content": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "connect:GetFederationToken", "Resource": "*", "Condition": condition}]}}]
    verdict = evaluate_allow(policy, "connect:GetFederationToken", f"{INSTANCE}/user/u", context={
        "connect:InstanceId": "i-1"})
    decided = True if verdict.allowed else (None if verdict.conditional else False)
    assert decided is expected, verdict.explanation
