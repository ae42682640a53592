"""The reconciler's rule: what a paid session whose pipeline is not running needs to reach an end.

Pure: the session as read under its row lock, the status of its current execution, the policy. The flow
(domain/reconcile.py, Reconciler.reconcile_session) reads, decides with `decide`, and acts; every action is idempotent, so
two runs racing (or a run racing the pipeline's own last task) end in the same state."""

from __future__ import annotations

from enum import StrEnum

from prepkit.domain.lifecycle import FINAL
from prepkit.domain.models import SessionStatus as S
from prepkit.ports import ExecutionStatus, SessionState


class Action(StrEnum):
    NONE = "none"  # final, not paid, or its pipeline is running: nothing to do
    START = "start"  # no execution of the current name exists (the start never happened or failed)
    RESTART = "restart"  # the execution ended with the session not final: a new one, <id>-r<N+1>
    REFUND = "refund"  # expired, failed or call_failed: only the refund is left to do
    EXPIRE = "expire"  # paid, never started, and the start window has passed: expire and refund
    GIVE_UP = "give_up"  # restarted too often: mark failed and refund (a live call is ended first)


def execution_name(session_id: str, restarts: int) -> str:
    """The session's current execution: its id first, then <id>-r1, -r2, ... (at most 80 characters)."""
    return session_id if restarts <= 0 else f"{session_id}-r{restarts}"


def decide(
    state: SessionState, execution: ExecutionStatus | None, *, start_window_s: int, max_restarts: int
) -> Action:
    if state.status in FINAL or state.status in (S.PENDING_PAYMENT, S.PAYMENT_FAILED):
        return Action.NONE
    if execution == "running":
        return Action.NONE
    if state.status in (S.EXPIRED, S.FAILED, S.CALL_FAILED):
        return Action.REFUND
    if state.status is S.PAID and window_left_s(state, start_window_s) <= 0:
        return Action.EXPIRE
    if execution is None:
        return Action.START
    if state.pipeline_restarts >= max_restarts:
        return Action.GIVE_UP
    return Action.RESTART


def window_left_s(state: SessionState, start_window_s: int) -> int:
    """What is left of the start window (counted from payment); the whole window if not known."""
    if state.paid_age_s is None:
        return start_window_s
    return int(start_window_s - state.paid_age_s)
