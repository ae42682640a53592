"""The Gemini report writer, offline: a real `genai.Client` (no network on construction) whose
generate_content is replaced; plus the quote check that keeps the report to what the candidate said."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from google.genai import errors

from prepkit.adapters.gemini import (
    REPORT_INSTRUCTION,
    REPORT_PROMPT_VERSION,
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

MODEL = "gemini-3.5-flash"
IN_PRICE = 0.30  # USD per million input tokens
OUT_PRICE = 2.50  # USD per million output tokens
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


def response(parsed: Any = VALID, text: str | None = None, usage_metadata: Any = None) -> SimpleNamespace:
    return SimpleNamespace(parsed=parsed, text=text, usage_metadata=usage_metadata)


def writer_returning(
    result: Any = None, raises: BaseException | None = None
) -> tuple[GeminiReportWriter, list[dict[str, Any]]]:
    writer = GeminiReportWriter(
        "fake-key",
        MODEL,
        timeout_s=5,
        attempts=1,
        input_usd_per_mtok=IN_PRICE,
        output_usd_per_mtok=OUT_PRICE,
    )
    calls: list[dict[str, Any]] = []

    def generate_content(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if raises is not None:
            raise raises
        return result

    writer._client.get().models.generate_content = generate_content  # type: ignore[method-assign]
    return writer, calls


def test_structured_report_is_stored_with_model_tokens_and_cost() -> None:
    writer, calls = writer_returning(response(usage_metadata=usage(12_000, 1_500, 2_500)))
    stored = writer.write(CONFIG, QUESTIONS, MESSAGES)
    assert stored.source is ReportSource.AI
    assert stored.model == MODEL
    assert stored.prompt_version == REPORT_PROMPT_VERSION == "report-v1"
    assert stored.content == VALID
    assert stored.input_tokens == 12_000
    assert stored.output_tokens == 4_000  # thinking tokens are billed as output
    assert stored.cost_usd == pytest.approx((12_000 * IN_PRICE + 4_000 * OUT_PRICE) / 1_000_000)
    assert stored.cost_usd == pytest.approx(0.0136)
    [call] = calls
    assert call["model"] == MODEL
    assert call["config"].response_schema is ReportContent
    assert call["config"].response_mime_type == "application/json"
    assert call["config"].system_instruction == REPORT_INSTRUCTION
    for q in QUESTIONS:
        assert q.text in call["contents"]
    assert f"Candidate: {SAID_1}" in call["contents"]
    assert f"Interviewer: {QUESTIONS[0].text}" in call["contents"]


def test_without_thinking_tokens_output_is_the_candidates_count() -> None:
    writer, _ = writer_returning(response(usage_metadata=usage(1_000, 400, None)))
    stored = writer.write(CONFIG, QUESTIONS, MESSAGES)
    assert (stored.input_tokens, stored.output_tokens) == (1_000, 400)
    assert stored.cost_usd == pytest.approx((1_000 * IN_PRICE + 400 * OUT_PRICE) / 1_000_000)


def test_parsed_none_falls_back_to_validating_the_text() -> None:
    writer, _ = writer_returning(response(parsed=None, text=VALID.model_dump_json()))
    stored = writer.write(CONFIG, QUESTIONS, MESSAGES)
    assert stored.content == VALID
    assert stored.source is ReportSource.AI


def test_written_report_keeps_only_real_quotes() -> None:
    invented = content(
        analysis(1, [SAID_1, "I have built this at Google scale."]), analysis(2, ["Base62 of an ID."])
    )
    writer, _ = writer_returning(response(parsed=invented))
    per_question = writer.write(CONFIG, QUESTIONS, MESSAGES).content.per_question
    assert per_question[0].transcript_quotes == [SAID_1]
    assert per_question[0].score == 70
    assert per_question[1].transcript_quotes == []
    assert per_question[1].evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert per_question[1].score is None


@pytest.mark.parametrize(
    "error",
    [
        errors.ClientError(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}),
        errors.ServerError(500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}),
        errors.ServerError(503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
    ids=["429", "500", "503", "read-timeout", "connect-error"],
)
def test_retryable_failures_are_transient(error: BaseException) -> None:
    writer, calls = writer_returning(raises=error)
    with pytest.raises(ReportTransient):
        writer.write(CONFIG, QUESTIONS, MESSAGES)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "error",
    [
        errors.ClientError(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}),
        errors.ClientError(403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "key"}}),
    ],
    ids=["400", "403"],
)
def test_request_errors_fail_the_report(error: BaseException) -> None:
    writer, _ = writer_returning(raises=error)
    with pytest.raises(ReportFailed):
        writer.write(CONFIG, QUESTIONS, MESSAGES)


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
def test_invalid_output_is_transient(text: str | None) -> None:
    assert text is None or '"overallScore":60' not in text
    writer, _ = writer_returning(response(parsed=None, text=text))
    with pytest.raises(ReportTransient):
        writer.write(CONFIG, QUESTIONS, MESSAGES)


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
