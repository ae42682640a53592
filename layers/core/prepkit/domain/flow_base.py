"""What the flow's aggregates (payments, calls, pipeline tasks, the reconciler) share: the policy, and
reading the session under its row lock in the one unit of work (FlowRepository.transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from prepkit.domain.errors import SessionNotFound
from prepkit.domain.services import is_uuid
from prepkit.ports import SessionRecords, SessionState


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


def owned(tx: SessionRecords, user_id: str, session_id: str, *, lock: bool = True) -> SessionState:
    s = tx.lock_session(session_id, lock=lock) if is_uuid(session_id) else None
    if s is None or s.user_id != user_id:
        raise SessionNotFound(f"session {session_id} not found")
    return s


def existing(tx: SessionRecords, session_id: str) -> SessionState:
    s = tx.lock_session(session_id)
    if s is None:
        raise SessionNotFound(f"session {session_id} not found")
    return s
