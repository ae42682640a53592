"""Domain model: interview configuration, questions (with their rubric), sessions, prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class InterviewType(StrEnum):
    SYSTEM_DESIGN = "system-design"
    JAVASCRIPT = "javascript"
    PYTHON = "python"
    DATA_STRUCTURES = "data-structures"
    BEHAVIORAL = "behavioral"


class Difficulty(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class Pace(StrEnum):
    """How quickly the interviewer comes in after the candidate pauses, and how fast it speaks.
    `moderate` is the seed's name for the middle pace; `normal` is kept as its synonym."""

    RELAXED = "relaxed"
    MODERATE = "moderate"
    NORMAL = "normal"
    FAST = "fast"


class FollowUpStyle(StrEnum):
    SUPPORTIVE = "supportive"
    PROBING = "probing"
    DEEP_DIVE = "deep-dive"  # the seed's: stays on one answer and goes several levels deeper
    CHALLENGING = "challenging"


class Language(StrEnum):
    """What the candidate hears and speaks: the interviewer's voice, its words and the transcriber.
    `en` (the seed's) is English with no regional accent preference."""

    EN = "en"
    EN_IN = "en-IN"
    EN_US = "en-US"
    EN_GB = "en-GB"
    HI_IN = "hi-IN"


class Voice(StrEnum):
    FEMALE = "female"
    MALE = "male"
    NEUTRAL = "neutral"


class SessionStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    IN_CALL = "in_call"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PAYMENT_FAILED = "payment_failed"
    CALL_FAILED = "call_failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    FAILED = "failed"


class QuestionSource(StrEnum):
    AI = "ai"
    FALLBACK = "fallback"


#: Minutes on sale, and how many questions each holds. System design questions take twice as long.
QUESTIONS_PER_DURATION: dict[int, int] = {15: 3, 20: 4, 30: 5, 45: 7}
ALLOWED_DURATIONS: tuple[int, ...] = tuple(QUESTIONS_PER_DURATION)
MAX_FOCUS_AREAS = 5
MAX_FOCUS_AREA_LENGTH = 60
MAX_REQUIREMENTS_LENGTH = 1000

_CONTROL = {chr(c) for c in range(32)} - {"\n", "\t"} | {"\x7f"}


def _no_control_characters(value: str) -> str:
    if any(ch in _CONTROL for ch in value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


FocusArea = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FOCUS_AREA_LENGTH),
    AfterValidator(_no_control_characters),
]
FreeText = Annotated[
    str, StringConstraints(max_length=MAX_REQUIREMENTS_LENGTH), AfterValidator(_no_control_characters)
]


class InterviewConfig(BaseModel):
    """What a candidate chooses. Also the body of POST /interviews/setup: unknown fields are refused,
    so a client can never smuggle in a price, a status or an owner."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False
    )

    type: InterviewType
    difficulty: Difficulty
    duration: int = Field(
        strict=True,
        description=f"minutes, one of {list(ALLOWED_DURATIONS)}",
        examples=[20],
        json_schema_extra={"enum": list(ALLOWED_DURATIONS)},
    )
    focus_areas: list[FocusArea] = Field(default_factory=list, max_length=MAX_FOCUS_AREAS)
    specific_requirements: FreeText = ""
    language: Language = Language.EN_IN
    voice: Voice = Voice.FEMALE
    pace: Pace = Pace.MODERATE
    follow_up_style: FollowUpStyle = FollowUpStyle.PROBING

    @field_validator("duration")
    @classmethod
    def _allowed_duration(cls, value: int) -> int:
        if value not in QUESTIONS_PER_DURATION:
            raise PydanticCustomError(
                "duration_not_allowed",
                "must be one of {allowed}",
                {"allowed": ", ".join(map(str, ALLOWED_DURATIONS))},
            )
        return value

    @property
    def question_count(self) -> int:
        count = QUESTIONS_PER_DURATION[self.duration]
        if self.type is InterviewType.SYSTEM_DESIGN:
            return max(1, (count + 1) // 2)
        return count


@dataclass(frozen=True, slots=True)
class Question:
    """A question with its rubric. The rubric (expected_key_points, follow_ups) never leaves the server
    before the report: `public()` is the only view a candidate gets."""

    position: int
    text: str
    topics: tuple[str, ...]
    estimated_minutes: int
    expected_key_points: tuple[str, ...]
    follow_ups: tuple[str, ...]

    def public(self) -> PublicQuestion:
        return PublicQuestion(
            position=self.position,
            text=self.text,
            topics=self.topics,
            estimated_minutes=self.estimated_minutes,
        )


@dataclass(frozen=True, slots=True)
class PublicQuestion:
    position: int
    text: str
    topics: tuple[str, ...]
    estimated_minutes: int


@dataclass(frozen=True, slots=True)
class Price:
    amount: int  # paise
    currency: str

    @property
    def display(self) -> str:
        symbol = {"INR": "₹"}.get(self.currency, self.currency + " ")
        whole, fraction = divmod(self.amount, 100)
        return f"{symbol}{whole:,}" if fraction == 0 else f"{symbol}{whole:,}.{fraction:02d}"


@dataclass(frozen=True, slots=True)
class SessionError:
    code: str
    user_message: str
    recoverable: bool


@dataclass(frozen=True, slots=True)
class GeneratedQuestions:
    questions: tuple[Question, ...]
    source: QuestionSource
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: str
    status: SessionStatus
    config: InterviewConfig
    price: Price
    question_source: QuestionSource
    created_at: datetime
    updated_at: datetime
    questions: tuple[Question, ...] = field(default=())
    question_model: str | None = None
    error: SessionError | None = None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A row of the history: what the list shows, without questions."""

    id: str
    status: SessionStatus
    type: InterviewType
    difficulty: Difficulty
    duration: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    session_id: str
    amount: int
    currency: str
    status: str  # created | paid


class PaymentStatus(StrEnum):
    """Razorpay's payment states. Only a CAPTURED payment pays a session: a Checkout signature proves
    authorization only. CREATED (not yet authorized) is what the API may answer; it is never stored."""

    CREATED = "created"
    FAILED = "failed"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"  # refunds adding up to the whole captured amount; a partial one stays CAPTURED

    @property
    def rank(self) -> int:
        """Payment states only move up: a late `payment.failed` never undoes an authorization or a
        capture, and a late authorization (after a failure) still counts."""
        return {"created": 0, "failed": 1, "authorized": 2, "captured": 3, "refunded": 4}[self.value]


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """What Razorpay (a webhook, or the payment fetched from its API) says about one payment."""

    payment_id: str
    order_id: str
    status: PaymentStatus
    amount: int
    currency: str
    method: str | None = None
    error_code: str | None = None
    error_description: str | None = None


@dataclass(frozen=True, slots=True)
class RefundEvent:
    refund_id: str
    payment_id: str
    amount: int
    status: str  # created | processed | failed


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """A signed provider event the flow does not act on (answered 2xx); `reason` is logged."""

    reason: str


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A Razorpay webhook as the flow reads it: its event type and what it says (adapters/razorpay_events)."""

    event_type: str
    event: PaymentEvent | RefundEvent | IgnoredEvent


@dataclass(frozen=True, slots=True)
class Utterance:
    role: str  # "assistant" | "user"
    text: str
    seconds_from_start: float | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """An ended call as Vapi reports it (end-of-call-report or GET /call/{id})."""

    call_id: str
    ended_reason: str | None
    transcript: str
    messages: tuple[Utterance, ...]
    recording_url: str | None
    cost_usd: float | None
    duration_s: float | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Everything the voice provider needs to run the interview; built on the server only."""

    session_id: str
    config: InterviewConfig
    questions: tuple[Question, ...]
    max_duration_s: int


@dataclass(frozen=True, slots=True)
class StartedCall:
    call_id: str
    web_call_url: str
