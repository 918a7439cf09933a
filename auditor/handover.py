"""`auditor handover`: the values the contact-center vendor needs, read from the live state."""

from __future__ import annotations

from typing import Any

from auditor.collectors.aws import AwsClients, CognitoCollector, describe_aws_error
from auditor.collectors.base import Sink
from auditor.config import Config, FederationConfig
from auditor.runner import select_federations

EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
AWS_SIGNIN = "https://signin.aws.amazon.com/saml"
ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"


def handover(config: Config, names: list[str]) -> list[dict[str, Any]]:
    """One sheet per federation: {federation, values, stack_outputs, problems}."""
    feds = select_federations(config, names)
    clients = AwsClients(config)
    sinks = {f.name: Sink(f.name) for f in feds}
    CognitoCollector(config, clients).collect(feds, sinks)
    sheets = []
    for fed in feds:
        sink = sinks[fed.name]
        problems = [f"{e.source}: {e.message}" for e in sink.errors if e.source != "cognito.idp_metadata"]
        pool = sink.get("cognito.user_pool")
        domain = sink.get("cognito.domain")
        idp = sink.get("cognito.identity_provider")
        client = sink.get("cognito.app_client")
        region = clients.region_for(fed)
        prefix = domain.get("Domain") if domain else None
        if pool is None and "cognito.user_pool" in sink.resources:
            problems.append(f"user pool {fed.user_pool_id} does not exist")
        if idp is None and "cognito.identity_provider" in sink.resources:
            problems.append(f"identity provider {fed.identity_provider!r} does not exist in the pool")
        if client is None and "cognito.app_client" in sink.resources:
            problems.append("the app client does not exist")
        values = {
            "identity_provider_name": idp.get("ProviderName") if idp else None,
            "user_pool_id": pool.get("Id") if pool else None,
            "region": region,
            "cognito_domain": f"{prefix}.auth.{region}.amazoncognito.com" if prefix else None,
            "app_client_id": client.get("ClientId") if client else None,
            "acs_url": f"https://{prefix}.auth.{region}.amazoncognito.com/saml2/idpresponse" if prefix else None,
            "audience": f"urn:amazon:cognito:sp:{pool['Id']}" if pool else None,
            "email_claim": EMAIL_CLAIM,
        }
        if fed.data.get("connect_sso"):
            connect_values, problem = _connect_values(clients, fed)
            values.update(connect_values)
            if problem:
                problems.append(problem)
        stack_outputs = None
        stack = fed.data.get("cloudformation_stack")
        if stack:
            stack_outputs, problem = _stack_outputs(clients, fed, stack)
            if problem:
                problems.append(problem)
        sheets.append({"federation": fed.name, "values": values, "stack_outputs": stack_outputs,
                       "problems": problems})
    return sheets


def _connect_values(clients: AwsClients, fed: FederationConfig) -> tuple[dict[str, Any], str | None]:
    """The Amazon Connect sign-in chain beside the Cognito one: what the Okta app must send.

    The relay state uses the instance's real region (from its ARN), as OKTA-CONNECT-APP expects.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    sso = fed.data["connect_sso"]
    instance_id = str(sso["instance_id"])
    role, provider = fed.connect_role_arn, sso["saml_provider_arn"]
    values: dict[str, Any] = {
        "connect_instance_id": instance_id,
        "connect_saml_provider_arn": provider,
        "connect_role_arn": role,
        "connect_acs_url": AWS_SIGNIN,
        "connect_role_attribute": f"{ROLE_ATTRIBUTE} = {role},{provider}",
        "connect_relay_state": None,
    }
    try:
        instance = clients.client("connect", federation=fed).describe_instance(InstanceId=instance_id)["Instance"]
    except (ClientError, BotoCoreError) as exc:
        return values, describe_aws_error(exc, "connect:DescribeInstance")
    region = str(instance["Arn"]).split(":")[3]
    values["connect_relay_state"] = f"https://{region}.console.aws.amazon.com/connect/federate/{instance_id}"
    return values, None


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
