"""The Gemini report writer, offline: a real `genai.Client` (no network on construction) whose
generate_content is replaced; every attempt lands in an in-memory usage log. Plus the quote check that
keeps the report to what the candidate said."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from google.genai import errors, types

from prepkit.adapters.gemini import (
    REPORT_INSTRUCTION,
    REPORT_PROMPT_VERSION,
    GeminiCallSpec,
    GeminiReportWriter,
    verify_quotes,
)
from prepkit.domain.errors import ReportFailed, ReportTransient
from prepkit.domain.models import InterviewConfig, Question, Utterance
from prepkit.domain.report import (
    Breakdown,
    Evidence,
    QuestionAnalysis,
    ReportContent,
    ReportSource,
)
from tests.fakes import RecordingUsageLog

MODEL = "gemini-3.5-flash"
IN_PRICE = 1.50  # USD per million input tokens (gemini-3.5-flash list price)
OUT_PRICE = 9.00  # USD per million output tokens, thinking included
SESSION = "0d6e2b3a-77c4-4f0e-8d2b-5a9c1e7f3b21"
SPEC = GeminiCallSpec(
    model=MODEL,
    input_usd_per_mtok=IN_PRICE,
    output_usd_per_mtok=OUT_PRICE,
    deadline_s=60,
    max_output_tokens=16_384,
    thinking_level="medium",
)
CONFIG = InterviewConfig.model_validate({"type": "system-design", "difficulty": "easy", "duration": 20})
QUESTIONS = (
    Question(
        position=1,
        text="Design a rate limiter for a public REST API.",
        topics=("api-design",),
        estimated_minutes=8,
        expected_key_points=("Token bucket or sliding window", "Counters in Redis with a TTL"),
        follow_ups=("How would you allow bursts?",),
    ),
    Question(
        position=2,
        text="Design a URL shortener.",
        topics=("storage",),
        estimated_minutes=8,
        expected_key_points=("Base62 codes", "Cache hot codes"),
        follow_ups=("301 or 302?",),
    ),
)
SAID_1 = "I would use a token bucket per API key, with the counters kept in Redis."
SAID_2 = "Each bucket has a TTL so idle keys disappear on their own."
MESSAGES = (
    Utterance("assistant", QUESTIONS[0].text, 0.0),
    Utterance("user", SAID_1, 5.0),
    Utterance("user", SAID_2, 12.0),
    Utterance("assistant", QUESTIONS[1].text, 60.0),
    Utterance("user", "Not sure.", 65.0),
)


def analysis(
    position: int, quotes: list[str], *, evidence: Evidence = Evidence.ASSESSED, score: int | None = 70
) -> QuestionAnalysis:
    return QuestionAnalysis(
        position=position,
        question=QUESTIONS[position - 1].text,
        evidence_status=evidence,
        score=score,
        what_went_well=["Named a concrete algorithm"],
        missing_key_points=[],
        transcript_quotes=quotes,
    )


def content(*per_question: QuestionAnalysis) -> ReportContent:
    return ReportContent(
        overall_score=60,
        evidence_status=Evidence.ASSESSED,
        breakdown=Breakdown(technical_depth=60, communication=70),
        summary="A reasonable start.",
        per_question=list(per_question),
    )


VALID = content(
    analysis(1, [SAID_1]),
    analysis(2, [], evidence=Evidence.NOT_ENOUGH_EVIDENCE, score=None),
)


def usage(prompt: int | None, candidates: int | None, thoughts: int | None) -> SimpleNamespace:
    return SimpleNamespace(
        prompt_token_count=prompt, candidates_token_count=candidates, thoughts_token_count=thoughts
    )


def response(
    parsed: Any = VALID, text: str | None = None, usage_metadata: Any = None, finish: str | None = "STOP"
) -> SimpleNamespace:
    return SimpleNamespace(
        parsed=parsed,
        text=text,
        usage_metadata=usage_metadata,
        prompt_feedback=None,
        candidates=[SimpleNamespace(finish_reason=types.FinishReason(finish) if finish else None)],
    )


def writer_returning(
    result: Any = None, raises: BaseException | None = None
) -> tuple[GeminiReportWriter, list[dict[str, Any]], RecordingUsageLog]:
    log = RecordingUsageLog()
    writer = GeminiReportWriter("fake-key", SPEC, usage=log)
    calls: list[dict[str, Any]] = []

    def generate_content(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if raises is not None:
            raise raises
        return result

    writer._client.get().models.generate_content = generate_content  # type: ignore[method-assign]
    return writer, calls, log


def write(writer: GeminiReportWriter) -> Any:
    return writer.write(CONFIG, QUESTIONS, MESSAGES, session_id=SESSION)


def test_structured_report_is_stored_with_model_tokens_and_cost() -> None:
    writer, calls, log = writer_returning(response(usage_metadata=usage(12_000, 1_500, 2_500)))
    stored = write(writer)
    assert stored.source is ReportSource.AI
    assert stored.model == MODEL
    assert stored.prompt_version == REPORT_PROMPT_VERSION == "report-v2"
    assert stored.content == VALID
    assert stored.input_tokens == 12_000
    assert stored.output_tokens == 4_000  # thinking tokens are billed as output
    assert stored.cost_usd == pytest.approx((12_000 * IN_PRICE + 4_000 * OUT_PRICE) / 1_000_000)
    assert stored.cost_usd == pytest.approx(0.054)
    [call] = calls
    assert call["model"] == MODEL
    config = call["config"]
    assert config.response_schema is ReportContent
    assert config.response_mime_type == "application/json"
    assert config.system_instruction == REPORT_INSTRUCTION
    assert config.temperature is None  # Gemini 3 keeps its default 1.0 (it was 0.2)
    assert config.thinking_config.thinking_level is types.ThinkingLevel.MEDIUM
    assert config.max_output_tokens == 16_384
    for q in QUESTIONS:
        assert q.text in call["contents"]
    assert f"Candidate: {SAID_1}" in call["contents"]
    assert f"Interviewer: {QUESTIONS[0].text}" in call["contents"]
    [row] = log.rows
    assert (row.session_id, row.purpose, row.model, row.outcome, row.detail) == (
        SESSION, "report", MODEL, "ok", None
    )  # fmt: skip
    assert (row.input_tokens, row.output_tokens, row.thinking_tokens) == (12_000, 4_000, 2_500)
    assert row.cost_usd == stored.cost_usd


def test_without_thinking_tokens_output_is_the_candidates_count() -> None:
    writer, _, _ = writer_returning(response(usage_metadata=usage(1_000, 400, None)))
    stored = write(writer)
    assert (stored.input_tokens, stored.output_tokens) == (1_000, 400)
    assert stored.cost_usd == pytest.approx((1_000 * IN_PRICE + 400 * OUT_PRICE) / 1_000_000)


def test_parsed_none_falls_back_to_validating_the_text() -> None:
    writer, _, _ = writer_returning(response(parsed=None, text=VALID.model_dump_json()))
    stored = write(writer)
    assert stored.content == VALID
    assert stored.source is ReportSource.AI


def test_written_report_keeps_only_real_quotes() -> None:
    invented = content(
        analysis(1, [SAID_1, "I have built this at Google scale."]), analysis(2, ["Base62 of an ID."])
    )
    writer, _, _ = writer_returning(response(parsed=invented))
    per_question = write(writer).content.per_question
    assert per_question[0].transcript_quotes == [SAID_1]
    assert per_question[0].score == 70
    assert per_question[1].transcript_quotes == []
    assert per_question[1].evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert per_question[1].score is None


@pytest.mark.parametrize(
    ("error", "outcome", "detail"),
    [
        (errors.ClientError(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}),
         "error", "rate_limited"),
        (errors.ServerError(500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}),
         "error", "api_error"),
        (errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}),
         "error", "api_error"),
        (errors.ServerError(504, {"error": {"code": 504, "status": "DEADLINE_EXCEEDED", "message": "late"}}),
         "timeout", "timeout"),
        (httpx.ReadTimeout("timed out"), "timeout", "timeout"),
        (httpx.ConnectError("refused"), "error", "transport"),
    ],
    ids=["429", "500", "503", "504", "read-timeout", "connect-error"],
)  # fmt: skip
def test_retryable_failures_are_transient_and_recorded(
    error: BaseException, outcome: str, detail: str
) -> None:
    writer, calls, log = writer_returning(raises=error)
    with pytest.raises(ReportTransient):
        write(writer)
    assert len(calls) == 1  # one attempt per invocation: the state machine's Retry owns retries
    [row] = log.rows
    assert (row.outcome, row.detail, row.cost_usd, row.session_id) == (outcome, detail, 0.0, SESSION)


@pytest.mark.parametrize(
    "error",
    [
        errors.ClientError(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}),
        errors.ClientError(403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "key"}}),
    ],
    ids=["400", "403"],
)
def test_request_errors_fail_the_report(error: BaseException) -> None:
    writer, _, log = writer_returning(raises=error)
    with pytest.raises(ReportFailed):
        write(writer)
    assert [(r.outcome, r.detail) for r in log.rows] == [("error", "request_rejected")]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        None,
        '{"overallScore": 50}',
        VALID.model_dump_json().replace('"overallScore":60', '"overallScore":500'),
    ],
    ids=["not-json", "no-text", "incomplete", "out-of-range"],
)
def test_invalid_output_is_retried_and_its_tokens_are_recorded(text: str | None) -> None:
    """Unlike a blocked or truncated answer, an unreadable one is worth another sample (the state machine
    retries ReportTransient twice, then falls back)."""
    assert text is None or '"overallScore":60' not in text
    writer, _, log = writer_returning(response(parsed=None, text=text, usage_metadata=usage(9_000, 700, 300)))
    with pytest.raises(ReportTransient):
        write(writer)
    [row] = log.rows
    assert (row.outcome, row.input_tokens, row.output_tokens) == ("invalid", 9_000, 1_000)
    assert row.cost_usd == pytest.approx((9_000 * IN_PRICE + 1_000 * OUT_PRICE) / 1_000_000)


@pytest.mark.parametrize(
    ("finish", "outcome"),
    [("SAFETY", "blocked"), ("PROHIBITED_CONTENT", "blocked"), ("BLOCKLIST", "blocked"), ("SPII", "blocked"),
     ("RECITATION", "blocked"), ("MAX_TOKENS", "truncated")],
)  # fmt: skip
def test_a_blocked_or_truncated_answer_is_permanent(finish: str, outcome: str) -> None:
    # even a parsed body is not trusted once the answer was stopped
    writer, calls, log = writer_returning(response(finish=finish, usage_metadata=usage(9_000, 16_384, 0)))
    with pytest.raises(ReportFailed):
        write(writer)
    assert len(calls) == 1
    [row] = log.rows
    assert (row.outcome, row.detail, row.output_tokens) == (outcome, finish.lower(), 16_384)


def test_a_blocked_prompt_is_permanent() -> None:
    blocked = SimpleNamespace(
        parsed=None,
        text=None,
        candidates=None,
        prompt_feedback=SimpleNamespace(block_reason=types.BlockedReason.PROHIBITED_CONTENT),
        usage_metadata=usage(9_000, None, None),
    )
    writer, _, log = writer_returning(blocked)
    with pytest.raises(ReportFailed, match="PROHIBITED_CONTENT"):
        write(writer)
    assert [(r.outcome, r.detail, r.input_tokens) for r in log.rows] == [
        ("blocked", "prompt_prohibited_content", 9_000)
    ]


# --- verify_quotes -----------------------------------------------------------------------------


def test_verify_quotes_drops_what_the_candidate_never_said() -> None:
    checked = verify_quotes(
        content(analysis(1, [SAID_1, "I designed the rate limiter for Stripe."]), analysis(2, [SAID_2])),
        MESSAGES,
    )
    first, second = checked.per_question
    assert first.transcript_quotes == [SAID_1]
    assert first.evidence_status is Evidence.ASSESSED
    assert first.score == 70
    assert second.transcript_quotes == [SAID_2]
    assert second.evidence_status is Evidence.ASSESSED


def test_assessed_question_left_without_quotes_becomes_not_enough_evidence() -> None:
    checked = verify_quotes(content(analysis(1, ["I would shard by user id."], score=85)), MESSAGES)
    [only] = checked.per_question
    assert only.transcript_quotes == []
    assert only.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert only.score is None
    assert only.what_went_well == ["Named a concrete algorithm"]  # the rest is kept


def test_assessed_question_with_no_quotes_at_all_becomes_not_enough_evidence() -> None:
    [only] = verify_quotes(content(analysis(1, [], score=40)), MESSAGES).per_question
    assert only.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert only.score is None


def test_the_interviewers_words_are_not_the_candidates() -> None:
    [only] = verify_quotes(content(analysis(1, [QUESTIONS[0].text])), MESSAGES).per_question
    assert only.transcript_quotes == []
    assert only.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE


def test_quotes_match_ignoring_case_and_whitespace() -> None:
    shouting = "I WOULD USE  a token\nbucket per api key"
    part = "  counters kept in redis.  "
    [only] = verify_quotes(content(analysis(1, [shouting, part, "   "])), MESSAGES).per_question
    assert only.transcript_quotes == [shouting, part]
    assert only.evidence_status is Evidence.ASSESSED
    assert only.score == 70


def test_not_enough_evidence_stays_so_and_the_rest_is_untouched() -> None:
    original = content(
        analysis(1, [SAID_1]),
        analysis(2, ["Never said."], evidence=Evidence.NOT_ENOUGH_EVIDENCE, score=None),
    )
    checked = verify_quotes(original, MESSAGES)
    assert checked.per_question[1].evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert checked.per_question[1].transcript_quotes == []
    assert checked.overall_score == original.overall_score
    assert checked.breakdown == original.breakdown
    assert checked.summary == original.summary
    assert original.per_question[1].transcript_quotes == ["Never said."]  # the input is not mutated
