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

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prepkit.routes import ROUTES

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
# local defaults a deployed stage must never run with (CDK sets the real values)
LOCAL_RAZORPAY_KEY_ID = "rzp_test_local"
LOCAL_STATE_MACHINE_ARN = "arn:aws:states:ap-south-1:123456789012:stateMachine:prepkit-pipeline"
LOCAL_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
LOCAL_RATE_LIMIT_TABLE = "prepkit-rate-limits"
STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")

#: "<count>/<window seconds>" per route class; PREPKIT_RATE_LIMITS overrides some of them (merged)
DEFAULT_RATE_LIMITS: dict[str, str] = {
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
#: every route class of the route table: each must have a limit
RATE_CLASSES = frozenset(r.rate_class for r in ROUTES if r.rate_class is not None)

#: the provider calls each deployed function makes within one invocation (worst path), whose timeouts
#: must fit the function's own (PREPKIT_FUNCTION_TIMEOUT_S, set by CDK from its SPECS). A function not
#: listed here is checked against every provider it has a key for.
FUNCTION_CALLS: dict[str, tuple[str, ...]] = {
    "setup": ("gemini_questions",),
    "reads": (),
    "admin": (),
    "payments": ("razorpay",),
    "start": ("vapi_start",),
    "webhooks": (),
    "pipeline": ("gemini_report", "razorpay", "vapi_get"),
    "migrate": (),
}
#: seconds a function keeps for its own work (rate limiter, database) beyond the provider calls
FUNCTION_TIMEOUT_MARGIN_S = 2.0


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
    # Fast recovery (adapters/postgres.py make_pool): a new connection gives up after connect_timeout
    # (libpq counts whole seconds, at least 2), a request waits at most acquire_timeout for a pooled
    # one (then 503 DATABASE_UNAVAILABLE), and a failed reconnection is retried with backoff for at
    # most reconnect_timeout before the next request starts a new attempt: after the database returns,
    # the pool serves again within about that long.
    db_connect_timeout_s: int = Field(default=2, ge=1, le=60)
    db_acquire_timeout_s: float = Field(default=1.5, gt=0, le=30)
    db_reconnect_timeout_s: float = Field(default=2.0, gt=0, le=300)

    # --- AWS ------------------------------------------------------------------------------------
    aws_region: str = Field(default="ap-south-1", validation_alias=AliasChoices("aws_region", "AWS_REGION"))
    aws_endpoint_url: str | None = None  # moto's address in the local/test stages
    rate_limit_table: str = LOCAL_RATE_LIMIT_TABLE

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
    razorpay_key_id: str = LOCAL_RAZORPAY_KEY_ID
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
    public_base_url: str = LOCAL_PUBLIC_BASE_URL

    # --- the pipeline (Step Functions) ------------------------------------------------------------
    pipeline_state_machine_arn: str = LOCAL_STATE_MACHINE_ARN
    start_window_s: int = Field(default=7 * 24 * 3600, ge=1)
    call_end_margin_s: int = Field(default=600, ge=1)
    call_end_timeout_s: int | None = Field(default=None, ge=1)  # overrides duration + margin (tests, local)
    min_assessable_call_s: int = Field(default=60, ge=0)
    max_retakes: int = Field(default=1, ge=0, le=3)
    # the reconciler (a schedule when deployed, a loop in `make dev`): how many new executions a session
    # may get before it is refunded, how long a session must be idle before it is looked at, how many
    # sessions one run checks, and the local loop's period
    pipeline_max_restarts: int = Field(default=3, ge=0, le=20)
    reconcile_idle_s: int = Field(default=120, ge=0)
    reconcile_batch: int = Field(default=200, ge=1, le=5000)
    reconcile_every_s: float = Field(default=30, gt=0)
    # local and test stages only: moto's engine sleeps Retry intervals times this (1 = as written)
    pipeline_retry_scale: float = Field(default=1.0, gt=0, le=1)
    # local stage only: which scripted candidate the call simulator plays (good | weak | silent)
    simulated_candidate: Literal["good", "weak", "silent"] = "good"
    simulated_call_delay_s: float = Field(default=0.3, ge=0, le=30)

    # --- rate limits: {"<route class>": "<count>/<window seconds>"} -------------------------------
    # PREPKIT_RATE_LIMITS='{"setup": "20/3600"}' changes the setup limit and keeps the other defaults;
    # a class the route table does not have is refused (a typo would otherwise change nothing)
    rate_limits: dict[str, str] = dict(DEFAULT_RATE_LIMITS)
    rate_limit_timeout_s: float = Field(default=1.0, gt=0, le=10)

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _merge_rate_limits(cls, value: Any) -> Any:
        return {**DEFAULT_RATE_LIMITS, **value} if isinstance(value, dict) else value

    # --- the function this runs in (deployed: set by CDK from infra_cdk.service.SPECS) -------------
    function: str | None = None  # its short name: setup, reads, ..., pipeline (PREPKIT_FUNCTION)
    function_timeout_s: float | None = Field(default=None, gt=0, le=900)

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
            self._check_deployed_values()
            creates_calls = self.vapi_api_key is not None  # it builds assistants: server.credentialId
            if creates_calls and self.vapi_webhook_auth in ("bearer", "hmac") and not self.vapi_credential_id:
                raise ValueError(
                    f"PREPKIT_VAPI_WEBHOOK_AUTH={self.vapi_webhook_auth} needs the Vapi credential's id "
                    "(PREPKIT_VAPI_CREDENTIAL_ID, the Vapi secret's credentialId)"
                )
        if DEPRECATED_GEMINI.match(self.vapi_model):
            raise ValueError(f"PREPKIT_VAPI_MODEL={self.vapi_model}: Gemini 1.x, 2.0 and 2.5 are deprecated")
        self._check_rate_limits()
        self._check_function_timeout()
        return self

    def _check_deployed_values(self) -> None:
        """Local defaults and loopback addresses that would deploy fine and then fail quietly."""
        url = urlparse(self.public_base_url)
        if url.scheme != "https" or not url.hostname or is_loopback_url(self.public_base_url):
            raise ValueError(
                f"a deployed stage needs the public https URL of its API in PREPKIT_PUBLIC_BASE_URL (Vapi "
                f"posts every call's webhooks there), not {self.public_base_url!r}"
            )
        if self.pipeline_state_machine_arn == LOCAL_STATE_MACHINE_ARN or not STATE_MACHINE_ARN.match(
            self.pipeline_state_machine_arn
        ):
            raise ValueError(
                "a deployed stage needs its state machine's ARN in PREPKIT_PIPELINE_STATE_MACHINE_ARN, "
                f"not the local placeholder or {self.pipeline_state_machine_arn!r}"
            )
        if self.rate_limit_table == LOCAL_RATE_LIMIT_TABLE:
            raise ValueError(
                "a deployed stage needs its rate-limit table in PREPKIT_RATE_LIMIT_TABLE (with the local "
                "name every check would fail open)"
            )
        if self.razorpay_key_secret is not None and self.razorpay_key_id in (LOCAL_RAZORPAY_KEY_ID, ""):
            raise ValueError("a deployed stage refuses the local or empty PREPKIT_RAZORPAY_KEY_ID")
        for name in ("razorpay_api_url", "vapi_api_url"):
            value = getattr(self, name)
            if urlparse(value).scheme != "https" or is_loopback_url(value):
                raise ValueError(
                    f"a deployed stage calls the real provider: PREPKIT_{name.upper()}={value!r}"
                )

    def _check_rate_limits(self) -> None:
        unknown = sorted(set(self.rate_limits) - RATE_CLASSES)
        if unknown:
            raise ValueError(
                f"PREPKIT_RATE_LIMITS names route classes the route table does not have: {unknown} "
                f"(known: {sorted(RATE_CLASSES)})"
            )
        missing = sorted(RATE_CLASSES - set(self.rate_limits))
        if missing:
            raise ValueError(f"rate limits missing for route classes {missing}")
        for route_class, spec in self.rate_limits.items():
            parse_limit(route_class, spec)

    def call_budgets_s(self) -> dict[str, float]:
        """The longest each provider call path can take within one invocation (no SDK retries: the
        attempts are ours). Gemini: the deadline bounds each phase (connect, then the whole answer).
        Razorpay: verify may fetch the payment, then refund an extra capture. Vapi: creating a call, then
        (a refused start) checking and ending it with the shorter end-call timeout."""
        razorpay = self.razorpay_connect_timeout_s + self.razorpay_read_timeout_s
        vapi = self.vapi_connect_timeout_s + self.vapi_timeout_s
        vapi_end = (
            min(self.vapi_connect_timeout_s, self.vapi_end_call_timeout_s) + self.vapi_end_call_timeout_s
        )
        return {
            "gemini_questions": 2 * self.gemini_questions_deadline_s,
            "gemini_report": 2 * self.gemini_report_deadline_s,
            "razorpay": 2 * razorpay,
            "vapi_start": vapi + 2 * vapi_end,
            "vapi_get": vapi,
        }

    def _configured_calls(self) -> tuple[str, ...]:
        calls: list[str] = []
        if self.llm_configured:
            calls += ["gemini_questions", "gemini_report"]
        if self.razorpay_key_secret is not None:
            calls.append("razorpay")
        if self.vapi_api_key is not None:
            calls += ["vapi_start", "vapi_get"]
        return tuple(calls)

    def _check_function_timeout(self) -> None:
        if self.function_timeout_s is None:
            return
        calls = FUNCTION_CALLS.get(self.function or "", self._configured_calls())
        budgets = self.call_budgets_s()
        for call in calls:
            if budgets[call] + FUNCTION_TIMEOUT_MARGIN_S > self.function_timeout_s:
                raise ValueError(
                    f"function {self.function or '?'} times out after {self.function_timeout_s:g} s but its "
                    f"{call} calls may take {budgets[call]:g} s (timeouts x attempts) plus "
                    f"{FUNCTION_TIMEOUT_MARGIN_S:g} s of its own work: lower the provider timeouts"
                )

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
