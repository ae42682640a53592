"""GET /interviews/stats (the candidate's progress) and GET /admin/metrics (operators only)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.integration.conftest import Flow, token_for

Auth = Callable[[str], dict[str, str]]


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

    assert client.get("/admin/metrics", headers=auth("alice")).status_code == 403
    assert client.get("/admin/metrics", headers=auth("alice")).json()["code"] == "FORBIDDEN"
    admin = {"Authorization": f"Bearer {token_for(client, 'ops', ['admin'])}"}
    r = client.get("/admin/metrics", headers=admin)
    assert r.status_code == 200
    assert r.json() == {
        "sessionsByStatus": {"completed": 2, "refunded": 1},
        "completionRate": round(2 / 3, 4),
        "revenuePaise": 14900,  # two captured, one refunded
        "refundedPaise": 14900,
        "aiCostPerReportUsd": 0.01,
        "voiceCostPerCallUsd": 2.5,
        "questionFallbackRate": round(2 / 3, 4),
        "reportFallbackRate": 0.5,
    }


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
