"""Pure ASGI middleware: request id / correlation id, rate-limit headers on every response that
counted against a limit, and a hard cap on the request body size per route (413 before the app sees it)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prepkit.api.errors import error_body
from prepkit.observability import logger
from prepkit.routes import JSON_MAX_BODY_BYTES, Route, match


class RequestContextMiddleware:
    """`json_max_body_bytes` is the JSON API's cap; a route of the table with its own cap (the webhooks)
    gets that one. A path that is not in the table keeps the JSON API's cap."""

    def __init__(self, app: ASGIApp, *, json_max_body_bytes: int = JSON_MAX_BODY_BYTES):
        self.app = app
        self.json_max_body_bytes = json_max_body_bytes

    def limit_for(self, method: str, path: str) -> tuple[Route | None, int]:
        route = match(method, path)
        return route, route.body_limit(self.json_max_body_bytes) if route else self.json_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = _request_id(scope, headers)
        logger.set_correlation_id(request_id)
        scope.setdefault("state", {})

        started = time.perf_counter()
        method = str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        table_route, limit = self.limit_for(method, path)

        def refused(declared_bytes: int | str | None, streamed_bytes: int | None) -> None:
            logger.warning(
                "request body too large",
                method=method,
                route=table_route.path if table_route else path[:200],
                declared_bytes=declared_bytes,
                streamed_bytes=streamed_bytes,
                limit_bytes=limit,
                request_id=request_id,
            )
            _log_request(method, table_route.path if table_route else None, 413, started)
            logger.set_correlation_id(None)

        raw_declared = headers.get(b"content-length")
        declared = (
            int(raw_declared) if raw_declared and raw_declared.isdigit() and len(raw_declared) < 19 else None
        )
        if raw_declared is not None and (declared is None or declared > limit):
            refused(declared if declared is not None else raw_declared.decode("latin-1")[:40], None)
            await _too_large(send, request_id, limit)
            return

        # Buffer the body first: an oversized one is refused before the app sees any of it, whether or
        # not the client declared its length.
        body, size = await _read_body(receive, limit)
        if body is None:
            refused(declared, size)
            await _too_large(send, request_id, limit)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                for key, value in (scope["state"].get("rate_limit_headers") or {}).items():
                    extra.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, replay, send_with_headers)
        finally:
            _log_request(method, getattr(scope.get("route"), "path", None), status, started)
            logger.set_correlation_id(None)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, int]:
    """The whole request body, or None as soon as it grows past `limit`; and the bytes read."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, size
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), size


def _log_request(method: str, route: str | None, status: int, started: float) -> None:
    logger.info(
        "request",
        method=method,
        route=route,
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _request_id(scope: Scope, headers: dict[bytes, bytes]) -> str:
    event: dict[str, Any] = scope.get("aws.event") or {}
    from_gateway = (event.get("requestContext") or {}).get("requestId")
    if isinstance(from_gateway, str) and from_gateway:
        return from_gateway
    given = headers.get(b"x-request-id", b"").decode("latin-1")
    if given and len(given) <= 128 and given.replace("-", "").isalnum():
        return given
    return str(uuid.uuid4())


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    body = json.dumps(
        error_body(
            "PAYLOAD_TOO_LARGE",
            f"request body exceeds {limit} bytes",
            "The request is too large.",
            recoverable=False,
            details={"maxBytes": limit},
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
