"""The reconciler's rule (prepkit.domain.reconciler.decide), as data: every status, every execution
status, the start window and the restart budget."""

from __future__ import annotations

import pytest

from prepkit.domain.lifecycle import FINAL
from prepkit.domain.models import Price
from prepkit.domain.models import SessionStatus as S
from prepkit.domain.reconciler import Action, decide, execution_name, window_left_s
from prepkit.ports import ExecutionStatus, SessionState

SID = "3f2b6c1e-8d4a-4c2e-9b7f-1a2b3c4d5e6f"
WINDOW = 3600


def state(status: S, *, restarts: int = 0, paid_age_s: float | None = 60.0) -> SessionState:
    return SessionState(
        id=SID, user_id="alice", status=status, price=Price(14900, "INR"), retakes_used=0,
        pipeline_step=None, pipeline_token=None, pipeline_started=True, pipeline_restarts=restarts,
        paid_age_s=paid_age_s,
    )  # fmt: skip


def act(
    status: S,
    execution: ExecutionStatus | None,
    *,
    restarts: int = 0,
    paid_age_s: float | None = 60.0,
    max_restarts: int = 3,
) -> Action:
    s = state(status, restarts=restarts, paid_age_s=paid_age_s)
    return decide(s, execution, start_window_s=WINDOW, max_restarts=max_restarts)


@pytest.mark.parametrize("execution", ["running", "ended", None])
@pytest.mark.parametrize("status", sorted(FINAL | {S.PENDING_PAYMENT, S.PAYMENT_FAILED}, key=str))
def test_final_or_unpaid_sessions_are_left_alone(status: S, execution: ExecutionStatus | None) -> None:
    assert act(status, execution) is Action.NONE


@pytest.mark.parametrize("status", [S.PAID, S.IN_CALL, S.CALL_FAILED, S.PROCESSING, S.EXPIRED, S.FAILED])
def test_a_running_pipeline_owns_its_session(status: S) -> None:
    assert act(status, "running") is Action.NONE
    assert act(status, "running", restarts=99) is Action.NONE
    assert act(status, "running", paid_age_s=WINDOW * 10) is Action.NONE


@pytest.mark.parametrize("execution", ["ended", None])
@pytest.mark.parametrize("status", [S.EXPIRED, S.FAILED, S.CALL_FAILED])
def test_only_the_refund_is_left_when_the_outcome_is_decided(
    status: S, execution: ExecutionStatus | None
) -> None:
    assert act(status, execution) is Action.REFUND
    assert act(status, execution, restarts=99) is Action.REFUND


def test_paid_past_the_window_expires_whatever_the_execution() -> None:
    assert act(S.PAID, None, paid_age_s=WINDOW) is Action.EXPIRE
    assert act(S.PAID, "ended", paid_age_s=WINDOW + 1) is Action.EXPIRE
    assert act(S.PAID, "ended", paid_age_s=WINDOW - 5) is Action.RESTART
    assert act(S.IN_CALL, "ended", paid_age_s=WINDOW * 2) is Action.RESTART  # a call started: not expired


@pytest.mark.parametrize("status", [S.PAID, S.IN_CALL, S.PROCESSING])
def test_no_execution_of_the_current_name_is_started_under_it(status: S) -> None:
    assert act(status, None) is Action.START
    assert act(status, None, restarts=3) is Action.START  # the restart was counted, its start failed


@pytest.mark.parametrize("status", [S.PAID, S.IN_CALL, S.PROCESSING])
def test_an_ended_execution_is_restarted_until_the_budget_is_spent(status: S) -> None:
    assert act(status, "ended", restarts=0) is Action.RESTART
    assert act(status, "ended", restarts=2) is Action.RESTART
    assert act(status, "ended", restarts=3) is Action.GIVE_UP
    assert act(status, "ended", restarts=0, max_restarts=0) is Action.GIVE_UP


def test_execution_names_are_derived_from_the_session() -> None:
    assert execution_name(SID, 0) == SID
    assert execution_name(SID, 1) == f"{SID}-r1"
    assert execution_name(SID, 20) == f"{SID}-r20"
    assert len(execution_name(SID, 20)) <= 80  # Step Functions' limit on an execution name


def test_the_window_left_counts_from_payment() -> None:
    assert window_left_s(state(S.PAID, paid_age_s=100.4), WINDOW) == WINDOW - 101  # whole seconds, never more
    assert window_left_s(state(S.PAID, paid_age_s=None), WINDOW) == WINDOW
    assert window_left_s(state(S.PAID, paid_age_s=WINDOW + 50), WINDOW) == -50
