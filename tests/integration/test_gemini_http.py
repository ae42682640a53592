"""The Gemini adapters against a stub of Gemini's REST API on 127.0.0.1 (the real `genai.Client`,
pointed at it with HttpOptions.base_url): each answer in generateContent's JSON shape (candidates[].
content.parts[].text, finishReason, usageMetadata, promptFeedback.blockReason, the error body), a server
that accepts the request and never answers, and the usage row PostgreSQL holds for every attempt."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from prepkit.adapters.gemini import (
    GeminiCallSpec,
    GeminiQuestionGenerator,
    GeminiReportWriter,
    spec_from_settings,
)
from prepkit.adapters.postgres_usage import PostgresAiUsageLog
from prepkit.api.app import create_app
from prepkit.container import Container, build_container
from prepkit.domain.errors import QuestionGenerationFailed, ReportFailed, ReportTransient
from prepkit.domain.models import InterviewConfig, Question, Utterance
from prepkit.settings import Settings
from tests.fakes import RecordingMetrics
from tests.integration.conftest import SETUP_BODY, Flow, token_for

KEY = "stub-key"


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    hang: bool = False


@dataclass
class GeminiStub:
    """Answers generateContent with the scripted replies in turn (the last one repeats)."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> ThreadingHTTPServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                stub.requests.append((self.path, dict(self.headers), body))
                reply = stub.replies.pop(0) if len(stub.replies) > 1 else stub.replies[0]
                if reply.hang:  # the request was accepted: no answer ever comes
                    stub.release.wait(120)
                    return
                raw = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def stub() -> Iterator[tuple[GeminiStub, str]]:
    gemini = GeminiStub()
    server = gemini.serve()
    yield gemini, f"http://127.0.0.1:{server.server_address[1]}"
    gemini.release.set()
    server.shutdown()
    server.server_close()


# --- generateContent's answers, as Google sends them -------------------------------------------------

USAGE = {
    "promptTokenCount": 1_800,
    "candidatesTokenCount": 900,
    "thoughtsTokenCount": 300,
    "totalTokenCount": 3_000,
}


def answer(text: str, finish: str = "STOP", usage: dict[str, int] = USAGE) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": "gemini-3.5-flash",
        "responseId": "stub-response",
    }


SAFETY = {
    "candidates": [
        {
            "finishReason": "SAFETY",
            "index": 0,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
            ],
        }
    ],
    "usageMetadata": {"promptTokenCount": 1_800, "totalTokenCount": 1_800},
    "modelVersion": "gemini-3.5-flash",
}


def error(code: int, status: str, message: str) -> Reply:
    return Reply(code, {"error": {"code": code, "message": message, "status": status}})


QUOTE = "I would keep a token bucket per API key in Redis with a TTL on every counter."
CONFIG = InterviewConfig.model_validate({"type": "system-design", "difficulty": "easy", "duration": 20})
QUESTIONS = (
    Question(1, "Design a rate limiter for a public REST API.", ("api-design",), 8,
             ("Token bucket or sliding window", "Counters in Redis with a TTL"), ("How would you allow bursts?",)),
)  # fmt: skip
MESSAGES = (Utterance("assistant", QUESTIONS[0].text, 0.0), Utterance("user", QUOTE, 4.0))


def questions_text(n: int) -> str:
    return json.dumps(
        {
            "questions": [
                {
                    "text": f"Walk me through what happens when Python runs an await expression, case {i}.",
                    "topics": ["async"],
                    "estimated_minutes": 5,
                    "expected_key_points": ["the coroutine yields to the event loop", "the loop resumes it"],
                    "follow_ups": ["What does asyncio.gather add?"],
                }
                for i in range(1, n + 1)
            ]
        }
    )


REPORT_TEXT = json.dumps(
    {
        "overallScore": 72,
        "evidenceStatus": "assessed",
        "breakdown": {"technicalDepth": 70, "communication": 75},
        "summary": "A sound design with the key mechanism named.",
        "perQuestion": [
            {
                "position": 1,
                "question": QUESTIONS[0].text,
                "evidenceStatus": "assessed",
                "score": 72,
                "whatWentWell": ["Named the token bucket"],
                "missingKeyPoints": [],
                "transcriptQuotes": [QUOTE],
            }
        ],
    }
)


def cost(input_tokens: int, output_tokens: int) -> float:
    return round((input_tokens * 1.50 + output_tokens * 9.00) / 1_000_000, 6)


def usage_rows(db: psycopg.Connection[Any], session_id: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT purpose, model, outcome, detail, input_tokens, output_tokens, thinking_tokens, cost_usd::float8,"
        " duration_ms FROM ai_usage WHERE session_id = %s ORDER BY id",
        (session_id,),
    ).fetchall()


CASES = [
    # (id, reply, question reason, report error, outcome, input, output, thinking)
    ("success", Reply(body=None), None, None, "ok", 1_800, 1_200, 300),
    ("safety", Reply(body=SAFETY), "safety", ReportFailed, "blocked", 1_800, 0, 0),
    ("max-tokens", None, "max_tokens", ReportFailed, "truncated", 1_800, 8_192, 0),
    ("429", error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), "rate_limited",
     ReportTransient, "error", 0, 0, 0),
    ("500", error(500, "INTERNAL", "An internal error has occurred."), "api_error", ReportTransient, "error", 0, 0, 0),
    ("invalid-json", Reply(body=answer('{"questions": [{"text": "How')), "invalid", ReportTransient, "invalid",
     1_800, 1_200, 300),
]  # fmt: skip


def _reply(case: str, reply: Reply | None, purpose: str) -> Reply:
    if case == "success":
        return Reply(body=answer(questions_text(4) if purpose == "questions" else REPORT_TEXT))
    if case == "max-tokens":
        cut = (questions_text(4) if purpose == "questions" else REPORT_TEXT)[:300]
        return Reply(
            body=answer(cut, "MAX_TOKENS", {"promptTokenCount": 1_800, "candidatesTokenCount": 8_192})
        )
    assert reply is not None
    return reply


def _spec(settings: Settings, purpose: str, **changes: Any) -> GeminiCallSpec:
    spec = spec_from_settings(settings, "questions" if purpose == "questions" else "report")
    return GeminiCallSpec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, **changes})


@pytest.mark.parametrize(
    ("case", "reply", "reason", "report_error", "outcome", "input_tokens", "output_tokens", "thinking"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_question_generation_classifies_each_answer_and_records_the_attempt(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any],
    case: str, reply: Reply | None, reason: str | None, report_error: type[Exception] | None, outcome: str,
    input_tokens: int, output_tokens: int, thinking: int,
) -> None:  # fmt: skip
    gemini, url = stub
    gemini.replies = [_reply(case, reply, "questions")]
    sid = str(uuid.uuid4())
    gen = GeminiQuestionGenerator(
        KEY, spec_from_settings(settings, "questions"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    config = InterviewConfig.model_validate({**SETUP_BODY, "language": "hi-IN", "followUpStyle": "deep-dive"})
    if reason is None:
        assert len(gen.generate(config, 4, seed=sid).questions) == 4
    else:
        with pytest.raises(QuestionGenerationFailed) as info:
            gen.generate(config, 4, seed=sid)
        assert info.value.details["reason"] == reason
    [(path, headers, body)] = gemini.requests  # one request: the SDK does not retry, even a 429 or a 500
    assert path.endswith("/models/gemini-3.5-flash:generateContent")
    assert headers["x-goog-api-key"] == KEY
    generation = body["generationConfig"]
    assert "temperature" not in generation
    # the SDK sends the nested config with its field names (proto JSON accepts either spelling)
    assert list(generation["thinkingConfig"].values()) == ["LOW"]
    assert generation["maxOutputTokens"] == 8192
    assert generation["responseMimeType"] == "application/json"
    assert "in Hindi (Devanagari script)" in body["contents"][0]["parts"][0]["text"]
    [row] = usage_rows(db, sid)
    assert row[:8] == (
        "questions", "gemini-3.5-flash", outcome, None if reason is None else reason, input_tokens, output_tokens,
        thinking, cost(input_tokens, output_tokens),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "reply", "reason", "report_error", "outcome", "input_tokens", "output_tokens", "thinking"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_a_report_attempt_is_classified_and_recorded(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any],
    case: str, reply: Reply | None, reason: str | None, report_error: type[Exception] | None, outcome: str,
    input_tokens: int, output_tokens: int, thinking: int,
) -> None:  # fmt: skip
    gemini, url = stub
    gemini.replies = [_reply(case, reply, "report")]
    sid = str(uuid.uuid4())
    writer = GeminiReportWriter(
        KEY, spec_from_settings(settings, "report"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    if report_error is None:
        stored = writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=sid)
        assert stored.content.overall_score == 72
        assert stored.content.per_question[0].transcript_quotes == [QUOTE]
        assert (stored.input_tokens, stored.output_tokens, stored.cost_usd) == (
            input_tokens, output_tokens, cost(input_tokens, output_tokens)
        )  # fmt: skip
    else:
        with pytest.raises(report_error):
            writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=sid)
    [(_, _, body)] = gemini.requests
    assert "temperature" not in body["generationConfig"]
    assert list(body["generationConfig"]["thinkingConfig"].values()) == ["MEDIUM"]
    [row] = usage_rows(db, sid)
    assert row[:8] == (
        "report", "gemini-3.5-flash", outcome, None if reason is None else reason, input_tokens, output_tokens,
        thinking, cost(input_tokens, output_tokens),
    )  # fmt: skip


def test_a_blocked_prompt_is_blocked(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any]
) -> None:
    gemini, url = stub
    gemini.replies = [Reply(body={"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                                  "usageMetadata": {"promptTokenCount": 1_800, "totalTokenCount": 1_800}})]  # fmt: skip
    sid = str(uuid.uuid4())
    writer = GeminiReportWriter(
        KEY, spec_from_settings(settings, "report"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    with pytest.raises(ReportFailed):
        writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=sid)
    assert [r[2:5] for r in usage_rows(db, sid)] == [("blocked", "prompt_prohibited_content", 1_800)]


# --- a Gemini that never answers ----------------------------------------------------------------------


def test_a_hanging_gemini_gives_bank_questions_within_15_s_over_the_app(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any],
    make_container: Callable[..., Container], metrics: RecordingMetrics,
) -> None:  # fmt: skip
    gemini, url = stub
    gemini.replies = [Reply(hang=True)]
    ai = GeminiQuestionGenerator(
        KEY, spec_from_settings(settings, "questions"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    client = TestClient(create_app(make_container(ai=ai)))
    headers = {"Authorization": f"Bearer {token_for(client, 'alice')}"}
    started = time.monotonic()
    r = client.post("/interviews/setup", json=SETUP_BODY, headers=headers)
    took = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.json()["questionSource"] == "fallback"
    assert len(r.json()["questions"]) == 4
    assert took < 15, f"setup took {took:.1f} s"
    assert len(gemini.requests) == 1  # one attempt, no SDK retry after the timeout
    assert metrics.total("QuestionGenerationFallback", reason="timeout") == 1
    [row] = usage_rows(db, r.json()["sessionId"])
    assert row[:8] == ("questions", "gemini-3.5-flash", "timeout", "timeout", 0, 0, 0, 0.0)
    assert settings.gemini_questions_deadline_s * 1000 <= row[8] < 15_000


def test_a_hanging_gemini_makes_the_report_attempt_transient_within_its_deadline(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any]
) -> None:
    gemini, url = stub
    gemini.replies = [Reply(hang=True)]
    sid = str(uuid.uuid4())
    deadline_s = 2.0  # the deployed default (60 s) is the same code path, and fits the 150 s function
    writer = GeminiReportWriter(
        KEY, _spec(settings, "report", deadline_s=deadline_s), usage=PostgresAiUsageLog(pool), base_url=url
    )
    started = time.monotonic()
    with pytest.raises(ReportTransient):
        writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=sid)
    took = time.monotonic() - started
    assert deadline_s <= took < deadline_s + 1.5
    assert len(gemini.requests) == 1
    assert [r[2:4] for r in usage_rows(db, sid)] == [("timeout", "timeout")]


# --- through the pipeline ------------------------------------------------------------------------------


def test_a_safety_block_goes_to_the_fallback_report_without_a_retry(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any],
    make_flow: Callable[..., Flow],
) -> None:  # fmt: skip
    gemini, url = stub
    gemini.replies = [Reply(body=SAFETY)]
    writer = GeminiReportWriter(
        KEY, spec_from_settings(settings, "report"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    flow = make_flow(report_writer=writer)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "failed", timeout_s=40) == "completed"
    assert flow.states(sid)[-3:] == ["GenerateReport", "FallbackReport", "Complete"]
    assert len(gemini.requests) == 1
    assert [r[2] for r in usage_rows(db, sid)] == ["blocked"]
    report = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()
    assert report["source"] == "fallback"


def test_each_retried_report_attempt_is_recorded(
    stub: tuple[GeminiStub, str], settings: Settings, pool: ConnectionPool, db: psycopg.Connection[Any],
    make_flow: Callable[..., Flow],
) -> None:  # fmt: skip
    gemini, url = stub
    gemini.replies = [error(500, "INTERNAL", "An internal error has occurred."),
                      error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
                      Reply(body=answer(REPORT_TEXT))]  # fmt: skip
    writer = GeminiReportWriter(
        KEY, spec_from_settings(settings, "report"), usage=PostgresAiUsageLog(pool), base_url=url
    )
    flow = make_flow(report_writer=writer)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "failed", timeout_s=40) == "completed"
    assert len(gemini.requests) == 3  # the state machine's Retry, one attempt per invocation
    rows = usage_rows(db, sid)
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("report", "error", "api_error"), ("report", "error", "rate_limited"), ("report", "ok", None)
    ]  # fmt: skip
    assert sum(r[7] for r in rows) == cost(1_800, 1_200)
    assert (
        flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()["source"] == "ai"
    )


def test_the_container_builds_both_uses_from_their_settings_with_the_usage_log(
    settings: Settings, db: psycopg.Connection[Any]
) -> None:
    s = settings.model_copy(
        update={"gemini_api_key": SecretStr("a-key"), "gemini_report_model": "gemini-3.8-flash"}
    )
    container = build_container(s, deliver=lambda *_: None)
    try:
        ai, writer = container.ai_questions, container.report_writer
        assert isinstance(ai, GeminiQuestionGenerator) and isinstance(writer, GeminiReportWriter)
        assert ai._client.spec == spec_from_settings(s, "questions")
        assert writer._client.spec == spec_from_settings(s, "report")
        assert writer.model == "gemini-3.8-flash"
        # the writer records into the container's log, which is the database
        sid = str(uuid.uuid4())
        writer._client.get().models.generate_content = lambda **_: None  # type: ignore[method-assign,assignment]
        with pytest.raises(ReportTransient):  # nothing readable: another attempt may give an answer
            writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=sid)
        assert [r[2] for r in usage_rows(db, sid)] == ["invalid"]
    finally:
        container.close()
