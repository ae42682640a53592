"""The session lifecycle: every status change is checked here and nowhere else."""

from __future__ import annotations

from prepkit.domain.errors import InvalidState
from prepkit.domain.models import SessionStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.PAYMENT_FAILED}),
    S.PAYMENT_FAILED: frozenset({S.PAID}),  # a failed attempt can be followed by a capture
    S.PAID: frozenset({S.IN_CALL, S.EXPIRED, S.FAILED}),
    S.IN_CALL: frozenset({S.PROCESSING, S.CALL_FAILED, S.FAILED}),
    S.CALL_FAILED: frozenset({S.PAID, S.REFUNDED, S.FAILED}),  # one free retake, else refund
    S.PROCESSING: frozenset({S.COMPLETED, S.FAILED}),
    S.EXPIRED: frozenset({S.REFUNDED}),
    S.FAILED: frozenset({S.REFUNDED}),
    S.COMPLETED: frozenset(),
    S.REFUNDED: frozenset(),
}

FINAL: frozenset[S] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_transition(current: S, target: S) -> bool:
    """True when the move must happen, False when it already has (a repeat is a no-op);
    InvalidState when it is not allowed from here."""
    if current is target:
        return False
    if target not in TRANSITIONS[current]:
        raise InvalidState(f"cannot move a session from {current.value} to {target.value}")
    return True
