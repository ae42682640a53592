"""FastAPI dependencies as `Annotated` aliases. `CurrentUser` authenticates the caller and then counts
the request against the rate-limit class that the route table gives the matched route."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from prepkit.api.auth import Principal, authenticate
from prepkit.container import Container
from prepkit.domain.errors import RateLimited
from prepkit.domain.services import InterviewService
from prepkit.routes import route_for
from prepkit.settings import Settings

log = logging.getLogger(__name__)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_settings_dep(container: ContainerDep) -> Settings:
    return container.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_interviews(container: ContainerDep) -> InterviewService:
    return container.interviews


InterviewsDep = Annotated[InterviewService, Depends(get_interviews)]


def current_user(request: Request, container: ContainerDep) -> Principal:
    principal = authenticate(request, container.settings)
    _enforce_rate_limit(request, container, principal)
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def _enforce_rate_limit(request: Request, container: ContainerDep, principal: Principal) -> None:
    matched = request.scope.get("route")
    route = route_for(request.method, getattr(matched, "path", ""))
    if route is None or route.rate_class is None:
        return
    limit, window = container.settings.limit_for(route.rate_class)
    decision = container.rate_limiter.hit(
        f"{principal.user_id}#{route.rate_class}", limit=limit, window_s=window
    )
    if decision is None:
        log.warning("rate limiter unavailable: allowing %s %s", request.method, route.path)
        container.metrics.count("RateLimiterUnavailable", route_class=route.rate_class)
        return
    request.state.rate_limit_headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_epoch_s),
    }
    if not decision.allowed:
        container.metrics.count("RateLimited", route_class=route.rate_class)
        raise RateLimited(
            f"rate limit of {limit} requests per {window} s reached for {route.rate_class}",
            retry_after_s=decision.retry_after_s,
        )
