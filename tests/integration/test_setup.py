"""POST /interviews/setup through HTTP against real PostgreSQL and moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from prepkit.api.app import create_app
from prepkit.container import Container
from tests.fakes import RecordingMetrics, ScriptedQuestionGenerator
from tests.integration.conftest import SETUP_BODY, count_sessions

Auth = Callable[[str], dict[str, str]]


def test_setup_creates_a_priced_pending_session_with_questions(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pending_payment"
    assert body["pricing"] == {"amount": 14900, "currency": "INR", "display": "₹149"}
    assert body["questionSource"] == "fallback"
    assert [q["position"] for q in body["questions"]] == [1, 2, 3, 4]
    assert all(q["text"] and q["estimatedMinutes"] > 0 for q in body["questions"])
    assert set(body["questions"][0]) == {"position", "text", "topics", "estimatedMinutes"}

    row = db.execute(
        "SELECT user_id, status, type, difficulty, duration_minutes, price_paise, currency, question_source,"
        " config->>'specificRequirements' FROM interview_sessions WHERE id = %s",
        (body["sessionId"],),
    ).fetchone()
    assert row == (
        "alice", "pending_payment", "python", "medium", 20, 14900, "INR", "fallback", "Backend role, Django shop"
    )  # fmt: skip
    stored = db.execute(
        "SELECT text, expected_key_points, follow_ups FROM interview_questions WHERE session_id = %s"
        " ORDER BY position",
        (body["sessionId"],),
    ).fetchall()
    assert [s[0] for s in stored] == [q["text"] for q in body["questions"]]
    assert all(len(s[1]) >= 3 and len(s[2]) >= 1 for s in stored)
    # the rubric stays on the server: no key point or follow-up appears anywhere in the response
    for _, key_points, follow_ups in stored:
        for secret in [*key_points, *follow_ups]:
            assert secret not in r.text
    assert "expectedKeyPoints" not in r.text and "followUps" not in r.text
    assert metrics.total("QuestionsGenerated", source="fallback") == 1


def test_focus_areas_steer_the_fallback_questions(client: TestClient, auth: Auth) -> None:
    body = {
        **SETUP_BODY,
        "type": "system-design",
        "difficulty": "hard",
        "focusAreas": ["caching"],
        "duration": 20,
    }
    r = client.post("/interviews/setup", json=body, headers=auth("alice"))
    assert r.status_code == 200
    questions = r.json()["questions"]
    assert len(questions) == 2  # system design questions are long: half as many
    assert "caching" in questions[0]["topics"]


def test_ai_questions_are_used_when_the_llm_answers(
    make_container: Callable[..., Container],
    auth: Auth,
    db: psycopg.Connection[Any],
    metrics: RecordingMetrics,
) -> None:
    ai = ScriptedQuestionGenerator()
    client = TestClient(create_app(make_container(ai=ai)))
    headers = {"Authorization": auth_header(client, "alice")}
    r = client.post("/interviews/setup", json=SETUP_BODY, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["questionSource"] == "ai"
    assert body["questions"][0]["text"].startswith("AI question 1 about python")
    assert "secret" not in r.text  # the scripted rubric is all "secret ..."
    row = db.execute(
        "SELECT question_source, question_model FROM interview_sessions WHERE id = %s", (body["sessionId"],)
    ).fetchone()
    assert row == ("ai", "fake-model")
    assert metrics.total("QuestionsGenerated", source="ai") == 1


@pytest.mark.parametrize("reason", ["rate_limited", "api_error", "transport", "invalid"])
def test_llm_failure_falls_back_to_the_question_bank(
    make_container: Callable[..., Container], metrics: RecordingMetrics, reason: str
) -> None:
    ai = ScriptedQuestionGenerator(fail_with=reason)
    client = TestClient(create_app(make_container(ai=ai)))
    r = client.post(
        "/interviews/setup", json=SETUP_BODY, headers={"Authorization": auth_header(client, "bob")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["questionSource"] == "fallback"
    assert len(r.json()["questions"]) == 4
    assert ai.calls == 1
    assert metrics.total("QuestionGenerationFallback", reason=reason) == 1


def test_price_comes_from_the_pricing_table(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    db.execute("UPDATE pricing SET amount_paise = 19950 WHERE duration_minutes = 20")
    r = client.post("/interviews/setup", json={**SETUP_BODY}, headers=auth("alice"))
    assert r.json()["pricing"] == {"amount": 19950, "currency": "INR", "display": "₹199.50"}
    r = client.post("/interviews/setup", json={**SETUP_BODY, "duration": 45}, headers=auth("alice"))
    assert r.json()["pricing"]["amount"] == 27900


def test_a_duration_without_an_active_price_is_refused(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    db.execute("UPDATE pricing SET active = false WHERE duration_minutes = 30")
    r = client.post("/interviews/setup", json={**SETUP_BODY, "duration": 30}, headers=auth("alice"))
    assert r.status_code == 503
    assert r.json()["code"] == "PRICING_UNAVAILABLE"
    assert count_sessions(db) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", 100), ("amount", 1), ("status", "paid"), ("userId", "mallory"), ("pricing", {"amount": 1})],
)
def test_client_cannot_set_price_status_or_owner(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], field: str, value: object
) -> None:
    r = client.post("/interviews/setup", json={**SETUP_BODY, field: value}, headers=auth("alice"))
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert field in r.json()["error"]
    assert count_sessions(db) == 0


def _invalid_bodies() -> list[tuple[str, object, str]]:
    long = "x" * 61
    return [
        ("type missing", {k: v for k, v in SETUP_BODY.items() if k != "type"}, "type is required"),
        ("bad type", {**SETUP_BODY, "type": "cobol"}, "type must be one of"),
        ("bad difficulty", {**SETUP_BODY, "difficulty": "insane"}, "difficulty must be one of"),
        ("duration not allowed", {**SETUP_BODY, "duration": 25}, "duration: must be one of 15, 20, 30, 45"),
        ("duration as string", {**SETUP_BODY, "duration": "20"}, "duration"),
        ("duration float", {**SETUP_BODY, "duration": 20.5}, "duration"),
        ("duration bool", {**SETUP_BODY, "duration": True}, "duration"),
        ("too many focus areas", {**SETUP_BODY, "focusAreas": ["a", "b", "c", "d", "e", "f"]}, "focusAreas"),
        ("focus area too long", {**SETUP_BODY, "focusAreas": [long]}, "focusAreas.0"),
        ("blank focus area", {**SETUP_BODY, "focusAreas": ["   "]}, "focusAreas.0"),
        ("focus areas not a list", {**SETUP_BODY, "focusAreas": "async"}, "focusAreas"),
        ("requirements too long", {**SETUP_BODY, "specificRequirements": "y" * 1001}, "specificRequirements"),
        ("bad pace", {**SETUP_BODY, "pace": "warp"}, "pace must be one of"),
        ("bad language", {**SETUP_BODY, "language": "xx"}, "language must be one of"),
        ("bad voice", {**SETUP_BODY, "voice": 3}, "voice"),
        ("bad follow-up style", {**SETUP_BODY, "followUpStyle": "rude"}, "followUpStyle must be one of"),
        ("null type", {**SETUP_BODY, "type": None}, "type"),
        ("body is a list", [SETUP_BODY], "body"),
        ("body is a string", "python", "body"),
    ]


@pytest.mark.parametrize(
    ("case", "body", "expected"), _invalid_bodies(), ids=[c[0] for c in _invalid_bodies()]
)
def test_invalid_setup_is_a_400_naming_the_field_and_writes_nothing(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], case: str, body: object, expected: str
) -> None:
    r = client.post("/interviews/setup", json=body, headers=auth("alice"))
    assert r.status_code == 400, (case, r.text)
    err = r.json()
    assert err["code"] == "VALIDATION_ERROR"
    assert expected in err["error"], err
    assert set(err) == {"error", "code", "userMessage", "recoverable", "details"}
    assert err["details"]["fields"]
    assert count_sessions(db) == 0


def test_empty_body_says_required(client: TestClient, auth: Auth, db: psycopg.Connection[Any]) -> None:
    for content in (b"", b"{}"):
        r = client.post(
            "/interviews/setup",
            content=content,
            headers={**auth("alice"), "content-type": "application/json"},
        )
        assert r.status_code == 400
        assert "required" in r.json()["error"]
    r = client.post("/interviews/setup", json={}, headers=auth("alice"))
    assert r.json()["error"] == "type is required; difficulty is required; duration is required"
    assert count_sessions(db) == 0


@pytest.mark.parametrize("content", [b"{", b'{"type": "python",}', b"\xff\xfe", b"null", b"[]", b"12"])
def test_malformed_json_is_a_400(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], content: bytes
) -> None:
    r = client.post(
        "/interviews/setup", content=content, headers={**auth("alice"), "content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert count_sessions(db) == 0


def test_oversized_body_is_refused_before_parsing(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any]
) -> None:
    big = json.dumps({**SETUP_BODY, "specificRequirements": "z" * 40_000}).encode()
    r = client.post(
        "/interviews/setup", content=big, headers={**auth("alice"), "content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Any:  # no Content-Length: the size is counted as it streams
        yield b'{"type": "python", "x": "'
        for _ in range(40):
            yield b"q" * 1000
        yield b'"}'

    r = client.post(
        "/interviews/setup", content=chunks(), headers={**auth("alice"), "content-type": "application/json"}
    )
    assert r.status_code == 413
    assert count_sessions(db) == 0


def auth_header(client: TestClient, user: str) -> str:
    r = client.post("/dev/token", json={"userId": user})
    return f"Bearer {r.json()['token']}"
