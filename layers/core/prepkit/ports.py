"""Ports: the small interfaces the domain needs from the outside world. Adapters implement them;
tests use fakes that behave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from prepkit.domain.models import (
    GeneratedQuestions,
    InterviewConfig,
    Price,
    Session,
    SessionSummary,
)


class QuestionGenerator(Protocol):
    """Writes `count` questions with rubric for a config. Raises QuestionGenerationFailed."""

    def generate(self, config: InterviewConfig, count: int, *, seed: str) -> GeneratedQuestions: ...


class SessionRepository(Protocol):
    def price_for(self, duration_minutes: int) -> Price | None: ...

    def create_session(self, session: Session) -> None: ...

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        """The user's session, or None: another user's session is indistinguishable from a missing one."""
        ...

    def list_sessions(self, user_id: str, *, offset: int, limit: int) -> tuple[list[SessionSummary], int]: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch_s: int  # when the current window ends
    retry_after_s: int  # 0 when allowed


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_s: int) -> RateDecision | None:
        """Counts one request. None when the limiter itself is unavailable (callers fail open)."""
        ...


class Metrics(Protocol):
    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...
