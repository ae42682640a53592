"""Deployment settings, from CDK context (`cdk deploy -c stage=prod -c natGateways=2 ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DeployConfig:
    stage: str = "dev"
    nat_gateways: int = 1
    db_instance_type: str = "t4g.micro"
    db_allocated_gb: int = 20
    alarm_email: str | None = None
    architecture: str = "arm64"  # arm64 | x86_64
    log_retention_days: int = 30
    layers_dir: Path = ROOT / "layers" / "build"

    @property
    def production(self) -> bool:
        return self.stage == "prod"

    @property
    def lambda_architecture(self) -> lambda_.Architecture:
        return lambda_.Architecture.ARM_64 if self.architecture == "arm64" else lambda_.Architecture.X86_64

    def name(self, suffix: str) -> str:
        return f"prepkit-{self.stage}-{suffix}"

    @classmethod
    def from_context(cls, app: App) -> DeployConfig:
        def get(key: str, default: object) -> object:
            value = app.node.try_get_context(key)
            return default if value is None else value

        config = cls(
            stage=str(get("stage", cls.stage)),
            nat_gateways=int(str(get("natGateways", cls.nat_gateways))),
            db_instance_type=str(get("dbInstanceType", cls.db_instance_type)),
            db_allocated_gb=int(str(get("dbAllocatedGb", cls.db_allocated_gb))),
            alarm_email=str(get("alarmEmail", "")) or None,
            architecture=str(get("architecture", cls.architecture)),
            log_retention_days=int(str(get("logRetentionDays", cls.log_retention_days))),
            layers_dir=Path(str(get("layersDir", cls.layers_dir))),
        )
        if not config.stage.isalnum() or config.stage in ("local", "test"):
            raise ValueError(f"stage {config.stage!r}: letters and digits, and not a local stage")
        if config.architecture not in ("arm64", "x86_64"):
            raise ValueError("architecture is arm64 or x86_64")
        return config
