"""The CDK app synthesised offline (Template.from_stack: no CLI, no account, no network)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra_cdk.app import build
from prepkit.adapters.dynamo_rate_limiter import PARTITION_KEY, TTL_ATTRIBUTE


def _template(stage: str) -> Template:
    app = cdk.App(context={"stage": stage})
    return Template.from_stack(build(app))


def test_rate_limit_table_matches_the_adapter_and_has_ttl_and_pitr() -> None:
    template = _template("prod")
    template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "Properties": {
                "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "Replicas": [{"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}],
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_a_dev_stage_table_is_removed_with_the_stack() -> None:
    _template("dev").has_resource("AWS::DynamoDB::GlobalTable", {"DeletionPolicy": "Delete"})
