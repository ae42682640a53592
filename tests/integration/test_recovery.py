"""Fast recovery: a PostgreSQL of this test's own is stopped and started again (the shared test server is
never touched). While it is down, requests fail fast with a recoverable 503 in the error shape and
/ready says so while /health stays ok; once it is back, the API serves again within seconds."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from prepkit.adapters import aws
from prepkit.adapters.postgres import make_pool
from prepkit.adapters.readiness import CheckResult, Readiness
from prepkit.api.app import create_app
from prepkit.container import Container
from prepkit.db.migrate import migrate
from prepkit.domain.errors import DatabaseUnavailable
from prepkit.local.stack import embedded_postgres
from prepkit.settings import Settings

#: the promise: after the database returns, at most this long of failed requests
RECOVERY_BUDGET_S = 5.0
#: "fail fast": a request during the outage is answered within this (the pool's acquisition timeout is
#: 1.5 s; the old pool made every request wait 5 s for a 500)
FAIL_FAST_S = 2.5


@dataclass
class OwnDatabase:
    """A PostgreSQL server for one test, which the test may stop and start."""

    url: str
    data_dir: Path

    def stop(self) -> None:
        _server(self.data_dir).cleanup()

    def start(self) -> None:
        _server(self.data_dir)


def _server(data_dir: Path) -> Any:
    """pgserver's handle on the server in data_dir, starting it if it is not running. Imported here, after
    embedded_postgres has set the runtime directory pgserver keeps its lock in (as local/stack.py does)."""
    from pgserver import get_server  # type: ignore[attr-defined]

    return get_server(data_dir)


@pytest.fixture
def own_db(tmp_path: Path) -> Iterator[OwnDatabase]:
    data_dir = (tmp_path / "pg").resolve()
    with embedded_postgres(data_dir) as url:
        migrate(url)
        db = OwnDatabase(url, data_dir)
        try:
            yield db
        finally:
            db.stop()  # whichever server runs now (a restart made a new one)


@pytest.fixture
def state_machine(settings: Settings) -> str:
    """A state machine of this test's own in moto, so /ready's check has something to find."""
    sfn = aws.client("stepfunctions", settings)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    arn: str = sfn.create_state_machine(
        name=f"ready-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/prepkit-ready-test",
    )["stateMachineArn"]
    return arn


@dataclass
class App:
    client: TestClient
    pool: ConnectionPool
    headers: dict[str, str]


@pytest.fixture
def app(
    own_db: OwnDatabase,
    settings: Settings,
    state_machine: str,
    make_container: Callable[..., Container],
) -> Iterator[App]:
    from prepkit.adapters.postgres import PostgresSessionRepository

    s = settings.model_copy(update={"database_url": own_db.url, "pipeline_state_machine_arn": state_machine})
    pool = make_pool(
        own_db.url,
        max_size=4,
        connect_timeout_s=s.db_connect_timeout_s,
        acquire_timeout_s=s.db_acquire_timeout_s,
        reconnect_timeout_s=s.db_reconnect_timeout_s,
    )
    container = make_container(settings_=s, extras={"pool": pool})
    container.repo = PostgresSessionRepository(pool)
    client = TestClient(create_app(container), raise_server_exceptions=False)
    token = client.post("/dev/token", json={"userId": "alice"}).json()["token"]
    pool.wait(timeout=5)
    try:
        yield App(client, pool, {"Authorization": f"Bearer {token}"})
    finally:
        pool.close()


def _history(app: App) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    r = app.client.get("/interviews/history", headers=app.headers)
    return r.status_code, r.json(), time.monotonic() - started


def _fill(pool: ConnectionPool) -> None:
    """Every pooled connection opened (so a restart leaves them all broken)."""
    conns = [pool.getconn() for _ in range(4)]
    for conn in conns:
        pool.putconn(conn)


def _until_served(app: App, budget_s: float) -> tuple[float, int]:
    """Seconds until the first 200, and how many requests failed before it."""
    back = time.monotonic()
    failures = 0
    while time.monotonic() - back < budget_s + FAIL_FAST_S:
        status, _, _ = _history(app)
        if status == 200:
            return time.monotonic() - back, failures
        failures += 1
        time.sleep(0.05)
    raise AssertionError(f"still failing {budget_s} s after the database returned ({failures} requests)")


def test_while_the_database_is_down_requests_fail_fast_and_it_serves_within_seconds_of_its_return(
    app: App, own_db: OwnDatabase
) -> None:
    assert _history(app)[0] == 200
    assert app.client.get("/ready").status_code == 200
    _fill(app.pool)

    own_db.stop()
    down_since = time.monotonic()
    answers = []
    while time.monotonic() - down_since < 8:  # past the pool's reconnect budget, many times over
        answers.append(_history(app))
    assert len(answers) >= 4
    for status, body, took in answers:
        assert status == 503
        assert body == {
            "error": "The database is unavailable",
            "code": "DATABASE_UNAVAILABLE",
            "userMessage": DatabaseUnavailable.user_message,
            "recoverable": True,
            "details": {},
        }
        assert took < FAIL_FAST_S
    ready = app.client.get("/ready")
    assert ready.status_code == 503
    checks = ready.json()["details"]["checks"]
    assert checks["database"]["ok"] is False
    assert checks["rateLimitTable"]["ok"] is True and checks["stateMachine"]["ok"] is True
    assert ready.json()["code"] == "NOT_READY" and ready.json()["recoverable"] is True
    assert app.client.get("/health").json()["status"] == "ok"  # liveness checks no dependency

    own_db.start()
    took, failures = _until_served(app, RECOVERY_BUDGET_S)
    assert took <= RECOVERY_BUDGET_S, (took, failures)
    time.sleep(1.1)  # /ready reuses its answer for a second
    assert app.client.get("/ready").status_code == 200
    assert [_history(app)[0] for _ in range(5)] == [200] * 5


def test_a_quick_restart_costs_no_request(app: App, own_db: OwnDatabase) -> None:
    """Every pooled connection is broken by the restart; the first one found broken has the pool check
    the others, so the first request after the restart already gets a working connection."""
    _fill(app.pool)
    assert app.pool.get_stats()["pool_available"] == 4
    own_db.stop()
    own_db.start()
    status, body, took = _history(app)
    assert status == 200, body
    assert took < FAIL_FAST_S
    assert [_history(app)[0] for _ in range(5)] == [200] * 5


def test_ready_names_what_is_missing(
    app: App, make_container: Callable[..., Container], settings: Settings
) -> None:
    ready = app.client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["stage"] == "test"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "rateLimitTable": True,
        "stateMachine": True,
    }
    # no state machine, no rate-limit table, no pool: each check says so, and nothing names a class
    s = settings.model_copy(
        update={
            "rate_limit_table": f"missing-{uuid.uuid4().hex[:8]}",
            "pipeline_state_machine_arn": settings.pipeline_state_machine_arn + "-missing",
        }
    )
    client = TestClient(create_app(make_container(settings_=s)), raise_server_exceptions=False)
    r = client.get("/ready")
    assert r.status_code == 503
    assert set(r.json()) == {"error", "code", "userMessage", "recoverable", "details"}
    assert {name: check["error"] for name, check in r.json()["details"]["checks"].items()} == {
        "database": "failed",
        "rateLimitTable": "failed",
        "stateMachine": "failed",
    }
    assert "Error" not in r.text and "Exception" not in r.text


def test_a_hanging_probe_is_a_timeout_and_one_answer_serves_a_second() -> None:
    calls: list[str] = []
    now = [100.0]

    def hangs() -> None:
        calls.append("hangs")
        time.sleep(2)

    def answers() -> None:
        calls.append("answers")

    readiness = Readiness({"slow": hangs, "fine": answers}, timeout_s=0.3, cache_s=1.0, clock=lambda: now[0])
    started = time.monotonic()
    results = readiness.check()
    assert time.monotonic() - started < 1.0  # bounded by the timeout, not by the hanging probe
    assert results["slow"] == CheckResult(False, 300.0, "timeout")
    assert results["fine"].ok and results["fine"].error is None
    now[0] += 0.5
    assert readiness.check() is results and calls == ["hangs", "answers"]  # reused, nothing probed
    now[0] += 0.6
    readiness.check()
    assert calls.count("answers") == 2  # a second later, probed again
