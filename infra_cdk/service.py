"""The service stack: layers, one Lambda per route group (from the route table) plus the pipeline and the
migration trigger, the HTTP API with its JWT authorizer, and the state machine from the one ASL file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, triggers
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import ROOT, DeployConfig
from infra_cdk.monitoring import Monitoring
from infra_cdk.nag import PUBLIC_ROUTE, acknowledge_on
from infra_cdk.stateful import StatefulStack, secret_suffix
from prepkit.db.migrate import FINGERPRINT_ENV, Migration, fingerprint
from prepkit.pipeline import asl_text
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS, ROUTES
from prepkit.secrets import (
    APP_DB_SECRET_ENV,
    DB_HOST_ENV,
    DB_SECRET_ENV,
    GEMINI_SECRET_ENV,
    RAZORPAY_SECRET_ENV,
    RAZORPAY_WEBHOOK_SECRET_ENV,
    VAPI_SECRET_ENV,
    VAPI_WEBHOOK_SECRET_ENV,
)


@dataclass(frozen=True)
class FunctionSpec:
    """What a function may do: the least privilege each one is granted, and its limits."""

    timeout_s: int = 29  # API Gateway gives up at 30 s
    memory_mb: int = 512
    provider_secrets: tuple[str, ...] = ()  # env names from prepkit.secrets.SECRET_ENV
    rate_limited: bool = True
    database_owner: bool = False  # logs in as the owner (DDL: the migrations); else the DML-only role
    starts_pipeline: bool = False
    resumes_pipeline: bool = False
    probes_readiness: bool = False  # GET /ready: describes the rate-limit table and the state machine
    env: dict[str, str] = field(default_factory=dict)


RECONCILE_EVERY = Duration.minutes(5)

GEMINI, RAZORPAY, VAPI = GEMINI_SECRET_ENV, RAZORPAY_SECRET_ENV, VAPI_SECRET_ENV
RAZORPAY_WEBHOOK, VAPI_WEBHOOK = RAZORPAY_WEBHOOK_SECRET_ENV, VAPI_WEBHOOK_SECRET_ENV

SPECS: dict[str, FunctionSpec] = {
    "setup": FunctionSpec(provider_secrets=(GEMINI,)),
    "reads": FunctionSpec(probes_readiness=True),
    "admin": FunctionSpec(),
    "payments": FunctionSpec(provider_secrets=(RAZORPAY,), starts_pipeline=True),
    "start": FunctionSpec(provider_secrets=(VAPI,), starts_pipeline=True, resumes_pipeline=True),
    # the webhooks only verify: the two webhook secrets, no API key (nothing here can refund or call)
    "webhooks": FunctionSpec(
        timeout_s=10, provider_secrets=(RAZORPAY_WEBHOOK, VAPI_WEBHOOK), rate_limited=False,
        starts_pipeline=True, resumes_pipeline=True,
    ),
    # the pipeline's tasks, and the reconciler's schedule ({"action": "reconcile_all"}): it starts
    # executions (a session's first, or <id>-r<N>) and may refund
    "pipeline": FunctionSpec(
        timeout_s=150, memory_mb=1024, provider_secrets=(GEMINI, RAZORPAY, VAPI), rate_limited=False,
        starts_pipeline=True, resumes_pipeline=True,
    ),
    "migrate": FunctionSpec(timeout_s=300, rate_limited=False, database_owner=True),
}  # fmt: skip


def function_env(name: str, spec: FunctionSpec) -> dict[str, str]:
    """What a function knows about itself: its name and timeout (settings check that its provider
    timeouts fit), then its own variables."""
    return {"PREPKIT_FUNCTION": name, "PREPKIT_FUNCTION_TIMEOUT_S": str(spec.timeout_s), **spec.env}


def migrations_fingerprint(layers_dir: Path) -> str:
    """prepkit.db.migrate.fingerprint of the migrations in the core layer this deploy uploads."""
    folder = layers_dir / "core" / "python" / "prepkit" / "db" / "migrations"
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise FileNotFoundError(f"no migrations in {folder}: build the layers first (make layers)")
    return fingerprint(Migration(f.name.removesuffix(".sql"), f.read_text()) for f in files)


class LambdaFactory(Construct):
    """The one place a function is defined: Python 3.12, architecture, JSON logs with retention, X-Ray,
    both layers, the VPC, the common environment and the database secret."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        stateful: StatefulStack,
        env: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stateful = stateful
        self._env = env
        arch = config.lambda_architecture
        self.layers = [
            lambda_.LayerVersion(
                self,
                name.capitalize() + "Layer",
                code=lambda_.Code.from_asset(str(config.layers_dir / name)),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
                compatible_architectures=[arch],
                description=description,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for name, description in (
                ("deps", "third-party requirements from uv.lock (python -m infra_cdk.layers)"),
                ("core", "the prepkit package (layers/core)"),
            )
        ]

    def create(self, name: str, spec: FunctionSpec) -> lambda_.Function:
        config, stateful = self._config, self._stateful
        database = stateful.database
        login = database.secret if spec.database_owner else database.app_secret
        # the owner also sets the application role's password from its secret
        owner_env = {APP_DB_SECRET_ENV: database.app_secret.secret_arn} if spec.database_owner else {}
        log_group = logs.LogGroup(
            self,
            f"{name.capitalize()}Logs",
            log_group_name=f"/aws/lambda/{config.name(name)}",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        function = lambda_.Function(
            self,
            name.capitalize(),
            function_name=config.name(name),
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=config.lambda_architecture,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(ROOT / "functions" / name)),
            layers=self.layers,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            vpc=stateful.network.vpc,
            vpc_subnets=stateful.network.app_subnets,
            security_groups=[stateful.network.lambda_security_group],
            environment={
                **self._env,
                "POWERTOOLS_SERVICE_NAME": "prepkit",
                DB_SECRET_ENV: login.secret_arn,
                DB_HOST_ENV: database.proxy.endpoint,
                **owner_env,
                **{env: stateful.provider_secrets[env].secret_arn for env in spec.provider_secrets},
                **function_env(name, spec),
            },
        )
        login.grant_read(function)
        if spec.database_owner:
            database.app_secret.grant_read(function)
        for env in spec.provider_secrets:
            stateful.provider_secrets[env].grant_read(function)
        if spec.rate_limited:
            stateful.rate_limits.grant(function, "dynamodb:UpdateItem")
        return function


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH, 90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention that keeps logs at least `days` days."""
    return _RETENTION[min((d for d in _RETENTION if d >= days), default=365)]


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        stateful: StatefulStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # the state machine's ARN is built from its name, not referenced: no dependency cycle between the
        # state machine (which invokes the pipeline function) and the functions that start or resume it
        machine_name = config.name("pipeline")
        machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # -- the HTTP API first: the functions need its URL (Vapi posts webhooks there); routes come later
        authorizer = authorizers.HttpJwtAuthorizer(
            "Cognito",
            stateful.auth.issuer,
            jwt_audience=[stateful.auth.client.user_pool_client_id],
            identity_source=["$request.header.Authorization"],
        )
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=config.name("api"),
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=["*"], allow_headers=["authorization", "content-type"],
                allow_methods=[apigw.CorsHttpMethod.ANY],
            ),
        )  # fmt: skip
        factory = LambdaFactory(
            self,
            "Functions",
            config=config,
            stateful=stateful,
            env={
                "PREPKIT_STAGE": config.stage,
                "PREPKIT_AUTH_MODE": "apigw",
                "PREPKIT_JWT_ISSUER": stateful.auth.issuer,
                "PREPKIT_JWT_AUDIENCE": stateful.auth.client.user_pool_client_id,
                "PREPKIT_RATE_LIMIT_TABLE": stateful.rate_limits.table_name,
                "PREPKIT_PIPELINE_STATE_MACHINE_ARN": machine_arn,
                "PREPKIT_PUBLIC_BASE_URL": self.api.api_endpoint,
            },
        )
        names = [*FUNCTIONS, *NON_HTTP_FUNCTIONS]
        self.functions = {name: factory.create(name, SPECS[name]) for name in names}
        # the migrations this deploy ships, in the migration function's configuration: a deploy that
        # only changes a migration is a new function version, so the trigger below runs again
        self.functions["migrate"].add_environment(FINGERPRINT_ENV, migrations_fingerprint(config.layers_dir))
        # a function that starts a pipeline also reads its execution's status (a refused start of an
        # execution that has ended is not a running pipeline: prepkit.domain.flow.ensure_pipeline)
        executions_arn = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        execution_status_ack = {  # the evidence cdk-nag names: this machine's executions, no other
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{self.region}:"
            f"<AWS::AccountId>:execution:{machine_name}:*]": "DescribeExecution of the pipeline's own "
            "executions, whose names (the session id, <id>-r<N>) are known only at run time"
        }
        for name, fn in self.functions.items():
            spec = SPECS[name]
            if spec.probes_readiness:
                stateful.rate_limits.grant(fn, "dynamodb:DescribeTable")
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["states:DescribeStateMachine"], resources=[machine_arn])
                )
            if spec.starts_pipeline:
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
                )
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions_arn])
                )
                acknowledge_on(fn, execution_status_ack)
            if spec.resumes_pipeline:
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=[
                            "states:SendTaskSuccess",
                            "states:SendTaskFailure",
                            "states:SendTaskHeartbeat",
                        ],
                        resources=[machine_arn],
                    )
                )

        # -- the pipeline: the same ASL file the local engine runs ----------------------------------
        self.state_machine = sfn.StateMachine(
            self,
            "Pipeline",
            state_machine_name=machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # the file's text inline (not an S3 asset): the template shows the definition it deploys
            definition_body=sfn.DefinitionBody.from_string(asl_text()),
            definition_substitutions={"PipelineFunctionArn": self.functions["pipeline"].function_arn},
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, "PipelineLogs", retention=retention(config.log_retention_days),
                    removal_policy=RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,  # transcripts stay out of the logs
            ),
        )  # fmt: skip
        self.functions["pipeline"].grant_invoke(self.state_machine)

        # -- the reconciler: every 5 minutes, the pipeline function drives every paid session whose
        # pipeline is not running to a report or a refund (prepkit.domain.flow.reconcile_all)
        self.reconciler = events.Rule(
            self,
            "Reconciler",
            rule_name=config.name("reconciler"),
            description="Every paid session ends in a report or a refund: restart, expire or refund the stuck",
            schedule=events.Schedule.rate(RECONCILE_EVERY),
            targets=[
                targets.LambdaFunction(
                    self.functions["pipeline"],
                    event=events.RuleTargetInput.from_object({"action": "reconcile_all"}),
                    retry_attempts=0,  # the next run, 5 minutes later, is the retry
                )
            ],
        )

        integrations_by_function = {
            name: integrations.HttpLambdaIntegration(f"{name.capitalize()}Integration", self.functions[name])
            for name in FUNCTIONS
        }
        for route in ROUTES:
            if route.local_only:
                continue
            added = self.api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod(route.method)],
                integration=integrations_by_function[route.function],
                authorizer=None if route.public else authorizer,
            )
            if route.public:
                for http_route in added:
                    acknowledge_on(http_route, PUBLIC_ROUTE)
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )  # fmt: skip
        stage = self.api.default_stage.node.default_child  # type: ignore[union-attr]
        assert isinstance(stage, apigw.CfnStage)
        stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format='{"requestId":"$context.requestId","route":"$context.routeKey","status":"$context.status",'
            '"latencyMs":"$context.responseLatency","integrationError":"$context.integrationErrorMessage"}',
        )
        stage.default_route_settings = apigw.CfnStage.RouteSettingsProperty(
            detailed_metrics_enabled=True, throttling_burst_limit=200, throttling_rate_limit=100
        )

        # -- migrations at deploy: re-run whenever the migrate function's version changes (its code, the
        # layers or the migrations' fingerprint), and before any other function is created or updated
        # (they depend on the trigger), so new code never serves an unmigrated schema
        self.migrations = triggers.Trigger(
            self, "Migrations", handler=self.functions["migrate"], execute_on_handler_change=True,
            timeout=Duration.minutes(5),
            execute_before=[fn for name, fn in self.functions.items() if name != "migrate"],
        )  # fmt: skip

        self.monitoring = Monitoring(
            self, "Monitoring", config=config, api=self.api, state_machine=self.state_machine,
            functions=self.functions, database=stateful.database,
        )  # fmt: skip

        api_url = self.api.api_endpoint
        CfnOutput(self, "ApiUrl", value=api_url)
        CfnOutput(self, "RazorpayWebhookUrl", value=f"{api_url}/webhooks/razorpay")
        CfnOutput(self, "VapiWebhookUrl", value=f"{api_url}/webhooks/vapi")
        CfnOutput(self, "UserPoolId", value=stateful.auth.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=stateful.auth.client.user_pool_client_id)
        CfnOutput(self, "PipelineStateMachineArn", value=self.state_machine.state_machine_arn)
        for env, secret in stateful.provider_secrets.items():
            CfnOutput(
                self, secret_suffix(env).title().replace("-", "") + "SecretName", value=secret.secret_name
            )
