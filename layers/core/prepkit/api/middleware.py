"""Pure ASGI middleware: request id / correlation id, rate-limit headers on every response that
counted against a limit, a hard cap on the request body size per route (413 before the app sees it),
`X-Content-Type-Options: nosniff` on every response and `Cache-Control: no-store` on those that may carry
personal data, and the answer to any exception no handler took (logged as a 500 with its request id)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prepkit.api.errors import error_body, unhandled
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
            await _too_large(send, request_id, limit, _carries_personal_data(path))
            return

        # Buffer the body first: an oversized one is refused before the app sees any of it, whether or
        # not the client declared its length.
        body, size = await _read_body(receive, limit)
        if body is None:
            refused(declared, size)
            await _too_large(send, request_id, limit, _carries_personal_data(path))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 0
        started_response = False
        personal = _carries_personal_data(path)

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message = _with_our_headers(message, request_id, personal, scope["state"])
            await send(message)

        try:
            await self.app(scope, replay, send_with_headers)
        except Exception as exc:
            # No handler took it: answer here, inside the request's context, so the error and the
            # request are logged with the request id and the status the client got (not "status": 0).
            route = getattr(scope.get("route"), "path", None) or (table_route.path if table_route else None)
            if not await _answer_unhandled(
                exc, send_with_headers, started_response, method, route, request_id
            ):
                raise
        finally:
            _log_request(method, getattr(scope.get("route"), "path", None), status, started)
            logger.set_correlation_id(None)


async def _answer_unhandled(
    exc: Exception, send: Send, started_response: bool, method: str, route: str | None, request_id: str
) -> bool:
    """Log an exception no handler took and answer it; False when the response had already started
    (too late for an error body: the caller re-raises and the server closes the connection)."""
    name = type(exc).__name__
    if started_response:
        logger.exception(
            "unhandled error after the response started", error_type=name, method=method, route=route,
            request_id=request_id,
        )  # fmt: skip
        return False
    status, error = unhandled(exc)
    if status == 500:
        logger.exception(
            "unhandled error", error_type=name, status=status, method=method, route=route,
            request_id=request_id,
        )  # fmt: skip
    else:  # the database cannot serve now: expected during an outage, no stack trace
        logger.warning(
            "database unavailable", error_type=name, error=str(exc)[:300], status=status, method=method,
            route=route, request_id=request_id,
        )  # fmt: skip
    await _send_json(send, status, error)
    return True


#: path prefixes whose responses carry personal data (sessions, reports, payments, tokens)
PERSONAL_DATA_PREFIXES = ("/interviews", "/payments", "/admin", "/dev")
#: the headers this middleware sets on every response (an app's own value is replaced; so is its
#: Cache-Control where the response may carry personal data)
_OURS = frozenset({b"x-request-id", b"x-content-type-options"})


def _with_our_headers(message: Message, request_id: str, personal: bool, state: dict[str, Any]) -> Message:
    extra = [(b"x-request-id", request_id.encode()), *_security_headers(personal)]
    for key, value in (state.get("rate_limit_headers") or {}).items():
        extra.append((key.lower().encode(), value.encode()))
    ours = _OURS | {b"cache-control"} if personal else _OURS
    kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
    return {**message, "headers": [*kept, *extra]}


def _carries_personal_data(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PERSONAL_DATA_PREFIXES)


def _security_headers(personal: bool) -> list[tuple[bytes, bytes]]:
    """nosniff on every response; no-store where the body may carry personal data (no browser, proxy
    or CDN may keep a copy)."""
    headers = [(b"x-content-type-options", b"nosniff")]
    if personal:
        headers.append((b"cache-control", b"no-store"))
    return headers


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


async def _too_large(send: Send, request_id: str, limit: int, personal: bool) -> None:
    body = error_body(
        "PAYLOAD_TOO_LARGE",
        f"request body exceeds {limit} bytes",
        "The request is too large.",
        recoverable=False,
        details={"maxBytes": limit},
    )
    extra = [(b"x-request-id", request_id.encode()), *_security_headers(personal)]
    await _send_json(send, 413, body, extra)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
