"""End reasons from the source: every endedReason value in Vapi's OpenAPI falls in exactly one class, by
rule, and a value nobody has seen is a technical failure (never scored, never kept as paid)."""

from __future__ import annotations

from typing import Any

import pytest

from prepkit.domain.end_reasons import (
    ASSESSABLE_END_REASONS,
    RECONCILE_FAILED,
    EndClass,
    classify,
    is_fault,
)
from prepkit.domain.models import Utterance
from prepkit.domain.pipeline_tasks import MIN_CANDIDATE_WORDS, _unassessable
from prepkit.ports import CallRow
from tests.vapi_schema import schemas

#: the only normal ends of an interview, written out (a new "normal" value must be added here on purpose)
EXPECTED_ASSESSABLE = {
    "customer-ended-call",
    "assistant-ended-call",
    "assistant-ended-call-after-message-spoken",
    "assistant-ended-call-with-hangup-task",
    "assistant-said-end-call-phrase",
    "exceeded-max-duration",
    "silence-timed-out",
}
#: values that name no error or fault but mean no interview took place (a sample, each in the enum)
NOT_AN_INTERVIEW = {
    "customer-did-not-give-microphone-permission",
    "worker-shutdown",
    "voicemail",
    "manually-canceled",
    "call-deleted",
    "customer-busy",
    "customer-did-not-answer",
    "assistant-join-timed-out",
    "phone-call-provider-closed-websocket",
    "customer-ended-call-during-transfer",
}


def ended_reason_enums() -> dict[str, list[str]]:
    """Every schema (at any depth) with an endedReason property that has an enum: schema name -> values."""
    found: dict[str, list[str]] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            prop = (
                node.get("properties", {}).get("endedReason")
                if isinstance(node.get("properties"), dict)
                else None
            )
            if isinstance(prop, dict):
                values = prop.get("enum") or prop.get("items", {}).get("enum")
                if values:
                    found[where] = list(values)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for name, schema in schemas().items():
        walk(schema, name)
    return found


ENUMS = ended_reason_enums()
CALL_VALUES = sorted(set(schemas()["Call"]["properties"]["endedReason"]["enum"]))
ALL_VALUES = sorted({v for values in ENUMS.values() for v in values})


def test_the_enums_are_found_where_calls_end() -> None:
    assert {"Call", "ServerMessageEndOfCallReport", "ServerMessageStatusUpdate"} <= set(ENUMS)
    for name in ("ServerMessageEndOfCallReport", "ServerMessageStatusUpdate"):
        assert set(ENUMS[name]) == set(CALL_VALUES)
    assert len(CALL_VALUES) > 550


@pytest.mark.parametrize("reason", ALL_VALUES)
def test_each_value_falls_in_exactly_one_class_by_rule(reason: str) -> None:
    fault = is_fault(reason)
    expected_assessable = reason in EXPECTED_ASSESSABLE
    assert not (fault and expected_assessable)  # the two rules never overlap
    assert classify(reason) is (EndClass.ASSESSABLE if expected_assessable else EndClass.TECHNICAL)


def test_the_assessable_list_is_exactly_the_expected_one_and_all_real() -> None:
    assert ASSESSABLE_END_REASONS == EXPECTED_ASSESSABLE
    assert set(CALL_VALUES) >= EXPECTED_ASSESSABLE  # a value Vapi renames fails here, not in production
    assert {v for v in ALL_VALUES if classify(v) is EndClass.ASSESSABLE} == EXPECTED_ASSESSABLE


def test_every_in_progress_and_start_error_is_technical() -> None:
    """The 316 values the old prefix list missed (call.in-progress.error-*, call.start.error-*)."""
    broken = [v for v in CALL_VALUES if v.startswith(("call.in-progress.error-", "call.start.error-"))]
    assert len(broken) >= 290
    assert all(classify(v) is EndClass.TECHNICAL for v in broken)
    faults = [v for v in CALL_VALUES if "vapifault" in v or "providerfault" in v or "pipeline-error" in v]
    assert len(faults) > 400
    assert all(is_fault(v) and classify(v) is EndClass.TECHNICAL for v in faults)


@pytest.mark.parametrize("reason", sorted(NOT_AN_INTERVIEW))
def test_ends_that_are_no_interview_are_technical(reason: str) -> None:
    assert reason in CALL_VALUES
    assert not is_fault(reason)
    assert classify(reason) is EndClass.TECHNICAL


@pytest.mark.parametrize(
    "reason",
    [None, "", "   ", RECONCILE_FAILED, "call.in-progress.something-new-2027", "Customer-Ended-Call"],
)
def test_unknown_missing_and_our_own_values_are_technical(reason: str | None) -> None:
    if reason is not None:
        assert reason not in CALL_VALUES
    assert classify(reason) is EndClass.TECHNICAL


# --- wired into the review of a call -------------------------------------------------------------

ANSWER = " ".join(["word"] * (MIN_CANDIDATE_WORDS + 5))


def row(reason: str | None, *, seconds: float = 600, words: str = ANSWER) -> CallRow:
    return CallRow("c1", "s1", 1, "ended", None, reason, seconds, (Utterance("user", words, 10.0),))


@pytest.mark.parametrize("reason", sorted(EXPECTED_ASSESSABLE))
def test_a_normal_end_with_enough_said_is_assessed(reason: str) -> None:
    assert _unassessable(row(reason), 60) is None


@pytest.mark.parametrize(
    "reason",
    [
        "call.in-progress.error-providerfault-google-llm-failed",
        "call.start.error-get-assistant",
        "customer-did-not-give-microphone-permission",
        RECONCILE_FAILED,
        None,
        "a-value-vapi-adds-in-2027",
    ],
)
def test_a_broken_call_is_never_assessed_however_long(reason: str | None) -> None:
    verdict = _unassessable(row(reason, seconds=1800), 60)
    assert verdict is not None
    assert verdict.startswith("technical: ")
    assert (reason or "no end reason") in verdict


def test_a_normal_end_still_needs_time_and_words() -> None:
    assert _unassessable(row("customer-ended-call", seconds=30), 60) == "too short: 30 s"
    assert _unassessable(row("customer-ended-call", words="yes no"), 60) == "too little said: 2 words"
