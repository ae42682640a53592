"""Fakes that behave, for unit tests of the domain (integration tests use real PostgreSQL and moto)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from pydantic import SecretStr

from prepkit.domain.errors import QuestionGenerationFailed
from prepkit.domain.models import (
    GeneratedQuestions,
    InterviewConfig,
    Price,
    Question,
    QuestionSource,
    Session,
    SessionSummary,
)
from prepkit.ports import AiUsage, RateDecision
from prepkit.settings import Settings, Stage


@dataclass
class InMemoryRepository:
    prices: dict[int, Price] = field(
        default_factory=lambda: {20: Price(14900, "INR"), 30: Price(19900, "INR")}
    )
    sessions: dict[str, Session] = field(default_factory=dict)

    def price_for(self, duration_minutes: int) -> Price | None:
        return self.prices.get(duration_minutes)

    def create_session(self, session: Session) -> None:
        assert session.id not in self.sessions
        self.sessions[session.id] = copy.deepcopy(session)

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        s = self.sessions.get(session_id)
        return s if s is not None and s.user_id == user_id else None

    def list_sessions(self, user_id: str, *, offset: int, limit: int) -> tuple[list[SessionSummary], int]:
        mine = sorted(
            (s for s in self.sessions.values() if s.user_id == user_id),
            key=lambda s: (s.created_at, s.id),
            reverse=True,
        )
        page = [
            SessionSummary(
                s.id,
                s.status,
                s.config.type,
                s.config.difficulty,
                s.config.duration,
                s.created_at,
                s.updated_at,
            )
            for s in mine[offset : offset + limit]
        ]
        return page, len(mine)


@dataclass
class RecordingMetrics:
    points: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self.points.append((name, value, dimensions))

    def total(self, name: str, **dimensions: str) -> int:
        return sum(
            v for n, v, d in self.points if n == name and all(d.get(k) == x for k, x in dimensions.items())
        )


@dataclass
class ScriptedQuestionGenerator:
    """An AI generator that writes numbered questions, or fails with the reason given."""

    fail_with: str | None = None
    calls: int = 0

    def generate(self, config: InterviewConfig, count: int, *, seed: str) -> GeneratedQuestions:
        self.calls += 1
        if self.fail_with is not None:
            raise QuestionGenerationFailed(
                f"scripted failure: {self.fail_with}", details={"reason": self.fail_with}
            )
        questions = tuple(
            Question(
                position=i,
                text=f"AI question {i} about {config.type.value} ({seed[:8]})",
                topics=("ai",),
                estimated_minutes=5,
                expected_key_points=(f"secret key point {i}a", f"secret key point {i}b"),
                follow_ups=(f"secret follow-up {i}",),
            )
            for i in range(1, count + 1)
        )
        return GeneratedQuestions(questions=questions, source=QuestionSource.AI, model="fake-model")


@dataclass
class FixedWindowLimiter:
    """Same rules as the DynamoDB limiter, in memory; `down=True` simulates an outage."""

    now: int = 1_800_000_000
    down: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, key: str, *, limit: int, window_s: int) -> RateDecision | None:
        if self.down:
            return None
        start = self.now - self.now % window_s
        k = f"{key}#{start}"
        reset = start + window_s
        if self.counts.get(k, 0) >= limit:
            return RateDecision(False, limit, 0, reset, max(1, reset - self.now))
        self.counts[k] = self.counts.get(k, 0) + 1
        return RateDecision(True, limit, limit - self.counts[k], reset, 0)


def deployed_settings(**overrides: object) -> Settings:
    """Settings of a deployed stage, with the secrets a deployed stage insists on."""
    values: dict[str, object] = {
        "stage": Stage.PROD,
        "auth_mode": "apigw",
        "jwt_issuer": "https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_example",
        "database_url": "postgresql:///unused",
        "razorpay_key_id": "rzp_deployed_example",
        "razorpay_key_secret": SecretStr("a-real-key-secret"),
        "razorpay_webhook_secret": SecretStr("a-real-webhook-secret"),
        "vapi_api_key": SecretStr("a-real-vapi-key"),
        "vapi_webhook_secret": SecretStr("a-real-vapi-webhook-secret"),
        "vapi_credential_id": "cred-deployed-example",
        "public_base_url": "https://abc123defg.execute-api.ap-south-1.amazonaws.com",
        "pipeline_state_machine_arn": "arn:aws:states:ap-south-1:210987654321:stateMachine:prepkit-prod-pipeline",
        "rate_limit_table": "prepkit-prod-rate-limits",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def secret_of(value: SecretStr | None) -> str:
    assert value is not None, "this setting holds no secret"
    return value.get_secret_value()


@dataclass
class RecordingUsageLog:
    """The AI usage log in memory: every attempt recorded, in order."""

    rows: list[AiUsage] = field(default_factory=list)

    def record(self, usage: AiUsage) -> None:
        self.rows.append(usage)
