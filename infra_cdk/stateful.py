"""The stateful stack: what holds data and must outlive deployments of the code."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from prepkit.adapters.dynamo_rate_limiter import PARTITION_KEY, TTL_ATTRIBUTE


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


class StatefulStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.rate_limits = RateLimitTable(self, "RateLimits", production=stage == "prod").table
