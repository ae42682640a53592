"""InterviewService with fakes: fallback, AI, pricing, ownership and paging rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from prepkit.adapters.question_bank import QuestionBank
from prepkit.domain.errors import PricingUnavailable, SessionNotFound, ValidationFailed
from prepkit.domain.models import InterviewConfig, QuestionSource, SessionStatus
from prepkit.domain.services import InterviewService
from tests.fakes import InMemoryRepository, RecordingMetrics, ScriptedQuestionGenerator

CONFIG = InterviewConfig.model_validate({"type": "javascript", "difficulty": "hard", "duration": 20})


def service(
    ai: ScriptedQuestionGenerator | None = None,
) -> tuple[InterviewService, InMemoryRepository, RecordingMetrics]:
    repo, metrics = InMemoryRepository(), RecordingMetrics()
    clock = (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i) for i in itertools.count())
    ids = (f"00000000-0000-4000-8000-{i:012d}" for i in itertools.count(1))
    svc = InterviewService(
        repo, QuestionBank(), metrics, ai=ai, clock=lambda: next(clock), new_id=lambda: next(ids)
    )
    return svc, repo, metrics


def test_setup_without_ai_uses_the_bank_and_prices_from_the_repository() -> None:
    svc, repo, metrics = service()
    s = svc.setup("alice", CONFIG)
    assert s.status is SessionStatus.PENDING_PAYMENT
    assert s.question_source is QuestionSource.FALLBACK
    assert (s.price.amount, s.price.currency) == (14900, "INR")
    assert len(s.questions) == 4
    assert all(q.expected_key_points for q in s.questions)
    assert repo.sessions[s.id].user_id == "alice"
    assert metrics.total("QuestionsGenerated", source="fallback") == 1


def test_setup_with_ai() -> None:
    ai = ScriptedQuestionGenerator()
    svc, _, metrics = service(ai)
    s = svc.setup("alice", CONFIG)
    assert s.question_source is QuestionSource.AI
    assert s.question_model == "fake-model"
    assert metrics.total("QuestionsGenerated", source="ai") == 1


def test_ai_failure_falls_back() -> None:
    svc, _, metrics = service(ScriptedQuestionGenerator(fail_with="transport"))
    s = svc.setup("alice", CONFIG)
    assert s.question_source is QuestionSource.FALLBACK
    assert metrics.total("QuestionGenerationFallback", reason="transport") == 1


def test_no_price_no_session() -> None:
    svc, repo, _ = service()
    with pytest.raises(PricingUnavailable):
        svc.setup("alice", CONFIG.model_copy(update={"duration": 45}))
    assert repo.sessions == {}


def test_only_the_owner_gets_a_session() -> None:
    svc, _, _ = service()
    s = svc.setup("alice", CONFIG)
    assert svc.get("alice", s.id).id == s.id
    for user, sid in (("bob", s.id), ("alice", "00000000-0000-4000-8000-999999999999"), ("alice", "nope")):
        with pytest.raises(SessionNotFound):
            svc.get(user, sid)


def test_history_pages_newest_first() -> None:
    svc, _, _ = service()
    created = [svc.setup("alice", CONFIG).id for _ in range(5)]
    svc.setup("bob", CONFIG)
    page = svc.history("alice", page=1, limit=2)
    assert [i.id for i in page.interviews] == created[::-1][:2]
    assert (page.total, page.total_pages) == (5, 3)
    assert [i.id for i in svc.history("alice", page=3, limit=2).interviews] == [created[0]]
    assert svc.history("carol", page=1, limit=10).total_pages == 0


@pytest.mark.parametrize(("page", "limit"), [(0, 10), (1, 0), (1, 51)])
def test_history_bounds(page: int, limit: int) -> None:
    svc, _, _ = service()
    with pytest.raises(ValidationFailed):
        svc.history("alice", page=page, limit=limit)
