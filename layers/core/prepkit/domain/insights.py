"""The candidate's progress (GET /interviews/stats) and the operators' view (GET /admin/metrics).
Pure arithmetic over rows the repository returns."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prepkit.domain.errors import Forbidden

BREAKDOWN_KEYS = ("technicalDepth", "communication", "problemSolving", "tradeOffAnalysis", "timeManagement")


@dataclass(frozen=True, slots=True)
class ScorePoint:
    session_id: str
    type: str
    difficulty: str
    completed_at: datetime
    overall_score: int | None
    breakdown: dict[str, int | None]


@dataclass(frozen=True, slots=True)
class PlatformCounts:
    sessions_by_status: dict[str, int]
    ever_paid: int
    captured_paise: int
    refunded_paise: int
    ai_cost_usd: float  # every recorded LLM attempt: questions and reports, successful or not
    report_cost_usd: float  # every report attempt, retried and failed ones included
    reports: int
    fallback_reports: int
    voice_cost_usd: float
    calls_with_cost: int
    sessions: int
    fallback_question_sessions: int


class InsightsRepository(Protocol):
    def score_history(self, user_id: str) -> list[ScorePoint]:
        """The user's completed interviews with a report, oldest first."""
        ...

    def platform_counts(self) -> PlatformCounts: ...


@dataclass
class TypeProgress:
    type: str
    scores: list[ScorePoint] = field(default_factory=list)

    @property
    def scored(self) -> list[int]:
        return [p.overall_score for p in self.scores if p.overall_score is not None]

    @property
    def average(self) -> float | None:
        return round(sum(self.scored) / len(self.scored), 1) if self.scored else None

    @property
    def trend(self) -> int | None:
        """Latest score minus the first: positive means improving."""
        return self.scored[-1] - self.scored[0] if len(self.scored) >= 2 else None


@dataclass(frozen=True, slots=True)
class Progress:
    completed: int
    by_type: list[TypeProgress]
    breakdown_averages: dict[str, float | None]
    weakest_areas: list[str]


def progress(points: list[ScorePoint]) -> Progress:
    by_type: dict[str, TypeProgress] = {}
    sums: dict[str, list[int]] = defaultdict(list)
    for p in points:
        by_type.setdefault(p.type, TypeProgress(p.type)).scores.append(p)
        for key in BREAKDOWN_KEYS:
            value = p.breakdown.get(key)
            if isinstance(value, int):
                sums[key].append(value)
    averages = {key: round(sum(v) / len(v), 1) if (v := sums.get(key)) else None for key in BREAKDOWN_KEYS}
    ranked = sorted((avg, key) for key, avg in averages.items() if avg is not None)
    return Progress(
        completed=len(points),
        by_type=sorted(by_type.values(), key=lambda t: t.type),
        breakdown_averages=averages,
        weakest_areas=[key for _, key in ranked[:2]],
    )


@dataclass(frozen=True, slots=True)
class AdminMetrics:
    sessions_by_status: dict[str, int]
    completion_rate: float | None
    revenue_paise: int
    refunded_paise: int
    ai_cost_per_report_usd: float | None
    ai_cost_usd: float
    ai_cost_per_interview_usd: float | None
    voice_cost_per_call_usd: float | None
    question_fallback_rate: float | None
    report_fallback_rate: float | None


def admin_metrics(is_admin: bool, repo: InsightsRepository) -> AdminMetrics:
    if not is_admin:
        raise Forbidden("admin group required")
    counts = repo.platform_counts()

    def ratio(part: float, whole: float, digits: int = 4) -> float | None:
        return round(part / whole, digits) if whole else None

    return AdminMetrics(
        sessions_by_status=counts.sessions_by_status,
        completion_rate=ratio(counts.sessions_by_status.get("completed", 0), counts.ever_paid),
        revenue_paise=counts.captured_paise - counts.refunded_paise,
        refunded_paise=counts.refunded_paise,
        ai_cost_per_report_usd=ratio(counts.report_cost_usd, counts.reports, 6),
        ai_cost_usd=round(counts.ai_cost_usd, 6),
        # all AI spend (question generation for setups never paid included) per interview paid for
        ai_cost_per_interview_usd=ratio(counts.ai_cost_usd, counts.ever_paid, 6),
        voice_cost_per_call_usd=ratio(counts.voice_cost_usd, counts.calls_with_cost, 4),
        question_fallback_rate=ratio(counts.fallback_question_sessions, counts.sessions),
        report_fallback_rate=ratio(counts.fallback_reports, counts.reports),
    )
