"""`auditor handover`: the values the contact-center vendor needs, read from the live state."""

from __future__ import annotations

from typing import Any

from auditor.collectors.aws import AwsClients, CognitoCollector, describe_aws_error
from auditor.collectors.base import Sink
from auditor.config import Config
from auditor.runner import select_federations

EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


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
        region = config.aws.region
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
        stack_outputs = None
        stack = fed.data.get("cloudformation_stack")
        if stack:
            stack_outputs, problem = _stack_outputs(clients, stack)
            if problem:
                problems.append(problem)
        sheets.append({"federation": fed.name, "values": values, "stack_outputs": stack_outputs,
                       "problems": problems})
    return sheets


def _stack_outputs(clients: AwsClients, stack: str) -> tuple[dict[str, str] | None, str | None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resp = clients.client("cloudformation").describe_stacks(StackName=stack)
    except (ClientError, BotoCoreError) as exc:
        return None, describe_aws_error(exc, "cloudformation:DescribeStacks")
    stacks = resp.get("Stacks", [])
    if not stacks:
        return None, f"CloudFormation stack {stack!r} not found"
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}, None
