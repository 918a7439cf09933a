"""LocalAWS: real boto3 clients against the running moto server and its real-AWS rules.

Each rule test asserts what AWS does; against plain moto the same assertion fails (moto keeps
omitted client fields, overwrites duplicate IdPs, stores unknown IdP names, accepts any IdP
name, any SCP size and any number of SCPs per target).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from auditor.sandbox.local_aws import SCP_MAX_CHARACTERS, LocalAWS

pytestmark = pytest.mark.integration

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
SAML_DETAILS = {"MetadataURL": "https://example.okta.com/app/abc/sso/saml/metadata"}
SMALL_SCP = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "connect:*", "Resource": "*"}]}
)




def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def new_pool(cognito: Any, *idp_names: str) -> str:
    pool_id = str(cognito.create_user_pool(PoolName="pool")["UserPool"]["Id"])
    for name in idp_names:
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName=name, ProviderType="SAML", ProviderDetails=SAML_DETAILS
        )
    return pool_id


def scp_of_length(length: int) -> str:
    # Pad with white space: via the API, AWS counts every character, white space included.
    return SMALL_SCP + " " * (length - len(SMALL_SCP))


def new_org(aws: LocalAWS) -> tuple[Any, str]:
    org = aws.client("organizations", config=NO_RETRY)
    org.create_organization(FeatureSet="ALL")
    root_id = str(org.list_roots()["Roots"][0]["Id"])
    org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    return org, root_id


# --- lifecycle ---------------------------------------------------------------------------------


def test_binds_loopback_and_reports_endpoint(aws: LocalAWS) -> None:
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    assert aws._server.server_address[0] == "127.0.0.1"


def test_one_instance_per_process(aws: LocalAWS) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        LocalAWS().start()


def test_reset_wipes_aws_state_and_knobs(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    new_pool(cognito)
    aws.deny("ListUserPools")
    aws.set_latency(5000)
    aws.reset()
    started = time.monotonic()
    assert cognito.list_user_pools(MaxResults=10)["UserPools"] == []
    assert time.monotonic() - started < 5
    assert aws.calls == [("cognito-idp", "ListUserPools")]


def _new_connections(caplog: pytest.LogCaptureFixture) -> int:
    # urllib3 logs a first connection as "Starting new", a reopened one as "Resetting dropped".
    return sum(m in r.getMessage() for r in caplog.records
               for m in ("Starting new HTTP connection", "Resetting dropped connection"))


def test_a_client_keeps_one_connection_for_its_calls(aws: LocalAWS, caplog: pytest.LogCaptureFixture) -> None:
    # AWS endpoints keep HTTP/1.1 connections alive and botocore reuses them; werkzeug's server
    # closed every connection, so each call opened a new one (4 here).
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    with caplog.at_level("DEBUG", logger="urllib3.connectionpool"):
        pool_id = new_pool(cognito)
        cognito.describe_user_pool(UserPoolId=pool_id)
        with pytest.raises(ClientError):  # an error reply keeps the connection too
            cognito.describe_user_pool(UserPoolId="us-east-1_missing")
        assert cognito.list_user_pools(MaxResults=10)["UserPools"]
    assert _new_connections(caplog) == 1


def test_kept_alive_connection_frames_head_and_chunked_bodies(aws: LocalAWS) -> None:
    import http.client

    s3 = aws.client("s3", config=NO_RETRY)
    s3.create_bucket(Bucket="framing")
    s3.put_object(Bucket="framing", Key="k", Body=b"0123456789")

    def url(method: str, key: str) -> str:
        signed = s3.generate_presigned_url(method, Params={"Bucket": "framing", "Key": key}, HttpMethod=None)
        return signed.removeprefix(aws.endpoint_url)

    conn = http.client.HTTPConnection(aws.endpoint_url.removeprefix("http://"), timeout=10)
    try:
        # HEAD: the size a GET would send, no body; the next request on the socket still parses.
        conn.request("HEAD", url("head_object", "k"))
        head = conn.getresponse()
        assert (head.status, head.getheader("Content-Length"), head.read()) == (200, "10", b"")
        sock = conn.sock
        # A chunked request body is read to its end, not taken for the next request line.
        conn.request("PUT", url("put_object", "chunked"), body=iter([b"abc", b"def"]), encode_chunked=True)
        put = conn.getresponse()
        put.read()
        assert put.status == 200 and not put.will_close
        conn.request("GET", url("get_object", "chunked"))
        got = conn.getresponse()
        assert (got.status, got.read()) == (200, b"abcdef")
        conn.request("GET", url("get_object", "missing"))
        missing = conn.getresponse()
        assert missing.status == 404 and missing.read()
        assert conn.sock is sock  # one connection throughout
        # The client closing is honoured.
        conn.request("GET", url("get_object", "k"), headers={"Connection": "close"})
        last = conn.getresponse()
        assert last.read() == b"0123456789" and last.will_close
    finally:
        conn.close()


# --- rule 1: UpdateUserPoolClient resets what it is not sent ----------------------------------


def test_update_user_pool_client_resets_omitted_fields(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito, "OktaSAML")
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="connect",
        SupportedIdentityProviders=["OktaSAML"],
        CallbackURLs=["https://example.my.connect.aws/"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        AllowedOAuthFlowsUserPoolClient=True,
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
        RefreshTokenValidity=10,
        EnableTokenRevocation=False,
    )["UserPoolClient"]["ClientId"]

    updated = cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id, ClientName="renamed")
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]

    # plain moto would still show ["OktaSAML"] and the callback URL here
    assert "SupportedIdentityProviders" not in described
    assert "CallbackURLs" not in described
    assert "AllowedOAuthFlows" not in described
    assert "ExplicitAuthFlows" not in described
    assert described["AllowedOAuthFlowsUserPoolClient"] is False
    assert described["RefreshTokenValidity"] == 30
    assert described["EnableTokenRevocation"] is True
    assert described["AuthSessionValidity"] == 3
    assert described["ClientName"] == "renamed"
    assert updated["UserPoolClient"] == described


def test_describe_user_pool_domain_names_the_pool_owner_every_time(aws: LocalAWS) -> None:
    # AWSAccountId is "the AWS account that you created the user pool in" (DomainDescriptionType);
    # plain moto answers a fresh random UUID on every call, which a diff of two runs shows as a change.
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    cognito.create_user_pool_domain(UserPoolId=pool_id, Domain="stable-owner")

    first = cognito.describe_user_pool_domain(Domain="stable-owner")["DomainDescription"]
    second = cognito.describe_user_pool_domain(Domain="stable-owner")["DomainDescription"]

    account = aws.client("sts").get_caller_identity()["Account"]
    assert first["AWSAccountId"] == second["AWSAccountId"] == account
    assert first == second


def test_update_user_pool_client_keeps_what_it_is_sent(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito, "OktaSAML")
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="connect", CallbackURLs=["https://a.example/"]
    )["UserPoolClient"]["ClientId"]
    cognito.update_user_pool_client(
        UserPoolId=pool_id,
        ClientId=client_id,
        SupportedIdentityProviders=["OktaSAML"],
        RefreshTokenValidity=7,
    )
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert described["SupportedIdentityProviders"] == ["OktaSAML"]
    assert described["RefreshTokenValidity"] == 7
    assert described["ClientName"] == "connect"  # no default exists for a name: kept
    assert "CallbackURLs" not in described


# --- rule 2: duplicate IdP names ---------------------------------------------------------------


def test_duplicate_identity_provider_name_is_rejected(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito, "OktaSAML")
    with pytest.raises(ClientError) as exc:
        cognito.create_identity_provider(
            UserPoolId=pool_id,
            ProviderName="OktaSAML",
            ProviderType="SAML",
            ProviderDetails={"MetadataURL": "https://attacker.example/metadata"},
        )
    assert error_code(exc) == "DuplicateProviderException"
    assert "OktaSAML already exists" in str(exc.value)
    kept = cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="OktaSAML")
    assert kept["IdentityProvider"]["ProviderDetails"]["MetadataURL"] == SAML_DETAILS["MetadataURL"]


def test_concurrent_duplicate_creates_admit_exactly_one(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    outcomes: list[str] = []

    def create() -> None:
        client = aws.client("cognito-idp", config=NO_RETRY)
        try:
            client.create_identity_provider(
                UserPoolId=pool_id, ProviderName="Race", ProviderType="SAML", ProviderDetails=SAML_DETAILS
            )
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append(err.response["Error"]["Code"])

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["DuplicateProviderException"] * 5 + ["ok"]


# --- rule 3: a client may only name IdPs that exist --------------------------------------------


def test_client_naming_missing_identity_provider_is_rejected(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito, "OktaSAML")
    with pytest.raises(ClientError) as exc:
        cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName="c", SupportedIdentityProviders=["COGNITO", "Missing"]
        )
    assert error_code(exc) == "InvalidParameterException"
    assert f"The provider Missing does not exist for User Pool {pool_id}" in str(exc.value)

    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="c", SupportedIdentityProviders=["COGNITO", "OktaSAML"]
    )["UserPoolClient"]["ClientId"]
    with pytest.raises(ClientError) as exc:
        cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id, SupportedIdentityProviders=["Google"])
    assert error_code(exc) == "InvalidParameterException"
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert described["SupportedIdentityProviders"] == ["COGNITO", "OktaSAML"]


# --- rule 4: IdP name constraints --------------------------------------------------------------


@pytest.mark.parametrize("name", ["Okta", "o_kta", "okta-saml.prod", "Økta", "a" * 32])
def test_identity_provider_names_aws_accepts(aws: LocalAWS, name: str) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    cognito.create_identity_provider(
        UserPoolId=pool_id, ProviderName=name, ProviderType="SAML", ProviderDetails=SAML_DETAILS
    )


@pytest.mark.parametrize("name", ["ab", "Okta SAML", "_okta", "okta_saml", " okta", "a" * 33])
def test_identity_provider_names_aws_rejects(aws: LocalAWS, name: str) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    with pytest.raises(ClientError) as exc:
        cognito.create_identity_provider(
            UserPoolId=pool_id, ProviderName=name, ProviderType="SAML", ProviderDetails=SAML_DETAILS
        )
    assert error_code(exc) == "InvalidParameterException"
    assert "failed to satisfy constraint" in str(exc.value)


# --- rule 5: SCP size and count ----------------------------------------------------------------


def test_scp_content_limit_counts_every_character(aws: LocalAWS) -> None:
    org, _ = new_org(aws)
    at_limit = org.create_policy(
        Content=scp_of_length(SCP_MAX_CHARACTERS), Description="", Name="fits", Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    with pytest.raises(ClientError) as exc:
        org.create_policy(
            Content=scp_of_length(SCP_MAX_CHARACTERS + 1),
            Description="",
            Name="too-big",
            Type="SERVICE_CONTROL_POLICY",
        )
    assert error_code(exc) == "ConstraintViolationException"
    assert exc.value.response["Reason"] == "POLICY_CONTENT_LIMIT_EXCEEDED"

    with pytest.raises(ClientError) as exc:
        org.update_policy(PolicyId=at_limit, Content=scp_of_length(SCP_MAX_CHARACTERS + 1))
    assert exc.value.response["Reason"] == "POLICY_CONTENT_LIMIT_EXCEEDED"
    assert org.describe_policy(PolicyId=at_limit)["Policy"]["Content"] == scp_of_length(SCP_MAX_CHARACTERS)


def test_at_most_five_scps_per_target(aws: LocalAWS) -> None:
    org, root_id = new_org(aws)
    ou_id = org.create_organizational_unit(ParentId=root_id, Name="contact-center")["OrganizationalUnit"]["Id"]
    # FullAWSAccess is attached to every new OU, so four more reach the quota of five.
    policy_ids = [
        org.create_policy(Content=SMALL_SCP, Description="", Name=f"scp-{i}", Type="SERVICE_CONTROL_POLICY")["Policy"][
            "PolicySummary"
        ]["Id"]
        for i in range(5)
    ]
    for policy_id in policy_ids[:4]:
        org.attach_policy(PolicyId=policy_id, TargetId=ou_id)
    with pytest.raises(ClientError) as exc:
        org.attach_policy(PolicyId=policy_ids[4], TargetId=ou_id)
    assert error_code(exc) == "ConstraintViolationException"
    assert exc.value.response["Reason"] == "POLICY_NUMBER_LIMIT_EXCEEDED"
    attached = org.list_policies_for_target(TargetId=ou_id, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert len(attached) == 5


# --- knobs -------------------------------------------------------------------------------------


def test_throttle_fails_the_next_calls_then_recovers(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    aws.throttle("DescribeUserPool", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            cognito.describe_user_pool(UserPoolId=pool_id)
        assert error_code(exc) == "ThrottlingException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Id"] == pool_id


def test_throttle_with_a_custom_code_and_query_protocol(aws: LocalAWS) -> None:
    iam = aws.client("iam", config=NO_RETRY)
    aws.throttle("iam:ListRoles", code="Throttling")
    with pytest.raises(ClientError) as exc:
        iam.list_roles()
    assert error_code(exc) == "Throttling"
    iam.list_roles()


def test_default_client_retries_through_a_single_throttle(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp")
    aws.throttle("ListUserPools")
    assert cognito.list_user_pools(MaxResults=10)["UserPools"] == []
    assert aws.calls.count(("cognito-idp", "ListUserPools")) == 2


def test_deny_until_cleared_with_aws_message(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    pool_id = new_pool(cognito)
    aws.deny("DescribeUserPool")
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            cognito.describe_user_pool(UserPoolId=pool_id)
        assert error_code(exc) == "AccessDeniedException"
    message = exc.value.response["Error"]["Message"]
    assert message.startswith(
        "User: arn:aws:iam::123456789012:user/sandbox is not authorized to perform: "
        "cognito-idp:DescribeUserPool on resource: "
        f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{pool_id}"
    )
    aws.clear_faults()
    cognito.describe_user_pool(UserPoolId=pool_id)


def test_deny_on_query_and_rest_protocols(aws: LocalAWS) -> None:
    aws.deny("GetRole", times=1)
    with pytest.raises(ClientError) as exc:
        aws.client("iam", config=NO_RETRY).get_role(RoleName="any")
    assert error_code(exc) == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    aws.deny("connect:DescribeInstance", times=1)
    with pytest.raises(ClientError) as exc:
        aws.client("connect", config=NO_RETRY).describe_instance(InstanceId="abc")
    assert error_code(exc) == "AccessDeniedException"
    assert "connect:DescribeInstance on resource: arn:aws:connect:us-east-1:123456789012:instance/abc" in str(exc.value)


def test_latency_slows_every_call(aws: LocalAWS) -> None:
    cognito = aws.client("cognito-idp", config=NO_RETRY)
    cognito.list_user_pools(MaxResults=10)  # warm the connection and moto's backend
    aws.set_latency(250)
    started = time.monotonic()
    cognito.list_user_pools(MaxResults=10)
    assert time.monotonic() - started >= 0.25


def test_calls_name_service_and_operation_for_every_protocol(aws: LocalAWS) -> None:
    aws.client("cognito-idp").list_user_pools(MaxResults=1)
    aws.client("iam").list_roles()
    aws.client("connect").list_instances()
    assert aws.calls == [
        ("cognito-idp", "ListUserPools"),
        ("iam", "ListRoles"),
        ("connect", "ListInstances"),
    ]


# --- services the auditor reads ----------------------------------------------------------------


def test_connect_instance_round_trip(aws: LocalAWS) -> None:
    connect = aws.client("connect", config=NO_RETRY)
    created = connect.create_instance(
        IdentityManagementType="SAML",
        InstanceAlias="contact-center",
        InboundCallsEnabled=True,
        OutboundCallsEnabled=False,
    )
    instance = connect.describe_instance(InstanceId=created["Id"])["Instance"]
    assert instance["Arn"] == f"arn:aws:connect:us-east-1:123456789012:instance/{created['Id']}"
    assert instance["IdentityManagementType"] == "SAML"
    assert instance["InstanceStatus"] == "ACTIVE"
    assert instance["InboundCallsEnabled"] is True
    assert instance["OutboundCallsEnabled"] is False
    assert instance["InstanceAlias"] == "contact-center"
    assert {"CreatedTime", "ServiceRole", "InstanceAccessUrl"} <= set(instance)
    summaries = connect.list_instances()["InstanceSummaryList"]
    assert [s["Id"] for s in summaries] == [created["Id"]]

    connect.delete_instance(InstanceId=created["Id"])
    with pytest.raises(ClientError) as exc:
        connect.describe_instance(InstanceId=created["Id"])
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_organizations_scp_guarding_an_ou(aws: LocalAWS) -> None:
    org, root_id = new_org(aws)
    assert org.describe_organization()["Organization"]["FeatureSet"] == "ALL"
    root = org.list_roots()["Roots"][0]
    assert {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"} in root["PolicyTypes"]

    ou_id = org.create_organizational_unit(ParentId=root_id, Name="contact-center")["OrganizationalUnit"]["Id"]
    account_id = org.create_account(Email="connect@example.com", AccountName="connect")["CreateAccountStatus"][
        "AccountId"
    ]
    org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_id)
    assert org.list_parents(ChildId=account_id)["Parents"] == [{"Id": ou_id, "Type": "ORGANIZATIONAL_UNIT"}]

    policy_id = org.create_policy(
        Content=SMALL_SCP, Description="guard connect", Name="guard", Type="SERVICE_CONTROL_POLICY"
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy_id, TargetId=ou_id)
    attached = org.list_policies_for_target(TargetId=ou_id, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert policy_id in {p["Id"] for p in attached}
    assert json.loads(org.describe_policy(PolicyId=policy_id)["Policy"]["Content"]) == json.loads(SMALL_SCP)

    org.disable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    assert org.list_roots()["Roots"][0]["PolicyTypes"] == []


MANAGEMENT = "111122223333"
MEMBER = "123456789012"  # the default account: what unknown access keys sign as


def test_an_existing_account_joins_by_invitation_and_describes_the_organization(aws: LocalAWS) -> None:
    # InviteAccountToOrganization / AcceptHandshake, and DescribeOrganization "from any account in
    # the organization" naming the management account as MasterAccountId (API reference).
    management = aws.client("organizations", config=NO_RETRY, **aws.account_credentials(MANAGEMENT))
    member = aws.client("organizations", config=NO_RETRY)
    created = management.create_organization(FeatureSet="ALL")["Organization"]
    root_id = management.list_roots()["Roots"][0]["Id"]
    with pytest.raises(ClientError) as exc:
        member.describe_organization()
    assert error_code(exc) == "AWSOrganizationsNotInUseException"

    handshake = management.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": MEMBER})["Handshake"]
    assert (handshake["Action"], handshake["State"]) == ("INVITE", "OPEN")
    assert {"Id": MEMBER, "Type": "ACCOUNT"} in handshake["Parties"]
    with pytest.raises(ClientError) as exc:  # only the invited account accepts
        management.accept_handshake(HandshakeId=handshake["Id"])
    assert error_code(exc) == "HandshakeNotFoundException"
    assert member.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]["State"] == "ACCEPTED"

    for client in (management, member):
        described = client.describe_organization()["Organization"]
        assert described["MasterAccountId"] == MANAGEMENT
        assert described["Id"] == created["Id"]
        assert set(described) >= {"Arn", "FeatureSet", "Id", "MasterAccountArn", "MasterAccountEmail",
                                  "MasterAccountId"}
    assert management.list_parents(ChildId=MEMBER)["Parents"] == [{"Id": root_id, "Type": "ROOT"}]
    joined = management.describe_account(AccountId=MEMBER)["Account"]
    assert joined["JoinedMethod"] == "INVITED"
    attached = management.list_policies_for_target(TargetId=MEMBER, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert [p["Name"] for p in attached] == ["FullAWSAccess"]
    with pytest.raises(ClientError) as exc:  # one organization per account
        management.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": MEMBER})
    assert error_code(exc) == "HandshakeConstraintViolationException"
    with pytest.raises(ClientError) as exc:  # a member cannot invite
        member.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": "444455556666"})
    assert error_code(exc) == "AccessDeniedException"


def test_reset_forgets_organization_membership(aws: LocalAWS) -> None:
    management = aws.client("organizations", config=NO_RETRY, **aws.account_credentials(MANAGEMENT))
    management.create_organization(FeatureSet="ALL")
    handshake = management.invite_account_to_organization(Target={"Type": "ACCOUNT", "Id": MEMBER})["Handshake"]
    aws.client("organizations").accept_handshake(HandshakeId=handshake["Id"])
    aws.reset()
    with pytest.raises(ClientError) as exc:
        aws.client("organizations", config=NO_RETRY).describe_organization()
    assert error_code(exc) == "AWSOrganizationsNotInUseException"


def test_iam_role_and_cloudformation_outputs(aws: LocalAWS) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "connect.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    template = {
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}},
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}, "Env": {"Value": "sandbox"}},
    }
    cloudformation = aws.client("cloudformation", config=NO_RETRY)
    cloudformation.create_stack(StackName="auditor", TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName="auditor")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Env"] == "sandbox"

    iam = aws.client("iam", config=NO_RETRY)
    role_name = outputs["RoleArn"].rsplit("/", 1)[-1]
    assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == outputs["RoleArn"]


def test_an_idle_kept_alive_connection_closing_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """http.server reports a kept-alive connection that reached its idle timeout as "Request timed
    out"; that is how such a connection ends, and a benchmark printed one line per connection."""
    import logging

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    from auditor.sandbox.local_aws import _keep_alive_handler

    handler = _keep_alive_handler(MotoRequestHandler, set())
    instance = handler.__new__(handler)
    instance.client_address = ("127.0.0.1", 1)
    instance.requestline, instance.request_version, instance.command = "", "HTTP/1.1", None
    with caplog.at_level(logging.INFO):
        instance.log_error("Request timed out: %r", TimeoutError("timed out"))
        assert not caplog.records
        instance.log_error("code %d, message %s", 400, "Bad request syntax")
    assert [r.getMessage() for r in caplog.records if "Bad request syntax" in r.getMessage()]
