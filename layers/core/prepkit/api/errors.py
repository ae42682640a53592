"""Every error leaves in one shape: {error, code, userMessage, recoverable, details}. Domain error codes
map to HTTP status codes here and nowhere else. No stack trace ever reaches a client."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prepkit.adapters.postgres import is_database_unavailable
from prepkit.domain import errors as e
from prepkit.domain.errors import SEED, DomainError, RateLimited

log = logging.getLogger(__name__)

#: the one mapping of domain errors to HTTP status codes (looked up along the class hierarchy)
STATUS_BY_ERROR: dict[type[DomainError], int] = {
    e.ValidationFailed: 400,
    e.InvalidSignature: 400,  # POST /payments/verify
    e.Unauthorized: 401,
    e.WebhookUnauthorized: 401,
    e.Forbidden: 403,
    e.SessionNotFound: 404,
    e.InvalidState: 409,
    e.RateLimited: 429,
    e.ReportNotReady: 202,
    e.PaymentFailed: 502,
    e.VoiceUnavailable: 503,
    e.DatabaseUnavailable: 503,
    e.PipelineUnavailable: 503,
    e.PricingUnavailable: 503,
    e.QuestionGenerationFailed: 503,
    DomainError: 500,
}


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


_HTTP_CODES = {
    404: ("NOT_FOUND", "This address does not exist."),
    405: ("METHOD_NOT_ALLOWED", "This address does not accept that method."),
    413: ("PAYLOAD_TOO_LARGE", "The request is too large."),
}


def error_body(
    code: str, message: str, user_message: str, *, recoverable: bool, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": message,
        "code": code,
        "userMessage": user_message,
        "recoverable": recoverable,
        "details": details or {},
    }


#: the `error` of a 5xx body: fixed per code, never the exception's own message (which goes to the log
#: with the request id: it may name a library's exception class, a provider's answer or a path)
_SERVER_ERROR_MESSAGES: dict[str, str] = {
    "CALL_FAILED": "The voice provider could not start the call",
    "PIPELINE_UNAVAILABLE": "The interview pipeline could not be started",
    "PRICING_UNAVAILABLE": "No active price for this interview length",
    "DATABASE_UNAVAILABLE": "The database is unavailable",
    "GEMINI_QUESTION_FAILED": SEED["GEMINI_QUESTION_FAILED"][0],
    "PAYMENT_FAILED": SEED["PAYMENT_FAILED"][0],
}


def public_message(exc: DomainError, status: int) -> str:
    """The `error` a client sees. A 5xx says what failed, in fixed words; a 4xx keeps our message but
    without the class name of any exception it was raised from (e.g. "invalid token: DecodeError" is
    "invalid token"): class names belong in logs."""
    if status >= 500:
        return _SERVER_ERROR_MESSAGES.get(exc.code, SEED["UNKNOWN_ERROR"][0])
    message = exc.message
    for name in _chained_class_names(exc):
        message = re.sub(rf"\b{re.escape(name)}\b:?\s*", "", message)
    return message.strip().rstrip(":").strip() or SEED["UNKNOWN_ERROR"][0]


def _chained_class_names(exc: BaseException) -> set[str]:
    names: set[str] = set()
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, DomainError):
            names.add(type(current).__name__)
        current = current.__cause__ or current.__context__
    return names


def unhandled(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The answer to an exception no handler took (the middleware logs it with the request id): 503
    DATABASE_UNAVAILABLE, recoverable, when the database cannot serve now; otherwise the seed's 500
    UNKNOWN_ERROR. Neither names the exception."""
    if is_database_unavailable(exc):
        return 503, domain_error_body(e.DatabaseUnavailable("the database is unavailable"), 503)
    message, user_message, recoverable = SEED["UNKNOWN_ERROR"]
    return 500, error_body("UNKNOWN_ERROR", message, user_message, recoverable=recoverable)


def domain_error_body(exc: DomainError, status: int) -> dict[str, Any]:
    return error_body(
        exc.code, public_message(exc, status), exc.user_message, recoverable=exc.recoverable,
        details=exc.details,
    )  # fmt: skip


def error_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _field_message(field: str, err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not an accepted field"
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "enum":
        return f"{field} must be one of {err.get('ctx', {}).get('expected', '')}".rstrip()
    msg = str(err.get("msg", "is invalid"))
    msg = msg.removeprefix("Value error, ")
    return f"{field}: {msg[0].lower() + msg[1:] if msg else msg}"


def validation_failure(errors: Sequence[Any]) -> dict[str, Any]:
    fields = []
    for err in errors:
        field = _field_name(err.get("loc", ()))
        fields.append({"field": field, "message": _field_message(field, err)})
    message = "; ".join(f["message"] for f in fields) or "the request is invalid"
    return error_body(
        "VALIDATION_ERROR",
        message,
        "Some of the information sent is missing or invalid.",
        recoverable=True,
        details={"fields": fields},
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = status_for(exc)
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        if status >= 500:  # the full message (class names and all) only here
            log.error("domain error %s: %s", exc.code, exc.message)
        return error_response(status, domain_error_body(exc, status), headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_failure(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, user_message = _HTTP_CODES.get(exc.status_code, ("UNKNOWN_ERROR", SEED["UNKNOWN_ERROR"][1]))
        return error_response(
            exc.status_code,
            error_body(code, str(exc.detail), user_message, recoverable=False),
            dict(exc.headers) if exc.headers else None,
        )

    # Any other exception is answered by RequestContextMiddleware (unhandled() above), inside the
    # request's context: logged as a 500 (or 503) with its request id, never as "status": 0.
