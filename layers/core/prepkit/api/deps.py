"""FastAPI dependencies as `Annotated` aliases. `CurrentUser` authenticates the caller and then counts
the request against the rate-limit class that the route table gives the matched route, once the request
is one the route accepts: a body or query that the route's own parameters refuse (400) uses up no quota,
so a client that sends five invalid setups can still set up five interviews."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

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


async def current_user(request: Request, container: ContainerDep) -> Principal:
    principal = authenticate(request, container.settings)
    if await _accepted(request):
        await run_in_threadpool(_enforce_rate_limit, request, container, principal)  # a DynamoDB call
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


async def _accepted(request: Request) -> bool:
    """Whether FastAPI will accept this request's parameters and body: the same validation it runs
    right after this dependency (its own functions over the route's own fields). A request it refuses
    costs us nothing, so it is not counted. Counting after the hit instead (a refund on a 4xx) would need
    a second write per refused request, and a refund lost to a limiter outage would keep the quota used.
    If the check itself cannot run, the request is counted, as before."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return True
    dependant = route.dependant
    try:
        for fields, received in (
            (dependant.path_params, request.path_params),
            (dependant.query_params, request.query_params),
        ):
            if request_params_to_args(fields, received)[1]:
                return False
        if dependant.body_params:
            body = await _body(request)
            embed = bool(getattr(route, "_embed_body_fields", False))
            if (await request_body_to_args(dependant.body_params, body, embed))[1]:
                return False
    except json.JSONDecodeError:
        return False  # FastAPI answers 400 json_invalid
    except Exception:  # never let the pre-check make a request uncounted or fail
        log.warning("request pre-validation failed: counting the request", exc_info=True)
    return True


async def _body(request: Request) -> Any:
    """The body as FastAPI hands it to the route's body fields: JSON when declared so (or undeclared),
    else the raw bytes (which a model refuses); None when empty. FastAPI already read it (cached)."""
    raw = await request.body()
    if not raw:
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type or content_type == "application/json" or content_type.endswith("+json"):
        return await request.json()
    return raw


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
