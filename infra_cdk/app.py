"""`cdk synth` / `cdk deploy` entry point. Settings come from CDK context (`-c stage=prod`)."""

from __future__ import annotations

import aws_cdk as cdk

from infra_cdk.stateful import StatefulStack


def build(app: cdk.App) -> StatefulStack:
    stage = str(app.node.try_get_context("stage") or "dev")
    return StatefulStack(app, f"PrepKit-{stage}-Stateful", stage=stage)


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
