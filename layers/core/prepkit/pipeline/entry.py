"""The pipeline Lambda's entry point, wrapped in Powertools; the container is built at cold start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prepkit.container import Container, build_container
from prepkit.observability import logger, tracer
from prepkit.pipeline.tasks import run_task
from prepkit.settings import get_settings


def make_pipeline_handler(container: Container | None = None) -> Callable[[dict[str, Any], Any], Any]:
    built = container or build_container(get_settings())

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: Any) -> Any:  # noqa: ARG001 (the Lambda signature)
        logger.append_keys(session_id=event.get("sessionId"), action=event.get("action"))
        return run_task(built.flow, event)

    wrapped: Callable[[dict[str, Any], Any], Any] = handler
    return wrapped
