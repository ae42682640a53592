from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from prepkit.api.deps import ContainerDep, CurrentUser
from prepkit.api.schemas import AdminMetricsOut, ErrorOut
from prepkit.domain.insights import admin_metrics

router = APIRouter(
    prefix="/admin", tags=["admin"], responses={403: {"model": ErrorOut}, 401: {"model": ErrorOut}}
)


@router.get("/metrics", response_model=AdminMetricsOut)
def metrics(user: CurrentUser, container: ContainerDep) -> AdminMetricsOut:
    """Operators only (Cognito group `admin`): sessions by status, completion rate, revenue, AI and voice
    cost, fallback rates."""
    assert container.insights is not None
    return AdminMetricsOut(**asdict(admin_metrics(user.is_admin, container.insights)))
