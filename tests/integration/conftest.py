"""Integration fixtures: one real PostgreSQL (pgserver) and one moto server on 127.0.0.1 per test
process, migrations applied once; each test gets clean tables, its own DynamoDB table and an app."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from prepkit.adapters import aws
from prepkit.adapters.dynamo_rate_limiter import DynamoRateLimiter, create_table
from prepkit.adapters.postgres import PostgresSessionRepository, make_pool
from prepkit.adapters.postgres_flow import PostgresFlowRepository
from prepkit.adapters.postgres_insights import PostgresInsightsRepository
from prepkit.adapters.postgres_usage import PostgresAiUsageLog
from prepkit.adapters.question_bank import QuestionBank
from prepkit.adapters.workflow import StepFunctionsWorkflow
from prepkit.api.app import create_app
from prepkit.container import Container, vapi_auth
from prepkit.domain.scoring import OfflineReportWriter
from prepkit.local.call_simulator import SimulatedVoice
from prepkit.local.engine import deploy_pipeline
from prepkit.local.razorpay_simulator import SimulatedRazorpay
from prepkit.local.stack import LocalStack, free_port, local_stack, prepare
from prepkit.pipeline.entry import make_pipeline_handler
from prepkit.ports import QuestionGenerator, ReportWriter, Workflow
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
        conn.execute("TRUNCATE interview_sessions, provider_events, ai_usage CASCADE")
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
    def build(
        *, ai: QuestionGenerator | None = None, settings_: Settings | None = None, **parts: Any
    ) -> Container:
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
            insights=PostgresInsightsRepository(pool),
            **{"ai_usage": PostgresAiUsageLog(pool), **parts},
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


# --- the paid flow: simulated Razorpay and Vapi, the real ASL in moto, tasks in this process ------


@dataclass
class Flow:
    """One test's product: the app over HTTP, its container, and handles on the offline providers."""

    client: TestClient
    container: Container
    payments: SimulatedRazorpay
    voice: SimulatedVoice
    settings: Settings
    deliveries: list[tuple[str, int]]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(self.client, user)}"}

    def setup(self, user: str = "alice", **changes: Any) -> str:
        r = self.client.post("/interviews/setup", json={**SETUP_BODY, **changes}, headers=self.headers(user))
        assert r.status_code == 200, r.text
        sid: str = r.json()["sessionId"]
        return sid

    def order(self, sid: str, user: str = "alice") -> dict[str, Any]:
        r = self.client.post(f"/interviews/{sid}/order", headers=self.headers(user))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def checkout(self, order_id: str, user: str = "alice", outcome: str = "success") -> dict[str, Any]:
        r = self.client.post(
            "/dev/checkout", json={"orderId": order_id, "outcome": outcome}, headers=self.headers(user)
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def pay(self, sid: str, user: str = "alice") -> None:
        paid = self.checkout(self.order(sid, user)["orderId"], user)
        r = self.client.post("/payments/verify", json=paid, headers=self.headers(user))
        assert r.status_code == 200, r.text

    def start(self, sid: str, user: str = "alice") -> dict[str, Any]:
        r = self.client.post(f"/interviews/{sid}/start", headers=self.headers(user))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def status(self, sid: str, user: str = "alice") -> str:
        r = self.client.get(f"/interviews/{sid}", headers=self.headers(user))
        status: str = r.json()["status"]
        return status

    def wait_for(self, sid: str, *statuses: str, timeout_s: float = 30, user: str = "alice") -> str:
        deadline = time.monotonic() + timeout_s
        status = ""
        while time.monotonic() < deadline:
            status = self.status(sid, user)
            if status in statuses:
                return status
            time.sleep(0.1)
        raise AssertionError(f"session {sid} is {status}, not {statuses} after {timeout_s} s")

    def execution(self, sid: str, *, timeout_s: float = 30) -> dict[str, Any]:
        """The finished execution of the session's pipeline (waits for it to leave RUNNING)."""
        sfn = aws.client("stepfunctions", self.settings)
        arn = self.settings.pipeline_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{sid}"
        deadline = time.monotonic() + timeout_s
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.1)

    def states(self, sid: str) -> list[str]:
        sfn = aws.client("stepfunctions", self.settings)
        arn = self.settings.pipeline_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{sid}"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


@pytest.fixture
def make_flow(
    pool: ConnectionPool, settings: Settings, make_container: Callable[..., Container]
) -> Iterator[Callable[..., Flow]]:
    built: list[Flow] = []

    def build(
        *,
        script: str = "good",
        report_writer: ReportWriter | None = None,
        wrap_tasks: Callable[[Callable[[dict[str, Any], Any], Any]], Callable[[dict[str, Any], Any], Any]]
        | None = None,
        drop_end_report: bool = False,
        call_delay_s: float = 0.2,
        autoplay: bool = True,
        wrap_workflow: Callable[[Workflow], Workflow] | None = None,
        **overrides: Any,
    ) -> Flow:
        s = settings.model_copy(
            update={  # Retry intervals at 1/50: the ASL's ~6 minute window of retries lasts ~7 s here
                "start_window_s": 60,
                "call_end_timeout_s": 60,
                "pipeline_retry_scale": 0.02,
                "reconcile_idle_s": 0,
                **overrides,
            }
        )
        holder: dict[str, TestClient] = {}
        deliveries: list[tuple[str, int]] = []

        def deliver(path: str, body: bytes, headers: dict[str, str]) -> None:
            r = holder["client"].post(path, content=body, headers=headers)
            deliveries.append((path, r.status_code))

        payments = SimulatedRazorpay(s.razorpay_key_id)
        voice = SimulatedVoice(
            vapi_auth(s),
            deliver,
            script=script,  # type: ignore[arg-type]
            delay_s=call_delay_s,
            drop_end_report=drop_end_report,
            autoplay=autoplay,
        )
        container = make_container(
            settings_=s,
            flow_repo=PostgresFlowRepository(pool),
            payments=payments,
            voice=voice,
            report_writer=report_writer or OfflineReportWriter(),
            workflow=(wrap_workflow or (lambda w: w))(
                StepFunctionsWorkflow(aws.client("stepfunctions", s), s.pipeline_state_machine_arn)
            ),
            extras={"deliver": deliver},
        )
        handler = make_pipeline_handler(container)
        deploy_pipeline(s, wrap_tasks(handler) if wrap_tasks else handler)
        client = TestClient(create_app(container), raise_server_exceptions=False)
        holder["client"] = client
        flow = Flow(client, container, payments, voice, s, deliveries)
        built.append(flow)
        return flow

    yield build
    for flow in built:  # no simulated webhook may land after the test (or its database) is gone
        flow.voice.wait()
        for thread in flow.container.extras.get("threads", []):
            thread.join(5)
