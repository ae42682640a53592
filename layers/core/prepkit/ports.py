"""Ports: the small interfaces the domain needs from the outside world. Adapters implement them;
tests use fakes that behave."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    GeneratedQuestions,
    InterviewConfig,
    Order,
    PaymentEvent,
    PaymentStatus,
    Price,
    Question,
    RefundEvent,
    Session,
    SessionError,
    SessionStatus,
    SessionSummary,
    StartedCall,
    Utterance,
)
from prepkit.domain.report import StoredReport


class QuestionGenerator(Protocol):
    """Writes `count` questions with rubric for a config. Raises QuestionGenerationFailed.
    `seed` is the session id: it seeds the bank's choice and tags the AI usage recorded."""

    def generate(self, config: InterviewConfig, count: int, *, seed: str) -> GeneratedQuestions: ...


AiPurpose = Literal["questions", "report"]
AiOutcome = Literal["ok", "invalid", "blocked", "truncated", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class AiUsage:
    """One LLM attempt, successful or not: what it cost and how it ended."""

    session_id: str
    purpose: AiPurpose
    model: str
    outcome: AiOutcome
    input_tokens: int
    output_tokens: int  # what bills at the output rate: the answer plus thinking
    thinking_tokens: int
    cost_usd: float
    duration_ms: int
    detail: str | None = None  # the failure's reason (rate_limited, max_tokens, safety, ...)


class AiUsageLog(Protocol):
    def record(self, usage: AiUsage) -> None: ...


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


# --- payments, calls, reports and the pipeline ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session row as the payment/call/pipeline flow sees it (read under a row lock)."""

    id: str
    user_id: str
    status: SessionStatus
    price: Price
    retakes_used: int
    pipeline_step: str | None
    pipeline_token: str | None
    pipeline_started: bool
    pipeline_restarts: int = 0  # executions the reconciler started after the first (named <id>-r<N>)
    paid_age_s: float | None = None  # seconds since the session was paid (None: not paid)


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    session_id: str
    attempt: int
    status: str  # created | in_progress | ended
    web_call_url: str | None
    ended_reason: str | None
    duration_s: float | None
    messages: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class RefundRow:
    idempotency_key: str
    payment_id: str
    refund_id: str | None
    amount: int
    status: str


# One database transaction (the unit of work) of the flow, as small ports per aggregate: each aggregate
# (domain/payments.py, calls.py, pipeline_tasks.py, reconcile.py) names only the records it uses, and one
# FlowTransaction holds them all. Every method runs inside the transaction.


class SessionRecords(Protocol):
    """The session row: its status and its pipeline's marks."""

    def lock_session(self, session_id: str, *, lock: bool = True) -> SessionState | None:
        """The session, row-locked (FOR UPDATE) until the transaction ends unless lock=False."""
        ...

    def session_config(self, session_id: str) -> tuple[InterviewConfig, tuple[Question, ...]]: ...
    def set_status(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        error: SessionError | None = None,
        stamp: str | None = None,
        retakes_used: int | None = None,
    ) -> None: ...
    def set_pipeline_token(self, session_id: str, step: str | None, token: str | None) -> None: ...
    def mark_pipeline_started(self, session_id: str) -> None: ...
    def set_pipeline_restarts(self, session_id: str, restarts: int) -> None:
        """A new execution is due: counts it, and clears the started mark and any parked token."""
        ...


class ReconcilerRecords(Protocol):
    """What the reconciler looks for."""

    def unsent_extra_refunds(self, *, older_than_s: int, limit: int) -> list[tuple[RefundRow, str]]:
        """Extra-payment refunds recorded but never sent (by a function without a refund key), older
        than older_than_s, with their session id."""
        ...

    def unfinished_sessions(self, *, idle_s: int, limit: int) -> list[str]:
        """Paid-or-later sessions not in a final status, untouched for idle_s, least recently checked
        first; each one returned is marked checked now (so successive runs go round all of them)."""
        ...


class EventRecords(Protocol):
    """Provider events as received: the dedupe of webhooks."""

    def record_event(self, provider: str, event_id: str, event_type: str, raw_body: str) -> bool:
        """False when this event was already recorded (a duplicate delivery)."""
        ...


class PaymentRecords(Protocol):
    """Orders, payments and refunds."""

    def get_order(self, order_id: str) -> tuple[Order, str] | None:
        """The order and its owner's user id."""
        ...

    def open_order(self, session_id: str) -> Order | None: ...
    def insert_order(self, order: Order, user_id: str) -> None: ...
    def apply_payment(self, event: PaymentEvent, session_id: str, user_id: str) -> PaymentStatus:
        """Upserts the payment, moving its status only upwards; returns the status it now has."""
        ...

    def claim_session(self, payment_id: str, session_id: str, *, payable: bool) -> bool:
        """True when this captured payment is the one that pays the session: it already was, or no
        payment does yet and the session is `payable`. False: an extra payment (to be refunded)."""
        ...

    def clear_payment_error(self, session_id: str) -> None:
        """Removes a stale PAYMENT_FAILED error block (a later payment succeeded)."""
        ...

    def captured_payment(self, session_id: str) -> tuple[str, int] | None:
        """The payment that paid the session and the amount of it not yet refunded."""
        ...

    def get_refund(self, idempotency_key: str) -> RefundRow | None: ...
    def insert_refund(self, row: RefundRow, session_id: str, reason: str) -> None: ...
    def update_refund(self, idempotency_key: str, refund_id: str, status: str) -> bool:
        """Records the provider's answer; True when this call first gave the row its refund id."""
        ...

    def apply_refund_event(self, event: RefundEvent) -> str | None:
        """Records the provider's refund state; returns the session id it belongs to, if known.
        A payment becomes refunded only when its processed refunds add up to the whole amount."""
        ...


class CallRecords(Protocol):
    """A call row per attempt."""

    def latest_call(self, session_id: str) -> CallRow | None: ...
    def insert_call(self, session_id: str, attempt: int, started: StartedCall) -> None: ...
    def call_session(self, call_id: str) -> str | None: ...
    def set_call_in_progress(self, call_id: str) -> None: ...
    def store_call_end(self, record: CallRecord) -> bool:
        """False when this call's end was already stored (a duplicate)."""
        ...


class ReportRecords(Protocol):
    def insert_report(self, session_id: str, report: StoredReport) -> bool: ...
    def get_report(self, session_id: str) -> StoredReport | None: ...


class PaymentsTransaction(SessionRecords, EventRecords, PaymentRecords, Protocol): ...


class CallsTransaction(SessionRecords, EventRecords, CallRecords, Protocol): ...


class TasksTransaction(SessionRecords, CallRecords, ReportRecords, Protocol): ...


class ReconcilerTransaction(SessionRecords, ReconcilerRecords, Protocol): ...


class FlowTransaction(
    SessionRecords, ReconcilerRecords, EventRecords, PaymentRecords, CallRecords, ReportRecords, Protocol
):
    """The whole unit of work: what the adapters (PostgreSQL, the tests' in-memory fake) implement."""


Tx_co = TypeVar("Tx_co", covariant=True)


class UnitOfWork(Protocol[Tx_co]):
    """`with uow.transaction() as tx`: one transaction, committed when the block ends, else rolled back."""

    def transaction(self) -> AbstractContextManager[Tx_co]: ...


class FlowRepository(Protocol):
    def transaction(self) -> AbstractContextManager[FlowTransaction]: ...


class PaymentsGateway(Protocol):
    """Razorpay (or its offline simulator). Raises PaymentFailed when the provider fails."""

    key_id: str

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:
        """Creates an order asking for automatic capture; returns its id."""
        ...

    def fetch_payment(self, payment_id: str) -> PaymentEvent:
        """The payment as Razorpay has it now (status, order id, amount, currency)."""
        ...

    def refund(
        self, *, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> tuple[str, str]:
        """Returns (refund id, status)."""
        ...


class VoiceGateway(Protocol):
    """Vapi (or the offline call simulator). Raises VoiceUnavailable when the provider fails."""

    def create_web_call(self, plan: CallPlan) -> StartedCall:
        """A call the browser can join. A call the provider created but whose answer is unusable (no
        room URL, malformed) is ended by the gateway before it raises VoiceUnavailable."""
        ...

    def get_call(self, call_id: str) -> CallRecord | None:
        """The call once it has ended; None while it is still going."""
        ...

    def end_call(self, call_id: str) -> bool:
        """Ends a live call (one we created but could not use). Best effort, with a short timeout:
        never raises; False when the call could not be ended (the caller logs and counts it)."""
        ...


class ReportWriter(Protocol):
    """Writes the report from the transcript. Raises ReportTransient (retry) or ReportFailed.
    `session_id` tags the AI usage recorded for the attempt."""

    def write(
        self,
        config: InterviewConfig,
        questions: tuple[Question, ...],
        messages: tuple[Utterance, ...],
        *,
        session_id: str,
    ) -> StoredReport: ...


ExecutionStatus = Literal["running", "ended"]


class Workflow(Protocol):
    """The interview pipeline (Step Functions)."""

    def start(self, name: str, payload: dict[str, object]) -> bool:
        """Starts the execution `name` (the session id, or <session id>-r<N> for a restart).
        False when an execution of that name already exists (whatever its status)."""
        ...

    def status(self, name: str) -> ExecutionStatus | None:
        """running, or ended (succeeded, failed, timed out, aborted); None when no such execution exists."""
        ...

    def resume(self, task_token: str, output: dict[str, object]) -> bool:
        """False when the task had already finished (a repeat)."""
        ...
