"""The real entry points (functions/<name>/handler.py) answer API Gateway HTTP API v2 events through
Mangum, with the claims of the JWT authorizer, against real PostgreSQL and moto."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from prepkit.local.stack import LocalStack
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS
from prepkit.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).resolve().parents[1] / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "prepkit-setup"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:ap-south-1:123456789012:function:prepkit-setup"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "5b8d0a4e-88d9-4c2c-a3a1-000000000001"
    log_group_name: str = "/aws/lambda/prepkit-setup"
    log_stream_name: str = "2026/11/23/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _load(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"handler_{function}", ROOT / "functions" / function / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, stack: LocalStack, settings: Settings) -> Iterator[None]:
    monkeypatch.setenv("PREPKIT_STAGE", "test")
    monkeypatch.setenv("PREPKIT_AUTH_MODE", "apigw")
    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    monkeypatch.setenv("PREPKIT_AWS_ENDPOINT_URL", stack.aws_endpoint_url)
    monkeypatch.setenv("PREPKIT_RATE_LIMIT_TABLE", settings.rate_limit_table)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def test_every_function_in_the_route_table_has_an_entry_point() -> None:
    on_disk = {p.name for p in (ROOT / "functions").iterdir() if (p / "handler.py").exists()}
    assert set(FUNCTIONS) | set(NON_HTTP_FUNCTIONS) == on_disk


@pytest.mark.usefixtures("lambda_env")
def test_setup_and_reads_functions_answer_http_api_v2_events(db: psycopg.Connection[Any]) -> None:
    setup = _load("setup")
    response = setup(_event("apigw_v2_setup.json"), FakeLambdaContext())
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["status"] == "pending_payment"
    assert body["questionSource"] == "fallback"
    assert len(body["questions"]) == 4
    assert response["headers"]["x-ratelimit-limit"] == "5"
    assert response["headers"]["x-request-id"] == "Jd3kYhVYBcwEMbQ="
    owner = db.execute(
        "SELECT user_id, type FROM interview_sessions WHERE id = %s", (body["sessionId"],)
    ).fetchone()
    assert owner == ("7d1f3f5e-1c1b-4a55-9f3e-2f6c1f9a1b2c", "data-structures")

    reads = _load("reads")
    get = json.loads(json.dumps(_event("apigw_v2_get_session.json")).replace("SESSION_ID", body["sessionId"]))
    response = reads(get, FakeLambdaContext(function_name="prepkit-reads"))
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["sessionId"] == body["sessionId"]

    # another user, same session id: 404
    other = copy.deepcopy(get)
    other["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = "someone-else"
    assert reads(other, FakeLambdaContext())["statusCode"] == 404


@pytest.mark.usefixtures("lambda_env")
def test_a_function_serves_only_its_own_routes_and_needs_the_authorizer_claims(
    db: psycopg.Connection[Any],
) -> None:
    reads = _load("reads")
    assert reads(_event("apigw_v2_setup.json"), FakeLambdaContext())["statusCode"] in (404, 405)

    setup = _load("setup")
    no_claims = _event("apigw_v2_setup.json")
    del no_claims["requestContext"]["authorizer"]
    response = setup(no_claims, FakeLambdaContext())
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["code"] == "UNAUTHORIZED"
    row = db.execute("SELECT count(*) FROM interview_sessions").fetchone()
    assert row == (0,)


@pytest.mark.usefixtures("lambda_env")
def test_base64_bodies_are_decoded(db: psycopg.Connection[Any]) -> None:
    event = _event("apigw_v2_setup.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    response = _load("setup")(event, FakeLambdaContext())
    assert response["statusCode"] == 200
