"""The offline question bank: complete, deterministic, steered by focus areas."""

from __future__ import annotations

import itertools

import pytest

from prepkit.adapters.question_bank import QuestionBank
from prepkit.domain.models import QUESTIONS_PER_DURATION, Difficulty, InterviewConfig, InterviewType

BANK = QuestionBank()


def cfg(t: InterviewType, d: Difficulty, **changes: object) -> InterviewConfig:
    return InterviewConfig.model_validate({"type": t.value, "difficulty": d.value, "duration": 45, **changes})


@pytest.mark.parametrize(("t", "d"), list(itertools.product(InterviewType, Difficulty)))
def test_every_type_and_difficulty_fills_the_longest_interview(t: InterviewType, d: Difficulty) -> None:
    c = cfg(t, d)
    count = max(QUESTIONS_PER_DURATION.values())
    generated = BANK.generate(c, count, seed="s")
    assert len(generated.questions) == count
    assert len({q.text for q in generated.questions}) == count
    for q in generated.questions:
        assert 3 <= len(q.expected_key_points) <= 6
        assert 1 <= len(q.follow_ups) <= 3
        assert q.estimated_minutes > 0


def test_deterministic_for_a_seed_and_varied_across_seeds() -> None:
    c = cfg(InterviewType.PYTHON, Difficulty.MEDIUM)
    a = BANK.generate(c, 4, seed="session-1")
    assert a == BANK.generate(c, 4, seed="session-1")
    picks = {tuple(q.text for q in BANK.generate(c, 4, seed=f"session-{i}").questions) for i in range(10)}
    assert len(picks) > 1


def test_focus_areas_come_first() -> None:
    c = cfg(InterviewType.DATA_STRUCTURES, Difficulty.MEDIUM, focusAreas=["graphs"])
    first = BANK.generate(c, 3, seed="x").questions[0]
    assert "graphs" in first.topics


def test_positions_are_one_based() -> None:
    qs = BANK.generate(cfg(InterviewType.BEHAVIORAL, Difficulty.EASY), 3, seed="x").questions
    assert [q.position for q in qs] == [1, 2, 3]
