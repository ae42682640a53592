"""Domain errors. Each carries a stable code; the HTTP layer maps codes to status codes in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "UNKNOWN_ERROR"
    user_message = "Something went wrong. Please try again."
    recoverable = True

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


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    user_message = "Please sign in again."


class Forbidden(DomainError):
    code = "FORBIDDEN"
    user_message = "You do not have access to this."
    recoverable = False


class SessionNotFound(DomainError):
    code = "SESSION_NOT_FOUND"
    user_message = "We could not find that interview."
    recoverable = False


class InvalidState(DomainError):
    code = "INVALID_STATE"
    user_message = "This interview cannot do that right now."
    recoverable = False


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    user_message = "Too many requests. Please wait a little and try again."

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
    user_message = "We could not prepare your questions. Please try again."


class PaymentFailed(DomainError):
    """The payment provider failed or could not be reached: the client may try again."""

    code = "PAYMENT_FAILED"
    user_message = "We could not reach the payment provider. Please try again."


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


class VoiceUnavailable(DomainError):
    code = "CALL_FAILED"
    user_message = "We could not start the interview call. Please try again."


class ReportNotReady(DomainError):
    code = "TRANSCRIPT_MISSING"
    user_message = "Your report is not ready yet."

    def __init__(self, message: str, *, state: str):
        super().__init__(message, details={"state": state})
        self.state = state


class ReportTransient(Exception):
    """The report writer failed in a way worth retrying (rate limit, 5xx, timeout, malformed output).
    Step Functions matches this class name in GenerateReport's Retry."""


class ReportFailed(Exception):
    """The report writer cannot write this report; the pipeline falls back to the offline scorer."""
