"""Structured JSON logs with a correlation id per request, and never a token or a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from prepkit.domain.errors import DatabaseUnavailable
from prepkit.observability import logger
from tests.integration.conftest import SETUP_BODY


@pytest.fixture
def info_logs() -> Iterator[io.StringIO]:
    """What the Powertools handler writes (to stdout in Lambda), at INFO."""
    level = logger.log_level
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    logger.setLevel("INFO")
    yield buffer
    logger.setLevel(level)
    handler.setStream(previous)


def test_request_log_lines_are_json_with_correlation_id_and_no_secrets(
    client: TestClient, info_logs: io.StringIO
) -> None:
    token = client.post("/dev/token", json={"userId": "alice"}).json()["token"]
    r = client.post(
        "/interviews/setup",
        json=SETUP_BODY,
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-12345"},
    )
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == "req-12345"
    out = info_logs.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    setup_line = next(line for line in requests if line.get("route") == "/interviews/setup")
    assert setup_line["correlation_id"] == "req-12345"
    assert setup_line["status"] == 200
    assert setup_line["method"] == "POST"
    assert isinstance(setup_line["duration_ms"], float)
    assert token not in out
    assert token.split(".")[2] not in out  # not even the signature
    assert "Bearer" not in out and "local-dev-only-secret" not in out


def test_a_request_without_an_id_gets_one(client: TestClient) -> None:
    first = client.get("/health").headers["X-Request-Id"]
    second = client.get("/health").headers["X-Request-Id"]
    assert first and second and first != second
    hostile = client.get("/health", headers={"X-Request-Id": 'x"}{injected'}).headers["X-Request-Id"]
    assert hostile != 'x"}{injected'


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def _break_pricing(client: TestClient, exc: Exception) -> None:
    container: Any = client.app.state.container  # type: ignore[attr-defined]

    def broken(*_: object, **__: object) -> None:
        raise exc

    container.repo.price_for = broken


def test_an_unhandled_error_is_logged_as_a_500_with_its_request_id(
    client: TestClient, auth: Callable[[str], dict[str, str]], info_logs: io.StringIO
) -> None:
    _break_pricing(client, RuntimeError("exploded at /secret/path"))
    r = client.post(
        "/interviews/setup", json=SETUP_BODY, headers={**auth("alice"), "X-Request-Id": "req-boom-1"}
    )
    assert r.status_code == 500
    assert r.json()["code"] == "UNKNOWN_ERROR"
    assert "RuntimeError" not in r.text and "exploded" not in r.text
    assert r.headers["X-Request-Id"] == "req-boom-1"  # the error response carries it too
    lines = _lines(info_logs)
    (request,) = [
        line for line in lines if line["message"] == "request" and line["route"] == "/interviews/setup"
    ]
    assert request["status"] == 500
    assert request["correlation_id"] == "req-boom-1"
    (error,) = [line for line in lines if line.get("message") == "unhandled error"]
    assert error["level"] == "ERROR" and error["status"] == 500
    assert error["error_type"] == "RuntimeError"
    assert error["request_id"] == "req-boom-1" and error["correlation_id"] == "req-boom-1"
    assert "exploded at /secret/path" in error["exception"]  # the trace is in the log, not the body
    assert not [line for line in lines if line.get("status") == 0]


def test_a_database_that_cannot_serve_is_a_recoverable_503_logged_with_its_request_id(
    client: TestClient, auth: Callable[[str], dict[str, str]], info_logs: io.StringIO
) -> None:
    _break_pricing(client, PoolTimeout("couldn't get a connection after 1.50 sec"))
    r = client.post(
        "/interviews/setup", json=SETUP_BODY, headers={**auth("alice"), "X-Request-Id": "req-db-1"}
    )
    assert r.status_code == 503
    assert r.json() == {
        "error": "The database is unavailable",
        "code": "DATABASE_UNAVAILABLE",
        "userMessage": DatabaseUnavailable.user_message,
        "recoverable": True,
        "details": {},
    }
    lines = _lines(info_logs)
    (request,) = [
        line for line in lines if line["message"] == "request" and line["route"] == "/interviews/setup"
    ]
    assert request["status"] == 503 and request["correlation_id"] == "req-db-1"
    (warning,) = [line for line in lines if line.get("message") == "database unavailable"]
    assert warning["level"] == "WARNING" and warning["error_type"] == "PoolTimeout"
    assert warning["request_id"] == "req-db-1"
    assert not [line for line in lines if line.get("message") == "unhandled error"]
