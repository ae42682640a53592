"""The paid interview, from order to report or refund. Payments, the call, and every pipeline task.

Each method is idempotent: a repeated webhook, a repeated request or a task retried by Step Functions
ends in the same state. State changes happen inside one database transaction with a row lock on the
session, and every status change goes through lifecycle.check_transition."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from prepkit.domain.end_reasons import EndClass
from prepkit.domain.end_reasons import classify as classify_end
from prepkit.domain.errors import (
    InvalidSignature,
    InvalidState,
    PipelineUnavailable,
    ReportNotReady,
    SessionNotFound,
    ValidationFailed,
    VoiceUnavailable,
    WebhookUnauthorized,
)
from prepkit.domain.lifecycle import FINAL, TRANSITIONS, check_transition
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    IgnoredEvent,
    InterviewConfig,
    Order,
    PaymentEvent,
    PaymentNotice,
    PaymentStatus,
    Question,
    RefundEvent,
    SessionError,
    SessionStatus,
    StartedCall,
    Utterance,
)
from prepkit.domain.reconciler import Action, decide, execution_name, window_left_s
from prepkit.domain.report import StoredReport
from prepkit.domain.scoring import score_transcript
from prepkit.domain.services import is_uuid
from prepkit.domain.signatures import checkout_signature_valid, razorpay_webhook_valid
from prepkit.ports import (
    FlowRepository,
    FlowTransaction,
    Metrics,
    PaymentsGateway,
    RefundRow,
    ReportWriter,
    SessionState,
    VoiceGateway,
    Workflow,
)

log = logging.getLogger(__name__)
S = SessionStatus
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")

MIN_CANDIDATE_WORDS = 25


@dataclass(frozen=True, slots=True)
class FlowPolicy:
    checkout_key_secret: str
    webhook_secret: str
    start_window_s: int
    call_end_margin_s: int
    min_assessable_call_s: int
    max_retakes: int
    call_end_timeout_s: int | None = None
    max_restarts: int = 3  # new executions the reconciler may start for one session before it refunds
    reconcile_idle_s: int = 120  # a session changed more recently than this is not looked at yet
    reconcile_batch: int = 200  # sessions one reconciler run checks


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    session_id: str
    status: SessionStatus  # the session's
    payment_status: PaymentStatus  # the payment's: authorized means paid once Razorpay captures it
    extra: bool = False  # a second captured payment for a session already paid: refunded


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A Razorpay webhook whose signature was checked (InterviewFlow.verify_razorpay_webhook)."""

    raw_body: bytes
    event_id: str


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: str
    amount: int
    currency: str
    key_id: str
    session_id: str


class InterviewFlow:
    def __init__(
        self,
        repo: FlowRepository,
        payments: PaymentsGateway | None,
        voice: VoiceGateway,
        reports: ReportWriter,
        workflow: Workflow,
        metrics: Metrics,
        policy: FlowPolicy,
    ):
        self._repo = repo
        self._maybe_payments = payments  # None: this function holds no Razorpay API key (the webhooks)
        self._voice = voice
        self._reports = reports
        self._workflow = workflow
        self._metrics = metrics
        self._policy = policy

    # == payments ================================================================================

    @property
    def _payments(self) -> PaymentsGateway:
        if self._maybe_payments is None:  # a deployment error: this function was given no Razorpay key
            raise RuntimeError("this function has no Razorpay API key (PREPKIT_RAZORPAY_SECRET_ARN)")
        return self._maybe_payments

    def create_order(self, user_id: str, session_id: str) -> OrderInfo:
        with self._repo.transaction() as tx:
            s = _owned(tx, user_id, session_id)
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
                s = _existing(tx, order.session_id)
            return PaymentOutcome(order.session_id, s.status, payment.status)
        with self._repo.transaction() as tx:
            outcome = self._apply_payment(tx, payment, order, user_id)
        if outcome.extra:
            outcome = replace(outcome, payment_status=self._refund_extra(payment, order.session_id))
        if outcome.status is S.PAID:
            try:
                self.ensure_pipeline(order.session_id)
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
            self.ensure_pipeline(order.session_id)  # also on a duplicate: a failed start is retried
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
        self, tx: FlowTransaction, payment: PaymentEvent, order: Order, user_id: str
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
        return self._send_extra_refund(row, session_id)

    def _send_extra_refund(self, row: RefundRow, session_id: str) -> PaymentStatus:
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

    def ensure_pipeline(self, session_id: str) -> None:
        """Starts the session's pipeline once it is paid. Safe to repeat: the execution's name is derived
        from the session (its id, <id>-r<N> after N restarts), so a second start is refused. A refused
        start counts as started only if that execution is running: one that has ended (its name burned)
        is handed to the reconciler at once. A failed start raises PipelineUnavailable; the next event,
        verify, /start or the reconciler starts it again."""
        with self._repo.transaction() as tx:  # the session stays locked: one start at a time
            s = tx.lock_session(session_id)
            if s is None or s.pipeline_started or s.status in (S.PENDING_PAYMENT, S.PAYMENT_FAILED):
                return
            name = execution_name(session_id, s.pipeline_restarts)
            running = self._start_execution(
                tx, session_id, name, window_left_s(s, self._policy.start_window_s)
            )
        if not running:
            self.reconcile_session(session_id, source="ensure_pipeline", start_only=True)

    def _start_execution(self, tx: FlowTransaction, session_id: str, name: str, start_window_s: int) -> bool:
        """Starts execution `name` in the caller's transaction, the session locked; True when it runs
        (started now, or already running: then it is marked started)."""
        if self._policy.call_end_timeout_s is not None:
            call_end_s = self._policy.call_end_timeout_s
        else:
            config, _ = tx.session_config(session_id)
            call_end_s = config.duration * 60 + self._policy.call_end_margin_s
        payload: dict[str, object] = {
            "sessionId": session_id,
            "timeouts": {"startWindowSeconds": max(1, start_window_s), "callEndSeconds": call_end_s},
        }
        try:
            running = self._workflow.start(name, payload) or self._workflow.status(name) == "running"
        except Exception as exc:
            log.exception("could not start the pipeline for %s", session_id)
            self._metrics.count("PipelineStartFailed")
            raise PipelineUnavailable(f"pipeline start failed: {type(exc).__name__}") from exc
        if not running:
            log.warning(
                "pipeline %s of session %s has ended: not started again under its name", name, session_id
            )
            return False
        tx.mark_pipeline_started(session_id)
        return True

    # == the call ================================================================================

    def start_call(self, user_id: str, session_id: str) -> StartedCall:
        with self._repo.transaction() as tx:
            s = _owned(tx, user_id, session_id)
        if s.status is S.PAID and not s.pipeline_started:
            self.ensure_pipeline(session_id)  # PipelineUnavailable (503) if it still cannot start
        token: str | None = None
        created: StartedCall | None = None  # a call Vapi runs (and bills) from here on
        try:
            with self._repo.transaction() as tx:
                # locked for the whole call creation: one call per attempt
                s = _owned(tx, user_id, session_id)
                if s.status is S.IN_CALL:
                    call = tx.latest_call(session_id)
                    if call is not None and call.status != "ended" and call.web_call_url:
                        return StartedCall(call.call_id, call.web_call_url)
                    raise InvalidState("this interview's call has ended")
                if s.status is not S.PAID:
                    raise InvalidState(f"session is {s.status.value}: it cannot start a call")
                config, questions = tx.session_config(session_id)
                plan = CallPlan(session_id, config, questions, max_duration_s=config.duration * 60)
                created = self._voice.create_web_call(plan)
                tx.insert_call(session_id, s.retakes_used + 1, created)
                check_transition(s.status, S.IN_CALL)
                tx.set_status(session_id, S.IN_CALL, stamp="started_at")
                if s.pipeline_step == "await_candidate" and s.pipeline_token:
                    token = s.pipeline_token
                    tx.set_pipeline_token(session_id, None, None)
        except Exception:
            if created is not None:  # created but not stored (the transaction rolled back): never orphan it
                self._abandon_call(created.call_id, session_id)
            raise
        assert created is not None  # the transaction either returned, raised, or stored the call
        if token is not None:
            self._resume(token, {"callId": created.call_id})
        self._metrics.count("CallStarted")
        return created

    def _abandon_call(self, call_id: str, session_id: str) -> None:
        """A call the provider created but we could not hand out: end it, so it neither runs nor bills."""
        self._metrics.count("CallAbandoned")
        try:
            ended = self._voice.end_call(call_id)
        except Exception:  # best effort: the error being raised by start_call is the one that matters
            log.exception("ending call %s raised", call_id)
            ended = False
        if ended:
            log.warning("call %s of session %s was not stored: ended it", call_id, session_id)
            return
        log.error("call %s of session %s was not stored and could not be ended", call_id, session_id)
        self._metrics.count("CallEndFailed")

    def _end_live_call(self, call_id: str, session_id: str) -> None:
        """A live call of a session that is being failed and refunded: ended first (best effort)."""
        try:
            ended = self._voice.end_call(call_id)
        except Exception:
            log.exception("ending call %s raised", call_id)
            ended = False
        if not ended:
            log.error("call %s of session %s could not be ended before its refund", call_id, session_id)
            self._metrics.count("CallEndFailed")

    def call_status(self, call_id: str, status: str) -> str:
        if status in ("in-progress", "ringing", "queued"):
            with self._repo.transaction() as tx:
                if tx.call_session(call_id) is not None and status == "in-progress":
                    tx.set_call_in_progress(call_id)
        return f"status {status}"

    def call_ended(self, record: CallRecord, raw_body: str, session_hint: str | None = None) -> str:
        """Vapi's end-of-call-report (or a reconciled call): store it, then resume the pipeline.
        `session_hint` is the session id from the call's metadata: if the call row is not visible yet (the
        report raced the commit of /start), waiting for that session's lock lets /start finish first."""
        token: str | None = None
        with self._repo.transaction() as tx:
            session_id = tx.call_session(record.call_id)
            if session_id is None and session_hint and is_uuid(session_hint):
                tx.lock_session(session_hint)
                session_id = tx.call_session(record.call_id)
            if session_id is None:
                return "unknown call ignored"
            tx.record_event("vapi", f"{record.call_id}:end-of-call-report", "end-of-call-report", raw_body)
            fresh = tx.store_call_end(record)
            s = tx.lock_session(session_id)
            latest = tx.latest_call(session_id)
            awaited = latest is not None and latest.call_id == record.call_id  # the current attempt's call
            if s is not None and awaited and s.pipeline_token and s.pipeline_step == "await_call_end":
                token = s.pipeline_token
                tx.set_pipeline_token(session_id, None, None)
            elif not awaited:  # a late or repeated report of an earlier attempt: kept, resumes nothing
                log.info("end of call %s of session %s is not the awaited call's", record.call_id, session_id)
        if token is not None:
            self._resume(token, {"callId": record.call_id})
        if fresh and record.cost_usd:
            self._metrics.count("VoiceCostMilliUSD", round(record.cost_usd * 1000))
        return "call end stored" if fresh else "call end duplicate"

    def _resume(self, token: str, output: dict[str, object]) -> None:
        if not self._workflow.resume(token, output):
            log.info("pipeline task had already moved on")

    # == pipeline tasks ==========================================================================

    def task_await_candidate(self, session_id: str, token: str) -> None:
        resume_with: dict[str, object] | None = None
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            if s.status is S.PAID:
                tx.set_pipeline_token(session_id, "await_candidate", token)
            else:  # the candidate started before this task ran (or a retried task): go on at once
                call = tx.latest_call(session_id)
                resume_with = {"callId": call.call_id if call else None, "status": s.status.value}
        if resume_with is not None:
            self._resume(token, resume_with)

    def task_await_call_end(self, session_id: str, token: str) -> None:
        resume_with: dict[str, object] | None = None
        with self._repo.transaction() as tx:
            _existing(tx, session_id)
            call = tx.latest_call(session_id)
            if call is None or call.status == "ended":  # the report came before this task stored its token
                resume_with = {"callId": call.call_id if call else None}
            else:
                tx.set_pipeline_token(session_id, "await_call_end", token)
        if resume_with is not None:
            self._resume(token, resume_with)

    def task_reconcile(self, session_id: str) -> str:
        """AwaitCallEnd timed out: the end-of-call-report was lost (Vapi does not retry). Ask Vapi."""
        with self._repo.transaction() as tx:
            _existing(tx, session_id)
            tx.set_pipeline_token(session_id, None, None)
            call = tx.latest_call(session_id)
        if call is None:
            return "no call"
        if call.status == "ended":
            return "already ended"
        try:
            record = self._voice.get_call(call.call_id)
        except VoiceUnavailable:
            record = None
        if record is None:
            record = CallRecord(call.call_id, "reconcile-failed", "", (), None, None, None, None, None)
            self._metrics.count("CallReconcileFailed")
        else:
            self._metrics.count("CallReconciled")
        with self._repo.transaction() as tx:
            tx.store_call_end(record)
        return record.ended_reason or "ended"

    def task_review_call(self, session_id: str) -> str:
        """assess | retake | refund. Repeating it returns the verdict already taken."""
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            if s.status is not S.IN_CALL:  # a repeat: the verdict the session's state records
                verdicts = {S.PROCESSING: "assess", S.COMPLETED: "assess", S.PAID: "retake"}
                return verdicts.get(s.status, "refund")
            call = tx.latest_call(session_id)
            if call is not None and call.status != "ended":
                # ReviewCall runs once the awaited call has ended (AwaitCallEnd or Reconcile stored its
                # end): a live call here is the free retake's, started after this task's first run said
                # "retake" and its answer was lost (a retried task). Judge nothing: the verdict stands.
                return "retake"
            reason = _unassessable(call, self._policy.min_assessable_call_s)
            if reason is None:
                check_transition(s.status, S.PROCESSING)
                tx.set_status(session_id, S.PROCESSING)
                return "assess"
            check_transition(s.status, S.CALL_FAILED)
            self._metrics.count("CallUnassessable", reason=reason.split(":")[0])
            if s.retakes_used < self._policy.max_retakes:
                check_transition(S.CALL_FAILED, S.PAID)
                tx.set_status(
                    session_id,
                    S.PAID,
                    retakes_used=s.retakes_used + 1,
                    error=SessionError(
                        "CALL_FAILED",
                        f"Your interview call could not be assessed ({reason}). You can start again at no cost.",
                        True,
                    ),
                )
                return "retake"
            tx.set_status(
                session_id,
                S.CALL_FAILED,
                error=SessionError(
                    "CALL_FAILED",
                    f"Your interview call could not be assessed ({reason}). We are refunding you.",
                    False,
                ),
            )
            return "refund"

    def task_generate_report(self, session_id: str) -> str:
        inputs = self._report_inputs(session_id)
        if isinstance(inputs, str):
            return inputs
        return self._store_report(session_id, self._reports.write(*inputs, session_id=session_id))

    def task_fallback_report(self, session_id: str) -> str:
        inputs = self._report_inputs(session_id)
        if isinstance(inputs, str):
            return inputs
        self._metrics.count("ReportFallback")
        return self._store_report(session_id, score_transcript(*inputs))

    def _report_inputs(
        self, session_id: str
    ) -> str | tuple[InterviewConfig, tuple[Question, ...], tuple[Utterance, ...]]:
        """The source of the report already stored (a repeat), or what a new one is written from."""
        with self._repo.transaction() as tx:
            existing = tx.get_report(session_id)
            if existing is not None:
                return existing.source.value
            config, questions = tx.session_config(session_id)
            call = tx.latest_call(session_id)
        return config, questions, call.messages if call else ()

    def _store_report(self, session_id: str, report: StoredReport) -> str:
        with self._repo.transaction() as tx:
            tx.insert_report(session_id, report)
            stored = tx.get_report(session_id)
        assert stored is not None
        if report.cost_usd:
            self._metrics.count("ReportCostMicroUSD", round(report.cost_usd * 1_000_000))
        return stored.source.value

    def task_complete(self, session_id: str) -> str:
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            if check_transition(s.status, S.COMPLETED):
                tx.set_status(session_id, S.COMPLETED, stamp="completed_at")
                self._metrics.count("InterviewCompleted")
        return "completed"

    def task_expire(self, session_id: str) -> str:
        """AwaitCandidate timed out: never started within the start window. Decided under the session's
        lock, as /start is: if the candidate started first, the call goes on ("call started": the ASL
        waits for its end) and nothing is refunded; else the session expires and no call can start."""
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            tx.set_pipeline_token(session_id, None, None)
            if s.status in (S.IN_CALL, S.PROCESSING, S.CALL_FAILED, S.COMPLETED):
                return "call started"
            if s.status is S.PAID:
                check_transition(s.status, S.EXPIRED)
                tx.set_status(
                    session_id,
                    S.EXPIRED,
                    error=SessionError(
                        "EXPIRED", "The interview was not started in time. We are refunding you.", False
                    ),
                )
        return self.refund(session_id, reason="start window passed")

    def task_mark_failed(self, session_id: str, error: str, cause: str, *, transient: bool = False) -> str:
        """The catch-all: no execution may end with the session stuck. A task that failed only for
        transient reasons (retried for minutes) leaves the session as it is, for the reconciler to give a
        new execution: a healthy interview is not refunded for an outage. Anything else: mark it failed
        (ending a live call first: no refund while a call runs), then refund. A database it cannot reach
        raises, and Step Functions retries this task."""
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            tx.set_pipeline_token(session_id, None, None)
            call = tx.latest_call(session_id)
        log.error("pipeline failed for %s: %s %s", session_id, error, cause[:500])
        self._metrics.count("PipelineFailed", error=error[:60])  # once: a retry of this task raised above
        if transient and s.status not in FINAL:
            return "left to the reconciler"
        if s.status is S.IN_CALL and call is not None and call.status != "ended":
            self._end_live_call(call.call_id, session_id)
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
            if s.status not in FINAL and S.FAILED in TRANSITIONS[s.status]:
                tx.set_status(
                    session_id,
                    S.FAILED,
                    error=SessionError(
                        "PIPELINE_FAILED",
                        "Something went wrong with your interview. We are refunding you.",
                        False,
                    ),
                )
        return self.refund(session_id, reason=f"pipeline failed: {error}"[:200])

    def refund(self, session_id: str, *, reason: str) -> str:
        """Refunds the captured payment once (idempotency key per session) and marks the session refunded."""
        key = f"refund-{session_id}"
        with self._repo.transaction() as tx:
            s = _existing(tx, session_id)
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
            s = _existing(tx, session_id)
            if S.REFUNDED in TRANSITIONS[s.status]:
                tx.set_status(session_id, S.REFUNDED)
        self._metrics.count("Refunded")
        return "refunded"

    # == the reconciler ==========================================================================

    def reconcile_all(self) -> dict[str, int]:
        """The scheduled net under everything else: every paid-or-later session not in a final status
        whose pipeline is not running is driven to an end (see reconciler.decide). Returns the count of
        each action taken; a session that fails here is counted as `error` and looked at next run."""
        with self._repo.transaction() as tx:
            ids = tx.unfinished_sessions(
                idle_s=self._policy.reconcile_idle_s, limit=self._policy.reconcile_batch
            )
            unsent = tx.unsent_extra_refunds(
                older_than_s=self._policy.reconcile_idle_s, limit=self._policy.reconcile_batch
            )
        done: dict[str, int] = {}
        for row, owner in unsent:  # recorded by a function without a refund key (the webhooks)
            try:
                self._send_extra_refund(row, owner)
                action = "extra_refund"
                self._metrics.count("ReconcilerActed", action=action)
            except Exception:
                log.exception("sending the extra-payment refund %s failed", row.idempotency_key)
                self._metrics.count("ReconcilerFailed")
                action = "error"
            done[action] = done.get(action, 0) + 1
        for session_id in ids:
            try:
                action = self.reconcile_session(session_id)
            except Exception:
                log.exception("reconciling session %s failed", session_id)
                self._metrics.count("ReconcilerFailed")
                action = "error"
            done[action] = done.get(action, 0) + 1
        return done

    def reconcile_session(
        self, session_id: str, *, source: str = "schedule", start_only: bool = False
    ) -> str:
        """Decides under the session's row lock (two runs, or a run and ensure_pipeline, serialise on it;
        a restart is counted in the same transaction, so each N is started under one name), then acts.
        Returns the action's name. `source`: who asked (the schedule, or ensure_pipeline), for the log.
        `start_only`: only (re)start a pipeline, leave refunds to the schedule (the functions that start
        pipelines from requests and webhooks hold no refund credentials)."""
        with self._repo.transaction() as tx:
            s = tx.lock_session(session_id)
            if s is None:
                return str(Action.NONE)
            name = execution_name(session_id, s.pipeline_restarts)
            action = decide(
                s,
                self._workflow.status(name),
                start_window_s=self._policy.start_window_s,
                max_restarts=self._policy.max_restarts,
            )
            if start_only and action not in (Action.START, Action.RESTART):
                action = Action.NONE
            if action is Action.RESTART:  # counted only if its start commits with it
                tx.set_pipeline_restarts(session_id, s.pipeline_restarts + 1)
                name = execution_name(session_id, s.pipeline_restarts + 1)
            if action in (Action.START, Action.RESTART):
                # still under the lock: a second reconciler waits, then finds this execution running
                self._start_execution(tx, session_id, name, window_left_s(s, self._policy.start_window_s))
        if action is Action.NONE:
            return str(action)
        log.warning(
            "reconciler (%s): session %s is %s after %s restarts: %s",
            source, session_id, s.status.value, s.pipeline_restarts, action,
        )  # fmt: skip
        self._metrics.count("ReconcilerActed", action=str(action))
        if action is Action.REFUND:
            self.refund(
                session_id, reason=f"reconciler: the pipeline ended with the session {s.status.value}"
            )
        elif action is Action.EXPIRE:
            self.task_expire(session_id)
        elif action is Action.GIVE_UP:
            self.task_mark_failed(
                session_id, "ReconcilerGaveUp", f"the pipeline ended {s.pipeline_restarts + 1} times"
            )
        return str(action)

    # == the report ==============================================================================

    def report(self, user_id: str, session_id: str) -> StoredReport:
        with self._repo.transaction() as tx:
            s = _owned(tx, user_id, session_id, lock=False)
            stored = tx.get_report(session_id) if s.status is S.COMPLETED else None
        if stored is not None:
            return stored
        if s.status is S.PROCESSING:
            raise ReportNotReady("the report is being written", state="processing")
        if s.status in (S.PENDING_PAYMENT, S.PAYMENT_FAILED, S.PAID, S.IN_CALL):
            raise ReportNotReady("there is no transcript yet", state=s.status.value)
        raise InvalidState(f"session is {s.status.value}: it has no report")


def _owned(tx: FlowTransaction, user_id: str, session_id: str, *, lock: bool = True) -> SessionState:
    s = tx.lock_session(session_id, lock=lock) if is_uuid(session_id) else None
    if s is None or s.user_id != user_id:
        raise SessionNotFound(f"session {session_id} not found")
    return s


def _existing(tx: FlowTransaction, session_id: str) -> SessionState:
    s = tx.lock_session(session_id)
    if s is None:
        raise SessionNotFound(f"session {session_id} not found")
    return s


def _unassessable(call: Any, min_seconds: int) -> str | None:
    if call is None:
        return "no call"
    reason = call.ended_reason
    if classify_end(reason) is EndClass.TECHNICAL:  # a fault, reconcile-failed, or a reason we do not know
        return f"technical: {reason or 'no end reason'}"
    if call.duration_s is not None and call.duration_s < min_seconds:
        return f"too short: {round(call.duration_s)} s"
    words = sum(len(u.text.split()) for u in call.messages if u.role == "user")
    if words < MIN_CANDIDATE_WORDS:
        return f"too little said: {words} words"
    return None
