"""`auditor handover`: the values the contact-center vendor needs, read from the live state.

The values the vendor types into Okta (ACS URL, audience, e-mail claim, Amazon Connect relay
state...) are not re-derived here: each is the expected value of the control that checks it
(`_FROM_CONTROLS`), its policy template rendered against the collected state, so a value on
the sheet is exactly what the next scan will require.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

import jinja2

from auditor.collectors import collect
from auditor.collectors.aws import AwsClients, CognitoCollector, describe_aws_error
from auditor.collectors.base import plain
from auditor.config import Config, FederationConfig
from auditor.evaluate.aws_signin import GLOBAL_SIGNIN, ROLE_ATTRIBUTE, relay_state_base
from auditor.evaluate.engine import expected_argument
from auditor.policy.loader import PolicySet, load_policies
from auditor.policy.templates import UndefinedValue
from auditor.runner import select_federations
from auditor.snapshot import FederationSnapshot

# Sheet value -> (the control that checks it, the path its assertion checks), in policies/*.yaml.
_FROM_CONTROLS = {
    "acs_url": ("OKTA-SAML-ACS-URL", "settings.signOn.ssoAcsUrl"),
    "audience": ("OKTA-SAML-AUDIENCE", "settings.signOn.audience"),
    "email_claim": ("OKTA-SAML-EMAIL-ATTRIBUTE", "settings.signOn.attributeStatements"),  # has_item
    "connect_relay_state": ("OKTA-CONNECT-APP", "settings.signOn.defaultRelayState"),  # {instance_arn}
    "connect_role_attribute": ("OKTA-CONNECT-APP", "settings.signOn.attributeStatements"),  # {role_arn, provider_arn}
}


def handover(config: Config, names: list[str], *, policies: PolicySet | None = None) -> list[dict[str, Any]]:
    """One sheet per federation: {federation, values, stack_outputs, problems}.

    `policies`: the loaded policy set (default: the config's), whose controls hold the values.
    """
    feds = select_federations(config, names)
    policies = policies or load_policies(list(config.policies))
    clients = AwsClients(config)
    snapshot = collect(config, feds, [CognitoCollector(config, clients)], run_id="handover")
    sheets = []
    for fed, state in zip(feds, snapshot.federations, strict=True):
        problems = [f"{e.source}: {e.message}" for e in state.errors if e.source != "cognito.idp_metadata"]
        pool = state.resources.get("cognito.user_pool")
        idp = state.resources.get("cognito.identity_provider")
        client = state.resources.get("cognito.app_client")
        if pool is None and state.has("cognito.user_pool"):
            problems.append(f"user pool {fed.user_pool_id} does not exist")
        if idp is None and state.has("cognito.identity_provider"):
            problems.append(f"identity provider {fed.identity_provider!r} does not exist in the pool")
        if client is None and state.has("cognito.app_client"):
            problems.append("the app client does not exist")
        required = _Required(policies, snapshot.settings, problems)
        acs_url = required.value("acs_url", state)
        email = required.value("email_claim", state)
        values = {
            "identity_provider_name": idp.get("ProviderName") if idp else None,
            "user_pool_id": pool.get("Id") if pool else None,
            "region": clients.region_for(fed),
            "cognito_domain": urlsplit(acs_url).netloc if isinstance(acs_url, str) else None,
            "app_client_id": client.get("ClientId") if client else None,
            "acs_url": acs_url,
            "audience": required.value("audience", state),
            "email_claim": email.get("name") if isinstance(email, dict) else None,
        }
        if fed.data.get("connect_sso"):
            state, problem = _with_connect_instance(clients, fed, state)
            if problem:
                problems.append(problem)
            values.update(_connect_values(fed, state, required))
        stack_outputs = None
        stack = fed.data.get("cloudformation_stack")
        if stack:
            stack_outputs, problem = _stack_outputs(clients, fed, stack)
            if problem:
                problems.append(problem)
        sheets.append({"federation": fed.name, "values": values, "stack_outputs": stack_outputs,
                       "problems": problems})
    return sheets


@dataclasses.dataclass
class _Required:
    """Reads what the policies' controls require (`_FROM_CONTROLS`), noting in `problems` what it
    cannot compute."""

    policies: PolicySet
    settings: dict[str, Any]
    problems: list[str]

    def value(self, key: str, state: FederationSnapshot) -> Any:
        """The expected value behind sheet value `key`, for this federation's state.

        A value that reads an object that was not found or not collected is None with no problem
        of its own: the sheet's problems already name that object.
        """
        control_id, path = _FROM_CONTROLS[key]
        control = next((c for c in self.policies.controls if c.id == control_id), None)
        assertion = next((a for a in control.assertions if a.path == path), None) if control else None
        if assertion is None:
            self.problems.append(f"the policies have no assertion on {path} in {control_id}: "
                                 f"cannot say what {key} must be")
            return None
        try:
            return expected_argument(assertion, state, self.settings)
        except UndefinedValue:
            return None
        except jinja2.TemplateError as exc:
            self.problems.append(f"{control_id}: cannot compute {path}: {exc}")
            return None


def _with_connect_instance(clients: AwsClients, fed: FederationConfig,
                           state: FederationSnapshot) -> tuple[FederationSnapshot, str | None]:
    """`state` with the Amazon Connect instance (`connect.instance`) the relay state is made from."""
    from botocore.exceptions import BotoCoreError, ClientError

    instance_id = str(fed.data["connect_sso"]["instance_id"])
    try:
        instance = clients.client("connect", federation=fed).describe_instance(InstanceId=instance_id)["Instance"]
    except (ClientError, BotoCoreError) as exc:
        return state, describe_aws_error(exc, "connect:DescribeInstance")
    return dataclasses.replace(state, resources={**state.resources, "connect.instance": plain(instance)}), None


def _connect_values(fed: FederationConfig, state: FederationSnapshot, required: _Required) -> dict[str, Any]:
    """The Amazon Connect sign-in chain beside the Cognito one: what the Okta app must send.

    The relay state is the one OKTA-CONNECT-APP requires: the documented base URL of the
    instance, in the instance's own region (from its ARN).
    """
    relay = required.value("connect_relay_state", state)
    attributes = required.value("connect_role_attribute", state)
    role = attributes.get("role_arn") if isinstance(attributes, dict) else None
    provider = attributes.get("provider_arn") if isinstance(attributes, dict) else None
    arn = relay.get("instance_arn") if isinstance(relay, dict) else None
    relay_state = None
    if isinstance(arn, str):
        try:
            relay_state = relay_state_base(arn)
        except ValueError as exc:
            required.problems.append(f"no relay state: {exc}")
    return {
        "connect_instance_id": str(fed.data["connect_sso"]["instance_id"]),
        "connect_saml_provider_arn": provider,
        "connect_role_arn": role,
        "connect_acs_url": GLOBAL_SIGNIN,
        "connect_role_attribute": f"{ROLE_ATTRIBUTE} = {role},{provider}" if role and provider else None,
        "connect_relay_state": relay_state,
    }


def _stack_outputs(clients: AwsClients, fed: FederationConfig, stack: str) -> tuple[dict[str, str] | None, str | None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resp = clients.client("cloudformation", federation=fed).describe_stacks(StackName=stack)
    except (ClientError, BotoCoreError) as exc:
        return None, describe_aws_error(exc, "cloudformation:DescribeStacks")
    stacks = resp.get("Stacks", [])
    if not stacks:
        return None, f"CloudFormation stack {stack!r} not found"
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}, None
