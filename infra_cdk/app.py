"""`cdk synth` / `cdk deploy` entry point: the stateful stack (network, database, table, secrets, users)
and the service stack (layers, functions, API, pipeline, monitoring), checked by cdk-nag (AwsSolutions).
Settings come from CDK context: `cdk deploy --all -c stage=prod -c natGateways=2 -c alarmEmail=ops@...`."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra_cdk.config import DeployConfig
from infra_cdk.nag import acknowledge
from infra_cdk.service import ServiceStack
from infra_cdk.stateful import StatefulStack


def build(app: cdk.App, config: DeployConfig | None = None) -> tuple[StatefulStack, ServiceStack]:
    config = config or DeployConfig.from_context(app)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION", "ap-south-1"),
    )
    stateful = StatefulStack(app, f"PrepKit-{config.stage}-Stateful", config=config, env=env)
    service = ServiceStack(app, f"PrepKit-{config.stage}-Service", config=config, stateful=stateful, env=env)
    for stack in (stateful, service):
        cdk.Tags.of(stack).add("project", "prepkit")
        cdk.Tags.of(stack).add("stage", config.stage)
    acknowledge(stateful, service)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stateful, service


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
