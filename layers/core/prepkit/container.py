"""The composition root: builds each adapter once per process from settings (cold start) and hands
them to the services. Tests build one with fakes or with their own database and moto."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import SecretStr

from prepkit.domain.flow import FlowPolicy, InterviewFlow
from prepkit.domain.insights import InsightsRepository
from prepkit.domain.services import InterviewService
from prepkit.domain.signatures import VapiAuth
from prepkit.ports import (
    AiUsageLog,
    FlowRepository,
    Metrics,
    PaymentsGateway,
    QuestionGenerator,
    RateLimiter,
    ReportWriter,
    SessionRepository,
    VoiceGateway,
    Workflow,
)
from prepkit.settings import Settings

#: how the offline call and checkout simulators reach the API: (path, raw body, headers)
Deliver = Callable[[str, bytes, dict[str, str]], None]


@dataclass
class Container:
    settings: Settings
    repo: SessionRepository
    rate_limiter: RateLimiter
    metrics: Metrics
    fallback_questions: QuestionGenerator
    ai_questions: QuestionGenerator | None = None
    flow_repo: FlowRepository | None = None
    payments: PaymentsGateway | None = None
    voice: VoiceGateway | None = None
    report_writer: ReportWriter | None = None
    workflow: Workflow | None = None
    insights: InsightsRepository | None = None
    ai_usage: AiUsageLog | None = None  # every LLM attempt's tokens, cost and outcome
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        pool = self.extras.get("pool")
        close = getattr(pool, "close", None)
        if callable(close):
            close()

    @cached_property
    def interviews(self) -> InterviewService:
        return InterviewService(
            repo=self.repo, fallback=self.fallback_questions, metrics=self.metrics, ai=self.ai_questions
        )

    @cached_property
    def flow(self) -> InterviewFlow:
        s = self.settings
        assert self.flow_repo and self.report_writer and self.workflow
        return InterviewFlow(
            repo=self.flow_repo,
            payments=self.payments,  # None in a function without the Razorpay key (the webhooks)
            voice=self.voice or _Missing("Vapi (PREPKIT_VAPI_SECRET_ARN)"),  # type: ignore[arg-type]
            reports=self.report_writer,
            workflow=self.workflow,
            metrics=self.metrics,
            policy=flow_policy(s),
        )


class _Missing:
    """A provider this function was not given: using it is a deployment error, reported as such."""

    key_id = ""

    def __init__(self, what: str):
        self._what = what

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"this function has no {self._what}: it cannot {name}")


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def flow_policy(s: Settings) -> FlowPolicy:
    return FlowPolicy(
        checkout_key_secret=_secret(s.razorpay_key_secret),
        webhook_secret=_secret(s.razorpay_webhook_secret),
        start_window_s=s.start_window_s,
        call_end_margin_s=s.call_end_margin_s,
        min_assessable_call_s=s.min_assessable_call_s,
        max_retakes=s.max_retakes,
        call_end_timeout_s=s.call_end_timeout_s,
        max_restarts=s.pipeline_max_restarts,
        reconcile_idle_s=s.reconcile_idle_s,
        reconcile_batch=s.reconcile_batch,
    )


def vapi_auth(s: Settings) -> VapiAuth:
    return VapiAuth(
        mode=s.vapi_webhook_auth,
        secret=_secret(s.vapi_webhook_secret),
        secret_header=s.vapi_secret_header,
        signature_header=s.vapi_signature_header,
        timestamp_header=s.vapi_timestamp_header,
        signature_prefix=s.vapi_signature_prefix,
        signed_payload=s.vapi_signed_payload,
        max_clock_skew_s=s.vapi_max_clock_skew_s,
        algorithm=s.vapi_hmac_algorithm,
        encoding=s.vapi_hmac_encoding,
    )


def http_deliver(base_url: str) -> Deliver:
    """Posts the simulators' webhooks to the running API (local stage)."""

    def deliver(path: str, body: bytes, headers: dict[str, str]) -> None:
        import requests

        requests.post(base_url.rstrip("/") + path, data=body, headers=headers, timeout=10).raise_for_status()

    return deliver


def build_container(settings: Settings, *, deliver: Deliver | None = None) -> Container:
    from prepkit.adapters import aws
    from prepkit.adapters.dynamo_rate_limiter import DynamoRateLimiter
    from prepkit.adapters.postgres import PostgresSessionRepository, make_pool
    from prepkit.adapters.postgres_flow import PostgresFlowRepository
    from prepkit.adapters.postgres_insights import PostgresInsightsRepository
    from prepkit.adapters.postgres_usage import PostgresAiUsageLog
    from prepkit.adapters.question_bank import QuestionBank
    from prepkit.adapters.workflow import StepFunctionsWorkflow
    from prepkit.domain.scoring import OfflineReportWriter
    from prepkit.observability import PowertoolsMetrics

    s = settings
    if not s.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    pool = make_pool(
        s.database_url,
        max_size=s.db_pool_max,
        connect_timeout_s=s.db_connect_timeout_s,
        acquire_timeout_s=s.db_acquire_timeout_s,
        reconnect_timeout_s=s.db_reconnect_timeout_s,
    )
    deliver = deliver or http_deliver(s.public_base_url)

    ai: QuestionGenerator | None = None
    report_writer: ReportWriter = OfflineReportWriter()
    ai_usage = PostgresAiUsageLog(pool)
    if s.llm_configured and s.gemini_api_key is not None:
        from prepkit.adapters.gemini import GeminiQuestionGenerator, GeminiReportWriter, spec_from_settings

        key = s.gemini_api_key.get_secret_value()
        ai = GeminiQuestionGenerator(key, spec_from_settings(s, "questions"), usage=ai_usage)
        report_writer = GeminiReportWriter(key, spec_from_settings(s, "report"), usage=ai_usage)

    payments: PaymentsGateway | None = None
    if s.payments_configured and s.razorpay_key_secret is not None:
        from prepkit.adapters.razorpay import RazorpayGateway

        payments = RazorpayGateway(
            s.razorpay_key_id,
            s.razorpay_key_secret.get_secret_value(),
            api_url=s.razorpay_api_url,
            connect_timeout_s=s.razorpay_connect_timeout_s,
            read_timeout_s=s.razorpay_read_timeout_s,
        )
    elif s.stage.is_offline:  # the simulators exist only in the local and test stages
        from prepkit.local.razorpay_simulator import SimulatedRazorpay

        payments = SimulatedRazorpay(s.razorpay_key_id)

    voice: VoiceGateway | None = None
    if s.voice_configured and s.vapi_api_key is not None:
        from prepkit.adapters.vapi import VapiGateway

        voice = VapiGateway(
            s.vapi_api_key.get_secret_value(),
            api_url=s.vapi_api_url,
            connect_timeout_s=s.vapi_connect_timeout_s,
            read_timeout_s=s.vapi_timeout_s,
            end_call_timeout_s=s.vapi_end_call_timeout_s,
            server_url=s.public_base_url.rstrip("/") + "/webhooks/vapi",
            credential_id=s.vapi_credential_id,
            model_provider=s.vapi_model_provider,
            model=s.vapi_model,
        )
    elif s.stage.is_offline:
        from prepkit.local.call_simulator import SimulatedVoice

        voice = SimulatedVoice(
            vapi_auth(s), deliver, script=s.simulated_candidate, delay_s=s.simulated_call_delay_s
        )

    return Container(
        settings=s,
        repo=PostgresSessionRepository(pool),
        rate_limiter=DynamoRateLimiter(
            aws.client("dynamodb", s, timeout_s=s.rate_limit_timeout_s, attempts=1), s.rate_limit_table
        ),
        metrics=PowertoolsMetrics(),
        fallback_questions=QuestionBank(),
        ai_questions=ai,
        flow_repo=PostgresFlowRepository(pool),
        payments=payments,
        voice=voice,
        report_writer=report_writer,
        workflow=StepFunctionsWorkflow(aws.client("stepfunctions", s), s.pipeline_state_machine_arn),
        insights=PostgresInsightsRepository(pool),
        ai_usage=ai_usage,
        extras={"pool": pool, "deliver": deliver},
    )
