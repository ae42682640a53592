"""The reconciler's runs: every paid session whose pipeline is not running is driven to an end, by the
rule in domain/reconciler.decide, under the session's row lock."""

from __future__ import annotations

import logging

from prepkit.domain.flow_base import FlowPolicy
from prepkit.domain.payments import Payments
from prepkit.domain.pipeline_tasks import PipelineTasks
from prepkit.domain.reconciler import Action, decide, execution_name, window_left_s
from prepkit.ports import (
    Metrics,
    ReconcilerTransaction,
    UnitOfWork,
    Workflow,
)

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        repo: UnitOfWork[ReconcilerTransaction],
        workflow: Workflow,
        metrics: Metrics,
        policy: FlowPolicy,
        *,
        payments: Payments,
        tasks: PipelineTasks,
    ):
        self._repo = repo
        self._workflow = workflow
        self._metrics = metrics
        self._policy = policy
        self._payments = payments
        self._tasks = tasks

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
                self._payments.send_extra_refund(row, owner)
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
                self._tasks.start_execution(
                    tx, session_id, name, window_left_s(s, self._policy.start_window_s)
                )
        if action is Action.NONE:
            return str(action)
        log.warning(
            "reconciler (%s): session %s is %s after %s restarts: %s",
            source, session_id, s.status.value, s.pipeline_restarts, action,
        )  # fmt: skip
        self._metrics.count("ReconcilerActed", action=str(action))
        if action is Action.REFUND:
            self._payments.refund(
                session_id, reason=f"reconciler: the pipeline ended with the session {s.status.value}"
            )
        elif action is Action.EXPIRE:
            self._tasks.task_expire(session_id)
        elif action is Action.GIVE_UP:
            self._tasks.task_mark_failed(
                session_id, "ReconcilerGaveUp", f"the pipeline ended {s.pipeline_restarts + 1} times"
            )
        return str(action)
