from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from prepkit.api.deps import ContainerDep, CurrentUser, InterviewsDep
from prepkit.api.schemas import ErrorOut, HistoryOut, SessionOut, SetupOut, StatsOut
from prepkit.domain.insights import progress
from prepkit.domain.models import InterviewConfig

_ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (400, 401, 404, 429)}

router = APIRouter(prefix="/interviews", tags=["interviews"], responses=_ERRORS)


@router.post("/setup", response_model=SetupOut)
def setup_interview(
    user: CurrentUser, interviews: InterviewsDep, config: Annotated[InterviewConfig, Body()]
) -> SetupOut:
    """Validate the configuration, write the questions, price it, and create a `pending_payment` session."""
    return SetupOut.of(interviews.setup(user.user_id, config))


@router.get("/history", response_model=HistoryOut)
def history(
    user: CurrentUser,
    interviews: InterviewsDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> HistoryOut:
    """The caller's interviews, newest first."""
    return HistoryOut.of(interviews.history(user.user_id, page=page, limit=limit))


@router.get("/stats", response_model=StatsOut)
def stats(user: CurrentUser, container: ContainerDep) -> StatsOut:
    """The caller's progress: scores over time per interview type, and the weakest areas."""
    assert container.insights is not None
    return StatsOut.of(progress(container.insights.score_history(user.user_id)))


@router.get("/{session_id}", response_model=SessionOut)
def get_interview(user: CurrentUser, interviews: InterviewsDep, session_id: str) -> SessionOut:
    """Status, configuration, questions (no rubric), timestamps and the user-facing error, if any."""
    return SessionOut.of(interviews.get(user.user_id, session_id))
