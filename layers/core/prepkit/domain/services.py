"""Use cases. Each HTTP route calls exactly one of these."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from prepkit.domain.errors import (
    PricingUnavailable,
    QuestionGenerationFailed,
    SessionNotFound,
    ValidationFailed,
)
from prepkit.domain.models import (
    GeneratedQuestions,
    InterviewConfig,
    Session,
    SessionStatus,
    SessionSummary,
)
from prepkit.ports import Metrics, QuestionGenerator, SessionRepository

log = logging.getLogger(__name__)

MAX_HISTORY_LIMIT = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_session_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class HistoryPage:
    interviews: list[SessionSummary]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0


class InterviewService:
    def __init__(
        self,
        repo: SessionRepository,
        fallback: QuestionGenerator,
        metrics: Metrics,
        ai: QuestionGenerator | None = None,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = new_session_id,
    ):
        self._repo = repo
        self._ai = ai
        self._fallback = fallback
        self._metrics = metrics
        self._clock = clock
        self._new_id = new_id

    # -- POST /interviews/setup ------------------------------------------------------------------
    def setup(self, user_id: str, config: InterviewConfig) -> Session:
        price = self._repo.price_for(config.duration)
        if price is None:
            raise PricingUnavailable(f"no active price for {config.duration} minutes")
        session_id = self._new_id()
        generated = self._questions(config, session_id)
        now = self._clock()
        session = Session(
            id=session_id,
            user_id=user_id,
            status=SessionStatus.PENDING_PAYMENT,
            config=config,
            price=price,
            question_source=generated.source,
            created_at=now,
            updated_at=now,
            questions=generated.questions,
            question_model=generated.model,
        )
        self._repo.create_session(session)
        return session

    def _questions(self, config: InterviewConfig, seed: str) -> GeneratedQuestions:
        count = config.question_count
        if self._ai is not None:
            try:
                generated = self._ai.generate(config, count, seed=seed)
                self._metrics.count("QuestionsGenerated", source="ai")
                return generated
            except QuestionGenerationFailed as exc:
                log.warning("question generation failed, using the question bank: %s", exc.message)
                self._metrics.count("QuestionGenerationFallback", reason=exc.details.get("reason", "error"))
        generated = self._fallback.generate(config, count, seed=seed)
        self._metrics.count("QuestionsGenerated", source="fallback")
        return generated

    # -- GET /interviews/{id} --------------------------------------------------------------------
    def get(self, user_id: str, session_id: str) -> Session:
        session = self._repo.get_session(user_id, session_id) if is_uuid(session_id) else None
        if session is None:
            raise SessionNotFound(f"session {session_id} not found")
        return session

    # -- GET /interviews/history -----------------------------------------------------------------
    def history(self, user_id: str, *, page: int, limit: int) -> HistoryPage:
        if page < 1 or not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise ValidationFailed(
                f"page must be >= 1 and limit between 1 and {MAX_HISTORY_LIMIT}",
                details={"fields": [{"field": "page" if page < 1 else "limit", "message": "out of range"}]},
            )
        items, total = self._repo.list_sessions(user_id, offset=(page - 1) * limit, limit=limit)
        return HistoryPage(interviews=items, total=total, page=page, limit=limit)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
