"""The pipeline: starting its execution (once, under a name derived from the session) and every task
Step Functions runs. Each task is idempotent: a retried task ends in the same state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prepkit.domain.end_reasons import EndClass
from prepkit.domain.end_reasons import classify as classify_end
from prepkit.domain.errors import (
    InvalidState,
    PipelineUnavailable,
    ReportNotReady,
    VoiceUnavailable,
)
from prepkit.domain.flow_base import FlowPolicy, existing, owned
from prepkit.domain.lifecycle import FINAL, TRANSITIONS, check_transition
from prepkit.domain.models import (
    CallRecord,
    InterviewConfig,
    Question,
    SessionError,
    SessionStatus,
    Utterance,
)
from prepkit.domain.reconciler import execution_name, window_left_s
from prepkit.domain.report import StoredReport
from prepkit.domain.scoring import score_transcript
from prepkit.ports import (
    Metrics,
    ReportWriter,
    SessionRecords,
    TasksTransaction,
    UnitOfWork,
    VoiceGateway,
    Workflow,
)

log = logging.getLogger(__name__)
S = SessionStatus

MIN_CANDIDATE_WORDS = 25


class PipelineTasks:
    def __init__(
        self,
        repo: UnitOfWork[TasksTransaction],
        voice: VoiceGateway,
        reports: ReportWriter,
        workflow: Workflow,
        metrics: Metrics,
        policy: FlowPolicy,
        *,
        resume: Callable[[str, dict[str, object]], None],
        end_live_call: Callable[[str, str], None],
        refund: Callable[..., str],
        start_refused: Callable[[str], object],
    ):
        self._repo = repo
        self._voice = voice
        self._reports = reports
        self._workflow = workflow
        self._metrics = metrics
        self._policy = policy
        self._resume = resume  # the calls': resumes a waiting task
        self._end_live_call = end_live_call  # the calls': ends a live call before a refund
        self._refund = refund  # the payments': refunds the session once
        self._start_refused = start_refused  # the reconciler's: a burned execution name, restarted at once

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
            running = self.start_execution(
                tx, session_id, name, window_left_s(s, self._policy.start_window_s)
            )
        if not running:
            self._start_refused(session_id)

    def start_execution(self, tx: SessionRecords, session_id: str, name: str, start_window_s: int) -> bool:
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

    def task_await_candidate(self, session_id: str, token: str) -> None:
        resume_with: dict[str, object] | None = None
        with self._repo.transaction() as tx:
            s = existing(tx, session_id)
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
            existing(tx, session_id)
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
            existing(tx, session_id)
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
            s = existing(tx, session_id)
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
            s = existing(tx, session_id)
            if check_transition(s.status, S.COMPLETED):
                tx.set_status(session_id, S.COMPLETED, stamp="completed_at")
                self._metrics.count("InterviewCompleted")
        return "completed"

    def task_expire(self, session_id: str) -> str:
        """AwaitCandidate timed out: never started within the start window. Decided under the session's
        lock, as /start is: if the candidate started first, the call goes on ("call started": the ASL
        waits for its end) and nothing is refunded; else the session expires and no call can start."""
        with self._repo.transaction() as tx:
            s = existing(tx, session_id)
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
        return self._refund(session_id, reason="start window passed")

    def task_mark_failed(self, session_id: str, error: str, cause: str, *, transient: bool = False) -> str:
        """The catch-all: no execution may end with the session stuck. A task that failed only for
        transient reasons (retried for minutes) leaves the session as it is, for the reconciler to give a
        new execution: a healthy interview is not refunded for an outage. Anything else: mark it failed
        (ending a live call first: no refund while a call runs), then refund. A database it cannot reach
        raises, and Step Functions retries this task."""
        with self._repo.transaction() as tx:
            s = existing(tx, session_id)
            tx.set_pipeline_token(session_id, None, None)
            call = tx.latest_call(session_id)
        log.error("pipeline failed for %s: %s %s", session_id, error, cause[:500])
        self._metrics.count("PipelineFailed", error=error[:60])  # once: a retry of this task raised above
        if transient and s.status not in FINAL:
            return "left to the reconciler"
        if s.status is S.IN_CALL and call is not None and call.status != "ended":
            self._end_live_call(call.call_id, session_id)
        with self._repo.transaction() as tx:
            s = existing(tx, session_id)
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
        return self._refund(session_id, reason=f"pipeline failed: {error}"[:200])

    def report(self, user_id: str, session_id: str) -> StoredReport:
        with self._repo.transaction() as tx:
            s = owned(tx, user_id, session_id, lock=False)
            stored = tx.get_report(session_id) if s.status is S.COMPLETED else None
        if stored is not None:
            return stored
        if s.status is S.PROCESSING:
            raise ReportNotReady("the report is being written", state="processing")
        if s.status in (S.PENDING_PAYMENT, S.PAYMENT_FAILED, S.PAID, S.IN_CALL):
            raise ReportNotReady("there is no transcript yet", state=s.status.value)
        raise InvalidState(f"session is {s.status.value}: it has no report")


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
