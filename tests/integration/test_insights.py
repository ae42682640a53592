"""GET /interviews/stats (the candidate's progress) and GET /admin/metrics (operators only)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from prepkit.adapters.postgres_insights import PostgresInsightsRepository
from prepkit.domain.insights import admin_metrics
from tests.integration.conftest import Flow, token_for

Auth = Callable[[str], dict[str, str]]


@pytest.fixture(autouse=True)
def _no_usage_from_other_tests(db: psycopg.Connection[Any]) -> None:
    """ai_usage has no foreign key to sessions (questions come before the session row): empty it here."""
    db.execute("TRUNCATE ai_usage")


def _attempt(db: psycopg.Connection[Any], sid: str, purpose: str, outcome: str, cost: float) -> None:
    db.execute(
        "INSERT INTO ai_usage (session_id, purpose, model, outcome, input_tokens, output_tokens, cost_usd)"
        " VALUES (%s, %s, 'gemini-3.5-flash', %s, 1000, 500, %s)",
        (sid, purpose, outcome, cost),
    )


def _completed(
    db: psycopg.Connection[Any], user: str, type_: str, days_ago: int, score: int, breakdown: dict[str, int], *,
    source: str = "ai", cost: float = 0.01,
) -> str:  # fmt: skip
    sid = str(uuid.uuid4())
    db.execute(
        "INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes, config,"
        " question_source, price_paise, currency, created_at, paid_at, completed_at)"
        " VALUES (%s, %s, 'completed', %s, 'medium', 20, '{}', 'fallback', 14900, 'INR',"
        " now() - %s * interval '1 day', now() - %s * interval '1 day', now() - %s * interval '1 day')",
        (sid, user, type_, days_ago, days_ago, days_ago),
    )
    db.execute(
        "INSERT INTO reports (session_id, source, overall_score, content, prompt_version, cost_usd)"
        " VALUES (%s, %s, %s, %s, 'test', %s)",
        (sid, source, score, json.dumps({"breakdown": breakdown}), cost),
    )
    return sid


def test_stats_show_scores_over_time_per_type_and_the_weakest_areas(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    b = {
        "technicalDepth": 60,
        "communication": 80,
        "problemSolving": 70,
        "tradeOffAnalysis": 40,
        "timeManagement": 90,
    }
    first = _completed(db, "alice", "python", 30, 55, b)
    second = _completed(db, "alice", "python", 10, 75, {**b, "tradeOffAnalysis": 50})
    _completed(db, "alice", "system-design", 5, 40, {**b, "technicalDepth": 30})
    _completed(db, "bob", "python", 1, 99, b)  # someone else's
    r = client.get("/interviews/stats", headers=auth("alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["completedInterviews"] == 3
    python, design = body["byType"]
    assert (python["type"], python["interviews"], python["averageScore"], python["latestScore"], python["trend"]) == (
        "python", 2, 65.0, 75, 20
    )  # fmt: skip
    assert [s["sessionId"] for s in python["scores"]] == [first, second]
    assert design["trend"] is None  # one interview: no trend yet
    assert body["breakdownAverages"]["tradeOffAnalysis"] == 43.3
    assert body["weakestAreas"] == ["tradeOffAnalysis", "technicalDepth"]
    assert r.headers["X-RateLimit-Limit"] == "100"


def test_stats_for_a_new_candidate_are_empty(client: TestClient, auth: Auth) -> None:
    body = client.get("/interviews/stats", headers=auth("newcomer")).json()
    assert body == {
        "completedInterviews": 0,
        "byType": [],
        "breakdownAverages": dict.fromkeys(
            ("technicalDepth", "communication", "problemSolving", "tradeOffAnalysis", "timeManagement")
        ),
        "weakestAreas": [],
    }


def test_admin_metrics_are_for_the_admin_group_only(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    b = {"technicalDepth": 60}
    done = _completed(db, "alice", "python", 3, 70, b, source="fallback", cost=0.0)
    _completed(db, "carol", "python", 2, 80, b, source="ai", cost=0.02)
    refunded = str(uuid.uuid4())
    db.execute(
        "INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes, config,"
        " question_source, price_paise, currency, paid_at) VALUES (%s, 'dave', 'refunded', 'python', 'easy', 20,"
        " '{}', 'ai', 14900, 'INR', now())",
        (refunded,),
    )
    for sid, pay in ((done, "pay_A"), (refunded, "pay_B")):
        db.execute(
            "INSERT INTO payment_orders (order_id, session_id, user_id, amount_paise, currency, status)"
            " VALUES (%s, %s, 'u', 14900, 'INR', 'paid')",
            (f"order_{pay}", sid),
        )
        db.execute(
            "INSERT INTO payments (payment_id, order_id, session_id, user_id, amount_paise, currency, status)"
            " VALUES (%s, %s, %s, 'u', 14900, 'INR', 'captured')",
            (pay, f"order_{pay}", sid),
        )
    db.execute(
        "INSERT INTO refunds (idempotency_key, session_id, payment_id, refund_id, amount_paise, status, reason)"
        " VALUES (%s, %s, 'pay_B', 'rfnd_1', 14900, 'processed', 'test')",
        (f"refund-{refunded}", refunded),
    )
    db.execute(
        "INSERT INTO calls (call_id, session_id, attempt, status, cost_usd) VALUES ('c1', %s, 1, 'ended', 2.5)",
        (done,),
    )

    # every AI attempt counts, not only the stored report's cost (0.0 and 0.02 in the reports table)
    carol = db.execute("SELECT id::text FROM interview_sessions WHERE user_id = 'carol'").fetchone()
    assert carol is not None
    _attempt(db, done, "questions", "ok", 0.003)
    _attempt(db, done, "report", "timeout", 0.0)
    _attempt(db, done, "report", "invalid", 0.004)  # then the fallback report
    _attempt(db, carol[0], "questions", "ok", 0.003)
    _attempt(db, carol[0], "report", "ok", 0.02)
    _attempt(db, refunded, "questions", "ok", 0.003)
    _attempt(db, str(uuid.uuid4()), "questions", "blocked", 0.006)  # a setup that never became a session

    assert client.get("/admin/metrics", headers=auth("alice")).status_code == 403
    assert client.get("/admin/metrics", headers=auth("alice")).json()["code"] == "FORBIDDEN"
    admin = {"Authorization": f"Bearer {token_for(client, 'ops', ['admin'])}"}
    r = client.get("/admin/metrics", headers=admin)
    assert r.status_code == 200
    expected = {
        "sessionsByStatus": {"completed": 2, "refunded": 1},
        "completionRate": round(2 / 3, 4),
        "revenuePaise": 14900,  # two captured, one refunded
        "refundedPaise": 14900,
        "aiCostPerReportUsd": 0.012,  # (0.004 + 0.02) over 2 reports: the failed attempt is counted
        "voiceCostPerCallUsd": 2.5,
        "questionFallbackRate": round(2 / 3, 4),
        "reportFallbackRate": 0.5,
    }
    assert {k: v for k, v in r.json().items() if k in expected} == expected
    assert set(expected) <= set(r.json())


def test_ai_cost_per_interview_counts_every_attempt(
    db: psycopg.Connection[Any], pool: ConnectionPool
) -> None:
    paid = [_completed(db, user, "python", 1, 70, {}, cost=0.5) for user in ("alice", "bob")]
    _attempt(db, paid[0], "questions", "ok", 0.004)
    _attempt(db, paid[0], "report", "error", 0.0)  # a 429: nothing billed
    _attempt(db, paid[0], "report", "truncated", 0.03)
    _attempt(db, paid[0], "report", "ok", 0.02)
    _attempt(db, paid[1], "questions", "timeout", 0.0)
    _attempt(db, paid[1], "report", "ok", 0.02)
    _attempt(db, str(uuid.uuid4()), "questions", "ok", 0.006)  # setup never paid for
    metrics = admin_metrics(True, PostgresInsightsRepository(pool))
    assert metrics.ai_cost_usd == 0.08
    assert metrics.ai_cost_per_interview_usd == 0.04  # over the 2 interviews paid for
    assert metrics.ai_cost_per_report_usd == 0.035  # (0.03 + 0.02 + 0.02) over 2 reports


def test_without_any_attempt_the_ai_cost_is_zero_and_the_ratios_empty(pool: ConnectionPool) -> None:
    metrics = admin_metrics(True, PostgresInsightsRepository(pool))
    assert (metrics.ai_cost_usd, metrics.ai_cost_per_interview_usd, metrics.ai_cost_per_report_usd) == (
        0,
        None,
        None,
    )


def test_a_completed_interview_shows_up_in_the_stats(make_flow: Callable[..., Flow]) -> None:
    flow = make_flow()
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    flow.wait_for(sid, "completed")
    report = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()["report"]
    stats = flow.client.get("/interviews/stats", headers=flow.headers("alice")).json()
    assert stats["completedInterviews"] == 1
    assert stats["byType"][0]["scores"] == [
        {
            "sessionId": sid,
            "completedAt": stats["byType"][0]["scores"][0]["completedAt"],
            "difficulty": "medium",
            "overallScore": report["overallScore"],
        }
    ]
