"""The pipeline entry point raises every transient failure as TaskTransient (the one error name the ASL
retries for minutes) and lets every other failure through under its own class name (to the Catch)."""

from __future__ import annotations

from typing import Any, cast

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from psycopg_pool import PoolTimeout

from prepkit.domain.errors import (
    InvalidState,
    PaymentFailed,
    PipelineUnavailable,
    ReportFailed,
    ReportTransient,
    SessionNotFound,
    VoiceUnavailable,
)
from prepkit.domain.flow import InterviewFlow
from prepkit.pipeline.tasks import run_task
from prepkit.pipeline.transient import TaskTransient, is_transient


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "StartExecution")


class RaisingFlow:
    def __init__(self, exc: BaseException):
        self.exc = exc

    def task_review_call(self, session_id: str) -> str:  # noqa: ARG002 (the flow's signature)
        raise self.exc


def _wrapped() -> BaseException:
    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as exc:
            raise RuntimeError("while reading the session") from exc
    except RuntimeError as outer:
        return outer


def _chained(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


TRANSIENT: list[BaseException] = [
    psycopg.OperationalError("connection refused"),
    PoolTimeout("couldn't get a connection after 5.00 sec"),
    psycopg.InterfaceError("the connection is closed"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    client_error("ThrottlingException"),
    client_error("TooManyRequestsException", 429),
    client_error("SomethingNew", 503),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    PaymentFailed("razorpay refund: ServerError: 502"),
    VoiceUnavailable("vapi GET /call answered 503"),
    PipelineUnavailable("pipeline start failed"),
    TimeoutError("timed out"),
    _wrapped(),
]

NOT_TRANSIENT: list[BaseException] = [
    KeyError("a bug"),
    InvalidState("cannot move a session from completed to paid"),
    SessionNotFound("session x not found"),
    client_error("AccessDeniedException"),
    client_error("ExecutionAlreadyExists"),
    psycopg.errors.UniqueViolation("duplicate key"),
    ReportTransient("has its own short retry, then the fallback report"),
    _chained(ReportTransient("gemini timed out"), TimeoutError("read timed out")),
    _chained(ReportFailed("gemini blocked the answer"), psycopg.OperationalError("unrelated")),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures_are_raised_as_task_transient(exc: BaseException) -> None:
    assert is_transient(exc)
    with pytest.raises(TaskTransient) as raised:
        run_task(cast("InterviewFlow", RaisingFlow(exc)), {"action": "review_call", "sessionId": "s"})
    assert raised.value.__cause__ is exc
    assert str(raised.value).startswith(type(exc).__name__)


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_other_failures_keep_their_class_name(exc: BaseException) -> None:
    assert not is_transient(exc)
    with pytest.raises(type(exc)) as raised:
        run_task(cast("InterviewFlow", RaisingFlow(exc)), {"action": "review_call", "sessionId": "s"})
    assert raised.value is exc


def test_a_cycle_of_causes_ends() -> None:
    a, b = KeyError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert not is_transient(a)


def test_the_class_name_is_the_asl_error_name() -> None:
    from prepkit.pipeline.transient import TRANSIENT_ERROR

    assert TaskTransient.__name__ == TRANSIENT_ERROR
