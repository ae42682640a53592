"""In-memory fakes of every port InterviewFlow uses, for unit tests of the money rules in milliseconds.

InMemoryFlowRepository behaves as PostgresFlowRepository (adapters/postgres_flow.py) does: a transaction
sees its own writes and is rolled back whole when it raises; upserts are insert-or-nothing; payment states
only move up; refunds add up per payment (refunded once the processed ones cover the amount); one paying
payment per session; one call row per (session, attempt); provider events deduplicated by
(provider, event id). Row locks are not modelled: the tests run one thread, so every transaction is
serialised anyway. The clock is `now` (seconds), advanced by the tests."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from prepkit.domain.errors import PaymentFailed, VoiceUnavailable
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    InterviewConfig,
    Order,
    PaymentEvent,
    PaymentStatus,
    Price,
    Question,
    RefundEvent,
    SessionError,
    SessionStatus,
    StartedCall,
    Utterance,
)
from prepkit.domain.report import StoredReport
from prepkit.domain.scoring import score_transcript
from prepkit.ports import CallRow, ExecutionStatus, RefundRow, SessionState

PRICE = Price(14900, "INR")
_REFUND_RANK = {"requested": 0, "created": 1, "processed": 2, "failed": 2}
_STAMPS = {"paid_at", "started_at", "completed_at"}
_UNFINISHED = {"paid", "in_call", "call_failed", "processing", "expired", "failed"}


class UniqueViolation(Exception):
    """What PostgreSQL raises for a duplicate key (psycopg.errors.UniqueViolation)."""


@dataclass
class SessionRow:
    id: str
    user_id: str
    status: SessionStatus
    price: Price
    config: InterviewConfig
    questions: tuple[Question, ...]
    updated_at: float
    retakes_used: int = 0
    pipeline_step: str | None = None
    pipeline_token: str | None = None
    pipeline_started: bool = False
    pipeline_restarts: int = 0
    error: SessionError | None = None
    stamps: dict[str, float] = field(default_factory=dict)
    reconcile_checked_at: float | None = None


@dataclass
class PaymentRow:
    payment_id: str
    order_id: str
    session_id: str
    user_id: str
    amount: int
    currency: str
    status: PaymentStatus
    method: str | None
    error_code: str | None
    error_description: str | None
    pays_session: bool = False
    amount_refunded: int = 0


@dataclass
class StoredRefund:
    idempotency_key: str
    session_id: str
    payment_id: str
    refund_id: str | None
    amount: int
    status: str
    reason: str
    created_at: float


@dataclass
class StoredCall:
    call_id: str
    session_id: str
    attempt: int
    status: str
    web_call_url: str | None
    ended_reason: str | None = None
    duration_s: float | None = None
    messages: tuple[Utterance, ...] = ()
    cost_usd: float | None = None


@dataclass
class FlowData:
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    orders: dict[str, tuple[Order, str, int]] = field(default_factory=dict)  # order, user, created seq
    payments: dict[str, PaymentRow] = field(default_factory=dict)
    refunds: dict[str, StoredRefund] = field(default_factory=dict)
    calls: dict[str, StoredCall] = field(default_factory=dict)
    events: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    reports: dict[str, StoredReport] = field(default_factory=dict)


class InMemoryFlowRepository:
    def __init__(self) -> None:
        self.data = FlowData()
        self.now = 1_800_000_000.0
        self.transactions = 0  # committed or not
        self.transitions: list[tuple[SessionStatus, SessionStatus]] = []  # committed status changes
        self.fail_next: list[Exception] = []  # raised when a transaction starts (a database outage)
        self._seq = itertools.count()

    def seq(self) -> int:
        return next(self._seq)

    @contextmanager
    def transaction(self) -> Iterator[InMemoryFlowTransaction]:
        self.transactions += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        working = copy.deepcopy(self.data)
        tx = InMemoryFlowTransaction(self, working)
        yield tx
        self.data = working  # committed only when the block did not raise
        self.transitions += tx.transitions

    # -- test setup ------------------------------------------------------------------------------
    def add_session(
        self,
        session_id: str,
        user_id: str,
        config: InterviewConfig,
        questions: tuple[Question, ...],
        price: Price = PRICE,
        status: SessionStatus = SessionStatus.PENDING_PAYMENT,
    ) -> None:
        assert session_id not in self.data.sessions
        self.data.sessions[session_id] = SessionRow(
            session_id, user_id, status, price, config, questions, updated_at=self.now
        )


class InMemoryFlowTransaction:
    def __init__(self, repo: InMemoryFlowRepository, data: FlowData):
        self._repo = repo
        self._d = data
        self.transitions: list[tuple[SessionStatus, SessionStatus]] = []

    @property
    def _now(self) -> float:
        return self._repo.now

    # -- sessions --------------------------------------------------------------------------------
    def lock_session(self, session_id: str, *, lock: bool = True) -> SessionState | None:  # noqa: ARG002
        s = self._d.sessions.get(session_id)
        if s is None:
            return None
        paid_at = s.stamps.get("paid_at")
        return SessionState(
            id=s.id,
            user_id=s.user_id,
            status=s.status,
            price=s.price,
            retakes_used=s.retakes_used,
            pipeline_step=s.pipeline_step,
            pipeline_token=s.pipeline_token,
            pipeline_started=s.pipeline_started,
            pipeline_restarts=s.pipeline_restarts,
            paid_age_s=None if paid_at is None else self._now - paid_at,
        )

    def session_config(self, session_id: str) -> tuple[InterviewConfig, tuple[Question, ...]]:
        s = self._d.sessions[session_id]
        return s.config, s.questions

    def set_status(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        error: SessionError | None = None,
        stamp: str | None = None,
        retakes_used: int | None = None,
    ) -> None:
        s = self._d.sessions.get(session_id)
        if s is None:
            return
        if s.status is not status:
            self.transitions.append((s.status, status))
        s.status, s.updated_at = status, self._now
        if error is not None:
            s.error = error
        if stamp is not None:
            assert stamp in _STAMPS
            s.stamps.setdefault(stamp, self._now)  # coalesce(stamp, now())
        if retakes_used is not None:
            s.retakes_used = retakes_used

    def set_pipeline_token(self, session_id: str, step: str | None, token: str | None) -> None:
        s = self._d.sessions.get(session_id)
        if s is not None:
            s.pipeline_step, s.pipeline_token = step, token

    def mark_pipeline_started(self, session_id: str) -> None:
        s = self._d.sessions.get(session_id)
        if s is not None:
            s.pipeline_started = True

    def set_pipeline_restarts(self, session_id: str, restarts: int) -> None:
        s = self._d.sessions.get(session_id)
        if s is not None:
            s.pipeline_restarts, s.pipeline_started = restarts, False
            s.pipeline_step = s.pipeline_token = None

    def unsent_extra_refunds(self, *, older_than_s: int, limit: int) -> list[tuple[RefundRow, str]]:
        rows = sorted(
            (
                r
                for r in self._d.refunds.values()
                if r.refund_id is None
                and r.created_at <= self._now - older_than_s
                and r.idempotency_key.startswith("refund-extra-")
            ),
            key=lambda r: r.created_at,
        )[:limit]
        return [
            (RefundRow(r.idempotency_key, r.payment_id, None, r.amount, r.status), r.session_id) for r in rows
        ]

    def unfinished_sessions(self, *, idle_s: int, limit: int) -> list[str]:
        due = sorted(
            (
                s
                for s in self._d.sessions.values()
                if s.status.value in _UNFINISHED and s.updated_at <= self._now - idle_s
            ),
            key=lambda s: (s.reconcile_checked_at is not None, s.reconcile_checked_at or 0.0),
        )[:limit]
        for s in due:
            s.reconcile_checked_at = self._now
        return [s.id for s in due]

    def record_event(self, provider: str, event_id: str, event_type: str, raw_body: str) -> bool:
        key = (provider, event_id)
        if key in self._d.events:  # ON CONFLICT DO NOTHING
            return False
        self._d.events[key] = (event_type, raw_body)
        return True

    # -- orders and payments ---------------------------------------------------------------------
    def get_order(self, order_id: str) -> tuple[Order, str] | None:
        found = self._d.orders.get(order_id)
        return None if found is None else (found[0], found[1])

    def open_order(self, session_id: str) -> Order | None:
        open_ = [
            (seq, o)
            for o, _, seq in self._d.orders.values()
            if o.session_id == session_id and o.status == "created"
        ]
        return max(open_, key=lambda t: t[0])[1] if open_ else None

    def insert_order(self, order: Order, user_id: str) -> None:
        if order.order_id in self._d.orders:
            raise UniqueViolation(order.order_id)
        self._d.orders[order.order_id] = (order, user_id, self._repo.seq())

    def apply_payment(self, event: PaymentEvent, session_id: str, user_id: str) -> PaymentStatus:
        p = self._d.payments.get(event.payment_id)
        if p is None:  # insert-or-nothing, then only upwards
            if event.order_id not in self._d.orders:  # REFERENCES payment_orders
                raise ValueError(f"no order {event.order_id}")
            p = PaymentRow(
                event.payment_id,
                event.order_id,
                session_id,
                user_id,
                event.amount,
                event.currency,
                event.status,
                event.method,
                event.error_code,
                event.error_description,
            )
            self._d.payments[event.payment_id] = p
        elif event.status.rank > p.status.rank:
            p.status = event.status
            p.method = event.method if event.method is not None else p.method
        if p.status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED):
            found = self._d.orders.get(event.order_id)
            if found is not None:
                order, owner, seq = found
                self._d.orders[event.order_id] = (
                    Order(order.order_id, order.session_id, order.amount, order.currency, "paid"),
                    owner,
                    seq,
                )
        return p.status

    def claim_session(self, payment_id: str, session_id: str, *, payable: bool) -> bool:
        paying = [p for p in self._d.payments.values() if p.session_id == session_id and p.pays_session]
        if paying:
            return paying[0].payment_id == payment_id
        if not payable:
            return False
        p = self._d.payments.get(payment_id)
        if p is None or p.session_id != session_id or p.status is not PaymentStatus.CAPTURED:
            return False
        p.pays_session = True
        return True

    def clear_payment_error(self, session_id: str) -> None:
        s = self._d.sessions.get(session_id)
        if s is not None and s.error is not None and s.error.code == "PAYMENT_FAILED":
            s.error, s.updated_at = None, self._now

    def captured_payment(self, session_id: str) -> tuple[str, int] | None:
        for p in self._d.payments.values():
            if p.session_id == session_id and p.pays_session:
                return p.payment_id, p.amount - p.amount_refunded
        return None

    def _add_up_refunds(self, payment_id: str) -> None:
        p = self._d.payments.get(payment_id)
        if p is None:
            return
        total = sum(
            r.amount
            for r in self._d.refunds.values()
            if r.payment_id == payment_id and r.status == "processed"
        )
        if total != p.amount_refunded:
            p.amount_refunded = total
            if total >= p.amount:
                p.status = PaymentStatus.REFUNDED

    # -- refunds ---------------------------------------------------------------------------------
    def get_refund(self, idempotency_key: str) -> RefundRow | None:
        r = self._d.refunds.get(idempotency_key)
        if r is None:
            return None
        return RefundRow(r.idempotency_key, r.payment_id, r.refund_id, r.amount, r.status)

    def insert_refund(self, row: RefundRow, session_id: str, reason: str) -> None:
        if row.payment_id not in self._d.payments:  # REFERENCES payments
            raise ValueError(f"no payment {row.payment_id}")
        taken = row.refund_id is not None and any(
            r.refund_id == row.refund_id for r in self._d.refunds.values()
        )
        if row.idempotency_key in self._d.refunds or taken:  # ON CONFLICT DO NOTHING (either key)
            return
        self._d.refunds[row.idempotency_key] = StoredRefund(
            row.idempotency_key,
            session_id,
            row.payment_id,
            row.refund_id,
            row.amount,
            row.status,
            reason,
            self._now,
        )
        if row.status == "processed":
            self._add_up_refunds(row.payment_id)

    def update_refund(self, idempotency_key: str, refund_id: str, status: str) -> bool:
        r = self._d.refunds.get(idempotency_key)
        if r is None:
            return False
        first = r.refund_id is None
        keep = _REFUND_RANK[r.status] >= _REFUND_RANK[status]
        if r.refund_id is None:
            if any(o.refund_id == refund_id for o in self._d.refunds.values()):  # refund_id UNIQUE
                raise UniqueViolation(refund_id)
            r.refund_id = refund_id
        if not keep:
            r.status = status
            if status == "processed":
                self._add_up_refunds(r.payment_id)
        return first

    def apply_refund_event(self, event: RefundEvent) -> str | None:
        mine = [r for r in self._d.refunds.values() if r.refund_id == event.refund_id]
        unsent = [
            r for r in self._d.refunds.values() if r.refund_id is None and r.payment_id == event.payment_id
        ]
        candidates = mine or unsent  # ORDER BY refund_id NULLS LAST LIMIT 1
        row = candidates[0] if candidates else None
        if row is None:
            p = self._d.payments.get(event.payment_id)
            if p is None:
                return None
            self.insert_refund(
                RefundRow(
                    f"external-{event.refund_id}",
                    event.payment_id,
                    event.refund_id,
                    event.amount,
                    event.status,
                ),
                p.session_id,
                "refunded outside the pipeline",
            )
            return p.session_id
        self.update_refund(row.idempotency_key, event.refund_id, event.status)
        return row.session_id

    # -- calls -----------------------------------------------------------------------------------
    def latest_call(self, session_id: str) -> CallRow | None:
        mine = [c for c in self._d.calls.values() if c.session_id == session_id]
        if not mine:
            return None
        c = max(mine, key=lambda c: c.attempt)
        return CallRow(
            c.call_id,
            c.session_id,
            c.attempt,
            c.status,
            c.web_call_url,
            c.ended_reason,
            c.duration_s,
            c.messages,
        )

    def insert_call(self, session_id: str, attempt: int, started: StartedCall) -> None:
        clash = started.call_id in self._d.calls or any(
            c.session_id == session_id and c.attempt == attempt for c in self._d.calls.values()
        )
        if clash:
            raise UniqueViolation(f"call {started.call_id} / attempt {attempt}")
        self._d.calls[started.call_id] = StoredCall(
            started.call_id, session_id, attempt, "created", started.web_call_url
        )

    def call_session(self, call_id: str) -> str | None:
        c = self._d.calls.get(call_id)
        return c.session_id if c else None

    def set_call_in_progress(self, call_id: str) -> None:
        c = self._d.calls.get(call_id)
        if c is not None and c.status == "created":
            c.status = "in_progress"

    def store_call_end(self, record: CallRecord) -> bool:
        c = self._d.calls.get(record.call_id)
        if c is None or c.status == "ended":
            return False
        c.status, c.ended_reason, c.duration_s = "ended", record.ended_reason, record.duration_s
        c.messages, c.cost_usd = record.messages, record.cost_usd
        return True

    # -- reports ---------------------------------------------------------------------------------
    def insert_report(self, session_id: str, report: StoredReport) -> bool:
        if session_id in self._d.reports:
            return False
        self._d.reports[session_id] = report
        return True

    def get_report(self, session_id: str) -> StoredReport | None:
        return self._d.reports.get(session_id)


# == the providers =================================================================================


@dataclass
class FakePayments:
    """Razorpay's API as the flow uses it. A refund is idempotent per key, as Razorpay's is."""

    key_id: str = "rzp_test_fake"
    payments: dict[str, PaymentEvent] = field(default_factory=dict)  # what fetch_payment answers
    refund_status: str = "processed"
    fail: list[Exception] = field(default_factory=list)  # raised by the next calls, one each
    orders: list[tuple[int, str, str]] = field(default_factory=list)
    refunds: dict[str, tuple[str, str, int]] = field(
        default_factory=dict
    )  # key -> (refund id, payment, amount)
    refund_calls: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _maybe_fail(self) -> None:
        if self.fail:
            raise self.fail.pop(0)

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:  # noqa: ARG002
        self._maybe_fail()
        order_id = f"order_{next(self._ids):014d}"
        self.orders.append((amount, currency, order_id))
        return order_id

    def fetch_payment(self, payment_id: str) -> PaymentEvent:
        self._maybe_fail()
        if payment_id not in self.payments:
            raise PaymentFailed("no such payment")
        return self.payments[payment_id]

    def refund(
        self,
        *,
        payment_id: str,
        amount: int,
        idempotency_key: str,
        notes: dict[str, str],  # noqa: ARG002
    ) -> tuple[str, str]:
        self.refund_calls += 1
        self._maybe_fail()
        if idempotency_key not in self.refunds:
            self.refunds[idempotency_key] = (f"rfnd_{next(self._ids):014d}", payment_id, amount)
        return self.refunds[idempotency_key][0], self.refund_status

    def refunded(self, payment_id: str) -> int:
        return sum(a for _, p, a in self.refunds.values() if p == payment_id)


@dataclass
class FakeVoice:
    ended_calls: dict[str, CallRecord] = field(default_factory=dict)  # what get_call answers
    created: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # end_call requests
    fail_create: bool = False
    fail_get: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def create_web_call(self, plan: CallPlan) -> StartedCall:  # noqa: ARG002
        if self.fail_create:
            raise VoiceUnavailable("voice provider down")
        call_id = f"call-{next(self._ids)}"
        self.created.append(call_id)
        return StartedCall(call_id, f"https://rooms.example/{call_id}")

    def get_call(self, call_id: str) -> CallRecord | None:
        if self.fail_get:
            raise VoiceUnavailable("voice provider down")
        return self.ended_calls.get(call_id)

    def end_call(self, call_id: str) -> bool:
        self.ended.append(call_id)
        return True

    def live(self) -> list[str]:
        return [c for c in self.created if c not in self.ended]


@dataclass
class FakeWorkflow:
    """Step Functions: executions by name (a name, once used, is refused), task tokens resumed once."""

    executions: dict[str, ExecutionStatus] = field(default_factory=dict)
    payloads: dict[str, dict[str, object]] = field(default_factory=dict)
    open_tokens: set[str] = field(default_factory=set)
    resumed: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    fail_start: list[Exception] = field(default_factory=list)

    def start(self, name: str, payload: dict[str, object]) -> bool:
        if self.fail_start:
            raise self.fail_start.pop(0)
        if name in self.executions:
            return False
        self.executions[name] = "running"
        self.payloads[name] = payload
        return True

    def status(self, name: str) -> ExecutionStatus | None:
        return self.executions.get(name)

    def resume(self, task_token: str, output: dict[str, object]) -> bool:
        if task_token not in self.open_tokens:
            return False
        self.open_tokens.discard(task_token)
        self.resumed.append((task_token, output))
        return True

    def token(self, name: str) -> str:
        """A task token a waiting task of the pipeline holds."""
        self.open_tokens.add(name)
        return name


@dataclass
class FakeReportWriter:
    """The offline scorer as the AI writer, counting its calls; `fail` raises instead."""

    fail: list[Exception] = field(default_factory=list)
    calls: int = 0

    def write(
        self,
        config: InterviewConfig,
        questions: tuple[Question, ...],
        messages: tuple[Utterance, ...],
        *,
        session_id: str,  # noqa: ARG002
    ) -> StoredReport:
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        return score_transcript(config, questions, messages)
