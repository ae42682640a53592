"""Settings, validated once at cold start (pydantic-settings, environment variables prefixed PREPKIT_).

The local and test stages may only talk to loopback AWS endpoints; deployed stages refuse local
shortcuts (the local token issuer, the dev token route, default secrets).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_ISSUER = "prepkit-local"
LOCAL_JWT_SECRET_DEFAULT = "local-dev-only-secret-change-me-0123456789"  # noqa: S105 (local stage only)
# the offline simulators sign with these; a deployed stage refuses to start with them
LOCAL_RAZORPAY_SECRET = "local-razorpay-key-secret"  # noqa: S105
LOCAL_RAZORPAY_WEBHOOK_SECRET = "local-razorpay-webhook-secret"  # noqa: S105
LOCAL_VAPI_WEBHOOK_SECRET = "local-vapi-webhook-secret"  # noqa: S105
LOCAL_SECRETS = {
    "razorpay_key_secret": LOCAL_RAZORPAY_SECRET,
    "razorpay_webhook_secret": LOCAL_RAZORPAY_WEBHOOK_SECRET,
    "vapi_webhook_secret": LOCAL_VAPI_WEBHOOK_SECRET,
}


class Stage(StrEnum):
    LOCAL = "local"
    TEST = "test"
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"

    @property
    def is_offline(self) -> bool:
        """local and test never leave the machine: loopback AWS endpoints, offline providers."""
        return self in (Stage.LOCAL, Stage.TEST)


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PREPKIT_", extra="ignore", frozen=True)

    stage: Stage = Stage.LOCAL
    service_name: str = "prepkit"

    # --- database -------------------------------------------------------------------------------
    database_url: str = Field(default="", validation_alias=AliasChoices("database_url", "DATABASE_URL"))
    db_pool_max: int = Field(default=4, ge=1, le=50)
    db_connect_timeout_s: int = Field(default=5, ge=1, le=60)

    # --- AWS ------------------------------------------------------------------------------------
    aws_region: str = Field(default="ap-south-1", validation_alias=AliasChoices("aws_region", "AWS_REGION"))
    aws_endpoint_url: str | None = None  # moto's address in the local/test stages
    rate_limit_table: str = "prepkit-rate-limits"

    # --- auth -----------------------------------------------------------------------------------
    # "local": the app verifies HS256 tokens itself (local/test stages, POST /dev/token).
    # "apigw": API Gateway's JWT authorizer (Cognito) verified the token; claims come in the event.
    auth_mode: Literal["local", "apigw"] = "local"
    jwt_issuer: str = LOCAL_ISSUER
    jwt_audience: str = "prepkit-api"
    local_jwt_secret: SecretStr = SecretStr(LOCAL_JWT_SECRET_DEFAULT)
    local_token_ttl_s: int = Field(default=3600, ge=60, le=86400)

    # --- HTTP -----------------------------------------------------------------------------------
    max_body_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)

    # --- LLM (Gemini) ---------------------------------------------------------------------------
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-3.5-flash"
    gemini_timeout_s: float = Field(default=20.0, gt=0, le=120)
    gemini_attempts: int = Field(default=2, ge=1, le=5)

    gemini_report_model: str = "gemini-3.5-flash"
    gemini_report_timeout_s: float = Field(default=60.0, gt=0, le=300)
    # USD per million tokens (thinking tokens bill at the output rate)
    gemini_input_usd_per_mtok: float = Field(default=0.30, ge=0)
    gemini_output_usd_per_mtok: float = Field(default=2.50, ge=0)

    # --- payments (Razorpay) ---------------------------------------------------------------------
    razorpay_key_id: str = "rzp_test_local"
    # None = not given to this function (deployed functions get only the secrets they need);
    # the local and test stages fill in the simulators' secrets
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    razorpay_api_url: str = "https://api.razorpay.com/v1"
    razorpay_connect_timeout_s: float = Field(default=3.0, gt=0, le=30)
    razorpay_read_timeout_s: float = Field(default=10.0, gt=0, le=60)

    # --- voice (Vapi) ----------------------------------------------------------------------------
    vapi_api_key: SecretStr | None = None
    vapi_api_url: str = "https://api.vapi.ai"
    vapi_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # how Vapi authenticates to /webhooks/vapi: a static secret header, a bearer token, or HMAC
    vapi_webhook_auth: Literal["secret_header", "bearer", "hmac"] = "hmac"
    vapi_webhook_secret: SecretStr | None = None
    vapi_secret_header: str = "x-vapi-secret"  # noqa: S105 (a header name)
    vapi_signature_header: str = "x-signature"
    vapi_timestamp_header: str = "x-timestamp"
    vapi_signature_prefix: str = ""  # e.g. "sha256="
    vapi_signed_payload: Literal["timestamp.body", "body"] = "timestamp.body"
    vapi_max_clock_skew_s: int = Field(default=300, ge=10, le=3600)
    vapi_credential_id: str | None = None  # the server credential configured in Vapi, if any
    # the public base URL Vapi posts webhooks to (deployed: the API URL; local: this server)
    public_base_url: str = "http://127.0.0.1:8000"

    # --- the pipeline (Step Functions) ------------------------------------------------------------
    pipeline_state_machine_arn: str = "arn:aws:states:ap-south-1:123456789012:stateMachine:prepkit-pipeline"
    start_window_s: int = Field(default=7 * 24 * 3600, ge=1)
    call_end_margin_s: int = Field(default=600, ge=1)
    call_end_timeout_s: int | None = Field(default=None, ge=1)  # overrides duration + margin (tests, local)
    min_assessable_call_s: int = Field(default=60, ge=0)
    max_retakes: int = Field(default=1, ge=0, le=3)
    # local stage only: which scripted candidate the call simulator plays (good | weak | silent)
    simulated_candidate: Literal["good", "weak", "silent"] = "good"
    simulated_call_delay_s: float = Field(default=0.3, ge=0, le=30)

    # --- rate limits: "<route class>=<count>/<window seconds>" ----------------------------------
    rate_limits: dict[str, str] = {
        "setup": "5/3600",
        "order": "20/3600",
        "verify": "20/3600",
        "start": "10/3600",
        "status": "300/3600",
        "report": "10/3600",
        "history": "100/3600",
        "stats": "100/3600",
        "admin": "300/3600",
    }
    rate_limit_timeout_s: float = Field(default=1.0, gt=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _local_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and str(data.get("stage", Stage.LOCAL.value)) in (
            Stage.LOCAL.value,
            Stage.TEST.value,
        ):
            for name, value in LOCAL_SECRETS.items():
                if data.get(name) is None:
                    data = {**data, name: value}
        return data

    @model_validator(mode="after")
    def _check_stage(self) -> Settings:
        if self.stage.is_offline:
            if self.aws_endpoint_url is not None and not is_loopback_url(self.aws_endpoint_url):
                raise ValueError(
                    f"stage {self.stage.value} only talks to a loopback AWS endpoint "
                    f"(got {self.aws_endpoint_url!r})"
                )
            if self.aws_endpoint_url is None:
                raise ValueError(
                    f"stage {self.stage.value} needs PREPKIT_AWS_ENDPOINT_URL (moto on 127.0.0.1)"
                )
        else:
            if self.auth_mode != "apigw":
                raise ValueError("a deployed stage authenticates through API Gateway (auth_mode=apigw)")
            if self.jwt_issuer == LOCAL_ISSUER:
                raise ValueError("a deployed stage refuses the local token issuer")
            if self.aws_endpoint_url is not None:
                raise ValueError("a deployed stage uses the real AWS endpoints")
            for name, default in LOCAL_SECRETS.items():
                value = getattr(self, name)
                if value is not None and value.get_secret_value() in (default, ""):
                    raise ValueError(f"a deployed stage refuses the local or empty PREPKIT_{name.upper()}")
        for route_class, spec in self.rate_limits.items():
            parse_limit(route_class, spec)
        return self

    def limit_for(self, route_class: str) -> tuple[int, int]:
        return parse_limit(route_class, self.rate_limits[route_class])

    @property
    def payments_configured(self) -> bool:
        """Real Razorpay keys (not the local simulator's)."""
        return (
            self.razorpay_key_secret is not None
            and self.razorpay_key_secret.get_secret_value() != LOCAL_RAZORPAY_SECRET
        )

    @property
    def voice_configured(self) -> bool:
        return self.vapi_api_key is not None and bool(self.vapi_api_key.get_secret_value())

    @property
    def llm_configured(self) -> bool:
        return self.gemini_api_key is not None and bool(self.gemini_api_key.get_secret_value())


def parse_limit(route_class: str, spec: str) -> tuple[int, int]:
    try:
        count, window = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"rate limit {route_class}={spec!r} is not '<count>/<seconds>'") from None
    if count < 1 or window < 1:
        raise ValueError(f"rate limit {route_class}={spec!r} must be positive")
    return count, window


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Environment variables, plus (deployed) the provider and database secrets, validated together."""
    from prepkit.secrets import values_from_secrets

    return Settings(**values_from_secrets())
