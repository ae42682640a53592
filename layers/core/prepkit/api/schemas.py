"""Response bodies (camelCase JSON). Built from domain objects; the question view has no rubric field,
so the rubric cannot leak through a response by construction."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from prepkit.domain.insights import Progress
from prepkit.domain.models import InterviewConfig, PublicQuestion, Session, SessionSummary
from prepkit.domain.report import ReportContent
from prepkit.domain.services import HistoryPage


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ErrorOut(Camel):
    error: str
    code: str
    user_message: str
    recoverable: bool
    details: dict[str, object] = Field(default_factory=dict)


class PricingOut(Camel):
    amount: int = Field(description="paise")
    currency: str
    display: str


class QuestionOut(Camel):
    position: int
    text: str
    topics: list[str]
    estimated_minutes: int

    @classmethod
    def of(cls, q: PublicQuestion) -> QuestionOut:
        return cls(
            position=q.position, text=q.text, topics=list(q.topics), estimated_minutes=q.estimated_minutes
        )


class SetupOut(Camel):
    session_id: str
    status: str
    questions: list[QuestionOut]
    pricing: PricingOut
    question_source: str

    @classmethod
    def of(cls, s: Session) -> SetupOut:
        return cls(
            session_id=s.id,
            status=s.status.value,
            questions=[QuestionOut.of(q.public()) for q in s.questions],
            pricing=PricingOut(amount=s.price.amount, currency=s.price.currency, display=s.price.display),
            question_source=s.question_source.value,
        )


class SessionErrorOut(Camel):
    code: str
    user_message: str
    recoverable: bool


class SessionOut(Camel):
    session_id: str
    status: str
    config: InterviewConfig
    questions: list[QuestionOut]
    pricing: PricingOut
    question_source: str
    created_at: datetime
    updated_at: datetime
    error: SessionErrorOut | None = None

    @classmethod
    def of(cls, s: Session) -> SessionOut:
        return cls(
            session_id=s.id,
            status=s.status.value,
            config=s.config,
            questions=[QuestionOut.of(q.public()) for q in s.questions],
            pricing=PricingOut(amount=s.price.amount, currency=s.price.currency, display=s.price.display),
            question_source=s.question_source.value,
            created_at=s.created_at,
            updated_at=s.updated_at,
            error=SessionErrorOut(
                code=s.error.code, user_message=s.error.user_message, recoverable=s.error.recoverable
            )
            if s.error
            else None,
        )


class HistoryItemOut(Camel):
    session_id: str
    status: str
    type: str
    difficulty: str
    duration: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: SessionSummary) -> HistoryItemOut:
        return cls(
            session_id=s.id,
            status=s.status.value,
            type=s.type.value,
            difficulty=s.difficulty.value,
            duration=s.duration,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class HistoryOut(Camel):
    interviews: list[HistoryItemOut]
    total: int
    page: int
    total_pages: int

    @classmethod
    def of(cls, p: HistoryPage) -> HistoryOut:
        return cls(
            interviews=[HistoryItemOut.of(i) for i in p.interviews],
            total=p.total,
            page=p.page,
            total_pages=p.total_pages,
        )


class TokenIn(Camel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    groups: list[str] = Field(default_factory=list, max_length=10)


class TokenOut(Camel):
    token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_in: int


class HealthOut(Camel):
    status: str
    stage: str


class OrderOut(Camel):
    order_id: str
    amount: int = Field(description="paise, decided by the server")
    currency: str
    key_id: str = Field(description="Razorpay key id for Checkout")
    session_id: str


class VerifyIn(BaseModel):
    """Razorpay Checkout's success handler fields, as Checkout names them."""

    model_config = ConfigDict(extra="forbid")
    razorpay_order_id: str = Field(min_length=1, max_length=64)
    razorpay_payment_id: str = Field(min_length=1, max_length=64)
    razorpay_signature: str = Field(min_length=1, max_length=256)


class VerifyOut(Camel):
    session_id: str
    status: str = Field(description="the session's: paid once the payment is captured", examples=["paid"])
    payment_status: str = Field(
        description="the payment's, as Razorpay has it: captured pays the session; authorized is"
        " recorded and pays it when Razorpay captures it (by webhook: poll the session); failed",
        examples=["captured"],
    )


class StartOut(Camel):
    call_id: str
    status: str = "initiated"
    web_call_url: str


class UsageOut(Camel):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class ReportOut(Camel):
    session_id: str
    source: str
    model: str | None
    prompt_version: str
    usage: UsageOut
    report: ReportContent


class WebhookOut(Camel):
    ok: bool = True
    result: str


class CheckoutIn(Camel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["success", "failure"] = "success"


class CheckoutOut(BaseModel):
    razorpay_order_id: str
    razorpay_payment_id: str
    razorpay_signature: str | None


class ScoreOut(Camel):
    session_id: str
    completed_at: datetime
    difficulty: str
    overall_score: int | None


class TypeProgressOut(Camel):
    type: str
    interviews: int
    average_score: float | None
    latest_score: int | None
    trend: int | None = Field(description="latest score minus the first; positive means improving")
    scores: list[ScoreOut]


class StatsOut(Camel):
    completed_interviews: int
    by_type: list[TypeProgressOut]
    breakdown_averages: dict[str, float | None]
    weakest_areas: list[str]

    @classmethod
    def of(cls, p: Progress) -> StatsOut:
        return cls(
            completed_interviews=p.completed,
            by_type=[
                TypeProgressOut(
                    type=t.type,
                    interviews=len(t.scores),
                    average_score=t.average,
                    latest_score=t.scored[-1] if t.scored else None,
                    trend=t.trend,
                    scores=[
                        ScoreOut(
                            session_id=s.session_id,
                            completed_at=s.completed_at,
                            difficulty=s.difficulty,
                            overall_score=s.overall_score,
                        )
                        for s in t.scores
                    ],
                )
                for t in p.by_type
            ],
            breakdown_averages=p.breakdown_averages,
            weakest_areas=p.weakest_areas,
        )


class AdminMetricsOut(Camel):
    sessions_by_status: dict[str, int]
    completion_rate: float | None = Field(description="completed / sessions ever paid")
    revenue_paise: int = Field(description="captured minus refunded")
    refunded_paise: int
    ai_cost_per_report_usd: float | None = Field(description="every report attempt / reports written")
    ai_cost_usd: float = Field(
        description="every recorded Gemini attempt: questions and reports, failed ones too"
    )
    ai_cost_per_interview_usd: float | None = Field(description="all AI spend / interviews paid for")
    voice_cost_per_call_usd: float | None
    question_fallback_rate: float | None
    report_fallback_rate: float | None
