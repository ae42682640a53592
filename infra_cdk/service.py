"""The service stack: layers, one Lambda per route group (from the route table) plus the pipeline and the
migration trigger, the HTTP API with its JWT authorizer, and the state machine from the one ASL file."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, triggers
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import ROOT, DeployConfig
from infra_cdk.monitoring import Monitoring
from infra_cdk.nag import PUBLIC_ROUTE, acknowledge_on
from infra_cdk.stateful import StatefulStack
from prepkit.pipeline import asl_text
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS, ROUTES
from prepkit.secrets import DB_HOST_ENV, DB_SECRET_ENV


@dataclass(frozen=True)
class FunctionSpec:
    """What a function may do: the least privilege each one is granted, and its limits."""

    timeout_s: int = 29  # API Gateway gives up at 30 s
    memory_mb: int = 512
    provider_secrets: tuple[str, ...] = ()  # env names from prepkit.secrets.SECRET_ENV
    rate_limited: bool = True
    starts_pipeline: bool = False
    resumes_pipeline: bool = False
    env: dict[str, str] = field(default_factory=dict)


GEMINI, RAZORPAY, VAPI = "PREPKIT_GEMINI_SECRET_ARN", "PREPKIT_RAZORPAY_SECRET_ARN", "PREPKIT_VAPI_SECRET_ARN"

SPECS: dict[str, FunctionSpec] = {
    "setup": FunctionSpec(provider_secrets=(GEMINI,)),
    "reads": FunctionSpec(),
    "admin": FunctionSpec(),
    "payments": FunctionSpec(provider_secrets=(RAZORPAY,), starts_pipeline=True),
    "start": FunctionSpec(provider_secrets=(VAPI,), starts_pipeline=True, resumes_pipeline=True),
    "webhooks": FunctionSpec(
        timeout_s=10, provider_secrets=(RAZORPAY, VAPI), rate_limited=False, starts_pipeline=True,
        resumes_pipeline=True,
    ),
    "pipeline": FunctionSpec(
        timeout_s=150, memory_mb=1024, provider_secrets=(GEMINI, RAZORPAY, VAPI), rate_limited=False,
        resumes_pipeline=True,
    ),
    "migrate": FunctionSpec(timeout_s=300, rate_limited=False),
}  # fmt: skip


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
                DB_SECRET_ENV: stateful.database.secret.secret_arn,
                DB_HOST_ENV: stateful.database.proxy.endpoint,
                **{env: stateful.provider_secrets[env].secret_arn for env in spec.provider_secrets},
                **spec.env,
            },
        )
        stateful.database.secret.grant_read(function)
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
        for name, fn in self.functions.items():
            spec = SPECS[name]
            if spec.starts_pipeline:
                fn.add_to_role_policy(
                    iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
                )
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

        # -- migrations at deploy ---------------------------------------------------------------------
        triggers.Trigger(
            self, "Migrations", handler=self.functions["migrate"], execute_on_handler_change=True,
            timeout=Duration.minutes(5),
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
                self,
                env.removeprefix("PREPKIT_").removesuffix("_ARN").replace("_", "").title(),
                value=secret.secret_name,
            )
