"""The local AWS's CloudTrail: an event per write it serves (who, from where, with what parameters)
and LookupEvents answered as AWS documents it, through real boto3 clients."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from auditor.sandbox.local_aws import LocalAWS
from auditor.sandbox.scenario import ACCOUNT_ID, MANAGEMENT_ACCOUNT_ID, Sandbox

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}}]})
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})




def assumed_client(aws: LocalAWS, service: str, session_name: str) -> Any:
    aws.client("iam").create_role(RoleName="terraform-ci", AssumeRolePolicyDocument=TRUST)
    creds = aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/terraform-ci",
                                          RoleSessionName=session_name)["Credentials"]
    return aws.client(service, aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                      config=Config(user_agent_extra="Terraform/1.9.5"))


def test_a_write_is_recorded_with_the_assumed_role_session(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool, ClientName="c")["UserPoolClient"]["ClientId"]
    assumed_client(aws, "cognito-idp", "tf-run-42").update_user_pool_client(
        UserPoolId=pool, ClientId=client_id, SupportedIdentityProviders=["COGNITO"])
    cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client_id)  # a read: not recorded

    records = aws.trail_events(ACCOUNT_ID, "us-east-1")
    assert [r["eventName"] for r in records] == ["CreateUserPool", "CreateUserPoolClient", "CreateRole",
                                                 "UpdateUserPoolClient"]
    update = records[-1]
    assert update["userIdentity"]["type"] == "AssumedRole"
    assert update["userIdentity"]["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/terraform-ci/tf-run-42"
    assert update["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "terraform-ci"
    assert "Terraform/1.9.5" in update["userAgent"]
    assert update["requestParameters"]["supportedIdentityProviders"] == ["COGNITO"]
    assert update["eventSource"] == "cognito-idp.amazonaws.com"

    found = aws.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "UpdateUserPoolClient"}])["Events"]
    assert [e["EventId"] for e in found] == [update["eventID"]]
    assert found[0]["Username"] == "tf-run-42"
    assert {"ResourceType": "AWS::Cognito::UserPool", "ResourceName": pool} in found[0]["Resources"]


def test_iam_and_organizations_events_are_in_us_east_1(aws: LocalAWS, sandbox: Sandbox) -> None:
    aws.client("iam", region_name="eu-west-2").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    sandbox.management_client("organizations").create_organization(FeatureSet="ALL")
    assert [r["eventName"] for r in aws.trail_events(ACCOUNT_ID, "us-east-1")] == ["CreateRole"]
    assert aws.trail_events(ACCOUNT_ID, "eu-west-2") == []
    management = aws.trail_events(MANAGEMENT_ACCOUNT_ID, "us-east-1")
    assert "CreateOrganization" in [r["eventName"] for r in management]
    assert next(r for r in management if r["eventName"] == "CreateOrganization")["userIdentity"]["type"] == "IAMUser"


def test_lookup_events_time_range_pages_and_validation(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp")
    for n in range(3):
        cognito.create_user_pool(PoolName=f"p{n}")
    trail = aws.client("cloudtrail", config=NO_RETRY)
    first = trail.lookup_events(MaxResults=2)
    assert len(first["Events"]) == 2 and first["NextToken"]
    assert first["Events"][0]["EventTime"] >= first["Events"][1]["EventTime"]  # newest first
    time.sleep(1.0)  # the documented 2 lookups per second
    rest = trail.lookup_events(MaxResults=2, NextToken=first["NextToken"])
    assert len(rest["Events"]) == 1 and "NextToken" not in rest
    future = datetime.now(UTC) + timedelta(hours=1)
    time.sleep(1.0)
    assert trail.lookup_events(StartTime=future, EndTime=future + timedelta(hours=1))["Events"] == []
    time.sleep(1.0)
    with pytest.raises(ClientError) as two:
        trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "a"},
                                              {"AttributeKey": "EventName", "AttributeValue": "b"}])
    assert two.value.response["Error"]["Code"] == "InvalidLookupAttributesException"


def test_more_than_two_lookups_a_second_are_throttled(aws: LocalAWS) -> None:
    trail = aws.client("cloudtrail", config=NO_RETRY)
    codes = []
    for _ in range(3):
        try:
            trail.lookup_events(MaxResults=1)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes == ["ok", "ok", "ThrottlingException"]
    assert aws.lookup_throttles == 1
