"""The production stacks' real properties, read from the synthesised templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from pydantic import SecretStr

from infra_cdk.app import build
from infra_cdk.config import DeployConfig
from infra_cdk.nag import ACCEPTED, NON_PRODUCTION_DATABASE, PUBLIC_ROUTE, VENDOR_SECRET
from infra_cdk.service import SPECS
from infra_cdk.stateful import secret_suffix
from prepkit.adapters.dynamo_rate_limiter import PARTITION_KEY, TTL_ATTRIBUTE
from prepkit.db.migrate import APP_ROLE, FINGERPRINT_ENV, Migration, available, fingerprint
from prepkit.pipeline import render
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS, ROUTES
from prepkit.secrets import (
    APP_DB_SECRET_ENV,
    DB_SECRET_ENV,
    GEMINI_SECRET_ENV,
    RAZORPAY_SECRET_ENV,
    VAPI_SECRET_ENV,
)
from tests.fakes import deployed_settings
from tests.infra.conftest import Synth, resolve, synth


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
        resolve({"Ref": logical}): res["Properties"]["Name"].removeprefix("prepkit-prod-")
        for logical, res in prod.resources(prod.stateful, "AWS::SecretsManager::Secret").items()
    }
    # an attached secret (the application role's: host and port added) is granted through its attachment
    for logical, res in prod.resources(prod.stateful, "AWS::SecretsManager::SecretTargetAttachment").items():
        secrets[resolve({"Ref": logical})] = secrets[resolve(res["Properties"]["SecretId"])]
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
        probes = {"dynamodb:DescribeTable", "states:DescribeStateMachine"}  # GET /ready
        assert (probes <= actions) == spec.probes_readiness, fn
        assert not {a for a in actions if a.startswith("dynamodb:")} - {"dynamodb:UpdateItem", *probes}, fn
        for st in (st for st in stmts if "states:DescribeStateMachine" in _actions(st)):
            assert _resources(st) == [machine_arn]
        readable = {
            str(r) for s in stmts if "secretsmanager:GetSecretValue" in _actions(s) for r in _resources(s)
        }
        provider_names = {
            n for r in readable for ref, n in secrets.items() if str(ref).strip("<>").split(".")[0] in r
        }
        expected = {secret_suffix(env) for env in spec.provider_secrets}
        # the migrations log in as the owner and set the application role's password; the others log
        # in as the application role (DML only) and never read the owner's secret
        databases = {"database", "database-app"} if spec.database_owner else {"database-app"}
        assert provider_names == expected | databases, fn
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
    prod.stateful.resource_count_is("AWS::SecretsManager::RotationSchedule", 2)  # owner and app role
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
    # unchanged since the webhook secrets moved out (a changed generator would wipe the entered keys)
    assert razorpay["GenerateStringKey"] == vapi["GenerateStringKey"] == "webhookSecret"
    # the webhook secrets: generated, each alone in its secret (we choose it, then paste it into the
    # vendor's dashboard); the webhooks function reads these two and no API key
    for name in ("prepkit-prod-razorpay-webhook", "prepkit-prod-vapi-webhook"):
        generator = secrets[name]["GenerateSecretString"]
        assert (json.loads(generator["SecretStringTemplate"]), generator["GenerateStringKey"]) == (
            {},
            "webhookSecret",
        )
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


def _alarm(s: Synth, logical_prefix: str) -> dict[str, Any]:
    alarms = s.resources(s.service, "AWS::CloudWatch::Alarm")
    (alarm,) = [a["Properties"] for logical, a in alarms.items() if logical_prefix in logical]
    properties: dict[str, Any] = alarm
    return properties


def test_money_and_fail_open_alarms(prod: Synth) -> None:
    """Each money event alarms at its first occurrence; the rate limiter failing open alarms as a rate
    over every rate class of the route table."""
    alarms = prod.resources(prod.service, "AWS::CloudWatch::Alarm").values()
    by_metric = {a["Properties"].get("MetricName"): a["Properties"] for a in alarms}
    for metric in ("PipelineStartFailed", "PaymentMismatch", "ExtraPaymentRefunded", "RefundFailed"):
        alarm = by_metric[metric]
        assert alarm["Namespace"] == "PrepKit" and alarm["Statistic"] == "Sum"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "prepkit"}]  # as the app emits it
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"]
    fail_open = _alarm(prod, "RateLimiterFailOpen")
    queries = {q["Id"]: q for q in fail_open["Metrics"]}
    classes = {r.rate_class for r in ROUTES if r.rate_class}
    watched = {
        dims["route_class"]
        for q in queries.values()
        if q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "RateLimiterUnavailable"
        for dims in [{d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]}]
        if dims["service"] == "prepkit"
    }
    assert watched == classes
    assert len([q for q in queries.values() if "MetricStat" in q]) <= 10  # CloudWatch's hard limit
    (result,) = [q for q in queries.values() if q.get("ReturnData", True) and "Expression" in q]
    assert all(f"FILL(rl_{c}, 0)" in result["Expression"] for c in classes)
    assert "/ requests" in result["Expression"]
    assert fail_open["Threshold"] == 1 and "fail" in fail_open["AlarmDescription"]


def test_a_log_metric_filter_counts_the_5xx_the_request_log_says(prod: Synth) -> None:
    """The request log line (one per request, status as sent: an unhandled error is 500, not 0) of
    every HTTP function feeds one metric, and an alarm watches it."""
    groups = {
        logical: res["Properties"]["LogGroupName"]
        for logical, res in prod.resources(prod.service, "AWS::Logs::LogGroup").items()
        if isinstance(res["Properties"].get("LogGroupName"), str)
    }
    filters = prod.resources(prod.service, "AWS::Logs::MetricFilter").values()
    watched = set()
    for f in filters:
        p = f["Properties"]
        (transformation,) = p["MetricTransformations"]
        if transformation["MetricName"] != "LoggedServerErrors":
            continue
        assert transformation["MetricNamespace"] == "PrepKit" and transformation["MetricValue"] == "1"
        assert p["FilterPattern"] == '{ ($.message = "request") && ($.status >= 500) }'
        watched.add(groups[resolve(p["LogGroupName"]).strip("<>")])
    assert watched == {f"/aws/lambda/prepkit-prod-{r.function}" for r in ROUTES if not r.local_only}
    alarm = _alarm(prod, "LoggedServerErrors")
    assert alarm["MetricName"] == "LoggedServerErrors" and alarm["Namespace"] == "PrepKit"
    assert alarm["Threshold"] == 5 and "5xx" in alarm["AlarmDescription"]


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


# --- deploys migrate, functions know their limits, least privilege at the data layer ----------------


def _by_name(s: Synth) -> dict[str, dict[str, Any]]:
    """short function name -> its resource (Properties, DependsOn)."""
    functions = s.resources(s.service, "AWS::Lambda::Function")
    return {name: functions[logical] for logical, name in _functions(s).items()}


def _trigger(s: Synth) -> dict[str, Any]:
    ((logical, trigger),) = s.resources(s.service, "Custom::Trigger").items()
    return {"logical": logical, **trigger}


def test_a_migration_only_change_changes_what_the_trigger_runs(
    prod: Synth, layers_dir: Path, tmp_path: Path
) -> None:
    """Same code, same settings, one more migration in the core layer: the migration function gets a new
    fingerprint, so a new version, and the trigger (which runs the handler's current version) runs again."""
    changed = tmp_path / "layers"
    shutil.copytree(layers_dir, changed)
    migrations = changed / "core" / "python" / "prepkit" / "db" / "migrations"
    (migrations / "0999_only_a_migration.sql").write_text("CREATE TABLE only_a_migration (id int);\n")
    after = synth(
        changed, stage="prod", natGateways=2, alarmEmail="ops@example.com", dbInstanceType="t4g.small"
    )

    before_env = _by_name(prod)["migrate"]["Properties"]["Environment"]["Variables"]
    after_env = _by_name(after)["migrate"]["Properties"]["Environment"]["Variables"]
    shipped = [
        Migration(f.name.removesuffix(".sql"), f.read_text()) for f in sorted(migrations.glob("*.sql"))
    ]
    assert after_env[FINGERPRINT_ENV] == fingerprint(shipped)
    assert before_env[FINGERPRINT_ENV] == fingerprint(available())  # the repository's migrations
    assert before_env[FINGERPRINT_ENV] != after_env[FINGERPRINT_ENV]
    assert {k: v for k, v in before_env.items() if k != FINGERPRINT_ENV} == {
        k: v for k, v in after_env.items() if k != FINGERPRINT_ENV
    }
    # the trigger runs the migration function's current version: a new one
    before_trigger, after_trigger = _trigger(prod), _trigger(after)
    assert before_trigger["Properties"]["ExecuteOnHandlerChange"] is True
    assert before_trigger["Properties"]["HandlerArn"] != after_trigger["Properties"]["HandlerArn"]
    version = after_trigger["Properties"]["HandlerArn"]["Ref"]
    versions = after.resources(after.service, "AWS::Lambda::Version")
    migrate_logical = next(k for k, n in _functions(after).items() if n == "migrate")
    assert versions[version]["Properties"]["FunctionName"] == {"Ref": migrate_logical}


def test_migrations_run_before_any_other_function_is_created_or_updated(prod: Synth) -> None:
    trigger = _trigger(prod)["logical"]
    for name, function in _by_name(prod).items():
        depends = function.get("DependsOn", [])
        assert (trigger in depends) == (name != "migrate"), name
    assert int(_trigger(prod)["Properties"]["Timeout"]) >= SPECS["migrate"].timeout_s * 1000


def test_each_function_knows_its_name_and_timeout_and_its_provider_timeouts_fit(prod: Synth) -> None:
    functions = _by_name(prod)
    assert set(functions) == set(SPECS)
    for name, spec in SPECS.items():
        props = functions[name]["Properties"]
        env = props["Environment"]["Variables"]
        assert props["Timeout"] == spec.timeout_s
        assert (env["PREPKIT_FUNCTION"], env["PREPKIT_FUNCTION_TIMEOUT_S"]) == (name, str(spec.timeout_s))
        # the default provider timeouts, with every provider key this function gets, fit its timeout
        keys = {
            "gemini_api_key": SecretStr("AIza-example")
            if GEMINI_SECRET_ENV in spec.provider_secrets
            else None,
            "razorpay_key_secret": SecretStr("ks") if RAZORPAY_SECRET_ENV in spec.provider_secrets else None,
            "vapi_api_key": SecretStr("vk") if VAPI_SECRET_ENV in spec.provider_secrets else None,
        }
        settings = deployed_settings(
            public_base_url="https://abc.execute-api.ap-south-1.amazonaws.com",
            pipeline_state_machine_arn="arn:aws:states:ap-south-1:210987654321:stateMachine:prepkit-prod-pipeline",
            rate_limit_table="prepkit-prod-rate-limits-table",
            function=env["PREPKIT_FUNCTION"],
            function_timeout_s=float(env["PREPKIT_FUNCTION_TIMEOUT_S"]),
            **keys,
        )
        assert settings.function_timeout_s == spec.timeout_s


def test_only_the_migrations_log_in_as_the_database_owner(prod: Synth) -> None:
    secrets = prod.resources(prod.stateful, "AWS::SecretsManager::Secret")
    by_name = {v["Properties"]["Name"]: k for k, v in secrets.items()}
    app_secret = secrets[by_name["prepkit-prod-database-app"]]
    template = json.loads(resolve(app_secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"]))
    assert template["username"] == APP_ROLE
    attachments = prod.resources(prod.stateful, "AWS::SecretsManager::SecretTargetAttachment")
    (attachment,) = (
        k
        for k, v in attachments.items()
        if v["Properties"]["SecretId"] == {"Ref": by_name["prepkit-prod-database-app"]}
    )
    # the owner's secret is granted through its own attachment (RDS adds host and port to both)
    (owner,) = (
        k
        for k, v in attachments.items()
        if v["Properties"]["SecretId"] == {"Ref": by_name["prepkit-prod-database"]}
    )
    for name, function in _by_name(prod).items():
        env = function["Properties"]["Environment"]["Variables"]
        login = json.dumps(env[DB_SECRET_ENV])
        if SPECS[name].database_owner:
            assert name == "migrate"
            assert owner in login and attachment in json.dumps(env[APP_DB_SECRET_ENV])
        else:
            assert attachment in login and owner not in login, name
            assert APP_DB_SECRET_ENV not in env, name
    # the proxy accepts both logins
    (proxy,) = prod.resources(prod.stateful, "AWS::RDS::DBProxy").values()
    auth = json.dumps(proxy["Properties"]["Auth"])
    assert owner in auth and attachment in auth


def test_the_reconciler_runs_every_five_minutes_as_the_pipeline_function(prod: Synth) -> None:
    (rule,) = prod.resources(prod.service, "AWS::Events::Rule").values()
    p = rule["Properties"]
    assert p["ScheduleExpression"] == "rate(5 minutes)"
    assert p["State"] == "ENABLED"
    (target,) = p["Targets"]
    assert json.loads(target["Input"]) == {"action": "reconcile_all"}
    assert str(resolve(target["Arn"])).startswith("<FunctionsPipeline")
    permissions = [
        q["Properties"]
        for q in prod.resources(prod.service, "AWS::Lambda::Permission").values()
        if q["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(permissions) == 1
    assert str(resolve(permissions[0]["FunctionName"])).startswith("<FunctionsPipeline")
    # whoever starts a pipeline may read its executions' status (and nothing else of Step Functions)
    executions = f"arn:<AWS::Partition>:states:{prod.service_stack.region}:<AWS::AccountId>:execution:prepkit-prod-pipeline:*"
    statements = _statements(prod)
    for fn, spec in SPECS.items():
        describes = [s for s in statements[fn] if "states:DescribeExecution" in _actions(s)]
        assert bool(describes) == spec.starts_pipeline, fn
        for s in describes:
            assert _actions(s) == ["states:DescribeExecution"]
            assert _resources(s) == [executions]
    assert SPECS["pipeline"].starts_pipeline  # the reconciler starts new executions


def test_the_reconciler_acting_alarms(prod: Synth) -> None:
    from prepkit.domain.reconciler import Action

    alarm = _alarm(prod, "ReconcilerActions")
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"]
    watched = {
        dims["action"]
        for q in alarm["Metrics"]
        if q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "ReconcilerActed"
        for dims in [{d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]}]
        if dims["service"] == "prepkit"  # as the app emits it
    }
    assert watched == {a.value for a in Action if a is not Action.NONE}
    (result,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
    assert all(f"FILL(a_{a}, 0)" in result["Expression"] for a in watched)
