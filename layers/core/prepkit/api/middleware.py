"""Pure ASGI middleware: request id / correlation id, rate-limit headers on every response that
counted against a limit, and a hard cap on the request body size (413 before the app sees it)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prepkit.api.errors import error_body
from prepkit.observability import logger


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = _request_id(scope, headers)
        logger.set_correlation_id(request_id)
        scope.setdefault("state", {})

        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _too_large(send, request_id, self.max_body_bytes)
            return

        # Buffer the (small) body first: an oversized one is refused before the app sees any of it,
        # whether or not the client declared its length.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _too_large(send, request_id, self.max_body_bytes)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        started = time.perf_counter()
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
            route = scope.get("route")
            logger.info(
                "request",
                method=scope.get("method"),
                route=getattr(route, "path", None),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            logger.set_correlation_id(None)


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
