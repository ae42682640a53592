"""boto3 clients built from settings: explicit endpoint, region, timeouts and, in the offline stages,
fake credentials, so no client ever probes the instance-metadata address."""

from __future__ import annotations

from typing import Any

from prepkit.settings import Settings


def client(service: str, settings: Settings, *, timeout_s: float = 3.0, attempts: int = 2) -> Any:
    import boto3
    from botocore.config import Config

    extra: dict[str, Any] = {}
    if settings.stage.is_offline:
        extra = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": attempts, "mode": "standard"},
        ),
        **extra,
    )
