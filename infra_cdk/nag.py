"""cdk-nag (AwsSolutions) findings this design accepts, each with its reason and as narrowly as cdk-nag
names them (rule + evidence). Any other finding fails the synth."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

ACCEPTED: dict[str, str] = {
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]": "the documented minimum for a Lambda to write its logs",
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaVPCAccessExecutionRole]": "the documented minimum for a Lambda in a VPC (ENI management)",
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": "X-Ray (xray:PutTraceSegments/PutTelemetryRecords) and Step "
    "Functions log delivery only accept Resource '*'",
    "AwsSolutions::AwsSolutions-IAM5[Resource::<FunctionsPipeline77FA5342.Arn>:*]": "the state machine may invoke "
    "the pipeline function's versions and aliases (CDK's grantInvoke), nothing else",
    "AwsSolutions::AwsSolutions-RDS11": "the database is in isolated subnets and reached only through RDS Proxy "
    "from the Lambda security group; a non-default port adds nothing",
    "AwsSolutions::AwsSolutions-COG8": "Cognito's Plus feature plan (threat protection) is a cost decision taken "
    "before launch; MFA (TOTP) is offered to every user",
    "AwsSolutions::AwsSolutions-COG2": "MFA is optional (TOTP) so candidates can sign up in one step",
    "CloudFormation-Validate::F3002": "CDK emits Tags on the RDS Proxy target group, which CloudFormation ignores",
    "AwsSolutions::AwsSolutions-L1": "Python 3.12 is the runtime this product targets (the design's Lambda runtime)",
}

#: acknowledged only on the constructs they concern (see where `acknowledge_on` is called)
PUBLIC_ROUTE = {
    "AwsSolutions::AwsSolutions-APIG4": "public by design: /health, and the webhooks, which authenticate every "
    "request by its Razorpay signature or Vapi credential"
}
VENDOR_SECRET = {
    "AwsSolutions::AwsSolutions-SMG4": "provider API keys are issued and rotated in the Razorpay, Vapi and Google "
    "consoles, not by a Lambda rotation function"
}


NON_PRODUCTION_DATABASE = {
    "AwsSolutions::AwsSolutions-RDS3": "non-production stages run single-AZ to keep their cost low; prod is multi-AZ",
    "AwsSolutions::AwsSolutions-RDS10": "non-production stages can be torn down; prod has deletion protection",
}


def acknowledge_on(scope: Construct, rules: dict[str, str]) -> None:
    for rule, reason in rules.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def acknowledge(*scopes: Construct) -> None:
    for scope in scopes:
        acknowledge_on(scope, ACCEPTED)
