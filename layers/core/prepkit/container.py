"""The composition root: builds each adapter once per process from settings (cold start) and hands
them to the services. Tests build one with fakes or with their own database and moto."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from prepkit.domain.services import InterviewService
from prepkit.ports import Metrics, QuestionGenerator, RateLimiter, SessionRepository
from prepkit.settings import Settings


@dataclass
class Container:
    settings: Settings
    repo: SessionRepository
    rate_limiter: RateLimiter
    metrics: Metrics
    fallback_questions: QuestionGenerator
    ai_questions: QuestionGenerator | None = None
    extras: dict[str, object] = field(default_factory=dict)

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


def build_container(settings: Settings) -> Container:
    from prepkit.adapters import aws
    from prepkit.adapters.dynamo_rate_limiter import DynamoRateLimiter
    from prepkit.adapters.postgres import PostgresSessionRepository, make_pool
    from prepkit.adapters.question_bank import QuestionBank
    from prepkit.observability import PowertoolsMetrics

    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    pool = make_pool(
        settings.database_url, max_size=settings.db_pool_max, connect_timeout_s=settings.db_connect_timeout_s
    )
    ai: QuestionGenerator | None = None
    if settings.llm_configured and settings.gemini_api_key is not None:
        from prepkit.adapters.gemini import GeminiQuestionGenerator

        ai = GeminiQuestionGenerator(
            settings.gemini_api_key.get_secret_value(),
            settings.gemini_model,
            timeout_s=settings.gemini_timeout_s,
            attempts=settings.gemini_attempts,
        )
    return Container(
        settings=settings,
        repo=PostgresSessionRepository(pool),
        rate_limiter=DynamoRateLimiter(
            aws.client("dynamodb", settings, timeout_s=settings.rate_limit_timeout_s, attempts=1),
            settings.rate_limit_table,
        ),
        metrics=PowertoolsMetrics(),
        fallback_questions=QuestionBank(),
        ai_questions=ai,
        extras={"pool": pool},
    )
