"""The offline question bank: the local default, and the production fallback whenever the LLM fails.
Deterministic: the same config and seed always give the same questions."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from importlib import resources
from typing import Any

from prepkit.domain.models import GeneratedQuestions, InterviewConfig, Question, QuestionSource

_WORD = re.compile(r"[a-z0-9]+")


class QuestionBank:
    def __init__(self, data: dict[str, Any] | None = None):
        self._data = data

    @cached_property
    def _entries(self) -> list[dict[str, Any]]:
        data = self._data
        if data is None:
            text = (resources.files("prepkit.adapters") / "question_bank.json").read_text(encoding="utf-8")
            data = json.loads(text)
        entries: list[dict[str, Any]] = data["questions"]
        return entries

    def generate(self, config: InterviewConfig, count: int, *, seed: str) -> GeneratedQuestions:
        pool = [
            q
            for q in self._entries
            if q["type"] == config.type.value and q["difficulty"] == config.difficulty.value
        ]
        if len(pool) < count:
            raise LookupError(
                f"question bank has {len(pool)} {config.type}/{config.difficulty} questions, need {count}"
            )
        wanted = _words(" ".join([*config.focus_areas, config.specific_requirements]))

        def rank(q: dict[str, Any]) -> tuple[int, str]:
            overlap = len(wanted & _words(" ".join([*q["topics"], q["text"]])))
            # ties broken by a hash of the seed, so two sessions of the same config vary
            return (-overlap, hashlib.sha256(f"{seed}:{q['id']}".encode()).hexdigest())

        chosen = sorted(pool, key=rank)[:count]
        questions = tuple(
            Question(
                position=i,
                text=q["text"],
                topics=tuple(q["topics"]),
                estimated_minutes=int(q["estimatedMinutes"]),
                expected_key_points=tuple(q["expectedKeyPoints"]),
                follow_ups=tuple(q["followUps"]),
            )
            for i, q in enumerate(chosen, start=1)
        )
        return GeneratedQuestions(questions=questions, source=QuestionSource.FALLBACK)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower().replace("-", " ")) if len(w) > 2}
