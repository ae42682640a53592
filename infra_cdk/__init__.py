"""The CDK app: stacks made of one construct per concern. `cdk.json` runs `python -m infra_cdk.app`."""
