"""Payments: orders, Checkout's verify, Razorpay's webhooks (read by adapters/razorpay_events), extra
payments and refunds. Every state change is made under the session's row lock in one transaction."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from prepkit.domain.errors import (
    InvalidSignature,
    InvalidState,
    PipelineUnavailable,
    ValidationFailed,
    WebhookUnauthorized,
)
from prepkit.domain.flow_base import FlowPolicy, existing, owned
from prepkit.domain.lifecycle import TRANSITIONS, check_transition
from prepkit.domain.models import (
    IgnoredEvent,
    Order,
    PaymentEvent,
    PaymentNotice,
    PaymentStatus,
    RefundEvent,
    SessionError,
    SessionStatus,
)
from prepkit.domain.signatures import checkout_signature_valid, razorpay_webhook_valid
from prepkit.ports import (
    Metrics,
    PaymentsGateway,
    PaymentsTransaction,
    RefundRow,
    UnitOfWork,
)

log = logging.getLogger(__name__)
S = SessionStatus
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    session_id: str
    status: SessionStatus  # the session's
    payment_status: PaymentStatus  # the payment's: authorized means paid once Razorpay captures it
    extra: bool = False  # a second captured payment for a session already paid: refunded


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A Razorpay webhook whose signature was checked (Payments.verify_razorpay_webhook)."""

    raw_body: bytes
    event_id: str


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: str
    amount: int
    currency: str
    key_id: str
    session_id: str


class Payments:
    def __init__(
        self,
        repo: UnitOfWork[PaymentsTransaction],
        payments: PaymentsGateway | None,
        metrics: Metrics,
        policy: FlowPolicy,
        *,
        ensure_pipeline: Callable[[str], None],
    ):
        self._repo = repo
        self._maybe_payments = payments  # None: this function holds no Razorpay API key (the webhooks)
        self._metrics = metrics
        self._policy = policy
        self._ensure_pipeline = ensure_pipeline  # the pipeline's: starts it once the session is paid

    @property
    def _payments(self) -> PaymentsGateway:
        if self._maybe_payments is None:  # a deployment error: this function was given no Razorpay key
            raise RuntimeError("this function has no Razorpay API key (PREPKIT_RAZORPAY_SECRET_ARN)")
        return self._maybe_payments

    def create_order(self, user_id: str, session_id: str) -> OrderInfo:
        with self._repo.transaction() as tx:
            s = owned(tx, user_id, session_id)
            if s.status not in (S.PENDING_PAYMENT, S.PAYMENT_FAILED):
                raise InvalidState(f"session is {s.status.value}: nothing to pay")
            order = tx.open_order(session_id)
            if order is None:  # the session row stays locked: two clicks never create two orders
                order_id = self._payments.create_order(
                    amount=s.price.amount,
                    currency=s.price.currency,
                    receipt=session_id[:40],
                    notes={"sessionId": session_id, "userId": user_id[:200]},
                )
                order = Order(order_id, session_id, s.price.amount, s.price.currency, "created")
                tx.insert_order(order, user_id)
        return OrderInfo(order.order_id, order.amount, order.currency, self._payments.key_id, session_id)

    def verify_payment(self, user_id: str, order_id: str, payment_id: str, signature: str) -> PaymentOutcome:
        """Checkout's success callback. The signature, checked against the order stored for the caller,
        proves the payment was authorized, no more; what Razorpay's API says the payment is now decides
        the rest, exactly as the same state would by webhook: captured pays the session, authorized is
        recorded (the payment.captured / order.paid webhook completes it), failed fails the attempt."""
        with self._repo.transaction() as tx:
            found = tx.get_order(order_id)
            if found is None or found[1] != user_id or not _PROVIDER_ID.match(payment_id):
                raise InvalidSignature("unknown order or payment")
            order = found[0]
            if not checkout_signature_valid(
                self._policy.checkout_key_secret, order.order_id, payment_id, signature
            ):
                self._metrics.count("PaymentSignatureInvalid", source="verify")
                raise InvalidSignature("signature does not match the stored order")
        payment = self._payments.fetch_payment(payment_id)  # PaymentFailed: 502, try again
        if payment.payment_id != payment_id or not self._matches(payment, order, source="verify"):
            raise InvalidSignature("the payment does not match the stored order")
        if payment.status is PaymentStatus.CREATED:  # not authorized yet: nothing to record
            with self._repo.transaction() as tx:
                s = existing(tx, order.session_id)
            return PaymentOutcome(order.session_id, s.status, payment.status)
        with self._repo.transaction() as tx:
            outcome = self._apply_payment(tx, payment, order, user_id)
        if outcome.extra:
            outcome = replace(outcome, payment_status=self._refund_extra(payment, order.session_id))
        if outcome.status is S.PAID:
            try:
                self._ensure_pipeline(order.session_id)
            except PipelineUnavailable:
                pass  # paid all the same: the webhook, a repeat of verify or /start start it again
        return outcome

    def verify_razorpay_webhook(
        self, raw_body: bytes, signature: str | None, event_id: str | None
    ) -> VerifiedWebhook:
        """The signature, checked before anything in the body is read; WebhookUnauthorized if it is bad
        or missing, ValidationFailed without an event id."""
        if not razorpay_webhook_valid(self._policy.webhook_secret, raw_body, signature):
            self._metrics.count("WebhookSignatureInvalid", provider="razorpay")
            raise WebhookUnauthorized("bad webhook signature")
        if not event_id or len(event_id) > 128:
            raise ValidationFailed("x-razorpay-event-id header is required")
        return VerifiedWebhook(raw_body, event_id)

    def razorpay_webhook(self, webhook: VerifiedWebhook, notice: PaymentNotice) -> str:
        """A verified webhook, read by the adapter (adapters/razorpay_events.parse_webhook). Returns what
        happened (for the log). Deliveries are at least once and in any order: every payment event is
        applied again on a duplicate (states only move up), so a failed follow-up (pipeline start,
        refund) is retried."""
        event_type, event = notice.event_type, notice.event
        with self._repo.transaction() as tx:
            raw_text = webhook.raw_body.decode("utf-8", "replace")
            fresh = tx.record_event("razorpay", webhook.event_id, event_type, raw_text)
            seen = "applied" if fresh else "duplicate"
            if isinstance(event, IgnoredEvent):
                log.info("razorpay event ignored: %s", event.reason)  # the route logs the type, cleaned
                return f"{event_type} ignored"
            if isinstance(event, RefundEvent):
                if fresh:
                    session_id = tx.apply_refund_event(event)
                    if event.status == "failed":  # the money did not go back: a person must look
                        log.error("refund %s failed for session %s", event.refund_id, session_id)
                        self._metrics.count("RefundFailed")
                return f"{event_type} {seen}"
            payment = event
            found = tx.get_order(payment.order_id)
            if found is None:
                return f"{event_type} for an unknown order ignored"
            order, user_id = found
            if not self._matches(payment, order, source="webhook", count=fresh):
                return f"{event_type} amount mismatch"
            outcome = self._apply_payment(tx, payment, order, user_id)  # also on a duplicate: idempotent
        if outcome.extra:  # after the commit: never hold the session's lock over a call to Razorpay
            outcome = replace(outcome, payment_status=self._refund_extra(payment, order.session_id))
        if outcome.payment_status is PaymentStatus.CAPTURED and not outcome.extra:
            self._ensure_pipeline(order.session_id)  # also on a duplicate: a failed start is retried
        return f"{event_type} {seen}" + (" (extra payment refunded)" if outcome.extra else "")

    def _matches(self, payment: PaymentEvent, order: Order, *, source: str, count: bool = True) -> bool:
        """A payment pays only its own order, in full: anything else is refused, logged and counted."""
        mine = (order.order_id, order.amount, order.currency)
        if (payment.order_id, payment.amount, payment.currency) == mine:
            return True
        log.error(
            "%s: payment %s (%s %s %s) does not match order %s (%s %s)", source, payment.payment_id,
            payment.order_id, payment.amount, payment.currency, order.order_id, order.amount, order.currency,
        )  # fmt: skip
        if count:  # no dimension: the alarm reads the metric as it is counted
            self._metrics.count("PaymentMismatch")
        return False

    def _apply_payment(
        self, tx: PaymentsTransaction, payment: PaymentEvent, order: Order, user_id: str
    ) -> PaymentOutcome:
        """One payment state, from verify or a webhook, applied under the session's row lock. Only a
        captured payment pays, and only one payment pays a session: another captured one is an extra
        (the caller refunds it with _refund_extra, after the transaction)."""
        s = tx.lock_session(order.session_id)  # serialises verify and webhooks of one session
        assert s is not None
        now = tx.apply_payment(payment, order.session_id, user_id)  # states only move up
        status, extra = s.status, False
        if now is PaymentStatus.CAPTURED:
            payable = s.status in (S.PENDING_PAYMENT, S.PAYMENT_FAILED)
            if not tx.claim_session(payment.payment_id, s.id, payable=payable):
                extra = True
            elif payable and check_transition(s.status, S.PAID):
                tx.set_status(s.id, S.PAID, stamp="paid_at")
                tx.clear_payment_error(s.id)  # a failed attempt before this one leaves no error
                self._metrics.count("PaymentCaptured")
                status = S.PAID
        elif now is PaymentStatus.FAILED and s.status is S.PENDING_PAYMENT:
            check_transition(s.status, S.PAYMENT_FAILED)
            tx.set_status(
                s.id,
                S.PAYMENT_FAILED,
                error=SessionError(
                    "PAYMENT_FAILED",
                    payment.error_description or "Your payment did not go through. Please try again.",
                    True,
                ),
            )
            status = S.PAYMENT_FAILED
        return PaymentOutcome(order.session_id, status, now, extra)

    def _refund_extra(self, payment: PaymentEvent, session_id: str) -> PaymentStatus:
        """A second captured payment for a session already paid (a late authorization after a retry, two
        tabs): refunded once, with its own idempotency key; the session itself does not change."""
        key = f"refund-extra-{payment.payment_id}"
        with self._repo.transaction() as tx:
            row = tx.get_refund(key)
            if row is None:
                row = RefundRow(key, payment.payment_id, None, payment.amount, "requested")
                tx.insert_refund(row, session_id, "extra payment: the session was already paid")
        if row.refund_id is not None:
            return PaymentStatus.REFUNDED if row.status == "processed" else PaymentStatus.CAPTURED
        if self._maybe_payments is None:  # the webhooks hold no refund key: the reconciler sends it
            log.warning("extra payment %s on session %s: refund recorded for the reconciler", key, session_id)
            self._metrics.count("ExtraPaymentRefundDeferred")
            return PaymentStatus.CAPTURED
        return self.send_extra_refund(row, session_id)

    def send_extra_refund(self, row: RefundRow, session_id: str) -> PaymentStatus:
        """Sends a recorded extra-payment refund (its idempotency key makes a repeat harmless).
        PaymentFailed propagates: Razorpay redelivers the webhook, or the next reconciler run tries again."""
        refund_id, refund_status = self._payments.refund(
            payment_id=row.payment_id,
            amount=row.amount,
            idempotency_key=row.idempotency_key,
            notes={"sessionId": session_id, "reason": "extra payment"},
        )
        with self._repo.transaction() as tx:
            if tx.update_refund(row.idempotency_key, refund_id, refund_status):
                log.warning("extra payment %s on session %s refunded", row.payment_id, session_id)
                self._metrics.count("ExtraPaymentRefunded")
        return PaymentStatus.REFUNDED if refund_status == "processed" else PaymentStatus.CAPTURED

    def refund(self, session_id: str, *, reason: str) -> str:
        """Refunds the captured payment once (idempotency key per session) and marks the session refunded."""
        key = f"refund-{session_id}"
        with self._repo.transaction() as tx:
            s = existing(tx, session_id)
            if s.status is S.REFUNDED:
                return "already refunded"
            if s.status not in (S.EXPIRED, S.FAILED, S.CALL_FAILED):  # e.g. in a call, or completed
                log.error("refund of session %s refused: it is %s", session_id, s.status.value)
                return f"not refunded: the session is {s.status.value}"
            row = tx.get_refund(key)
            if row is None:
                captured = tx.captured_payment(session_id)  # the payment that paid it, never an extra
                if captured is None:
                    log.error("no captured payment to refund for %s", session_id)
                    return "nothing to refund"
                row = RefundRow(key, captured[0], None, captured[1], "requested")
                if row.amount > 0:  # else refunded already (outside the pipeline): nothing to send
                    tx.insert_refund(row, session_id, reason)
        if row.amount <= 0:
            refund_id, status = "", "processed"
        elif row.refund_id is None:
            refund_id, status = self._payments.refund(
                payment_id=row.payment_id,
                amount=row.amount,
                idempotency_key=key,
                notes={"sessionId": session_id},
            )
        else:
            refund_id, status = row.refund_id, row.status
        with self._repo.transaction() as tx:
            tx.update_refund(key, refund_id, status)
            s = existing(tx, session_id)
            if S.REFUNDED in TRANSITIONS[s.status]:
                tx.set_status(session_id, S.REFUNDED)
        self._metrics.count("Refunded")
        return "refunded"
