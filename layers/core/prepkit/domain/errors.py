"""Domain errors. Each carries a stable code; the HTTP layer maps codes to status codes in one place.

Where the seed's error table (shared/seeds/000_…, §8.2) has a code, its `message`, `userMessage` and
`recoverable` are used verbatim (SEED below); the other codes are ours."""

from __future__ import annotations

from typing import Any

#: the seed's error table, verbatim: code -> (message, userMessage, recoverable)
SEED: dict[str, tuple[str, str, bool]] = {
    "GEMINI_QUESTION_FAILED": (
        "Failed to generate questions from Gemini",
        "Unable to generate interview questions. Please try again in a moment.",
        True,
    ),
    "GEMINI_REPORT_FAILED": (
        "Failed to generate report from Gemini",
        "Unable to generate interview report. We will retry automatically.",
        True,
    ),
    "PAYMENT_FAILED": (
        "Payment processing failed",
        "Payment failed. Please try again or contact support.",
        True,
    ),
    "SESSION_NOT_FOUND": (
        "Interview session not found",
        "Interview session not found. Please start a new interview.",
        False,
    ),
    "TRANSCRIPT_MISSING": (
        "Interview transcript not available",
        "Interview transcript is being processed. Please check back in a few minutes.",
        True,
    ),
    "UNKNOWN_ERROR": (
        "An unexpected error occurred",
        "Something went wrong. Please try again or contact support.",
        False,
    ),
}


class DomainError(Exception):
    code = "UNKNOWN_ERROR"
    user_message = SEED["UNKNOWN_ERROR"][1]
    recoverable = SEED["UNKNOWN_ERROR"][2]

    def __init__(
        self, message: str, *, user_message: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        if user_message is not None:
            self.user_message = user_message
        self.details: dict[str, Any] = details or {}


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    user_message = "Some of the information sent is missing or invalid."
    recoverable = True


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    user_message = "Please sign in again."
    recoverable = True


class Forbidden(DomainError):
    code = "FORBIDDEN"
    user_message = "You do not have access to this."
    recoverable = False


class SessionNotFound(DomainError):
    code = "SESSION_NOT_FOUND"
    user_message = SEED[code][1]
    recoverable = SEED[code][2]


class InvalidState(DomainError):
    code = "INVALID_STATE"
    user_message = "This interview cannot do that right now."
    recoverable = False


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    user_message = "Too many requests. Please wait a little and try again."
    recoverable = True

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message, details={"retryAfterSeconds": retry_after_s})
        self.retry_after_s = retry_after_s


class PricingUnavailable(DomainError):
    code = "PRICING_UNAVAILABLE"
    user_message = "This interview length is not on sale right now."
    recoverable = False


class QuestionGenerationFailed(DomainError):
    """Raised by a question generator; the setup service falls back to the question bank."""

    code = "GEMINI_QUESTION_FAILED"
    user_message = SEED[code][1]
    recoverable = SEED[code][2]


class PaymentFailed(DomainError):
    """The payment provider failed or could not be reached: the client may try again."""

    code = "PAYMENT_FAILED"
    user_message = SEED[code][1]
    recoverable = SEED[code][2]


class InvalidSignature(DomainError):
    code = "INVALID_SIGNATURE"
    user_message = "We could not verify this payment."
    recoverable = False


class WebhookUnauthorized(DomainError):
    """A webhook whose signature or credential does not check out (401; nothing is written)."""

    code = "INVALID_SIGNATURE"
    user_message = "Unauthorized."
    recoverable = False


class PipelineUnavailable(DomainError):
    code = "PIPELINE_UNAVAILABLE"
    user_message = "We could not start your interview pipeline yet. Please try again shortly."
    recoverable = True


class DatabaseUnavailable(DomainError):
    """The database cannot serve now (down, restarting, failing over, no connection in time): the
    request's transaction did not commit, and the request may be sent again in a moment (503)."""

    code = "DATABASE_UNAVAILABLE"
    user_message = "We are having a brief technical problem. Please try again in a few seconds."
    recoverable = True


class VoiceUnavailable(DomainError):
    code = "CALL_FAILED"
    user_message = "We could not start the interview call. Please try again."
    recoverable = True


class ReportNotReady(DomainError):
    code = "TRANSCRIPT_MISSING"
    user_message = SEED[code][1]
    recoverable = SEED[code][2]

    def __init__(self, message: str, *, state: str):
        super().__init__(message, details={"state": state})
        self.state = state


class ReportTransient(Exception):
    """The report writer failed in a way worth retrying (rate limit, 5xx, timeout, transport, an answer that
    does not parse; not a blocked or truncated one).
    Step Functions matches this class name in GenerateReport's Retry."""


class ReportFailed(Exception):
    """The report writer cannot write this report; the pipeline falls back to the offline scorer."""
