"""Structured JSON logs with a correlation id per request, and never a token or a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

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
