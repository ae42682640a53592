"""The seed's own contract (shared/seeds/000_…): its example setup requests are accepted exactly as
written, every enum of the setup body is listed in the OpenAPI schema, and its error table (§8.2) is
what a client reads, verbatim."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from prepkit.domain.errors import SEED
from prepkit.domain.models import (
    ALLOWED_DURATIONS,
    Difficulty,
    FollowUpStyle,
    InterviewType,
    Language,
    Pace,
    Voice,
)
from tests.integration.conftest import Flow

Auth = Callable[[str], dict[str, str]]
SEED_FILE = next((Path(__file__).resolve().parents[3] / "shared" / "seeds").glob("000_*.txt"))

# §9.1 `mockSetup`, as the seed writes it (TypeScript object literal → JSON, nothing else changed)
SEED_MOCK_SETUP = {
    "type": "system-design",
    "difficulty": "medium",
    "focusAreas": ["scalability", "database-design"],
    "specificRequirements": "Focus on distributed systems",
    "duration": 20,
    "language": "en",
    "voice": "neutral",
    "pace": "moderate",
    "followUpStyle": "deep-dive",
}
# §9.2 and §11.1: the request body of the seed's integration test and API documentation
SEED_API_DOC_SETUP = {
    "type": "system-design",
    "difficulty": "medium",
    "focusAreas": ["scalability", "database-design"],
    "specificRequirements": "Focus on distributed systems",
    "duration": 20,
}


def test_the_seed_file_still_says_what_these_tests_copy() -> None:
    text = SEED_FILE.read_text(encoding="utf-8", errors="replace")
    for key, value in SEED_MOCK_SETUP.items():
        literal = json.dumps(value).replace('"', "'") if isinstance(value, str | list) else str(value)
        assert f"{key}: {literal}" in text, key
    for code, (message, user_message, recoverable) in SEED.items():
        assert f"userMessage: '{user_message}'" in text, code
        if code != "GEMINI_QUESTION_FAILED":  # the file starts inside that entry's code line
            assert f"message: '{message}'" in text, code
        assert f"recoverable: {str(recoverable).lower()}" in text


@pytest.mark.parametrize("body", [SEED_MOCK_SETUP, SEED_API_DOC_SETUP], ids=["mockSetup", "api-doc"])
def test_the_seeds_setup_requests_are_accepted_as_written(
    client: TestClient, auth: Auth, db: psycopg.Connection[Any], body: dict[str, Any]
) -> None:
    headers = {**auth("seed"), "Content-Type": "application/json"}  # as the seed's test sends it
    r = client.post("/interviews/setup", content=json.dumps(body), headers=headers)
    assert r.status_code == 200, r.text  # as the seed's own test expects (§9.2)
    out = r.json()
    assert {"sessionId", "questions", "pricing"} <= set(out)
    stored = db.execute("SELECT config FROM interview_sessions WHERE id = %s", (out["sessionId"],)).fetchone()
    assert stored is not None
    assert {k: stored[0][k] for k in body} == body  # every value kept as the client sent it


def test_every_setup_enum_is_in_the_openapi_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    config = schemas["InterviewConfig"]["properties"]

    def enum_of(prop: dict[str, Any]) -> list[Any]:
        if "enum" in prop:
            return list(prop["enum"])
        ref = prop.get("$ref") or next(
            (a["$ref"] for a in prop.get("allOf", []) + prop.get("anyOf", []) if "$ref" in a), None
        )
        assert ref, prop
        return list(schemas[ref.rsplit("/", 1)[-1]]["enum"])

    expected = {
        "type": InterviewType,
        "difficulty": Difficulty,
        "language": Language,
        "voice": Voice,
        "pace": Pace,
        "followUpStyle": FollowUpStyle,
    }
    for field, enum in expected.items():
        assert enum_of(config[field]) == [e.value for e in enum], field
    assert enum_of(config["duration"]) == list(ALLOWED_DURATIONS)
    for field in ("language", "voice", "pace", "followUpStyle"):
        assert SEED_MOCK_SETUP[field] in enum_of(config[field])
    # the setup operation really takes this schema as its body
    setup = spec["paths"]["/interviews/setup"]["post"]["requestBody"]["content"]["application/json"]
    assert setup["schema"]["$ref"].endswith("/InterviewConfig")


def _assert_seed_error(body: dict[str, Any], code: str) -> None:
    _, user_message, recoverable = SEED[code]
    assert body["code"] == code
    assert body["userMessage"] == user_message
    assert body["recoverable"] is recoverable


def test_a_missing_session_reads_as_the_seeds_session_not_found(make_flow: Callable[..., Flow]) -> None:
    flow = make_flow()
    for path in (f"/interviews/{uuid.uuid4()}", f"/interviews/{uuid.uuid4()}/report"):
        r = flow.client.get(path, headers=flow.headers("seed"))
        assert r.status_code == 404
        _assert_seed_error(r.json(), "SESSION_NOT_FOUND")


def test_a_report_not_ready_reads_as_the_seeds_transcript_missing(make_flow: Callable[..., Flow]) -> None:
    flow = make_flow()
    sid = flow.setup("seed", **SEED_MOCK_SETUP)
    r = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("seed"))
    assert r.status_code == 202
    _assert_seed_error(r.json(), "TRANSCRIPT_MISSING")


def test_a_payment_provider_failure_reads_as_the_seeds_payment_failed(make_flow: Callable[..., Flow]) -> None:
    flow = make_flow()
    flow.payments.fail_orders = True
    sid = flow.setup("seed", **SEED_MOCK_SETUP)
    r = flow.client.post(f"/interviews/{sid}/order", headers=flow.headers("seed"))
    assert r.status_code == 502
    _assert_seed_error(r.json(), "PAYMENT_FAILED")
