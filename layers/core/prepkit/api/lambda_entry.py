"""Lambda entry points: Mangum over the function's FastAPI app, wrapped in Powertools. Settings are
read and validated and adapters built once, at cold start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from prepkit.api.app import create_app
from prepkit.container import Container, build_container
from prepkit.observability import logger, tracer
from prepkit.settings import get_settings

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def make_handler(function: str, container: Container | None = None) -> Handler:
    app = create_app(container or build_container(get_settings()), function=function)
    asgi = Mangum(app, lifespan="off", api_gateway_base_path="/")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response: dict[str, Any] = asgi(event, context)  # type: ignore[arg-type]
        return response

    wrapped: Handler = handler
    return wrapped
