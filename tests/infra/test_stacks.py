"""The production stacks' real properties, read from the synthesised templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match

from infra_cdk.app import build
from infra_cdk.config import DeployConfig
from infra_cdk.nag import ACCEPTED, NON_PRODUCTION_DATABASE, PUBLIC_ROUTE, VENDOR_SECRET
from infra_cdk.service import SPECS
from prepkit.adapters.dynamo_rate_limiter import PARTITION_KEY, TTL_ATTRIBUTE
from prepkit.pipeline import render
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS, ROUTES
from tests.infra.conftest import Synth, resolve


def _functions(s: Synth) -> dict[str, str]:
    """logical id -> short function name (setup, reads, ...)."""
    out = {}
    for logical, res in s.resources(s.service, "AWS::Lambda::Function").items():
        name = res["Properties"].get("FunctionName", "")
        if isinstance(name, str) and name.startswith("prepkit-prod-"):
            out[logical] = name.removeprefix("prepkit-prod-")
    return out


def test_one_function_per_route_group_plus_pipeline_and_migrations(prod: Synth) -> None:
    assert sorted(_functions(prod).values()) == sorted([*FUNCTIONS, *NON_HTTP_FUNCTIONS])


def test_every_function_gets_the_factory_defaults(prod: Synth) -> None:
    functions = prod.resources(prod.service, "AWS::Lambda::Function")
    for logical in _functions(prod):
        p = functions[logical]["Properties"]
        assert p["Runtime"] == "python3.12"
        assert p["Architectures"] == ["arm64"]
        assert p["Handler"] == "handler.handler"
        assert p["TracingConfig"] == {"Mode": "Active"}
        assert p["LoggingConfig"]["LogFormat"] == "JSON"
        assert len(p["Layers"]) == 2
        assert p["VpcConfig"]["SubnetIds"]
        env = p["Environment"]["Variables"]
        assert env["PREPKIT_STAGE"] == "prod"
        assert env["PREPKIT_AUTH_MODE"] == "apigw"
        assert "PREPKIT_DB_SECRET_ARN" in env
        assert "PREPKIT_DB_HOST" in env
        api = next(iter(prod.resources(prod.service, "AWS::ApiGatewayV2::Api")))
        assert resolve(env["PREPKIT_PUBLIC_BASE_URL"]) == f"<{api}.ApiEndpoint>"  # Vapi's server.url
    groups = prod.resources(prod.service, "AWS::Logs::LogGroup")
    assert all(g["Properties"].get("RetentionInDays") == 30 for g in groups.values())


def test_each_api_route_goes_to_the_function_the_route_table_names(prod: Synth) -> None:
    names = _functions(prod)
    integrations = prod.resources(prod.service, "AWS::ApiGatewayV2::Integration")
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in prod.resources(prod.service, "AWS::ApiGatewayV2::Route").values()
    }
    deployed = [r for r in ROUTES if not r.local_only]
    assert set(routes) == {f"{r.method} {r.path}" for r in deployed}
    for route in deployed:
        target = resolve(routes[f"{route.method} {route.path}"]["Target"])
        integration_id = target.removeprefix("integrations/<").removesuffix(">")
        uri = resolve(integrations[integration_id]["Properties"]["IntegrationUri"], names)
        assert uri == f"<{route.function}.Arn>", route


def test_the_jwt_authorizer_guards_every_private_route_and_no_public_one(prod: Synth) -> None:
    authorizers = prod.resources(prod.service, "AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1
    ((auth_id, authorizer),) = authorizers.items()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    issuer = resolve(authorizer["Properties"]["JwtConfiguration"]["Issuer"])
    assert issuer.startswith("https://cognito-idp.")
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in prod.resources(prod.service, "AWS::ApiGatewayV2::Route").values()
    }
    for route in ROUTES:
        if route.local_only:
            assert f"{route.method} {route.path}" not in routes
            continue
        props = routes[f"{route.method} {route.path}"]
        if route.public:
            assert props.get("AuthorizationType", "NONE") == "NONE", route
            assert "AuthorizerId" not in props
        else:
            assert props["AuthorizationType"] == "JWT", route
            assert resolve(props["AuthorizerId"]) == f"<{auth_id}>"


def test_the_state_machine_is_the_asl_file_with_every_substitution_resolved(prod: Synth) -> None:
    names = _functions(prod)
    machines = prod.resources(prod.service, "AWS::StepFunctions::StateMachine")
    (machine,) = machines.values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == "prepkit-prod-pipeline"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    substitutions = resolve(props["DefinitionSubstitutions"], names)
    assert substitutions == {"PipelineFunctionArn": "<pipeline.Arn>"}
    definition = props["DefinitionString"]
    for name, value in substitutions.items():  # what CloudFormation does with DefinitionSubstitutions
        definition = definition.replace("${" + name + "}", value)
    assert "${" not in definition
    assert json.loads(definition) == render({"PipelineFunctionArn": "<pipeline.Arn>"})


def _statements(s: Synth) -> dict[str, list[dict[str, Any]]]:
    """function short name -> the statements of its role's policy."""
    names = _functions(s)
    functions = s.resources(s.service, "AWS::Lambda::Function")
    role_to_fn = {functions[lid]["Properties"]["Role"]["Fn::GetAtt"][0]: n for lid, n in names.items()}
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names.values()}
    for policy in s.resources(s.service, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            fn = role_to_fn.get(role.get("Ref"))
            if fn:
                out[fn].extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def _actions(statement: dict[str, Any]) -> list[str]:
    a = statement["Action"]
    return a if isinstance(a, list) else [a]


def _resources(statement: dict[str, Any]) -> list[Any]:
    r = statement["Resource"]
    return [resolve(x) for x in (r if isinstance(r, list) else [r])]


def test_iam_grants_are_least_privilege(prod: Synth) -> None:
    statements = _statements(prod)
    secrets = {
        resolve({"Ref": logical}): f"{res['Properties']['Name'].split('-')[-1]}"
        for logical, res in prod.resources(prod.stateful, "AWS::SecretsManager::Secret").items()
    }
    machine_arn = f"arn:<AWS::Partition>:states:{prod.service_stack.region}:<AWS::AccountId>:stateMachine:prepkit-prod-pipeline"
    for fn, spec in SPECS.items():
        stmts = statements[fn]
        actions = {a for s in stmts for a in _actions(s)}
        starts = [s for s in stmts if "states:StartExecution" in _actions(s)]
        resumes = [s for s in stmts if "states:SendTaskSuccess" in _actions(s)]
        assert bool(starts) == spec.starts_pipeline, fn
        assert bool(resumes) == spec.resumes_pipeline, fn
        for s in starts + resumes:
            assert _resources(s) == [machine_arn]
        assert ("dynamodb:UpdateItem" in actions) == spec.rate_limited, fn
        assert not {a for a in actions if a.startswith("dynamodb:") and a != "dynamodb:UpdateItem"}, fn
        readable = {
            str(r) for s in stmts if "secretsmanager:GetSecretValue" in _actions(s) for r in _resources(s)
        }
        provider_names = {
            n for r in readable for ref, n in secrets.items() if str(ref).strip("<>").split(".")[0] in r
        }
        expected = {
            env.removeprefix("PREPKIT_").removesuffix("_SECRET_ARN").lower() for env in spec.provider_secrets
        }
        assert provider_names - {"database"} == expected, fn
        assert all(
            "*" not in str(r) or r.endswith("*") is False
            for s in stmts
            for r in _resources(s)
            if "secretsmanager" in str(_actions(s))
        )
    # the state machine may invoke the pipeline function and nothing else
    machine_role_policies = [
        p for p in prod.resources(prod.service, "AWS::IAM::Policy").values()
        if any("Pipeline" in r.get("Ref", "") and "Role" in r.get("Ref", "") for r in p["Properties"]["Roles"])
    ]  # fmt: skip
    invoke = [
        s
        for p in machine_role_policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in _actions(s)
    ]
    assert invoke
    assert all(str(r).startswith("<FunctionsPipeline") for s in invoke for r in _resources(s))


def test_the_database_is_encrypted_private_backed_up_and_behind_a_proxy(prod: Synth, dev: Synth) -> None:
    prod.stateful.has_resource(
        "AWS::RDS::DBInstance",
        {
            "Properties": Match.object_like(
                {
                    "Engine": "postgres",
                    "StorageEncrypted": True,
                    "PubliclyAccessible": False,
                    "MultiAZ": True,
                    "DeletionProtection": True,
                    "BackupRetentionPeriod": 14,
                    "DBInstanceClass": "db.t4g.small",
                }
            ),
            "DeletionPolicy": "Snapshot",
        },
    )
    dev.stateful.has_resource_properties(
        "AWS::RDS::DBInstance", Match.object_like({"DeletionProtection": False, "MultiAZ": False})
    )
    prod.stateful.has_resource_properties(
        "AWS::RDS::DBProxy", Match.object_like({"RequireTLS": True, "EngineFamily": "POSTGRESQL"})
    )
    prod.stateful.resource_count_is("AWS::SecretsManager::RotationSchedule", 1)
    # the subnet group is the isolated "data" subnets
    (group,) = prod.resources(prod.stateful, "AWS::RDS::DBSubnetGroup").values()
    subnets = prod.resources(prod.stateful, "AWS::EC2::Subnet")
    for ref in group["Properties"]["SubnetIds"]:
        tags = {t["Key"]: t["Value"] for t in subnets[ref["Ref"]]["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-name"] == "data"
        assert tags["aws-cdk:subnet-type"] == "Isolated"


def test_nat_count_is_a_setting(prod: Synth, dev: Synth) -> None:
    prod.stateful.resource_count_is("AWS::EC2::NatGateway", 2)
    dev.stateful.resource_count_is("AWS::EC2::NatGateway", 1)
    prod.stateful.resource_count_is("AWS::EC2::FlowLog", 1)
    prod.stateful.has_resource_properties(
        "AWS::EC2::VPCEndpoint", Match.object_like({"VpcEndpointType": "Gateway"})
    )


def test_the_rate_limit_table_matches_the_adapter_with_ttl_and_pitr(prod: Synth, dev: Synth) -> None:
    prod.stateful.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                    "Replicas": [
                        Match.object_like(
                            {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                        )
                    ],
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    dev.stateful.has_resource("AWS::DynamoDB::GlobalTable", {"DeletionPolicy": "Delete"})


def test_provider_secrets_and_cognito(prod: Synth) -> None:
    secrets = {
        r["Properties"]["Name"]: r["Properties"]
        for r in prod.resources(prod.stateful, "AWS::SecretsManager::Secret").values()
    }
    assert {
        "prepkit-prod-gemini",
        "prepkit-prod-razorpay",
        "prepkit-prod-vapi",
        "prepkit-prod-database",
    } <= set(secrets)
    vapi = secrets["prepkit-prod-vapi"]["GenerateSecretString"]
    assert json.loads(vapi["SecretStringTemplate"]) == {"apiKey": "REPLACE_ME", "credentialId": "REPLACE_ME"}
    razorpay = secrets["prepkit-prod-razorpay"]["GenerateSecretString"]
    assert json.loads(razorpay["SecretStringTemplate"]) == {"keyId": "REPLACE_ME", "keySecret": "REPLACE_ME"}
    assert razorpay["GenerateStringKey"] == "webhookSecret"  # we choose it, then paste it into Razorpay
    prod.stateful.has_resource_properties(
        "AWS::Cognito::UserPoolGroup", Match.object_like({"GroupName": "admin"})
    )
    prod.stateful.has_resource_properties(
        "AWS::Cognito::UserPoolClient", Match.object_like({"GenerateSecret": False})
    )


def test_migrations_run_at_deploy_and_the_outputs_are_there(prod: Synth) -> None:
    triggers = prod.service.find_resources("Custom::Trigger")
    assert len(triggers) == 1
    outputs = prod.service.find_outputs("*")
    for name in ("ApiUrl", "RazorpayWebhookUrl", "VapiWebhookUrl", "UserPoolId", "UserPoolClientId"):
        assert any(key.startswith(name) for key in outputs), name


def test_alarms_and_dashboard(prod: Synth, dev: Synth) -> None:
    alarms = prod.resources(prod.service, "AWS::CloudWatch::Alarm")
    descriptions = " ".join(a["Properties"]["AlarmDescription"] for a in alarms.values())
    for words in (
        "5xx",
        "pipeline execution failed",
        "bad signatures",
        "offline scorer",
        "Database connections",
        "second captured payment",
        "did not match its stored order",
    ):
        assert words in descriptions
    by_metric = {a["Properties"].get("MetricName"): a["Properties"] for a in alarms.values()}
    for metric in ("ExtraPaymentRefunded", "PaymentMismatch"):  # any one of them is worth a look
        assert by_metric[metric]["Threshold"] == 1
        assert by_metric[metric]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert all(a["Properties"].get("AlarmActions") for a in alarms.values())  # to the e-mail topic
    prod.service.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    dev.service.resource_count_is("AWS::SNS::Topic", 0)
    (dashboard,) = prod.resources(prod.service, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(resolve(dashboard["Properties"]["DashboardBody"]))
    for metric in (
        "ReportFallback",
        "QuestionsGenerated",
        "ReportCostMicroUSD",
        "VoiceCostMilliUSD",
        "ExecutionsFailed",
        "Latency",
    ):
        assert metric in body


def test_cdk_nag_passes_with_every_acknowledgement_reasoned(layers_dir: Path) -> None:
    for rules in (ACCEPTED, PUBLIC_ROUTE, VENDOR_SECRET, NON_PRODUCTION_DATABASE):
        assert all(len(reason) > 20 for reason in rules.values())
    app = cdk.App(context={"layersDir": str(layers_dir), "stage": "prod", "alarmEmail": "ops@example.com"})
    build(app, DeployConfig.from_context(app))
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag error
    assert {s.stack_name for s in assembly.stacks} == {"PrepKit-prod-Stateful", "PrepKit-prod-Service"}


@pytest.mark.parametrize("context", [{"stage": "local"}, {"stage": "pr od"}, {"architecture": "sparc"}])
def test_bad_settings_are_refused(context: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"stage|architecture"):
        DeployConfig.from_context(cdk.App(context=context))
