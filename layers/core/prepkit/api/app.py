"""The FastAPI app. The local server serves every route of the route table; a Lambda function's app
serves only the routes the table gives that function."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from prepkit.api import errors
from prepkit.api.middleware import RequestContextMiddleware
from prepkit.api.routers import admin, flow, interviews, system
from prepkit.container import Container
from prepkit.routes import ROUTES, route_for

DESCRIPTION = """PrepKit Interviews API. Every route but `/health`, the docs and the webhooks needs
`Authorization: Bearer <JWT>`. Errors always have the shape
`{error, code, userMessage, recoverable, details}`."""


def _only(router: APIRouter, wanted: set[tuple[str, str]]) -> APIRouter:
    """A copy of `router` holding just the wanted routes. Every route must be in the route table."""
    kept = APIRouter(responses=router.responses)
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"unexpected route type {type(route).__name__}")
        methods = route.methods or set()
        for method in methods:
            if route_for(method, route.path) is None:
                raise RuntimeError(f"{method} {route.path} is not in the route table (prepkit.routes)")
        if any((m, route.path) in wanted for m in methods):
            kept.routes.append(route)
    return kept


def create_app(container: Container, *, function: str | None = None) -> FastAPI:
    settings = container.settings
    docs = function is None  # the docs are served by the local server, not by each Lambda
    app = FastAPI(
        title="PrepKit Interviews",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.container = container
    wanted = {
        (r.method, r.path)
        for r in ROUTES
        if (function is None or r.function == function) and (settings.stage.is_offline or not r.local_only)
    }
    for router in (
        system.health_router,
        system.dev_router,
        interviews.router,
        flow.router,
        flow.webhooks,
        admin.router,
    ):
        app.include_router(_only(router, wanted))

    errors.install(app)
    app.add_middleware(RequestContextMiddleware, json_max_body_bytes=settings.max_body_bytes)
    return app
