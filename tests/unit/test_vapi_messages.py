"""The parser of Vapi's messages (prepkit.adapters.vapi_messages) on Vapi's own material: the sample
messages Vapi publishes (shared/vendor/vapi), end-of-call reports of real size built from Vapi's OpenAPI,
and whatever else a validly authenticated sender could put in the fields it reads."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prepkit.adapters.storable import jsonb_safe
from prepkit.adapters.vapi_messages import (
    MAX_COST_USD,
    MAX_DURATION_S,
    call_id_of,
    parse_call,
    session_hint_of,
)
from prepkit.domain.models import CallRecord, Utterance
from tests import vapi_schema as vs

SESSION = "4f1c2a9e-0000-4000-8000-000000000001"
ASSISTANT: dict[str, Any] = {
    "name": "PrepKit interviewer",
    "firstMessage": "Hello! Let us begin. Design a rate limiter for a public REST API.",
    "model": {
        "provider": "google",
        "model": "gemini-2.5-flash",
        "messages": [{"role": "system", "content": "You are a professional interviewer. " * 120}],
    },
    "maxDurationSeconds": 1200,
    "serverMessages": ["status-update", "end-of-call-report", "hang"],
}
QUESTIONS = [
    "Design a rate limiter for a public REST API so that each API key gets a fixed quota per minute.",
    "Design a Pastebin-style service where users paste text, get a shareable link, and pastes expire.",
    "How would you find the top ten most frequent search queries of the last hour?",
]


def sample(name: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads((vs.VAPI / name).read_bytes())["message"]
    return message


# --- Vapi's published samples ------------------------------------------------------------------


def test_every_json_sample_is_a_whole_body() -> None:
    for name in vs.JSON_SAMPLES:
        body = json.loads((vs.VAPI / name).read_bytes())
        assert list(body) == ["message"], name
        assert isinstance(body["message"]["type"], str), name
    for name in vs.JSONC_SAMPLES:
        assert list(json.loads(vs.jsonc_sample(name))) == ["message"], name


def test_the_current_skills_report_parses() -> None:
    record = parse_call("call-uuid", sample("skills_end_of_call_report.json"))
    assert record == CallRecord(
        call_id="call-uuid",
        ended_reason="customer-ended-call",
        transcript="Full conversation transcript...",
        messages=(
            Utterance("assistant", "Hello! How can I help?", None),
            Utterance("user", "I need to check my order.", None),
        ),
        recording_url=None,  # "recording": {} carries no URL
        cost_usd=0.15,
        duration_s=180.0,
        started_at=datetime(2026, 7, 16, 18, 0, tzinfo=UTC),
        ended_at=datetime(2026, 7, 16, 18, 3, tzinfo=UTC),
    )


def test_the_older_skills_report_parses() -> None:
    """Top-level transcript, recordingUrl, durationSeconds and messages[{role, content}]; endedReason
    only inside call."""
    record = parse_call("call-uuid", sample("skills_2026-02-09_end_of_call_report.json"))
    assert record == CallRecord(
        call_id="call-uuid",
        ended_reason="customer-ended-call",
        transcript="Full conversation transcript...",
        messages=(
            Utterance("assistant", "Hello! How can I help?", None),
            Utterance("user", "I need to check my order.", None),
        ),
        recording_url="https://storage.vapi.ai/recordings/...",
        cost_usd=0.15,
        duration_s=180.0,
        started_at=None,
        ended_at=None,
    )


def test_the_docs_report_parses_with_its_placeholders_filled() -> None:
    message = json.loads(vs.jsonc_sample("docs_events_end_of_call_report.jsonc"))["message"]
    assert message["call"] == vs.sample_call()
    assert not vs.errors("Call", message["call"])
    assert not vs.errors("Recording", message["artifact"]["recording"])
    record = parse_call(call_id_of(message) or "", message)
    assert record.call_id == "call-uuid"
    assert record.ended_reason == "hangup"  # an older value, not in the current enum: kept as sent
    assert record.transcript == "AI: How can I help? User: What's the weather? ..."
    assert record.messages == (
        Utterance("assistant", "How can I help?", None),
        Utterance("user", "What's the weather?", None),
    )
    assert record.recording_url == vs.SAMPLE_RECORDING  # artifact.recording.mono.combinedUrl
    assert (record.cost_usd, record.duration_s) == (None, None)


# --- which field wins --------------------------------------------------------------------------


def test_message_ended_reason_wins_over_the_calls() -> None:
    message = {"endedReason": "assistant-ended-call", "call": {"endedReason": "customer-ended-call"}}
    assert parse_call("c", message).ended_reason == "assistant-ended-call"
    assert parse_call("c", {"call": {"endedReason": "silence-timed-out"}}).ended_reason == "silence-timed-out"


def test_cost_is_the_total_or_else_the_sum_of_the_costs() -> None:
    costs = [{"type": "vapi", "cost": 0.25}, {"type": "model", "cost": 0.5}, {"type": "voice", "cost": "x"}]
    assert parse_call("c", {"cost": 1.5, "costs": costs}).cost_usd == 1.5
    assert parse_call("c", {"costs": costs}).cost_usd == 0.75
    assert parse_call("c", {"costs": [{"cost": "x"}]}).cost_usd is None
    assert parse_call("c", {"call": {"cost": 2}}).cost_usd == 2.0


def test_duration_from_seconds_then_milliseconds_then_the_times() -> None:
    times = {"startedAt": "2026-03-01T10:00:00Z", "endedAt": "2026-03-01T10:10:00Z"}
    assert parse_call("c", {**times, "durationSeconds": 700, "durationMs": 5000}).duration_s == 700.0
    assert parse_call("c", {**times, "durationMs": 5000}).duration_s == 5.0
    assert parse_call("c", times).duration_s == 600.0
    reversed_times = {"startedAt": times["endedAt"], "endedAt": times["startedAt"]}
    assert parse_call("c", reversed_times).duration_s is None


def test_a_time_without_a_zone_is_utc_and_may_be_mixed_with_one_with_a_zone() -> None:
    record = parse_call("c", {"startedAt": "2026-03-01T10:00:00", "endedAt": "2026-03-01T10:01:00+00:00"})
    assert record.started_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert record.duration_s == 60.0


def test_messages_come_from_the_artifact_else_the_top_level() -> None:
    top = [{"role": "assistant", "content": "top"}]
    assert parse_call("c", {"messages": top, "artifact": {"messages": []}}).messages == (
        Utterance("assistant", "top", None),
    )
    inner = [{"role": "bot", "message": "inner", "secondsFromStart": 1}]
    assert parse_call("c", {"messages": top, "artifact": {"messages": inner}}).messages == (
        Utterance("assistant", "inner", 1.0),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost", math.nan),
        ("cost", math.inf),
        ("cost", True),
        ("cost", 10**400),
        ("cost", -1),
        ("cost", MAX_COST_USD * 10),
        ("durationSeconds", math.inf),
        ("durationSeconds", 10**30),
        ("durationSeconds", "180"),
        ("endedReason", {"a": 1}),
        ("transcript", ["not", "text"]),
        ("messages", "not a list"),
        ("startedAt", 1795441500000),
        ("recordingUrl", 42),
    ],
)
def test_a_field_of_the_wrong_kind_is_dropped(field: str, value: Any) -> None:
    record = parse_call("c", {field: value})
    assert record == parse_call("c", {})


def test_text_is_cleaned_of_nul_and_lone_surrogates() -> None:
    message = {
        "endedReason": "customer\x00-ended",
        "artifact": {
            "transcript": "AI: hi\x00 \ud800there",
            "messages": [{"role": "user", "message": "a\x00b\udfff"}],
        },
    }
    record = parse_call("c", message)
    assert record.ended_reason == "customer-ended"
    assert record.transcript == "AI: hi ?there"
    assert record.messages == (Utterance("user", "ab?", None),)


def test_call_id_and_session_hint() -> None:
    assert call_id_of({"call": {"id": "call-1"}}) == "call-1"
    for bad in ({}, {"call": "x"}, {"call": {"id": 5}}, {"call": {"id": ""}}, {"call": {"id": "a\x00"}},
                {"call": {"id": "\ud800"}}, {"call": {"id": "x" * 201}}):  # fmt: skip
        assert call_id_of(bad) is None, bad
    upper = {"call": {"assistantOverrides": {"metadata": {"sessionId": "urn:uuid:" + SESSION.upper()}}}}
    assert session_hint_of(upper) == SESSION  # canonical, as PostgreSQL's uuid type reads it
    assert session_hint_of({"call": {"assistantOverrides": {"metadata": {"sessionId": "nope"}}}}) is None
    assert session_hint_of({"call": {"assistantOverrides": "x"}}) is None


def test_what_jsonb_cannot_hold_is_cleaned_and_nothing_else() -> None:
    sample_body = json.loads((vs.VAPI / "skills_end_of_call_report.json").read_bytes())
    assert jsonb_safe(sample_body) == sample_body
    hostile = b'{"message": {"type": "x", "a": "\\u0000", "b": NaN, "c": "\\ud800", "d": [Infinity]}}'
    assert jsonb_safe(json.loads(hostile)) == {
        "message": {"type": "x", "a": "", "b": None, "c": "?", "d": [None]}
    }


# --- reports of real size, from Vapi's OpenAPI -------------------------------------------------


@pytest.mark.parametrize(("minutes", "low", "high"), [(20, 40_000, 100_000), (45, 100_000, 250_000)])
def test_real_size_reports_are_valid_and_parse_whole(minutes: int, low: int, high: int) -> None:
    body = vs.end_of_call_report(
        call_id="call-real", session_id=SESSION, assistant=ASSISTANT, minutes=minutes, questions=QUESTIONS
    )
    message = body["message"]
    assert vs.errors("ServerMessageEndOfCallReport", message) == []
    assert vs.errors("ServerMessage", body) == []
    assert vs.errors("CreateAssistantDTO", message["assistant"]) == []
    assert message["call"]["assistant"] == message["assistant"] == ASSISTANT
    assert low < len(json.dumps(body)) < high

    record = parse_call("call-real", message)
    turns = [m for m in message["artifact"]["messages"] if m["role"] in ("bot", "user")]
    assert [u.text for u in record.messages] == [m["message"] for m in turns]
    assert [u.seconds_from_start for u in record.messages] == [m["secondsFromStart"] for m in turns]
    assert record.transcript == message["artifact"]["transcript"]
    assert record.cost_usd == message["cost"] == pytest.approx(sum(c["cost"] for c in message["costs"]))
    assert record.ended_reason == "assistant-ended-call"
    assert record.duration_s is not None
    assert minutes * 60 - 60 < record.duration_s < minutes * 60 + 120
    assert session_hint_of(message) == SESSION


def test_the_validator_refuses_what_the_schema_refuses() -> None:
    """The quirks are relaxed, nothing else: a wrong type, a missing required field, a value outside
    an enum or a bad date are still errors."""
    good = vs.end_of_call_report(
        call_id="c", session_id=SESSION, assistant=ASSISTANT, minutes=5, questions=QUESTIONS
    )["message"]
    assert vs.errors("ServerMessageEndOfCallReport", good) == []
    for path, value in (
        (("artifact", "messages", 1, "secondsFromStart"), "soon"),
        (("endedReason",), "made-up-reason"),
        (("startedAt",), "yesterday"),
        (("costs", 0, "cost"), "free"),
        (("call", "assistant", "maxDurationSeconds"), 1),
        (("call", "assistant", "serverMessages"), ["no-such-message"]),
    ):
        bad = copy.deepcopy(good)
        target: Any = bad
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert vs.errors("ServerMessageEndOfCallReport", bad), path
    missing = copy.deepcopy(good)
    del missing["call"]["orgId"]
    assert vs.errors("ServerMessageEndOfCallReport", missing)


# --- anything at all in the fields the parser reads --------------------------------------------

_surrogates_and_nul = st.text(st.characters(exclude_categories=()), max_size=20) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\udfff x", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00", "bot", "user"]
)
_numbers = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([10**400, -(10**400), 0, -0.0, 1e308, 5e-324])
)
json_values = st.recursive(
    st.none() | st.booleans() | _numbers | _surrogates_and_nul,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_surrogates_and_nul, inner, max_size=4),
    max_leaves=12,
)
#: where parse_call, call_id_of and session_hint_of look
FIELDS = (
    ("endedReason",), ("cost",), ("costs",), ("startedAt",), ("endedAt",), ("durationSeconds",),
    ("durationMs",), ("transcript",), ("messages",), ("recordingUrl",), ("artifact",),
    ("artifact", "messages"), ("artifact", "transcript"), ("artifact", "recordingUrl"), ("artifact", "recording"),
    ("artifact", "recording", "mono"), ("artifact", "recording", "mono", "combinedUrl"),
    ("artifact", "recording", "stereoUrl"),
    ("call",), ("call", "id"), ("call", "endedReason"), ("call", "cost"), ("call", "costs"), ("call", "startedAt"),
    ("call", "endedAt"), ("call", "artifact"),
    ("call", "assistantOverrides"), ("call", "assistantOverrides", "metadata"),
    ("call", "assistantOverrides", "metadata", "sessionId"),
)  # fmt: skip
_message_items = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["bot", "user", "assistant", "system", "tool_calls"]) | json_values,
        "message": json_values,
        "content": json_values,
        "secondsFromStart": _numbers | json_values,
    },
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def mutated(base: dict[str, Any], changes: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """`base` with each path set to its value (the path's containers made dicts where they are not)."""
    out = copy.deepcopy(base)
    for path, value in changes.items():
        target = out
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    return out


changes_strategy = st.dictionaries(
    st.sampled_from(FIELDS),
    json_values
    | st.lists(_message_items, max_size=5)
    | st.builds(_deep, st.integers(min_value=1, max_value=300)),
    max_size=6,
)


def _storable(record: CallRecord) -> None:
    texts = [record.call_id, record.transcript, record.ended_reason or "", record.recording_url or ""]
    texts += [u.text for u in record.messages]
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate
    for number in (record.cost_usd, record.duration_s, *(u.seconds_from_start for u in record.messages)):
        assert number is None or (math.isfinite(number) and 0 <= number <= max(MAX_COST_USD, MAX_DURATION_S))
    assert record.messages == tuple(u for u in record.messages if u.role in ("assistant", "user"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(changes=changes_strategy)
def test_parse_call_takes_anything_and_gives_what_can_be_stored(changes: dict[tuple[str, ...], Any]) -> None:
    message = mutated(sample("skills_end_of_call_report.json"), changes)
    parse_call("call-uuid", message)
    call_id_of(message)
    hint = session_hint_of(message)
    assert hint is None or len(hint) == 36


@settings(max_examples=100, deadline=None, database=None)
@given(changes=changes_strategy)
def test_any_body_is_made_storable_as_jsonb(changes: dict[tuple[str, ...], Any]) -> None:
    raw = json.dumps({"message": mutated(sample("skills_end_of_call_report.json"), changes)})
    text = json.dumps(jsonb_safe(json.loads(raw)), ensure_ascii=False, allow_nan=False)
    assert "\\u0000" not in text and "\x00" not in text
    text.encode("utf-8")  # no lone surrogate left
