"""The offline report: a deterministic scorer of the transcript against the rubric.

Used when Gemini fails (labelled source "fallback") and as the local default. No randomness: the same
transcript always gets the same report. It rewards covering the expected key points in the candidate's
own words; an empty, silent, off-topic or repeated answer covers nothing and scores low, and a question
with too little said gets "not enough evidence" instead of an invented score."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prepkit.domain.models import Difficulty, InterviewConfig, Question, Utterance
from prepkit.domain.report import (
    Breakdown,
    Evidence,
    NextInterview,
    QuestionAnalysis,
    ReportContent,
    ReportSource,
    StoredReport,
)

PROMPT_VERSION = "fallback-scorer-v1"
MIN_ANSWER_WORDS = 12
REPEAT_SIMILARITY = 0.8
QUESTION_MATCH = 0.5

_TOKEN = re.compile(r"[a-z0-9]+(?:[+#.][a-z0-9]+)*")
_STOP = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "uses",
        "use",
        "using",
        "mentions",
        "explains",
        "describes",
        "candidate",
        "answer",
        "strong",
        "good",
        "clear",
        "one",
        "two",
        "way",
        "ways",
    ]
)
_FILLERS = frozenset({"um", "uh", "erm", "hmm", "like", "basically", "actually", "literally"})
_TRADE_OFF = frozenset(
    {"tradeoff", "tradeoffs", "trade", "however", "but", "alternatively", "versus", "vs", "downside",
     "cost", "latency", "throughput", "consistency", "depends", "whereas", "instead"}
)  # fmt: skip


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _keywords(text: str) -> set[str]:
    return {_stem(t) for t in _tokens(text) if t not in _STOP and len(t) > 2}


@dataclass
class _Answer:
    question: Question
    utterances: list[Utterance]

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances).strip()

    @property
    def words(self) -> list[str]:
        return _tokens(self.text)


def _segment(questions: Sequence[Question], messages: Sequence[Utterance]) -> list[_Answer]:
    """Gives each candidate utterance to the question the interviewer asked last."""
    answers = [_Answer(q, []) for q in questions]
    question_words = [_keywords(q.text) for q in questions]
    current: int | None = None
    for m in messages:
        if m.role == "assistant":
            said = _keywords(m.text)
            best, best_overlap = None, 0.0
            for i, words in enumerate(question_words):
                overlap = len(words & said) / len(words) if words else 0.0
                if overlap >= QUESTION_MATCH and overlap > best_overlap:
                    best, best_overlap = i, overlap
            if best is not None:
                current = best
        elif m.role == "user" and current is not None:
            answers[current].utterances.append(m)
    return answers


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _sentences(answer: _Answer) -> list[str]:
    return [s.strip() for u in answer.utterances for s in _SENTENCE.split(u.text) if s.strip()]


def _quote(answer: _Answer, keywords: set[str]) -> str | None:
    """The candidate's sentence (verbatim) that says most of the keywords."""
    best, best_hits = None, 0
    for sentence in _sentences(answer):
        hits = len(_keywords(sentence) & keywords)
        if hits > best_hits:
            best, best_hits = sentence, hits
    return best


def _analyse(answer: _Answer, earlier: list[set[str]]) -> tuple[QuestionAnalysis, float, set[str]]:
    q = answer.question
    words = answer.words
    said = _keywords(answer.text)
    if len(words) < MIN_ANSWER_WORDS:
        return (
            QuestionAnalysis(
                position=q.position,
                question=q.text,
                evidence_status=Evidence.NOT_ENOUGH_EVIDENCE,
                score=None,
                what_could_be_better=[
                    "Answer the question out loud, in full sentences, so it can be assessed."
                ],
                missing_key_points=list(q.expected_key_points),
            ),
            0.0,
            said,
        )
    repeated = any(len(said & e) / max(1, len(said | e)) >= REPEAT_SIMILARITY for e in earlier)
    covered: list[str] = []
    missing: list[str] = []
    quotes: list[str] = []
    for point in q.expected_key_points:
        point_words = _keywords(point)
        hit = point_words & said
        if not repeated and point_words and len(hit) / len(point_words) >= 0.5:
            covered.append(point)
            quote = _quote(answer, point_words)
            if quote and quote not in quotes:
                quotes.append(quote)
        else:
            missing.append(point)
    coverage = len(covered) / len(q.expected_key_points) if q.expected_key_points else 0.0
    depth = min(1.0, len(words) / 120)
    score = 0 if repeated else round(85 * coverage + 15 * depth * coverage**0.5)
    went_well = [f"Covered: {p}" for p in covered]
    better = [f"Also cover: {p}" for p in missing[:3]]
    if repeated:
        better.insert(0, "This answer repeats an earlier one; address the question that was asked.")
    elif not covered:
        better.insert(0, "The answer did not touch the points this question was about.")
    if not quotes:
        quotes = [_quote(answer, said) or _sentences(answer)[0]]
    return (
        QuestionAnalysis(
            position=q.position,
            question=q.text,
            evidence_status=Evidence.ASSESSED,
            score=score,
            what_went_well=went_well,
            what_could_be_better=better,
            missing_key_points=missing,
            transcript_quotes=quotes,
        ),
        coverage,
        said,
    )


def _pct(value: float) -> int:
    return max(0, min(100, round(100 * value)))


def score_transcript(
    config: InterviewConfig, questions: Sequence[Question], messages: Sequence[Utterance]
) -> StoredReport:
    answers = _segment(questions, messages)
    analyses: list[QuestionAnalysis] = []
    coverages: list[float] = []
    earlier: list[set[str]] = []
    for answer in answers:
        analysis, coverage, said = _analyse(answer, earlier)
        analyses.append(analysis)
        coverages.append(coverage)
        if said:
            earlier.append(said)
    assessed = [a for a in analyses if a.evidence_status is Evidence.ASSESSED]
    total = len(analyses) or 1
    # an unanswered question counts as zero: an interview is judged on what was shown
    overall = round(sum(a.score or 0 for a in analyses) / total)
    enough = len(assessed) * 2 >= len(analyses) and bool(assessed)
    all_words = [w for a in answers for w in a.words]
    fillers = sum(1 for w in all_words if w in _FILLERS) / max(1, len(all_words))
    avg_words = len(all_words) / max(1, len(assessed))
    trade_offs = sum(1 for w in all_words if w in _TRADE_OFF)
    breakdown = Breakdown(
        technical_depth=round(sum(a.score or 0 for a in assessed) / len(assessed)) if assessed else None,
        communication=_pct(min(1.0, avg_words / 80) * (1 - 3 * fillers)) if assessed else None,
        problem_solving=_pct(sum(1 for c in coverages if c >= 0.5) / total) if assessed else None,
        trade_off_analysis=_pct(min(1.0, trade_offs / (2 * len(assessed)))) if assessed else None,
        time_management=_pct(len(assessed) / total),
    )
    strengths = [
        f"Question {a.position}: {a.what_went_well[0].removeprefix('Covered: ')}"
        for a in assessed
        if a.what_went_well
    ][:3]
    weaknesses = [
        f"Question {a.position}: {'not enough said to assess' if a.score is None else 'missed key points'}"
        for a in analyses
        if a.score is None or a.missing_key_points
    ][:3]
    missing = [p for a in analyses for p in a.missing_key_points]
    level = "strong" if overall >= 75 else "developing" if overall >= 45 else "early"
    easier = {
        Difficulty.HARD: Difficulty.MEDIUM,
        Difficulty.MEDIUM: Difficulty.EASY,
        Difficulty.EASY: Difficulty.EASY,
    }
    harder = {
        Difficulty.EASY: Difficulty.MEDIUM,
        Difficulty.MEDIUM: Difficulty.HARD,
        Difficulty.HARD: Difficulty.HARD,
    }
    next_difficulty = (
        harder[config.difficulty]
        if overall >= 75
        else config.difficulty
        if overall >= 45
        else easier[config.difficulty]
    )
    content = ReportContent(
        overall_score=overall,
        evidence_status=Evidence.ASSESSED if enough else Evidence.NOT_ENOUGH_EVIDENCE,
        breakdown=breakdown,
        summary=(
            f"{len(assessed)} of {len(analyses)} questions had enough of an answer to assess; "
            f"{sum(1 for c in coverages if c >= 0.5)} covered at least half of their key points. "
            f"Overall this is a {level} {config.difficulty.value} {config.type.value} performance."
        ),
        per_question=analyses,
        strengths=strengths,
        weaknesses=weaknesses,
        recommendations=[f"Practise explaining: {p}" for p in missing[:3]],
        comparison_to_standards=(
            f"Scored against the key points a strong {config.difficulty.value} answer is expected to cover "
            "(automatic offline scoring: coverage of the rubric in the candidate's own words)."
        ),
        next_steps=["Review the missing key points above, then take another interview on the same topics."],
        next_interview=NextInterview(
            type=config.type.value,
            difficulty=next_difficulty.value,
            focus_areas=list(config.focus_areas),
            reason=f"Overall score {overall}: {level} performance at {config.difficulty.value}.",
        ),
    )
    return StoredReport(
        content=content, source=ReportSource.FALLBACK, model=None, prompt_version=PROMPT_VERSION
    )


class OfflineReportWriter:
    """The ReportWriter port without an LLM: the local default, and what FallbackReport runs."""

    def write(
        self,
        config: InterviewConfig,
        questions: tuple[Question, ...],
        messages: tuple[Utterance, ...],
        *,
        session_id: str = "",  # noqa: ARG002 (no usage to record)
    ) -> StoredReport:
        return score_transcript(config, questions, messages)
