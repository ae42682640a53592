"""Rate limits in DynamoDB (moto): per user, per route class, one conditional update per check, TTL on
each window, 429 with Retry-After and X-RateLimit-* headers, and fail-open on a limiter outage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from prepkit.adapters import aws
from prepkit.adapters.dynamo_rate_limiter import DynamoRateLimiter
from prepkit.api.app import create_app
from prepkit.container import Container
from prepkit.settings import Settings
from tests.fakes import RecordingMetrics
from tests.integration.conftest import SETUP_BODY, count_sessions

Auth = Callable[[str], dict[str, str]]


def test_setup_allows_five_an_hour_then_429(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    before = int(time.time())
    remaining = []
    for _ in range(5):
        r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "5"
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
        reset = int(r.headers["X-RateLimit-Reset"])
        assert before < reset <= before + 3600 + 1
    assert remaining == [4, 3, 2, 1, 0]

    r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "RATE_LIMITED" and body["recoverable"] is True
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert body["details"]["retryAfterSeconds"] == retry_after
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["X-RateLimit-Limit"] == "5"
    assert count_sessions(db) == 5  # the refused request wrote nothing
    assert metrics.total("RateLimited", route_class="setup") == 1

    # another user, and another route class of the same user, are not affected
    assert client.post("/interviews/setup", json=SETUP_BODY, headers=auth("bob")).status_code == 200
    r = client.get("/interviews/history", headers=auth("alice"))
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Limit"] == "100"
    assert r.headers["X-RateLimit-Remaining"] == "99"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"type": "python"}, "application/json"),  # fields missing
        ({**SETUP_BODY, "duration": 7}, "application/json"),  # not a duration we sell
        ("not json", "application/json"),
        (SETUP_BODY, "text/plain"),
        (None, "application/json"),  # no body at all
    ],
)
def test_refused_setups_do_not_use_up_the_quota(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], body: object, content_type: str
) -> None:
    headers = {**auth("carol"), "content-type": content_type}
    raw = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    for _ in range(6):  # more refused requests than the limit allows
        r = client.post("/interviews/setup", content=raw, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert "X-RateLimit-Remaining" not in r.headers  # not counted
    assert count_sessions(db) == 0
    remaining = []
    for _ in range(5):  # the whole quota is still there
        r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("carol"))
        assert r.status_code == 200, r.text
        remaining.append(r.headers["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    assert client.post("/interviews/setup", json=SETUP_BODY, headers=auth("carol")).status_code == 429
    assert count_sessions(db) == 5


def test_refused_query_parameters_do_not_count(client: TestClient, auth: Auth) -> None:
    for _ in range(3):
        r = client.get("/interviews/history?limit=500", headers=auth("gina"))
        assert r.status_code == 400
        assert "X-RateLimit-Remaining" not in r.headers
    r = client.get("/interviews/history", headers=auth("gina"))
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "99"


def test_requests_the_route_accepts_count_even_when_refused_later(
    make_container: Callable[..., Container], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that reaches the route costs work (a lookup, a signature check): an unknown session
    (404) counts, else probing ids would be free. The limit comes from a partial PREPKIT_RATE_LIMITS."""
    monkeypatch.setenv("PREPKIT_RATE_LIMITS", '{"status": "2/86400"}')  # no window ends mid-test
    tight = Settings(
        stage=settings.stage,
        database_url=settings.database_url,
        aws_endpoint_url=settings.aws_endpoint_url,
        rate_limit_table=settings.rate_limit_table,
    )
    client = TestClient(create_app(make_container(settings_=tight)))
    token = client.post("/dev/token", json={"userId": "dave"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    codes = [
        client.get("/interviews/6f1c1a52-0000-4000-8000-000000000000", headers=headers).status_code
        for _ in range(3)
    ]
    assert codes == [404, 404, 429]
    # the environment changed one class; every other class keeps its default
    r = client.get("/interviews/history", headers=headers)
    assert r.headers["X-RateLimit-Limit"] == "100"


def test_one_item_per_user_route_and_window_with_a_ttl(settings: Settings) -> None:
    client = aws.client("dynamodb", settings)
    now = 1_800_000_123
    limiter = DynamoRateLimiter(client, settings.rate_limit_table, clock=lambda: now)
    decisions = [limiter.hit("erin#setup", limit=3, window_s=3600) for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    window_start = now - now % 3600
    assert decisions[3] is not None and decisions[3].retry_after_s == window_start + 3600 - now
    items = client.scan(TableName=settings.rate_limit_table)["Items"]
    assert items == [
        {
            "pk": {"S": f"erin#setup#{window_start}"},
            "count": {"N": "3"},  # the refused hit did not count
            "expires_at": {"N": str(window_start + 3600 + 60)},
        }
    ]
    ttl = client.describe_time_to_live(TableName=settings.rate_limit_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    later = DynamoRateLimiter(client, settings.rate_limit_table, clock=lambda: now + 3600)
    fresh = later.hit("erin#setup", limit=3, window_s=3600)
    assert fresh is not None and fresh.allowed and fresh.remaining == 2


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "table-missing"])
def test_a_limiter_outage_fails_open_with_a_log_line_and_a_metric(
    make_container: Callable[..., Container],
    settings: Settings,
    metrics: RecordingMetrics,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
) -> None:
    if endpoint == "table-missing":
        broken = settings.model_copy(update={"rate_limit_table": "no-such-table"})
    else:
        broken = settings.model_copy(update={"aws_endpoint_url": endpoint})
    container = make_container(settings_=broken)
    client = TestClient(create_app(container), raise_server_exceptions=False)
    token = client.post("/dev/token", json={"userId": "frank"}).json()["token"]
    with caplog.at_level("WARNING", logger="prepkit"):
        r = client.post("/interviews/setup", json=SETUP_BODY, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert "X-RateLimit-Limit" not in r.headers
    assert metrics.total("RateLimiterUnavailable", route_class="setup") == 1
    assert any("rate limiter unavailable" in rec.getMessage() for rec in caplog.records)
    assert count_sessions(db) == 1
