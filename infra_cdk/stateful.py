"""The stateful stack: what holds data and must outlive deployments of the code. One construct per concern."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra_cdk.config import DeployConfig
from infra_cdk.nag import NON_PRODUCTION_DATABASE, VENDOR_SECRET, acknowledge_on
from prepkit.adapters.dynamo_rate_limiter import PARTITION_KEY, TTL_ATTRIBUTE
from prepkit.db.migrate import APP_ROLE
from prepkit.secrets import GENERATED_KEY, PLACEHOLDER, SECRET_ENV


class Network(Construct):
    """Public subnets for the NAT gateways, private subnets for the Lambdas (egress to Gemini, Razorpay,
    Vapi through NAT), isolated subnets for the database. Flow logs on."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        app_subnets = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if config.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=app_subnets, cidr_mask=22),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        self.vpc.add_flow_log("FlowLog")
        # rate-limit checks on every request stay inside AWS's network, free, instead of crossing the NAT
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        self.app_subnets = ec2.SubnetSelection(subnet_group_name="app")
        self.lambda_security_group = ec2.SecurityGroup(
            self,
            "LambdaSecurityGroup",
            vpc=self.vpc,
            description="PrepKit Lambda functions",
            allow_all_outbound=True,
        )


class Database(Construct):
    """PostgreSQL 16 on RDS: encrypted, private, backed up, reached through RDS Proxy with TLS; credentials
    generated into Secrets Manager and rotated. Two logins: the owner (master secret: the migrations
    only) and the application role (DML only, `app_secret`: every other function), each its own secret,
    both registered with the proxy."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16),
            instance_type=ec2.InstanceType(config.db_instance_type),
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="data"),
            credentials=rds.Credentials.from_generated_secret("prepkit", secret_name=config.name("database")),
            database_name="prepkit",
            allocated_storage=config.db_allocated_gb,
            max_allocated_storage=config.db_allocated_gb * 5,
            storage_encrypted=True,
            publicly_accessible=False,
            multi_az=config.production,
            backup_retention=Duration.days(14 if config.production else 1),
            deletion_protection=config.production,
            removal_policy=RemovalPolicy.SNAPSHOT if config.production else RemovalPolicy.DESTROY,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            enable_performance_insights=True,
        )
        if not config.production:
            acknowledge_on(self.instance, NON_PRODUCTION_DATABASE)
        assert self.instance.secret is not None
        self.secret = self.instance.secret
        self.instance.add_rotation_single_user(automatically_after=Duration.days(30))
        # the application role (created by migration 0005, its password set by the migration function
        # from this secret at each deploy); rotated as a single user (it may change its own password)
        self.app_secret = rds.DatabaseSecret(
            self, "AppSecret", username=APP_ROLE, secret_name=config.name("database-app"),
            master_secret=self.secret,
        ).attach(self.instance)  # fmt: skip
        secretsmanager.SecretRotation(
            self, "AppSecretRotation",
            application=secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
            secret=self.app_secret, target=self.instance, vpc=network.vpc,
            vpc_subnets=network.app_subnets, automatically_after=Duration.days(30),
        )  # fmt: skip
        self.proxy = self.instance.add_proxy(
            "Proxy",
            secrets=[self.secret, self.app_secret],
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="data"),
            require_tls=True,
            debug_logging=False,
        )
        self.proxy.connections.allow_from(
            network.lambda_security_group, ec2.Port.tcp(5432), "Lambdas to RDS Proxy"
        )


class RateLimitTable(Construct):
    """Rate-limit counters: one item per user, route class and window; DynamoDB deletes expired windows."""

    def __init__(self, scope: Construct, construct_id: str, *, production: bool) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
        )


#: the API-key secrets once held the webhook secret too, generated. A changed GenerateSecretString makes
#: CloudFormation generate the whole secret again (wiping the keys an operator entered), so these keep
#: generating that key; nothing reads it (SECRET_ENV: the webhook secrets have their own secrets now)
_KEPT_GENERATED_KEY = {"razorpay": GENERATED_KEY, "vapi": GENERATED_KEY}


def secret_suffix(env_name: str) -> str:
    """PREPKIT_RAZORPAY_WEBHOOK_SECRET_ARN -> razorpay-webhook (the secret is prepkit-<stage>-razorpay-webhook)."""
    return env_name.removeprefix("PREPKIT_").removesuffix("_SECRET_ARN").lower().replace("_", "-")


class ProviderSecrets(Construct):
    """The provider secrets, keys as prepkit.secrets.SECRET_ENV: the API keys (created with placeholders
    to replace) apart from the webhook secrets (generated: paste them into the Razorpay and Vapi
    dashboards), so a function that only verifies webhooks can read no API key."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for env_name, keys in SECRET_ENV.items():
            suffix = secret_suffix(env_name)
            generated = GENERATED_KEY if GENERATED_KEY in keys else _KEPT_GENERATED_KEY.get(suffix, "unused")
            template = {key: PLACEHOLDER for key in keys if key != generated}
            self.secrets[env_name] = secretsmanager.Secret(
                self,
                suffix.title().replace("-", ""),
                secret_name=config.name(suffix),
                description=f"PrepKit {suffix} credentials: replace any {PLACEHOLDER} (README, deploy guide)",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps(template),
                    generate_string_key=generated,
                    exclude_punctuation=True,
                    password_length=40,
                ),
                removal_policy=RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY,
            )
        acknowledge_on(self, VENDOR_SECRET)


class Auth(Construct):
    """Cognito: the user pool the API's JWT authorizer trusts, a web app client, and an admin group."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.name("users"),
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=10,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            removal_policy=RemovalPolicy.RETAIN if config.production else RemovalPolicy.DESTROY,
        )
        self.client = self.user_pool.add_client(
            "WebClient",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        cognito.CfnUserPoolGroup(
            self, "AdminGroup", user_pool_id=self.user_pool.user_pool_id, group_name="admin",
            description="Operators: GET /admin/metrics",
        )  # fmt: skip

    @property
    def issuer(self) -> str:
        stack = Stack.of(self)
        return f"https://cognito-idp.{stack.region}.amazonaws.com/{self.user_pool.user_pool_id}"


class StatefulStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeployConfig, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.network = Network(self, "Network", config=config)
        self.database = Database(self, "Database", config=config, network=self.network)
        self.rate_limits = RateLimitTable(self, "RateLimits", production=config.production).table
        self.provider_secrets = ProviderSecrets(self, "ProviderSecrets", config=config).secrets
        self.auth = Auth(self, "Auth", config=config)
