"""A World: InterviewFlow over the in-memory fakes (tests/unit/flow_fakes.py), with the moves a test makes.

Razorpay webhooks are built from Razorpay's own published samples (shared/vendor/razorpay), a parsed
copy with this world's ids and amounts, signed with the webhook secret as Razorpay signs: HMAC-SHA256 of
the raw body, hex, in X-Razorpay-Signature (razorpay-python, razorpay/utility/utility.py
verify_webhook_signature)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from prepkit.adapters.question_bank import QuestionBank
from prepkit.adapters.razorpay_events import parse_webhook
from prepkit.domain.flow import FlowPolicy, InterviewFlow, PaymentOutcome
from prepkit.domain.models import CallRecord, InterviewConfig, PaymentEvent, PaymentStatus, Utterance
from prepkit.domain.signatures import checkout_signature, hmac_hex
from tests.fakes import RecordingMetrics
from tests.unit.flow_fakes import (
    FakePayments,
    FakeReportWriter,
    FakeVoice,
    FakeWorkflow,
    InMemoryFlowRepository,
)

ROOT = Path(__file__).resolve().parents[2]
RAZORPAY = Path(os.environ.get("PREPKIT_VENDOR_DIR", ROOT.parent / "shared" / "vendor")) / "razorpay"
KEY_SECRET = "unit-key-secret"
WEBHOOK_SECRET = "unit-webhook-secret"
CONFIG = InterviewConfig.model_validate({"type": "python", "difficulty": "medium", "duration": 20})
SAMPLES = {
    "payment.captured": "docs_payment.captured_upi.json",
    "payment.authorized": "docs_payment.authorized_upi.json",
    "payment.failed": "docs_payment.failed_upi.json",
    "order.paid": "docs_order.paid_upi.json",
    "refund.processed": "docs_refund.processed_normal_refunds.json",
    "refund.failed": "docs_refund.failed_normal_refunds.json",
    "refund.created": "docs_refund.created_normal_refunds.json",
}


@cache
def _sample(name: str) -> str:
    return (RAZORPAY / name).read_text()


def sample(event: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_sample(SAMPLES[event]))
    return body


@cache
def _questions() -> tuple[Any, ...]:
    return QuestionBank().generate(CONFIG, 4, seed="unit").questions


def good_call(call_id: str) -> CallRecord:
    """An end-of-call-report of a call long and full enough to be assessed."""
    said = " ".join(["I would use asyncio to run the blocking work in a thread pool executor"] * 6)
    messages = (Utterance("assistant", "Tell me about asyncio.", 1.0), Utterance("user", said, 5.0))
    return CallRecord(call_id, "customer-ended-call", said, messages, None, 0.42, 900.0, None, None)


def short_call(call_id: str) -> CallRecord:
    return CallRecord(
        call_id, "customer-ended-call", "hi", (Utterance("user", "hi"),), None, None, 20.0, None, None
    )


@dataclass
class World:
    repo: InMemoryFlowRepository = field(default_factory=InMemoryFlowRepository)
    payments: FakePayments = field(default_factory=FakePayments)
    voice: FakeVoice = field(default_factory=FakeVoice)
    workflow: FakeWorkflow = field(default_factory=FakeWorkflow)
    reports: FakeReportWriter = field(default_factory=FakeReportWriter)
    metrics: RecordingMetrics = field(default_factory=RecordingMetrics)
    policy: FlowPolicy = field(
        default_factory=lambda: FlowPolicy(
            checkout_key_secret=KEY_SECRET,
            webhook_secret=WEBHOOK_SECRET,
            start_window_s=900,
            call_end_margin_s=120,
            min_assessable_call_s=60,
            max_retakes=1,
            max_restarts=2,
            reconcile_idle_s=120,
        )
    )
    webhook_key: bool = True  # False: the flow holds no Razorpay API key (the webhooks function)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def flow(self) -> InterviewFlow:
        return InterviewFlow(
            self.repo,
            self.payments if self.webhook_key else None,
            self.voice,
            self.reports,
            self.workflow,
            self.metrics,
            self.policy,
        )

    # -- state -----------------------------------------------------------------------------------
    def status(self, sid: str) -> str:
        return self.repo.data.sessions[sid].status.value

    def session(self, sid: str) -> Any:
        return self.repo.data.sessions[sid]

    # -- moves -----------------------------------------------------------------------------------
    def setup(self, user: str = "alice") -> str:
        sid = str(uuid.UUID(int=next(self._ids)))
        self.repo.add_session(sid, user, CONFIG, _questions())
        return sid

    def order(self, sid: str, user: str = "alice") -> str:
        return self.flow.create_order(user, sid).order_id

    def payment(
        self, order_id: str, status: PaymentStatus = PaymentStatus.CAPTURED, amount: int = 14900
    ) -> str:
        """A payment Razorpay's API knows (fetch_payment answers it); returns its id."""
        payment_id = f"pay_{next(self._ids):014d}"
        self.payments.payments[payment_id] = PaymentEvent(payment_id, order_id, status, amount, "INR", "upi")
        return payment_id

    def verify(self, order_id: str, payment_id: str, user: str = "alice") -> PaymentOutcome:
        signature = checkout_signature(KEY_SECRET, order_id, payment_id)
        return self.flow.verify_payment(user, order_id, payment_id, signature)

    def payment_body(
        self, event: str, payment_id: str, order_id: str, amount: int = 14900, currency: str = "INR"
    ) -> bytes:
        body = sample(event)
        entity = body["payload"]["payment"]["entity"]
        entity.update(id=payment_id, order_id=order_id, amount=amount, currency=currency)
        if event == "order.paid":
            body["payload"]["order"]["entity"].update(id=order_id, amount=amount, amount_paid=amount)
        return json.dumps(body).encode()

    def refund_body(self, event: str, refund_id: str, payment_id: str, amount: int) -> bytes:
        body = copy.deepcopy(sample(event))
        body["payload"]["refund"]["entity"].update(id=refund_id, payment_id=payment_id, amount=amount)
        return json.dumps(body).encode()

    def deliver(self, raw: bytes, event_id: str | None = None, signature: str | None = None) -> str:
        """As POST /webhooks/razorpay does: the signature, then the adapter reads the body."""
        signature = hmac_hex(WEBHOOK_SECRET, raw) if signature is None else signature
        verified = self.flow.verify_razorpay_webhook(
            raw, signature, event_id or f"evt_{next(self._ids):014d}"
        )
        return self.flow.razorpay_webhook(verified, parse_webhook(verified.raw_body))

    def webhook(self, event: str, payment_id: str, order_id: str, amount: int = 14900) -> str:
        return self.deliver(self.payment_body(event, payment_id, order_id, amount))

    def paid(self, user: str = "alice") -> tuple[str, str]:
        """A session paid by a captured payment, its pipeline started; (session id, payment id)."""
        sid = self.setup(user)
        order_id = self.order(sid, user)
        payment_id = self.payment(order_id)
        assert self.verify(order_id, payment_id, user).status.value == "paid"
        return sid, payment_id

    def await_candidate(self, sid: str) -> str:
        token = self.workflow.token(f"tok-candidate-{next(self._ids)}")
        self.flow.task_await_candidate(sid, token)
        return token

    def await_call_end(self, sid: str) -> str:
        token = self.workflow.token(f"tok-call-{next(self._ids)}")
        self.flow.task_await_call_end(sid, token)
        return token

    def in_call(self, user: str = "alice") -> tuple[str, str, str]:
        """Paid, the pipeline waiting for the candidate, the call started; (session, payment, call)."""
        sid, payment_id = self.paid(user)
        self.await_candidate(sid)
        call = self.flow.start_call(user, sid)
        return sid, payment_id, call.call_id

    def end_call(self, record: CallRecord, sid: str | None = None) -> str:
        return self.flow.call_ended(record, json.dumps({"message": {"type": "end-of-call-report"}}), sid)


@pytest.fixture
def world() -> World:
    return World()
