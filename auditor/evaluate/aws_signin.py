"""What AWS sign-in accepts from an IdP for the Amazon Connect sign-in chain, by the documentation.

Pure logic, standard library only. Each rule names the page (and section) it follows; where AWS
documents several valid forms, every one of them is accepted, and what AWS sign-in refuses is
rejected even when it looks complete. The judgments, each returning the problems found (an empty
list: valid):

* ``signin_endpoint_problem``: the SAML sign-in endpoint (ACS URL / Recipient) the IdP posts to;
* ``audience_condition_problems`` / ``audience_admits``: a trust policy's ``SAML:aud`` condition;
* ``relay_state_problems``: the relay state that lands agents on the Connect instance;
* ``saml_attribute_problems``: the Role, RoleSessionName and SessionDuration attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

# The pages the rules follow (cited next to each rule below).
DOC_ASSERTIONS = "AWS IAM User Guide: Configure SAML assertions for the authentication response"
DOC_TROUBLESHOOT = "AWS IAM User Guide: Troubleshoot SAML 2.0 federation with AWS"
DOC_ROLE_FOR_SAML = "AWS IAM User Guide: Create a role for SAML 2.0 federation (console)"
DOC_SIGNIN_ENDPOINTS = "AWS General Reference: AWS Sign-In endpoints and quotas"
DOC_CONNECT = "Amazon Connect Administrator Guide: Configure SAML with IAM for Amazon Connect"
DOC_AMS_ADFS = "AWS Managed Services User Guide: AD FS claim rule and SAML settings"
DOC_CONDITION_OPERATORS = "AWS IAM User Guide: IAM JSON policy elements: Condition operators"
DOC_MULTIVALUED = "AWS IAM User Guide: Multivalued context keys (set operators)"

ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
ROLE_SESSION_NAME_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
SESSION_DURATION_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
GLOBAL_SIGNIN = "https://signin.aws.amazon.com/saml"

# Sign-in endpoints [DOC_ASSERTIONS, "Subject and NameID"; DOC_CONNECT, "Configure the identity
# provider to use regional SAML endpoints"]: the global https://signin.aws.amazon.com/saml, the
# regional https://<region-code>.signin.aws.amazon.com/saml, each with /acs/<IdP-ID> appended when
# SAML encryption is required, and https://signin.aws.amazon.com/static/saml ("For the AWS value,
# you can also use ..."). The region codes are the Region column of [DOC_SIGNIN_ENDPOINTS], where
# us-east-1 has no regional name: its endpoint *is* signin.aws.amazon.com.
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_IDP_ID = r"[A-Za-z0-9-]+"
_ENDPOINT = re.compile(rf"https://(?:(?P<region>{_REGION})\.)?signin\.aws\.amazon\.com"
                       rf"(?:/saml(?:/acs/{_IDP_ID})?|/static/saml)")
_GLOBAL_ONLY_PATHS = ("/static/saml",)


def signin_endpoint_problem(url: Any) -> str | None:
    """Why ``url`` is not an AWS sign-in SAML endpoint in a documented form (None: it is one)."""
    if not isinstance(url, str) or not url:
        return f"{url!r} is not a URL"
    m = _ENDPOINT.fullmatch(url)
    if m is None:
        return (f"{url} is not an AWS sign-in SAML endpoint (documented: {GLOBAL_SIGNIN}, "
                f"https://<region>.signin.aws.amazon.com/saml, optionally /acs/<IdP-ID>)")
    region = m.group("region")
    if region == "us-east-1":
        # The Region table lists us-east-1's endpoint as signin.aws.amazon.com.  [DOC_SIGNIN_ENDPOINTS]
        return f"{url}: us-east-1's sign-in endpoint is {GLOBAL_SIGNIN} (there is no us-east-1.signin name)"
    if region and url.endswith(_GLOBAL_ONLY_PATHS):
        return f"{url}: /static/saml is documented for the global endpoint only"
    return None


# ---------------------------------------------------------------------------------------------
# The SAML:aud condition of a role trust policy

# "saml:aud comes from the SAML recipient attribute", not from the Audience element; so the value
# urn:amazon:webservices (a valid *Audience*) never equals it.  [DOC_ASSERTIONS, "AudienceRestriction"]
AUDIENCE_NOT_RECIPIENT = "urn:amazon:webservices"

# String condition operators for a string-valued key: StringEquals (the console's form), its
# IgnoreCase variant, and StringLike ("For string values, you can test these values in IAM trust
# policies using StringEquals or StringLike conditions").  [DOC_ASSERTIONS, "Mapping SAML
# attributes"; DOC_CONDITION_OPERATORS]
_POSITIVE = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")
_NEGATIVE = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike")


def _split_operator(operator: str) -> tuple[str, str, bool]:
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike', True)."""
    prefix, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    return prefix, base[: -len("IfExists")] if if_exists else base, if_exists


def _aud_blocks(condition: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(operator, values) of every SAML:aud test in a Condition block (key names are not
    case-sensitive  [DOC_CONDITION_OPERATORS])."""
    out = []
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if isinstance(key, str) and key.lower() == "saml:aud":
                out.append((str(operator), [str(v) for v in (value if isinstance(value, list) else [value])]))
    return out


def _glob(pattern: str) -> re.Pattern[str]:
    # StringLike: '*' any run of characters, '?' one character, case-sensitive.  [DOC_CONDITION_OPERATORS]
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
                      re.DOTALL)


def _test(base: str, values: Sequence[str], actual: str) -> bool:
    if base.startswith("StringNot"):
        return not _test(base.replace("Not", "", 1), values, actual)
    if base == "StringEquals":
        return actual in values
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in (v.lower() for v in values)
    return any(_glob(v).fullmatch(actual) for v in values)  # StringLike


def audience_admits(condition: Mapping[str, Any], recipient: str) -> bool | None:
    """Whether a statement's SAML:aud tests let an assertion with this Recipient through.

    Every test must hold (several operators are ANDed, several values of one operator ORed)
    [DOC_CONDITION_OPERATORS]. A single-valued key under ForAnyValue/ForAllValues is tested like
    the plain operator when present [DOC_MULTIVALUED]. None: the statement tests SAML:aud with
    an operator this module does not model (so nobody can say).
    """
    for operator, values in _aud_blocks(condition):
        _, base, _ = _split_operator(operator)
        if base not in _POSITIVE + _NEGATIVE:
            return None
        if not _test(base, values, recipient):
            return False
    return True


def _pattern_problem(base: str, value: str) -> str | None:
    """Why one SAML:aud value does not restrict the audience to AWS sign-in endpoints."""
    if value == AUDIENCE_NOT_RECIPIENT:
        return (f"{value} is an Audience value, but SAML:aud is the assertion's Recipient (the sign-in "
                "endpoint), so this condition refuses every sign-in")
    if base == "StringLike" and ("*" in value or "?" in value):
        # A wildcard may stand only for the region label: https://*.signin.aws.amazon.com/saml.
        host_wild = re.fullmatch(r"https://[a-z0-9*?-]+\.signin\.aws\.amazon\.com/saml(?:/acs/[A-Za-z0-9*?-]+)?",
                                 value)
        return None if host_wild else f"the pattern {value} admits endpoints other than AWS sign-in"
    candidate = value.lower() if base == "StringEqualsIgnoreCase" else value
    return signin_endpoint_problem(candidate)


def audience_condition_problems(condition: Mapping[str, Any]) -> list[str]:
    """Why a trust statement's Condition does not restrict SAML:aud to AWS sign-in endpoints.

    Valid forms: ``StringEquals`` with the global endpoint [DOC_ROLE_FOR_SAML], or with several
    values, global and regional [DOC_CONNECT, "Configure the identity provider to use regional
    SAML endpoints": "replace the singular SAML:aud condition with a multivalued condition"],
    ``StringEqualsIgnoreCase``/``StringLike`` [DOC_ASSERTIONS, "Mapping SAML attributes"], and
    ``ForAnyValue:`` forms of these. Refused: no SAML:aud test; ``ForAllValues:`` and
    ``...IfExists``, which also hold when the request carries no SAML:aud [DOC_MULTIVALUED;
    DOC_CONDITION_OPERATORS]; a negated operator alone; any value that is not a sign-in endpoint.
    """
    problems: list[str] = []
    for operator, values in _aud_blocks(condition):
        prefix, base, if_exists = _split_operator(operator)
        if base in _NEGATIVE:
            continue  # excludes values; never restricts the audience by itself
        if base not in _POSITIVE or prefix not in ("", "ForAnyValue", "ForAllValues"):
            problems.append(f"SAML:aud is tested with {operator}, not a string condition operator")
        elif prefix == "ForAllValues" or if_exists:
            problems.append(f"{operator} SAML:aud also holds when the request has no SAML:aud "
                            "(use StringEquals)")
        else:
            found = [p for p in (_pattern_problem(base, v) for v in values) if p]
            if not found:
                # Several tests are ANDed: one that admits only sign-in endpoints restricts them all.
                return []
            problems += found
    return problems or [f"no SAML:aud condition (e.g. StringEquals SAML:aud {GLOBAL_SIGNIN})"]


# ---------------------------------------------------------------------------------------------
# Relay state

_INSTANCE_ARN = re.compile(r"arn:(?P<partition>aws[a-z-]*):connect:(?P<region>[a-z0-9-]+):\d{12}:"
                           r"instance/(?P<id>[^/]+)")


def relay_state_base(instance_arn: str) -> str:
    """The documented relay state for the instance [DOC_CONNECT, step "Configure the relay state"]:
    https://<instance region>.console.aws.amazon.com/connect/federate/<instance id>, and in
    GovCloud https://console.amazonaws-us-gov.com/connect/federate/<instance id>.

    Raises ValueError for an ARN that is not an Amazon Connect instance in those partitions.
    """
    m = _INSTANCE_ARN.fullmatch(instance_arn) if isinstance(instance_arn, str) else None
    if m is None:
        raise ValueError(f"{instance_arn!r} is not an Amazon Connect instance ARN")
    if m["partition"] == "aws":
        return f"https://{m['region']}.console.aws.amazon.com/connect/federate/{m['id']}"
    if m["partition"] == "aws-us-gov":
        return f"https://console.amazonaws-us-gov.com/connect/federate/{m['id']}"
    raise ValueError(f"no relay state is documented for the partition {m['partition']!r}")


def relay_state_problems(value: Any, instance_arn: str) -> tuple[list[str], str]:
    """Problems with a relay state, and the value to set (the documented base, with the query of
    ``value`` kept when that query is valid).

    Valid [DOC_CONNECT]: the base URL alone; with ``?destination=<URL-encoded path or approved
    origin>`` ("Use a destination in your relay state URL": "You must use URL encoding for the
    destination value"), e.g. ``%2Fccp-v2%2Fchat&new_domain=true``. Refused: another region ("the
    Region name where you created your Amazon Connect instance"), another instance, another host
    or scheme, an empty relay state (agents land in the AWS console, not in Connect).
    """
    base = relay_state_base(instance_arn)
    if not isinstance(value, str) or not value:
        return [f"there is no relay state (expected {base}): agents land in the AWS console, not in Connect"], base
    parts = urlsplit(value)
    expected = urlsplit(base)
    problems = []
    if parts.scheme != "https" or parts.netloc.lower() != expected.netloc:
        problems.append(f"{value} is not on {expected.scheme}://{expected.netloc} (the instance's own region)")
    if parts.path != expected.path:
        problems.append(f"{value} does not open /connect/federate/ of this instance ({expected.path})")
    query_problems = _destination_problems(parts.query)
    keep_query = parts.query and not query_problems
    return problems + query_problems, base + (f"?{parts.query}" if keep_query else "")


def _destination_problems(query: str) -> list[str]:
    problems = []
    for item in query.split("&") if query else []:
        name, _, raw = item.partition("=")
        if name != "destination":
            continue
        decoded = unquote(raw)
        if "/" in raw or ":" in raw:
            problems.append(f"the destination {raw} is not URL-encoded (write {_encode(decoded)})")
        elif not (decoded.startswith("/") or decoded.startswith("https://")):
            problems.append(f"the destination {decoded} is neither a path of the instance nor an https origin")
    return problems


def _encode(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# ---------------------------------------------------------------------------------------------
# SAML attributes (Okta attribute statements: [{name, values, ...}])

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/\S+")
_PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/\S+")
# RoleSessionName and SourceIdentity values: [a-zA-Z_0-9+=,.@-]{2,64}.  [DOC_TROUBLESHOOT]
SESSION_DURATION_RANGE = (900, 43200)  # seconds  [DOC_ASSERTIONS, "SessionDuration"]


def role_pairs(values: Sequence[Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (role ARN, provider ARN) pairs of a Role attribute's values, and the values that are
    not such a pair. The two ARNs are comma-delimited, role first [DOC_ASSERTIONS, "SAML Role
    attribute"] or provider first [DOC_AMS_ADFS, the Role claim rule]."""
    pairs, bad = [], []
    for value in values:
        parts = str(value).split(",") if isinstance(value, str) else []
        if len(parts) == 2 and _ROLE_ARN.fullmatch(parts[0]) and _PROVIDER_ARN.fullmatch(parts[1]):
            pairs.append((parts[0], parts[1]))
        elif len(parts) == 2 and _PROVIDER_ARN.fullmatch(parts[0]) and _ROLE_ARN.fullmatch(parts[1]):
            pairs.append((parts[1], parts[0]))
        else:
            bad.append(str(value))
    return pairs, bad


def saml_attribute_problems(statements: Any, role_arn: str, provider_arn: str) -> list[str]:
    """What AWS sign-in would refuse in the attribute statements an IdP sends.

    * Role: required, its Name exactly (case-sensitive) the Role URI; one or more values, each a
      role/provider pair; one of them this role with this provider [DOC_ASSERTIONS, "SAML Role
      attribute"; DOC_TROUBLESHOOT, "Your request included an invalid SAML response"].
    * RoleSessionName: required ("RoleSessionName is required in AuthnResponse"
      [DOC_TROUBLESHOOT]), exactly named, one value [DOC_ASSERTIONS]; Amazon Connect matches it
      to the Connect user name [DOC_CONNECT, "Important notes"].
    * SessionDuration: optional; when present one whole number of seconds in 900..43200
      [DOC_ASSERTIONS, "SAML SessionDuration attribute"].
    """
    if not isinstance(statements, list):
        return [f"the attribute statements are {type(statements).__name__}, not a list"]
    by_name: dict[str, list[Any]] = {}
    names = []
    for st in statements:
        if isinstance(st, Mapping) and isinstance(st.get("name"), str):
            names.append(st["name"])
            values = st.get("values") or []
            by_name.setdefault(st["name"], []).append(values if isinstance(values, list) else [values])
    problems = []
    for required in (ROLE_ATTRIBUTE, ROLE_SESSION_NAME_ATTRIBUTE, SESSION_DURATION_ATTRIBUTE):
        near = [n for n in names if n != required and n.strip().lower() == required.lower()]
        if near and required not in by_name:
            problems.append(f"the attribute {near[0]!r} must be named {required} exactly (case-sensitive)")
    for name, found in by_name.items():
        if name in (ROLE_ATTRIBUTE, ROLE_SESSION_NAME_ATTRIBUTE, SESSION_DURATION_ATTRIBUTE) and len(found) > 1:
            problems.append(f"{name} is sent {len(found)} times; AWS maps only one claim per key")

    role_values = [v for vals in by_name.get(ROLE_ATTRIBUTE, []) for v in vals]
    if ROLE_ATTRIBUTE not in by_name:
        problems.append(f"no {ROLE_ATTRIBUTE} attribute (AWS sign-in: 'invalid SAML response')")
    elif not role_values:
        problems.append(f"{ROLE_ATTRIBUTE} has no value (it needs at least one role,provider pair)")
    else:
        pairs, bad = role_pairs(role_values)
        if bad:
            problems.append(f"{ROLE_ATTRIBUTE} values {bad} are not '<role ARN>,<provider ARN>' pairs")
        if (role_arn, provider_arn) not in pairs:
            problems.append(f"{ROLE_ATTRIBUTE} does not pair {role_arn} with {provider_arn} "
                            f"(pairs: {[','.join(p) for p in pairs]})")

    if ROLE_SESSION_NAME_ATTRIBUTE not in by_name:
        problems.append(f"no {ROLE_SESSION_NAME_ATTRIBUTE} attribute: AWS sign-in refuses the assertion "
                        "('RoleSessionName is required in AuthnResponse'); Amazon Connect matches it to the user name")
    else:
        session_values = [v for vals in by_name[ROLE_SESSION_NAME_ATTRIBUTE] for v in vals]
        if len(session_values) != 1 or not str(session_values[0]).strip():
            problems.append(f"{ROLE_SESSION_NAME_ATTRIBUTE} must have exactly one value, has {session_values}")

    if SESSION_DURATION_ATTRIBUTE in by_name:
        durations = [v for vals in by_name[SESSION_DURATION_ATTRIBUTE] for v in vals]
        low, high = SESSION_DURATION_RANGE
        text = str(durations[0]).strip().strip("\"'") if len(durations) == 1 else ""
        if not (text.isdigit() and low <= int(text) <= high):
            problems.append(f"{SESSION_DURATION_ATTRIBUTE} must be one whole number of seconds from {low} "
                            f"to {high}, is {durations}")
    return problems
