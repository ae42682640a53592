"""Integration fixtures: one real PostgreSQL (pgserver) and one moto server on 127.0.0.1 per test
process, migrations applied once; each test gets clean tables, its own DynamoDB table and an app."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from prepkit.adapters import aws
from prepkit.adapters.dynamo_rate_limiter import DynamoRateLimiter, create_table
from prepkit.adapters.postgres import PostgresSessionRepository, make_pool
from prepkit.adapters.question_bank import QuestionBank
from prepkit.api.app import create_app
from prepkit.container import Container
from prepkit.local.stack import LocalStack, free_port, local_stack, prepare
from prepkit.ports import QuestionGenerator
from prepkit.settings import Settings, Stage
from tests.fakes import RecordingMetrics


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = Path(tmp_path_factory.mktemp("stack"))
    with local_stack(data_dir=data_dir, moto_port=free_port()) as s:
        prepare(s.settings(stage=Stage.TEST))
        yield s


@pytest.fixture(scope="session")
def pool(stack: LocalStack) -> Iterator[ConnectionPool]:
    p = make_pool(stack.database_url, max_size=4, connect_timeout_s=5)
    yield p
    p.close()


@pytest.fixture
def db(stack: LocalStack) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection for assertions; tables are emptied and prices reset before each test."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE interview_sessions CASCADE")
        conn.execute("UPDATE pricing SET active = true")
        conn.execute(
            "UPDATE pricing SET amount_paise = v.amount FROM (VALUES (15, 9900), (20, 14900), (30, 19900),"
            " (45, 27900)) AS v(minutes, amount) WHERE duration_minutes = v.minutes"
        )
        yield conn


@pytest.fixture
def settings(stack: LocalStack) -> Settings:
    table = f"rl-{uuid.uuid4().hex[:12]}"
    s = stack.settings(stage=Stage.TEST, rate_limit_table=table)
    create_table(aws.client("dynamodb", s), table)
    return s


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def make_container(
    settings: Settings, pool: ConnectionPool, metrics: RecordingMetrics, db: psycopg.Connection[Any]
) -> Callable[..., Container]:
    def build(*, ai: QuestionGenerator | None = None, settings_: Settings | None = None) -> Container:
        s = settings_ or settings
        return Container(
            settings=s,
            repo=PostgresSessionRepository(pool),
            rate_limiter=DynamoRateLimiter(
                aws.client("dynamodb", s, timeout_s=1, attempts=1), s.rate_limit_table
            ),
            metrics=metrics,
            fallback_questions=QuestionBank(),
            ai_questions=ai,
        )

    return build


@pytest.fixture
def client(make_container: Callable[..., Container]) -> TestClient:
    return TestClient(create_app(make_container()), raise_server_exceptions=False)


def token_for(client: TestClient, user: str, groups: list[str] | None = None) -> str:
    r = client.post("/dev/token", json={"userId": user, "groups": groups or []})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


@pytest.fixture
def auth(client: TestClient) -> Callable[[str], dict[str, str]]:
    cache: dict[str, dict[str, str]] = {}

    def headers(user: str) -> dict[str, str]:
        if user not in cache:
            cache[user] = {"Authorization": f"Bearer {token_for(client, user)}"}
        return cache[user]

    return headers


SETUP_BODY: dict[str, Any] = {
    "type": "python",
    "difficulty": "medium",
    "duration": 20,
    "focusAreas": ["async", "generators"],
    "specificRequirements": "Backend role, Django shop",
    "language": "en-IN",
    "voice": "female",
    "pace": "normal",
    "followUpStyle": "probing",
}


def count_sessions(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM interview_sessions").fetchone()
    assert row is not None
    return int(row[0])
