"""GET /interviews/{id} and GET /interviews/history: owner only, newest first, bounded pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import SETUP_BODY

Auth = Callable[[str], dict[str, str]]


def _setup(client: TestClient, auth: Auth, user: str, **changes: object) -> dict[str, Any]:
    r = client.post("/interviews/setup", json={**SETUP_BODY, **changes}, headers=auth(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_owner_reads_status_config_and_questions(client: TestClient, auth: Auth) -> None:
    created = _setup(client, auth, "alice", type="behavioral", difficulty="easy", duration=15)
    r = client.get(f"/interviews/{created['sessionId']}", headers=auth("alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["sessionId"] == created["sessionId"]
    assert body["status"] == "pending_payment"
    assert body["config"]["type"] == "behavioral"
    assert body["config"]["duration"] == 15
    assert body["config"]["followUpStyle"] == "probing"
    assert body["questions"] == created["questions"]
    assert body["pricing"]["amount"] == 9900
    assert body["error"] is None
    assert body["createdAt"] and body["updatedAt"]
    assert "expectedKeyPoints" not in r.text and "followUps" not in r.text


def test_another_users_session_is_exactly_a_missing_one(client: TestClient, auth: Auth) -> None:
    created = _setup(client, auth, "alice")
    theirs = client.get(f"/interviews/{created['sessionId']}", headers=auth("mallory"))
    missing = client.get("/interviews/00000000-0000-4000-8000-000000000000", headers=auth("mallory"))
    not_a_uuid = client.get("/interviews/not-a-uuid", headers=auth("mallory"))
    for r in (theirs, missing, not_a_uuid):
        assert r.status_code == 404
        assert r.json()["code"] == "SESSION_NOT_FOUND"

    def strip(r: Any) -> dict[str, object]:
        return {k: v for k, v in r.json().items() if k != "error"}

    assert strip(theirs) == strip(missing) == strip(not_a_uuid)


def test_the_user_facing_error_block_is_shown(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    created = _setup(client, auth, "alice")
    db.execute(
        "UPDATE interview_sessions SET status = 'failed', error_code = 'GEMINI_REPORT_FAILED',"
        " error_message = 'We could not write your report.', error_recoverable = true WHERE id = %s",
        (created["sessionId"],),
    )
    body = client.get(f"/interviews/{created['sessionId']}", headers=auth("alice")).json()
    assert body["status"] == "failed"
    assert body["error"] == {
        "code": "GEMINI_REPORT_FAILED",
        "userMessage": "We could not write your report.",
        "recoverable": True,
    }


def test_history_is_the_users_own_newest_first_in_pages(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    ids = [_setup(client, auth, "alice")["sessionId"] for _ in range(3)]
    _setup(client, auth, "bob")
    # spread creation times so "newest first" is observable, then add rows directly for volume
    for i, sid in enumerate(ids):
        db.execute(
            "UPDATE interview_sessions SET created_at = now() - %s * interval '1 hour' WHERE id = %s",
            (i, sid),
        )
    db.execute(
        "INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes, config,"
        " question_source, price_paise, currency, created_at)"
        " SELECT gen_random_uuid(), 'alice', 'completed', 'javascript', 'easy', 20, '{}', 'fallback', 14900, 'INR',"
        " now() - (g + 10) * interval '1 day' FROM generate_series(1, 9) g"
    )
    r = client.get("/interviews/history?page=1&limit=5", headers=auth("alice"))
    assert r.status_code == 200
    page1 = r.json()
    assert page1["total"] == 12 and page1["page"] == 1 and page1["totalPages"] == 3
    assert [i["sessionId"] for i in page1["interviews"][:3]] == ids
    created = [i["createdAt"] for i in page1["interviews"]]
    assert created == sorted(created, reverse=True)
    assert set(page1["interviews"][0]) == {
        "sessionId", "status", "type", "difficulty", "duration", "createdAt", "updatedAt"
    }  # fmt: skip

    page3 = client.get("/interviews/history?page=3&limit=5", headers=auth("alice")).json()
    assert len(page3["interviews"]) == 2
    everything = [
        i["sessionId"]
        for p in (1, 2, 3)
        for i in client.get(f"/interviews/history?page={p}&limit=5", headers=auth("alice")).json()[
            "interviews"
        ]
    ]
    assert len(everything) == len(set(everything)) == 12
    beyond = client.get("/interviews/history?page=4&limit=5", headers=auth("alice")).json()
    assert beyond["interviews"] == [] and beyond["total"] == 12

    bob = client.get("/interviews/history", headers=auth("bob")).json()
    assert bob["total"] == 1 and bob["page"] == 1 and bob["totalPages"] == 1


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=51", "limit=-1", "limit=abc", "page=0", "page=-3", "page=x", "limit=1.5"]
)
def test_history_bounds(client: TestClient, auth: Auth, query: str) -> None:
    r = client.get(f"/interviews/history?{query}", headers=auth("alice"))
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    field = query.split("=", maxsplit=1)[0]
    assert field in r.json()["error"]


def test_history_limit_edges(client: TestClient, auth: Auth) -> None:
    for limit in (1, 50):
        assert client.get(f"/interviews/history?limit={limit}", headers=auth("alice")).status_code == 200
