"""The paid interview, from order to report or refund: one composition of its aggregates over one unit
of work (FlowRepository.transaction), each in its own module:

- payments (domain/payments.py): orders, verify, Razorpay's webhooks, extra payments, refunds;
- calls (domain/calls.py): starting the call, Vapi's status and end-of-call reports;
- pipeline tasks (domain/pipeline_tasks.py): the execution's start and every task Step Functions runs;
- the reconciler (domain/reconcile.py, its rule in domain/reconciler.py).

Each method is idempotent: a repeated webhook, a repeated request or a task retried by Step Functions
ends in the same state. State changes happen inside one database transaction with a row lock on the
session, and every status change goes through lifecycle.check_transition. The routes, the pipeline's
handler and the tests call InterviewFlow; each method hands over to its aggregate."""

from __future__ import annotations

from prepkit.domain.calls import Calls
from prepkit.domain.flow_base import FlowPolicy
from prepkit.domain.models import CallRecord, PaymentNotice, StartedCall
from prepkit.domain.payments import OrderInfo, PaymentOutcome, Payments, VerifiedWebhook
from prepkit.domain.pipeline_tasks import PipelineTasks
from prepkit.domain.reconcile import Reconciler
from prepkit.domain.report import StoredReport
from prepkit.ports import FlowRepository, Metrics, PaymentsGateway, ReportWriter, VoiceGateway, Workflow

__all__ = [
    "FlowPolicy",
    "InterviewFlow",
    "OrderInfo",
    "PaymentOutcome",
    "VerifiedWebhook",
]


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
        # the aggregates call one another only through what they are given here (self.ensure_pipeline
        # hands over to self.tasks when called, so the order of construction does not matter)
        self.payments = Payments(repo, payments, metrics, policy, ensure_pipeline=self.ensure_pipeline)
        self.calls = Calls(repo, voice, workflow, metrics, ensure_pipeline=self.ensure_pipeline)
        self.tasks = PipelineTasks(
            repo,
            voice,
            reports,
            workflow,
            metrics,
            policy,
            resume=self.calls.resume,
            end_live_call=self.calls.end_live_call,
            refund=self.payments.refund,
            start_refused=lambda sid: self.reconciler.reconcile_session(
                sid, source="ensure_pipeline", start_only=True
            ),
        )
        self.reconciler = Reconciler(
            repo, workflow, metrics, policy, payments=self.payments, tasks=self.tasks
        )

    # == payments ================================================================================

    def create_order(self, user_id: str, session_id: str) -> OrderInfo:
        return self.payments.create_order(user_id, session_id)

    def verify_payment(self, user_id: str, order_id: str, payment_id: str, signature: str) -> PaymentOutcome:
        return self.payments.verify_payment(user_id, order_id, payment_id, signature)

    def verify_razorpay_webhook(
        self, raw_body: bytes, signature: str | None, event_id: str | None
    ) -> VerifiedWebhook:
        return self.payments.verify_razorpay_webhook(raw_body, signature, event_id)

    def razorpay_webhook(self, webhook: VerifiedWebhook, notice: PaymentNotice) -> str:
        return self.payments.razorpay_webhook(webhook, notice)

    def refund(self, session_id: str, *, reason: str) -> str:
        return self.payments.refund(session_id, reason=reason)

    # == the call ================================================================================

    def start_call(self, user_id: str, session_id: str) -> StartedCall:
        return self.calls.start_call(user_id, session_id)

    def call_in_progress(self, call_id: str) -> None:
        self.calls.call_in_progress(call_id)

    def call_ended(self, record: CallRecord, raw_body: str, session_hint: str | None = None) -> str:
        return self.calls.call_ended(record, raw_body, session_hint)

    # == the pipeline ============================================================================

    def ensure_pipeline(self, session_id: str) -> None:
        self.tasks.ensure_pipeline(session_id)

    def task_await_candidate(self, session_id: str, token: str) -> None:
        self.tasks.task_await_candidate(session_id, token)

    def task_await_call_end(self, session_id: str, token: str) -> None:
        self.tasks.task_await_call_end(session_id, token)

    def task_reconcile(self, session_id: str) -> str:
        return self.tasks.task_reconcile(session_id)

    def task_review_call(self, session_id: str) -> str:
        return self.tasks.task_review_call(session_id)

    def task_generate_report(self, session_id: str) -> str:
        return self.tasks.task_generate_report(session_id)

    def task_fallback_report(self, session_id: str) -> str:
        return self.tasks.task_fallback_report(session_id)

    def task_complete(self, session_id: str) -> str:
        return self.tasks.task_complete(session_id)

    def task_expire(self, session_id: str) -> str:
        return self.tasks.task_expire(session_id)

    def task_mark_failed(self, session_id: str, error: str, cause: str, *, transient: bool = False) -> str:
        return self.tasks.task_mark_failed(session_id, error, cause, transient=transient)

    def report(self, user_id: str, session_id: str) -> StoredReport:
        return self.tasks.report(user_id, session_id)

    # == the reconciler ==========================================================================

    def reconcile_all(self) -> dict[str, int]:
        return self.reconciler.reconcile_all()

    def reconcile_session(
        self, session_id: str, *, source: str = "schedule", start_only: bool = False
    ) -> str:
        return self.reconciler.reconcile_session(session_id, source=source, start_only=start_only)
