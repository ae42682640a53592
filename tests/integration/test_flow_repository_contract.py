"""The in-memory FlowRepository the unit tests of the money rules use (tests/unit/flow_fakes.py) and the
PostgreSQL one (adapters/postgres_flow.py) pass the same assertions: upserts, payment states only moving
up, one paying payment per session, refunds adding up, event dedupe, call rows per attempt, rollback.
Where the two could disagree, a unit test over the fake would prove nothing about production."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from prepkit.adapters.postgres import PostgresSessionRepository
from prepkit.adapters.postgres_flow import PostgresFlowRepository
from prepkit.adapters.question_bank import QuestionBank
from prepkit.domain.models import (
    CallRecord,
    InterviewConfig,
    Order,
    PaymentEvent,
    PaymentStatus,
    Price,
    QuestionSource,
    RefundEvent,
    Session,
    SessionStatus,
    StartedCall,
    Utterance,
)
from prepkit.ports import FlowRepository, RefundRow
from tests.unit.flow_fakes import InMemoryFlowRepository, UniqueViolation

S = SessionStatus
CONFIG = InterviewConfig.model_validate({"type": "python", "difficulty": "medium", "duration": 20})
PRICE = Price(14900, "INR")


@dataclass
class Store:
    repo: FlowRepository
    add_session: Callable[[], str]


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    questions = QuestionBank().generate(CONFIG, 4, seed="contract").questions
    if request.param == "memory":
        memory = InMemoryFlowRepository()

        def add_memory() -> str:
            sid = str(uuid.uuid4())
            memory.add_session(sid, "alice", CONFIG, questions, PRICE)
            return sid

        yield Store(memory, add_memory)
        return
    request.getfixturevalue("db")  # emptied tables
    pool: ConnectionPool = request.getfixturevalue("pool")
    sessions = PostgresSessionRepository(pool)

    def add_postgres() -> str:
        sid = str(uuid.uuid4())
        now = datetime.now(UTC)
        sessions.create_session(
            Session(
                sid, "alice", S.PENDING_PAYMENT, CONFIG, PRICE, QuestionSource.FALLBACK, now, now, questions
            )
        )
        return sid

    yield Store(PostgresFlowRepository(pool), add_postgres)


def paid_order(store: Store, order_id: str) -> str:
    sid = store.add_session()
    with store.repo.transaction() as tx:
        tx.insert_order(Order(order_id, sid, PRICE.amount, PRICE.currency, "created"), "alice")
    return sid


def event(payment_id: str, order_id: str, status: PaymentStatus, amount: int = 14900) -> PaymentEvent:
    return PaymentEvent(payment_id, order_id, status, amount, "INR", "upi")


def test_payment_states_only_move_up_and_a_capture_closes_the_order(store: Store) -> None:
    order_id = f"order_{uuid.uuid4().hex[:14]}"
    sid = paid_order(store, order_id)
    steps = [
        (PaymentStatus.FAILED, PaymentStatus.FAILED),
        (PaymentStatus.AUTHORIZED, PaymentStatus.AUTHORIZED),  # a late authorization after a failure
        (PaymentStatus.FAILED, PaymentStatus.AUTHORIZED),
        (PaymentStatus.CAPTURED, PaymentStatus.CAPTURED),
        (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED),  # never undone
        (PaymentStatus.FAILED, PaymentStatus.CAPTURED),
    ]
    with store.repo.transaction() as tx:
        assert tx.open_order(sid) is not None
    for given, now in steps:
        with store.repo.transaction() as tx:
            assert tx.apply_payment(event("pay_contract0001", order_id, given), sid, "alice") is now
    with store.repo.transaction() as tx:
        found = tx.get_order(order_id)
        assert found is not None and found[0].status == "paid" and found[1] == "alice"
        assert tx.open_order(sid) is None


def test_one_payment_pays_a_session(store: Store) -> None:
    order_id = f"order_{uuid.uuid4().hex[:14]}"
    sid = paid_order(store, order_id)
    with store.repo.transaction() as tx:
        tx.apply_payment(event("pay_contract0001", order_id, PaymentStatus.AUTHORIZED), sid, "alice")
        assert not tx.claim_session("pay_contract0001", sid, payable=True)  # not captured
        tx.apply_payment(event("pay_contract0001", order_id, PaymentStatus.CAPTURED), sid, "alice")
        tx.apply_payment(event("pay_contract0002", order_id, PaymentStatus.CAPTURED), sid, "alice")
        assert not tx.claim_session("pay_contract0002", sid, payable=False)
        assert tx.claim_session("pay_contract0001", sid, payable=True)
        assert tx.claim_session("pay_contract0001", sid, payable=False)  # it already pays
        assert not tx.claim_session("pay_contract0002", sid, payable=True)  # an extra
        assert tx.captured_payment(sid) == ("pay_contract0001", 14900)


def test_refunds_add_up_and_their_states_only_move_up(store: Store) -> None:
    order_id = f"order_{uuid.uuid4().hex[:14]}"
    sid = paid_order(store, order_id)
    pay = "pay_contract0003"
    with store.repo.transaction() as tx:
        tx.apply_payment(event(pay, order_id, PaymentStatus.CAPTURED), sid, "alice")
        assert tx.claim_session(pay, sid, payable=True)
    with store.repo.transaction() as tx:  # a partial refund from the dashboard, then its duplicate
        assert tx.apply_refund_event(RefundEvent("rfnd_contract01", pay, 4000, "processed")) == sid
        assert tx.apply_refund_event(RefundEvent("rfnd_contract01", pay, 4000, "processed")) == sid
        assert tx.captured_payment(sid) == (pay, 10900)
    key = f"refund-{sid}"
    with store.repo.transaction() as tx:
        tx.insert_refund(RefundRow(key, pay, None, 10900, "requested"), sid, "expired")
        tx.insert_refund(RefundRow(key, pay, None, 1, "requested"), sid, "again")  # nothing
        assert tx.get_refund(key) == RefundRow(key, pay, None, 10900, "requested")
        assert tx.apply_payment(event(pay, order_id, PaymentStatus.CAPTURED), sid, "alice") is (
            PaymentStatus.CAPTURED
        )
    with store.repo.transaction() as tx:
        assert tx.update_refund(key, "rfnd_contract02", "created")  # first gives it its id
        assert not tx.update_refund(key, "rfnd_contract02", "processed")
        assert not tx.update_refund(key, "rfnd_contract02", "created")  # never back from processed
        assert tx.get_refund(key) == RefundRow(key, pay, "rfnd_contract02", 10900, "processed")
        assert tx.captured_payment(sid) == (pay, 0)
        assert tx.apply_payment(event(pay, order_id, PaymentStatus.CAPTURED), sid, "alice") is (
            PaymentStatus.REFUNDED
        )
    with store.repo.transaction() as tx:  # an unknown payment's refund belongs to nobody
        assert tx.apply_refund_event(RefundEvent("rfnd_contract03", "pay_nobody", 100, "processed")) is None
        assert tx.get_refund("external-rfnd_contract03") is None


def test_events_are_deduplicated_per_provider(store: Store) -> None:
    with store.repo.transaction() as tx:
        assert tx.record_event("razorpay", "evt_1", "payment.captured", "{}")
        assert not tx.record_event("razorpay", "evt_1", "payment.captured", "{}")
        assert tx.record_event("vapi", "evt_1", "end-of-call-report", "not json \x00")


def test_calls_are_one_row_per_attempt_and_end_once(store: Store) -> None:
    sid = store.add_session()
    with store.repo.transaction() as tx:
        tx.insert_call(sid, 1, StartedCall("call-c1", "https://rooms.example/1"))
        tx.insert_call(sid, 2, StartedCall("call-c2", "https://rooms.example/2"))
        tx.set_call_in_progress("call-c2")
    with pytest.raises((UniqueViolation, psycopg.errors.UniqueViolation)):
        insert_call(store, sid, 2, "call-c3")
    said = (Utterance("user", "an answer", 3.0),)
    record = CallRecord("call-c2", "customer-ended-call", "an answer", said, None, 0.1, 300.0, None, None)
    with store.repo.transaction() as tx:
        assert tx.call_session("call-c3") is None and tx.call_session("call-c1") == sid
        latest = tx.latest_call(sid)
        assert latest is not None and (latest.call_id, latest.attempt, latest.status) == (
            "call-c2",
            2,
            "in_progress",
        )
        assert tx.store_call_end(record)
        assert not tx.store_call_end(record)
        latest = tx.latest_call(sid)
        assert latest is not None and (latest.status, latest.duration_s, latest.messages) == (
            "ended",
            300.0,
            said,
        )


def insert_call(store: Store, sid: str, attempt: int, call_id: str) -> None:
    with store.repo.transaction() as tx:
        tx.insert_call(sid, attempt, StartedCall(call_id, f"https://rooms.example/{call_id}"))


def pay_then_fail(store: Store, sid: str) -> None:
    with store.repo.transaction() as tx:
        tx.set_status(sid, S.PAID, stamp="paid_at")
        tx.record_event("razorpay", "evt_rollback", "x", "{}")
        raise RuntimeError("boom")


def test_a_transaction_that_raises_leaves_nothing(store: Store) -> None:
    sid = store.add_session()
    with pytest.raises(RuntimeError, match="boom"):
        pay_then_fail(store, sid)
    with store.repo.transaction() as tx:
        s = tx.lock_session(sid)
        assert s is not None and s.status is S.PENDING_PAYMENT and s.paid_age_s is None
        assert tx.record_event("razorpay", "evt_rollback", "x", "{}")


def test_session_pipeline_marks_and_the_reconcilers_view(store: Store) -> None:
    sid = store.add_session()
    with store.repo.transaction() as tx:
        assert tx.unfinished_sessions(idle_s=0, limit=10) == []  # not paid
        tx.set_status(sid, S.PAID, stamp="paid_at")
        tx.set_pipeline_token(sid, "await_candidate", "tok")
        tx.mark_pipeline_started(sid)
    with store.repo.transaction() as tx:
        s = tx.lock_session(sid)
        assert s is not None and (s.pipeline_step, s.pipeline_token, s.pipeline_started) == (
            "await_candidate",
            "tok",
            True,
        )
        assert s.paid_age_s is not None and 0 <= s.paid_age_s < 60
        tx.set_pipeline_restarts(sid, 1)
    with store.repo.transaction() as tx:
        s = tx.lock_session(sid)
        assert s is not None and (s.pipeline_restarts, s.pipeline_started, s.pipeline_token) == (
            1,
            False,
            None,
        )
        assert tx.unfinished_sessions(idle_s=0, limit=10) == [sid]
        assert tx.unfinished_sessions(idle_s=3600, limit=10) == []  # changed just now
        tx.set_status(sid, S.EXPIRED)
        tx.set_status(sid, S.REFUNDED)
        assert tx.unfinished_sessions(idle_s=0, limit=10) == []  # final
