"""The offline scorer: deterministic, rewards covering the rubric in the candidate's own words, and
refuses to invent a score when too little was said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prepkit.adapters.question_bank import QuestionBank
from prepkit.domain.models import Difficulty, InterviewConfig, Question, Utterance
from prepkit.domain.report import Evidence, ReportSource, StoredReport
from prepkit.domain.scoring import (
    MIN_ANSWER_WORDS,
    PROMPT_VERSION,
    OfflineReportWriter,
    score_transcript,
)
from prepkit.ports import ReportWriter

CONFIG = InterviewConfig.model_validate({"type": "python", "difficulty": "medium", "duration": 20})

# rubric text as in the question bank (python/medium), three key points each
QUESTIONS: tuple[Question, ...] = (
    Question(
        position=1,
        text=(
            "What happens if you call a blocking function like time.sleep or requests.get inside an "
            "asyncio coroutine, and how do you fix it?"
        ),
        topics=("asyncio",),
        estimated_minutes=6,
        expected_key_points=(
            "It blocks the entire event loop, so every other task stalls",
            "Use await asyncio.sleep and async libraries like httpx or aiohttp",
            "Offload unavoidable blocking calls with asyncio.to_thread or run_in_executor",
        ),
        follow_ups=("How would you detect this in production?",),
    ),
    Question(
        position=2,
        text=(
            "How would you test Python code that calls an external HTTP API, without hitting the real "
            "service in your unit tests?"
        ),
        topics=("testing",),
        estimated_minutes=6,
        expected_key_points=(
            "Wraps the API behind an adapter or client interface and injects it",
            "Uses unittest.mock.patch where the name is looked up, not where it is defined",
            "Tests error paths: timeouts, 500 errors, malformed responses, retries",
        ),
        follow_ups=("How do you keep fakes honest?",),
    ),
    Question(
        position=3,
        text="How would you make instances of your own Python class usable as dictionary keys and sortable?",
        topics=("oop",),
        estimated_minutes=5,
        expected_key_points=(
            "Implements eq and hash consistently so equal objects have equal hashes",
            "Bases the hash on immutable fields only",
            "Implements lt and uses functools.total_ordering, or a dataclass with order equals True",
        ),
        follow_ups=("What happens if you define eq without hash?",),
    ),
    Question(
        position=4,
        text="A Python data processing script takes hours to run. How would you figure out why and speed it up?",
        topics=("performance",),
        estimated_minutes=6,
        expected_key_points=(
            "Measures first with cProfile, py-spy, or line_profiler rather than guessing",
            "Looks for algorithmic wins such as using a set or dict for membership tests",
            "Caches repeated work with functools.lru_cache",
        ),
        follow_ups=("When would multiprocessing help?",),
    ),
)

# A strong candidate: every key point, paraphrased, with reasons and trade-offs; several turns per answer.
STRONG: dict[int, list[str]] = {
    1: [
        "A blocking call like time.sleep inside a coroutine blocks the whole event loop, so every other "
        "task on that loop stalls until it returns.",
        "The fix is to await asyncio.sleep instead, and to use async libraries for I/O, for example httpx "
        "or aiohttp rather than requests.",
        "If a blocking call is unavoidable, say a legacy driver, I would offload it to a thread with "
        "asyncio.to_thread or run it in an executor with run_in_executor.",
    ],
    2: [
        "First I would wrap the external API behind a small client interface, an adapter, and inject it "
        "into the code that needs it, so tests can pass in a fake.",
        "Where I do need to patch, I use unittest.mock.patch on the name where it is looked up, not where "
        "it is defined, otherwise the patch silently misses.",
        "And I would test the error paths explicitly: timeouts, 500 errors, malformed responses and "
        "retries, because that is where real bugs hide. The downside of fakes is drift.",
    ],
    3: [
        "To use instances as dictionary keys I implement eq and hash consistently, so that equal objects "
        "always produce equal hashes.",
        "The hash should be based only on immutable fields, because if a field used in the hash changes, "
        "the object gets lost inside the dict.",
        "For sorting I implement lt and decorate the class with functools.total_ordering, or I simply use "
        "a dataclass with order equals True, which also gives eq.",
    ],
    4: [
        "I would measure first instead of guessing: run it under cProfile, or attach py-spy, or use "
        "line_profiler on the hot function.",
        "Then I look for algorithmic wins, for example a membership test against a list inside a loop, "
        "which becomes a set or dict lookup and goes from quadratic to linear.",
        "If the same expensive work is repeated with the same arguments, functools.lru_cache caches it. "
        "It depends on memory, but usually the cost is worth it.",
    ],
}

# Long, fluent, and about something else entirely; a different story for every question.
OFF_TOPIC: dict[int, list[str]] = {
    1: [
        "My favourite weekend hobby is baking sourdough bread, which needs a lively starter fed with "
        "flour and water for several days before mixing the dough, then a long overnight proof."
    ],
    2: [
        "Last summer our cricket team travelled to Pune for a tournament, we won two matches on a green "
        "pitch and lost the final in the last over after a dramatic collapse of our batting order."
    ],
    3: [
        "On the balcony I grow tomatoes, chillies and mint in clay pots; they need morning sunlight, "
        "compost every month and careful watering during the monsoon so the roots never rot."
    ],
    4: [
        "I recently watched a documentary about whales migrating across the Pacific ocean, travelling "
        "thousands of kilometres every year between feeding grounds and warm breeding lagoons."
    ],
}


def conversation(
    answers: Mapping[int, Sequence[str]], questions: Sequence[Question] = QUESTIONS
) -> tuple[Utterance, ...]:
    """The interviewer reads each question; the candidate answers in the given turns."""
    out: list[Utterance] = []
    t = 0.0
    for q in questions:
        out.append(Utterance("assistant", q.text, t))
        t += 10
        for text in answers.get(q.position, []):
            out.append(Utterance("user", text, t))
            t += 30
    out.append(Utterance("assistant", "Thank you, that is the end of the interview.", t))
    return tuple(out)


#: the offline ReportWriter (what the pipeline uses without an LLM): most tests below score through it
WRITER: ReportWriter = OfflineReportWriter()


def score(answers: Mapping[int, Sequence[str]], config: InterviewConfig = CONFIG) -> StoredReport:
    return WRITER.write(config, QUESTIONS, conversation(answers), session_id="a-session")


def user_texts(messages: Sequence[Utterance]) -> list[str]:
    return [m.text for m in messages if m.role == "user"]


def with_difficulty(difficulty: Difficulty) -> InterviewConfig:
    return CONFIG.model_copy(update={"difficulty": difficulty})


def test_same_transcript_gives_the_identical_report() -> None:
    messages = conversation(STRONG)
    first = score_transcript(CONFIG, QUESTIONS, messages)
    second = score_transcript(CONFIG, QUESTIONS, messages)
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()


def test_strong_transcript_scores_high_and_is_assessed() -> None:
    report = score(STRONG)
    c = report.content
    assert c.overall_score is not None
    assert c.overall_score >= 75
    assert c.evidence_status is Evidence.ASSESSED
    assert [a.position for a in c.per_question] == [1, 2, 3, 4]
    for a in c.per_question:
        assert a.evidence_status is Evidence.ASSESSED
        assert a.score is not None
        assert a.score >= 75
        assert a.missing_key_points == []
    assert all(v is not None for v in c.breakdown.model_dump().values())


def test_strong_transcript_with_real_bank_questions_scores_high() -> None:
    config = InterviewConfig.model_validate({"type": "system-design", "difficulty": "easy", "duration": 20})
    questions = QuestionBank().generate(config, 2, seed="x").questions
    # the candidate states each key point in a turn of its own, then elaborates
    answers = {
        q.position: [
            *(
                f"I think it {p[0].lower()}{p[1:]}, because that matters at scale."
                for p in q.expected_key_points
            ),
            "The trade-off is extra complexity versus latency, and it depends on the expected load.",
        ]
        for q in questions
    }
    report = score_transcript(config, questions, conversation(answers, questions))
    assert report.content.overall_score is not None
    assert report.content.overall_score >= 70
    silent = score_transcript(config, questions, conversation({}, questions))
    assert silent.content.overall_score == 0


def test_empty_transcript_scores_low_without_evidence() -> None:
    c = score_transcript(CONFIG, QUESTIONS, ()).content
    assert c.overall_score is not None
    assert c.overall_score <= 30
    assert c.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert all(a.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE for a in c.per_question)
    assert all(a.score is None for a in c.per_question)


def test_silent_candidate_scores_low_without_evidence() -> None:
    messages = conversation({})
    assert user_texts(messages) == []
    c = score_transcript(CONFIG, QUESTIONS, messages).content
    assert c.overall_score is not None
    assert c.overall_score <= 30
    assert c.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert [a.score for a in c.per_question] == [None, None, None, None]
    b = c.breakdown
    assert (b.technical_depth, b.communication, b.problem_solving, b.trade_off_analysis) == (None,) * 4
    assert b.time_management == 0


def test_off_topic_answers_score_low_although_long() -> None:
    report = score(OFF_TOPIC)
    c = report.content
    assert c.overall_score is not None
    assert c.overall_score <= 30
    for a, q in zip(c.per_question, QUESTIONS, strict=True):
        assert a.evidence_status is Evidence.ASSESSED  # enough was said; it just missed the point
        assert a.score is not None
        assert a.score <= 30
        assert a.missing_key_points == list(q.expected_key_points)
        assert a.what_could_be_better[0] == "The answer did not touch the points this question was about."


def test_same_answer_to_every_question_only_counts_once() -> None:
    c = score(dict.fromkeys((1, 2, 3, 4), STRONG[1])).content
    assert c.overall_score is not None
    assert c.overall_score <= 30
    first, *rest = c.per_question
    assert first.score is not None
    assert first.score >= 75  # it does answer the first question
    for a in rest:
        assert a.score == 0
        assert a.what_could_be_better[0].startswith("This answer repeats an earlier one")


@pytest.mark.parametrize(
    "answers",
    [OFF_TOPIC, {}, dict.fromkeys((1, 2, 3, 4), STRONG[1])],
    ids=["off-topic", "silent", "repeated"],
)
def test_strong_is_clearly_above_every_weak_transcript(answers: Mapping[int, Sequence[str]]) -> None:
    strong = score(STRONG).content.overall_score
    other = score(answers).content.overall_score
    assert strong is not None
    assert other is not None
    assert strong - other >= 40


def test_too_short_an_answer_is_not_enough_evidence_not_a_score() -> None:
    short = "It blocks the event loop so I would use asyncio sleep."  # 11 words
    assert len(short.split()) == MIN_ANSWER_WORDS - 1
    c = score({1: [short], **{p: STRONG[p] for p in (2, 3, 4)}}).content
    first = c.per_question[0]
    assert first.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE
    assert first.score is None
    assert first.transcript_quotes == []
    assert first.missing_key_points == list(QUESTIONS[0].expected_key_points)
    assert all(a.evidence_status is Evidence.ASSESSED for a in c.per_question[1:])
    # the unanswered question counts as zero in the overall score, and the report says so
    full = score(STRONG).content.overall_score
    assert c.overall_score is not None
    assert full is not None
    assert c.overall_score <= full - 20
    assert "Question 1: not enough said to assess" in c.weaknesses


def test_an_answer_of_exactly_the_minimum_length_is_assessed() -> None:
    enough = "It blocks the event loop so I would use asyncio sleep instead."  # 12 words
    assert len(enough.split()) == MIN_ANSWER_WORDS
    first = score({1: [enough]}).content.per_question[0]
    assert first.evidence_status is Evidence.ASSESSED
    assert first.score is not None


@pytest.mark.parametrize("answers", [STRONG, OFF_TOPIC], ids=["strong", "off-topic"])
def test_quotes_are_verbatim_words_of_the_candidate(answers: Mapping[int, Sequence[str]]) -> None:
    messages = conversation(answers)
    said = user_texts(messages)
    c = score_transcript(CONFIG, QUESTIONS, messages).content
    for a in c.per_question:
        assert a.evidence_status is Evidence.ASSESSED
        assert a.transcript_quotes
        for quote in a.transcript_quotes:
            assert any(quote in text for text in said), quote


def test_quotes_from_a_long_single_turn_answer_are_verbatim() -> None:
    """A whole answer in one turn (longer than 240 characters) must still be quoted verbatim."""
    one_turn = " ".join(STRONG[1])
    assert len(one_turn) > 240
    messages = conversation({1: [one_turn]})
    first = score_transcript(CONFIG, QUESTIONS, messages).content.per_question[0]
    assert first.evidence_status is Evidence.ASSESSED
    assert first.transcript_quotes
    for quote in first.transcript_quotes:
        assert quote in one_turn, quote


def test_missing_key_points_are_exactly_those_not_covered() -> None:
    # question 2: the adapter and the error paths, but nothing about where to patch
    answer = [STRONG[2][0], STRONG[2][2]]
    second = score({2: answer}).content.per_question[1]
    points = QUESTIONS[1].expected_key_points
    assert second.missing_key_points == [points[1]]
    assert second.what_went_well == [f"Covered: {points[0]}", f"Covered: {points[2]}"]
    assert second.score is not None
    assert 40 <= second.score < 75
    assert all(any(quote in said for said in answer) for quote in second.transcript_quotes)


def test_report_is_labelled_as_the_offline_fallback() -> None:
    report = score(STRONG)
    assert report.source is ReportSource.FALLBACK
    assert report.prompt_version == PROMPT_VERSION
    assert report.prompt_version
    assert report.model is None
    assert (report.input_tokens, report.output_tokens, report.cost_usd) == (None, None, None)


FILLERS = "um uh like basically actually literally hmm erm " * 3  # 24 words, every one a filler
TRADE_OFFS = (
    "However it depends: cost versus latency, but alternatively the downside is throughput, whereas "
    "consistency matters instead; every trade, tradeoff and tradeoffs vs the alternatives."
)
NONE_BUT_TIME = (None, None, None, None)


def breakdown(answers: Mapping[int, Sequence[str]]) -> tuple[int | None, ...]:
    b = score(answers).content.breakdown
    return (b.technical_depth, b.communication, b.problem_solving, b.trade_off_analysis, b.time_management)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # nothing said: nothing judged, and no time used on any question
        ({}, (*NONE_BUT_TIME, 0)),
        # only fillers, at length: assessed, and communication bottoms out at 0 (1 - 3 x fillers < 0)
        ({p: [FILLERS] for p in (1, 2, 3, 4)}, (0, 0, 0, 0, 100)),
        # more trade-off words than the scale counts: capped at 100, as are the coverage-based scores
        ({p: [*STRONG[p], TRADE_OFFS] for p in STRONG}, ("high", "high", 100, 100, 100)),
        # one question of four answered: judged on it, a quarter of the time used well
        ({1: STRONG[1], 2: ["too short to count"]}, ("high", "some", 25, "some", 25)),
    ],
    ids=["silent", "only-fillers", "trade-offs-beyond-the-scale", "one-of-four"],
)
def test_breakdown_is_within_0_to_100_or_none(
    answers: Mapping[int, Sequence[str]], expected: tuple[int | str | None, ...]
) -> None:
    """At the ends of every scale: clamped to 0 or 100 (never out of range), None only when nothing
    could be judged (time management is always judged: 0 when nothing was said)."""
    got = breakdown(answers)
    for name, value, want in zip(
        ("depth", "comm", "solving", "trade-off", "time"), got, expected, strict=True
    ):
        assert value is None or 0 <= value <= 100, (name, value)
        if want == "high":
            assert value is not None and value >= 75, (name, got)
        elif want == "some":
            assert value is not None and 0 < value < 100, (name, got)
        else:
            assert value == want, (name, got)


_VOCABULARY = sorted(
    {"um", "uh", "like", "basically", "however", "cost", "versus", "latency", "depends", "the", "a", "and"}
    | {w for q in QUESTIONS for p in q.expected_key_points for w in p.lower().split()}
)
_answer_turns = st.lists(st.lists(st.sampled_from(_VOCABULARY), max_size=150).map(" ".join), max_size=4)


@settings(max_examples=200, deadline=None, database=None)
@given(answers=st.dictionaries(st.sampled_from([1, 2, 3, 4]), _answer_turns, max_size=4))
def test_breakdown_of_any_transcript_is_within_0_to_100_or_none(answers: dict[int, list[str]]) -> None:
    c = score(answers).content  # never raises: the report's own schema refuses anything outside 0-100
    assessed = [a for a in c.per_question if a.evidence_status is Evidence.ASSESSED]
    depth, comm, solving, trade_off, time = breakdown(answers)
    for value in (depth, comm, solving, trade_off, time):
        assert value is None or 0 <= value <= 100
    if assessed:
        assert None not in (depth, comm, solving, trade_off)
    else:
        assert (depth, comm, solving, trade_off) == NONE_BUT_TIME
    assert time is not None
    assert (time == 0) == (not assessed)
    assert (time == 100) == (len(assessed) == len(QUESTIONS))
    assert c.overall_score is not None
    assert 0 <= c.overall_score <= 100
    for a in c.per_question:
        assert (a.score is None) == (a.evidence_status is Evidence.NOT_ENOUGH_EVIDENCE)
        assert a.score is None or 0 <= a.score <= 100


@pytest.mark.parametrize(
    ("difficulty", "after_strong", "after_weak"),
    [
        (Difficulty.EASY, Difficulty.MEDIUM, Difficulty.EASY),
        (Difficulty.MEDIUM, Difficulty.HARD, Difficulty.EASY),
        (Difficulty.HARD, Difficulty.HARD, Difficulty.MEDIUM),
    ],
)
def test_next_interview_difficulty_follows_the_score(
    difficulty: Difficulty, after_strong: Difficulty, after_weak: Difficulty
) -> None:
    config = with_difficulty(difficulty)
    strong = score(STRONG, config).content
    weak = score(OFF_TOPIC, config).content
    assert strong.overall_score is not None
    assert strong.overall_score >= 75
    assert weak.overall_score is not None
    assert weak.overall_score < 45
    assert strong.next_interview is not None
    assert weak.next_interview is not None
    assert strong.next_interview.difficulty == after_strong.value
    assert weak.next_interview.difficulty == after_weak.value
    assert strong.next_interview.type == config.type.value


def test_a_middling_score_keeps_the_difficulty() -> None:
    # two of four questions answered well: between 45 and 75
    c = score({1: STRONG[1], 2: STRONG[2]}).content
    assert c.overall_score is not None
    assert 45 <= c.overall_score < 75
    assert c.next_interview is not None
    assert c.next_interview.difficulty == CONFIG.difficulty.value
