from __future__ import annotations

import itertools

import pytest

from prepkit.domain.errors import InvalidState
from prepkit.domain.lifecycle import FINAL, TRANSITIONS, check_transition
from prepkit.domain.models import SessionStatus as S


def test_the_happy_path_moves_forward() -> None:
    path = [S.PENDING_PAYMENT, S.PAID, S.IN_CALL, S.PROCESSING, S.COMPLETED]
    for current, target in itertools.pairwise(path):
        assert check_transition(current, target) is True


def test_a_repeated_transition_is_a_no_op() -> None:
    assert check_transition(S.PAID, S.PAID) is False


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.COMPLETED, S.PAID), (S.PENDING_PAYMENT, S.IN_CALL), (S.REFUNDED, S.PAID), (S.PROCESSING, S.PAID)],
)
def test_illegal_moves_are_invalid_state(current: S, target: S) -> None:
    with pytest.raises(InvalidState):
        check_transition(current, target)


def test_every_status_is_covered_and_final_ones_are_terminal() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {S.COMPLETED, S.REFUNDED} == FINAL
    # a failed capture can still be followed by a capture; a call failure allows one retake
    assert S.PAID in TRANSITIONS[S.PAYMENT_FAILED]
    assert S.PAID in TRANSITIONS[S.CALL_FAILED]
