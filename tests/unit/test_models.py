"""The interview configuration: bounds, enums, strict types, and the question count per duration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prepkit.domain.models import (
    ALLOWED_DURATIONS,
    MAX_FOCUS_AREAS,
    InterviewConfig,
    InterviewType,
    Price,
    Question,
)


def config(**changes: object) -> InterviewConfig:
    return InterviewConfig.model_validate({"type": "python", "difficulty": "easy", "duration": 20, **changes})


def test_defaults_and_camel_case() -> None:
    c = config(focusAreas=["  async  "], followUpStyle="challenging")
    assert c.focus_areas == ["async"]
    assert c.follow_up_style.value == "challenging"
    assert c.language.value == "en-IN"
    dumped = c.model_dump(mode="json", by_alias=True)
    assert dumped["followUpStyle"] == "challenging"
    assert InterviewConfig.model_validate(dumped) == c


@pytest.mark.parametrize("duration", ALLOWED_DURATIONS)
def test_allowed_durations(duration: int) -> None:
    assert config(duration=duration).duration == duration


@pytest.mark.parametrize("duration", [0, 19, 21, 60, -20, "20", 20.0, True, None])
def test_other_durations_are_refused(duration: object) -> None:
    with pytest.raises(ValidationError):
        config(duration=duration)


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "java"},
        {"difficulty": "Easy"},
        {"focusAreas": ["x"] * (MAX_FOCUS_AREAS + 1)},
        {"focusAreas": ["y" * 61]},
        {"focusAreas": ["bad\x00"]},
        {"specificRequirements": "z" * 1001},
        {"specificRequirements": "line\x1bbreak"},
        {"price": 1},
    ],
)
def test_invalid_configs(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        config(**changes)


def test_newlines_and_tabs_are_fine_in_requirements() -> None:
    assert config(specificRequirements="a\n\tb").specific_requirements == "a\n\tb"


@pytest.mark.parametrize(
    ("type_", "duration", "expected"),
    [
        ("python", 15, 3),
        ("python", 20, 4),
        ("behavioral", 45, 7),
        ("system-design", 20, 2),
        ("system-design", 45, 4),
    ],
)
def test_question_count(type_: str, duration: int, expected: int) -> None:
    assert config(type=type_, duration=duration).question_count == expected


def test_every_type_is_known() -> None:
    assert {t.value for t in InterviewType} == {
        "system-design",
        "javascript",
        "python",
        "data-structures",
        "behavioral",
    }


@pytest.mark.parametrize(
    ("amount", "currency", "display"),
    [(14900, "INR", "₹149"), (19950, "INR", "₹199.50"), (12345600, "INR", "₹123,456"), (500, "USD", "USD 5")],
)
def test_price_display(amount: int, currency: str, display: str) -> None:
    assert Price(amount, currency).display == display


def test_public_view_of_a_question_has_no_rubric() -> None:
    q = Question(1, "Explain GIL", ("concurrency",), 5, ("mentions bytecode",), ("and asyncio?",))
    public = q.public()
    assert not hasattr(public, "expected_key_points")
    assert not hasattr(public, "follow_ups")
    assert public.text == "Explain GIL"
