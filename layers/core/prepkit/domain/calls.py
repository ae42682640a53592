"""The call: starting it (one call per attempt, under the session's lock), Vapi's status and
end-of-call reports (only the awaited call's report resumes the pipeline), ending a live call."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prepkit.domain.errors import (
    InvalidState,
)
from prepkit.domain.flow_base import owned
from prepkit.domain.lifecycle import check_transition
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    SessionStatus,
    StartedCall,
)
from prepkit.domain.services import is_uuid
from prepkit.ports import (
    CallsTransaction,
    Metrics,
    UnitOfWork,
    VoiceGateway,
    Workflow,
)

log = logging.getLogger(__name__)
S = SessionStatus


class Calls:
    def __init__(
        self,
        repo: UnitOfWork[CallsTransaction],
        voice: VoiceGateway,
        workflow: Workflow,
        metrics: Metrics,
        *,
        ensure_pipeline: Callable[[str], None],
    ):
        self._repo = repo
        self._voice = voice
        self._workflow = workflow
        self._metrics = metrics
        self._ensure_pipeline = ensure_pipeline

    def start_call(self, user_id: str, session_id: str) -> StartedCall:
        with self._repo.transaction() as tx:
            s = owned(tx, user_id, session_id)
        if s.status is S.PAID and not s.pipeline_started:
            self._ensure_pipeline(session_id)  # PipelineUnavailable (503) if it still cannot start
        token: str | None = None
        created: StartedCall | None = None  # a call Vapi runs (and bills) from here on
        try:
            with self._repo.transaction() as tx:
                # locked for the whole call creation: one call per attempt
                s = owned(tx, user_id, session_id)
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
            self.resume(token, {"callId": created.call_id})
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

    def end_live_call(self, call_id: str, session_id: str) -> None:
        """A live call of a session that is being failed and refunded: ended first (best effort)."""
        try:
            ended = self._voice.end_call(call_id)
        except Exception:
            log.exception("ending call %s raised", call_id)
            ended = False
        if not ended:
            log.error("call %s of session %s could not be ended before its refund", call_id, session_id)
            self._metrics.count("CallEndFailed")

    def call_in_progress(self, call_id: str) -> None:
        """The provider says the call is live (the adapter reads its status-update)."""
        with self._repo.transaction() as tx:
            if tx.call_session(call_id) is not None:
                tx.set_call_in_progress(call_id)

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
            self.resume(token, {"callId": record.call_id})
        if fresh and record.cost_usd:
            self._metrics.count("VoiceCostMilliUSD", round(record.cost_usd * 1000))
        return "call end stored" if fresh else "call end duplicate"

    def resume(self, token: str, output: dict[str, object]) -> None:
        if not self._workflow.resume(token, output):
            log.info("pipeline task had already moved on")
