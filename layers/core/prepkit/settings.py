"""Settings, validated once at cold start (pydantic-settings, environment variables prefixed PREPKIT_).

The local and test stages may only talk to loopback AWS endpoints; deployed stages refuse local
shortcuts (the local token issuer, the dev token route, default secrets).
"""

from __future__ import annotations

import ipaddress
import re
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
#: Gemini families Google has shut down or is shutting down (gemini-2.0-*: shut down; 2.5: late 2026)
DEPRECATED_GEMINI = re.compile(r"^\s*(models/)?gemini-(1[.-]|2\.0|2\.5|pro$)", re.IGNORECASE)
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
    # the JSON API's body cap; each webhook's own (larger) cap is in the route table (prepkit.routes)
    # and is never below this one, so no setting lowers a webhook below what its vendor sends
    max_body_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)

    # --- LLM (Gemini) ---------------------------------------------------------------------------
    # One block per use: the questions (setup, API Lambda of 29 s) and the report (pipeline Lambda of
    # 150 s). Prices are list USD per million tokens; thinking tokens bill at the output rate.
    # Temperature unset = the family's default: nothing sent for Gemini 3.x (the model's 1.0, as Google's
    # Gemini 3 prompting guide recommends). Each call has one deadline and no SDK retries.
    gemini_api_key: SecretStr | None = None
    gemini_questions_model: str = "gemini-3.5-flash"
    gemini_questions_input_usd_per_mtok: float = Field(default=1.50, ge=0)
    gemini_questions_output_usd_per_mtok: float = Field(default=9.00, ge=0)
    gemini_questions_temperature: float | None = Field(default=None, ge=0, le=2)
    gemini_questions_thinking_level: Literal["minimal", "low", "medium", "high"] | None = "low"
    gemini_questions_max_output_tokens: int = Field(default=8192, ge=1024, le=65_536)
    # a hanging Gemini must leave setup time for the question bank: bank questions within 15 s
    # (and even a connect that hangs, then an answer that never comes, 2 x 12 s, fits the 29 s function)
    gemini_questions_deadline_s: float = Field(default=10.0, gt=0, le=12)

    gemini_report_model: str = "gemini-3.5-flash"
    gemini_report_input_usd_per_mtok: float = Field(default=1.50, ge=0)
    gemini_report_output_usd_per_mtok: float = Field(default=9.00, ge=0)
    gemini_report_temperature: float | None = Field(default=None, ge=0, le=2)
    gemini_report_thinking_level: Literal["minimal", "low", "medium", "high"] | None = "medium"
    gemini_report_max_output_tokens: int = Field(default=16_384, ge=1024, le=65_536)
    # one attempt per pipeline invocation (the state machine retries). The deadline bounds each phase of
    # the request (connect, then the wait for the whole answer): 2 x 70 s still fits the 150 s function
    gemini_report_deadline_s: float = Field(default=60.0, gt=0, le=70)

    @model_validator(mode="after")
    def _check_gemini(self) -> Settings:
        for use in ("questions", "report"):
            model = getattr(self, f"gemini_{use}_model")
            if DEPRECATED_GEMINI.match(model):
                raise ValueError(
                    f"PREPKIT_GEMINI_{use.upper()}_MODEL={model} is a shut-down or retiring Gemini family "
                    "(1.x, 2.0, 2.5): use gemini-3.5-flash or newer"
                )
        return self

    # --- payments (Razorpay) ---------------------------------------------------------------------
    razorpay_key_id: str = "rzp_test_local"
    # None = not given to this function (deployed functions get only the secrets they need);
    # the local and test stages fill in the simulators' secrets
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    razorpay_api_url: str = "https://api.razorpay.com"  # the SDK's base_url (it adds /v1 itself)
    razorpay_connect_timeout_s: float = Field(default=3.0, gt=0, le=30)
    razorpay_read_timeout_s: float = Field(default=10.0, gt=0, le=60)

    # --- voice (Vapi) ----------------------------------------------------------------------------
    vapi_api_key: SecretStr | None = None
    vapi_api_url: str = "https://api.vapi.ai"
    vapi_connect_timeout_s: float = Field(default=3.0, gt=0, le=30)
    vapi_timeout_s: float = Field(default=10.0, gt=0, le=60)  # read timeout of create/get call
    vapi_end_call_timeout_s: float = Field(default=3.0, gt=0, le=10)  # ending an abandoned call
    # the interviewer's LLM, as Vapi names it (OpenAPI `GoogleModel.model`); deprecated families refused
    vapi_model_provider: str = "google"
    vapi_model: str = "gemini-3.5-flash"
    # how Vapi authenticates to /webhooks/vapi: a static secret header, a bearer token, or HMAC
    vapi_webhook_auth: Literal["secret_header", "bearer", "hmac"] = "hmac"
    vapi_webhook_secret: SecretStr | None = None
    vapi_secret_header: str = "x-vapi-secret"  # noqa: S105 (a header name)
    vapi_signature_header: str = "x-signature"
    vapi_timestamp_header: str = "x-timestamp"
    vapi_signature_prefix: str = ""  # e.g. "sha256="
    vapi_signed_payload: Literal["timestamp.body", "body"] = "timestamp.body"
    vapi_max_clock_skew_s: int = Field(default=300, ge=10, le=3600)
    # HMAC credential options (Vapi's HMACAuthenticationPlan.algorithm / .signatureEncoding)
    vapi_hmac_algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    vapi_hmac_encoding: Literal["hex", "base64"] = "hex"
    # the server credential configured in Vapi (bearer or HMAC): required in a deployed function that
    # creates calls, or Vapi would post that call's webhooks unauthenticated (and they would be refused)
    vapi_credential_id: str | None = None
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
            creates_calls = self.vapi_api_key is not None  # it builds assistants: server.credentialId
            if creates_calls and self.vapi_webhook_auth in ("bearer", "hmac") and not self.vapi_credential_id:
                raise ValueError(
                    f"PREPKIT_VAPI_WEBHOOK_AUTH={self.vapi_webhook_auth} needs the Vapi credential's id "
                    "(PREPKIT_VAPI_CREDENTIAL_ID, the Vapi secret's credentialId)"
                )
        if DEPRECATED_GEMINI.match(self.vapi_model):
            raise ValueError(f"PREPKIT_VAPI_MODEL={self.vapi_model}: Gemini 1.x, 2.0 and 2.5 are deprecated")
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
