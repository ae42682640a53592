"""The Vapi adapter offline: the web-call body the server builds, the parser shared by the
end-of-call-report webhook and GET /call, and the call simulator that stands in for Vapi."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.datastructures import Headers

from prepkit.adapters.call_simulator import WEBHOOK_PATH, SimulatedVoice
from prepkit.adapters.vapi import STYLE, VOICES, WAIT_SECONDS, build_web_call
from prepkit.adapters.vapi_messages import parse_call
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    FollowUpStyle,
    InterviewConfig,
    Language,
    Pace,
    Question,
    Utterance,
    Voice,
)
from prepkit.domain.signatures import VapiAuth

QUESTIONS = (
    Question(
        position=1,
        text="Design a rate limiter for a public REST API so that each API key gets a fixed quota per minute.",
        topics=("api-design",),
        estimated_minutes=8,
        expected_key_points=("Token bucket or sliding window", "Counters in Redis with a TTL"),
        follow_ups=("How would you allow short bursts?",),
    ),
    Question(
        position=2,
        text="Design a Pastebin-style service where users paste text, get a shareable link, and pastes expire.",
        topics=("storage",),
        estimated_minutes=8,
        expected_key_points=("Content in object storage", "Expiry with a TTL and a cleanup job"),
        follow_ups=("What if one paste goes viral?",),
    ),
)
SERVER_URL = "https://api.prepkit.example/webhooks/vapi"


def config(**changes: object) -> InterviewConfig:
    return InterviewConfig.model_validate(
        {"type": "system-design", "difficulty": "easy", "duration": 20, **changes}
    )


def plan(
    cfg: InterviewConfig | None = None, session_id: str = "4f1c2a9e-0000-4000-8000-000000000001"
) -> CallPlan:
    c = cfg or config()
    return CallPlan(session_id=session_id, config=c, questions=QUESTIONS, max_duration_s=c.duration * 60)


def body(
    p: CallPlan | None = None, *, credential_id: str | None = "cred-123", model: str = "gemini-2.5-flash"
) -> dict[str, Any]:
    return build_web_call(
        p or plan(), server_url=SERVER_URL, credential_id=credential_id, model_provider="google", model=model
    )


def system_prompt_of(b: dict[str, Any]) -> str:
    messages = b["assistant"]["model"]["messages"]
    assert [m["role"] for m in messages] == ["system"]
    prompt: str = messages[0]["content"]
    return prompt


# --- build_web_call ----------------------------------------------------------------------------


@pytest.mark.parametrize("pace", list(Pace))
def test_pace_sets_the_wait_before_speaking(pace: Pace) -> None:
    b = body(plan(config(pace=pace.value)))
    assert b["assistant"]["startSpeakingPlan"] == {"waitSeconds": WAIT_SECONDS[pace]}


def test_relaxed_waits_longer_than_normal_longer_than_fast() -> None:
    waits = {
        p: body(plan(config(pace=p.value)))["assistant"]["startSpeakingPlan"]["waitSeconds"] for p in Pace
    }
    assert waits[Pace.RELAXED] > waits[Pace.NORMAL] > waits[Pace.FAST] > 0


@pytest.mark.parametrize(
    ("language", "transcriber"),
    [(Language.EN_IN, "en-IN"), (Language.EN_US, "en-US"), (Language.EN_GB, "en-GB"), (Language.HI_IN, "hi")],
)
def test_language_sets_the_transcriber_language(language: Language, transcriber: str) -> None:
    b = body(plan(config(language=language.value)))
    assert b["assistant"]["transcriber"]["language"] == transcriber


@pytest.mark.parametrize("voice", list(Voice))
def test_voice_is_one_of_the_configured_voices(voice: Voice) -> None:
    assert body(plan(config(voice=voice.value)))["assistant"]["voice"] == VOICES[voice]


def test_limits_metadata_model_and_server() -> None:
    p = plan(config(duration=30), session_id="session-xyz")
    b = body(p, model="gemini-x")
    assistant = b["assistant"]
    assert p.max_duration_s == 1800
    assert assistant["maxDurationSeconds"] == p.max_duration_s
    assert b["assistantOverrides"]["metadata"]["sessionId"] == "session-xyz"
    assert assistant["model"]["provider"] == "google"
    assert assistant["model"]["model"] == "gemini-x"
    assert assistant["server"]["url"] == SERVER_URL
    assert assistant["server"]["credentialId"] == "cred-123"
    assert {"status-update", "end-of-call-report"} <= set(assistant["serverMessages"])
    assert QUESTIONS[0].text in assistant["firstMessage"]
    json.dumps(b)  # the body must be JSON as it is


@pytest.mark.parametrize("credential_id", [None, ""])
def test_no_credential_id_unless_given(credential_id: str | None) -> None:
    server = body(credential_id=credential_id)["assistant"]["server"]
    assert server["url"] == SERVER_URL
    assert "credentialId" not in server


@pytest.mark.parametrize("style", list(FollowUpStyle))
def test_system_prompt_has_every_question_and_the_follow_up_style(style: FollowUpStyle) -> None:
    prompt = system_prompt_of(body(plan(config(followUpStyle=style.value))))
    for q in QUESTIONS:
        assert q.text in prompt
        for point in q.expected_key_points:
            assert point in prompt
    assert STYLE[style] in prompt
    for other in FollowUpStyle:
        if other is not style:
            assert STYLE[other] not in prompt
    assert prompt.index(QUESTIONS[0].text) < prompt.index(QUESTIONS[1].text)


# --- parse_call --------------------------------------------------------------------------------

END_OF_CALL_REPORT: dict[str, Any] = {
    "type": "end-of-call-report",
    "call": {"id": "call-abc"},
    "endedReason": "customer-ended-call",
    "startedAt": "2026-03-01T10:00:00.000Z",
    "endedAt": "2026-03-01T10:12:30.500Z",
    "cost": 0.42,
    "artifact": {
        "messages": [
            {"role": "system", "message": "You are a professional interviewer...", "secondsFromStart": 0},
            {"role": "bot", "message": "Design a rate limiter.", "secondsFromStart": 1.5},
            {"role": "user", "message": "I would use a token bucket in Redis.", "secondsFromStart": 9},
            {"role": "tool_calls", "toolCalls": [{"id": "t1"}], "secondsFromStart": 10},
            {"role": "bot", "message": "Thank you.", "secondsFromStart": 20.25},
        ],
        "transcript": "AI: Design a rate limiter.\nUser: I would use a token bucket in Redis.\nAI: Thank you.",
        "recordingUrl": "https://storage.vapi.ai/call-abc.wav",
    },
}


def test_end_of_call_report_parses() -> None:
    record = parse_call("call-abc", END_OF_CALL_REPORT)
    assert record == CallRecord(
        call_id="call-abc",
        ended_reason="customer-ended-call",
        transcript=END_OF_CALL_REPORT["artifact"]["transcript"],
        messages=(
            Utterance("assistant", "Design a rate limiter.", 1.5),
            Utterance("user", "I would use a token bucket in Redis.", 9.0),
            Utterance("assistant", "Thank you.", 20.25),
        ),
        recording_url="https://storage.vapi.ai/call-abc.wav",
        cost_usd=0.42,
        duration_s=750.5,
        started_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 10, 12, 30, 500_000, tzinfo=UTC),
    )


def test_duration_seconds_when_given_wins() -> None:
    record = parse_call("call-abc", {**END_OF_CALL_REPORT, "durationSeconds": 700})
    assert record.duration_s == 700.0


def test_missing_or_bad_times_leave_duration_unknown() -> None:
    record = parse_call("call-abc", {**END_OF_CALL_REPORT, "endedAt": "not a date"})
    assert record.started_at is not None
    assert record.ended_at is None
    assert record.duration_s is None


def test_a_bare_message_parses_to_an_empty_record() -> None:
    record = parse_call("call-0", {"type": "end-of-call-report"})
    assert record == CallRecord(
        call_id="call-0",
        ended_reason=None,
        transcript="",
        messages=(),
        recording_url=None,
        cost_usd=None,
        duration_s=None,
        started_at=None,
        ended_at=None,
    )


def test_get_call_shape_parses() -> None:
    get_call = {
        "id": "call-abc",
        "status": "ended",
        "endedReason": "assistant-ended-call",
        "startedAt": "2026-03-01T10:00:00Z",
        "endedAt": "2026-03-01T10:05:00Z",
        "cost": 1,
        "messages": [
            {"role": "system", "content": "You are a professional interviewer..."},
            {"role": "assistant", "content": "Design a rate limiter.", "secondsFromStart": 2},
            {"role": "user", "content": "Token bucket per API key.", "secondsFromStart": 8.5},
        ],
        "transcript": "AI: Design a rate limiter.\nUser: Token bucket per API key.",
        "recordingUrl": "https://storage.vapi.ai/call-abc.wav",
    }
    record = parse_call("call-abc", get_call)
    assert record.messages == (
        Utterance("assistant", "Design a rate limiter.", 2.0),
        Utterance("user", "Token bucket per API key.", 8.5),
    )
    assert record.transcript == get_call["transcript"]
    assert record.recording_url == "https://storage.vapi.ai/call-abc.wav"
    assert record.ended_reason == "assistant-ended-call"
    assert record.cost_usd == 1.0
    assert record.duration_s == 300.0


# --- the call simulator ------------------------------------------------------------------------

Delivery = tuple[str, bytes, dict[str, str]]
AUTH = VapiAuth(mode="hmac", secret="simulator-secret", signature_prefix="sha256=")


def simulator(**options: Any) -> tuple[SimulatedVoice, list[Delivery]]:
    delivered: list[Delivery] = []

    def deliver(path: str, raw: bytes, headers: dict[str, str]) -> None:
        delivered.append((path, raw, headers))

    return SimulatedVoice(AUTH, deliver, delay_s=0, **options), delivered


def messages_of(delivered: list[Delivery]) -> list[dict[str, Any]]:
    return [json.loads(raw)["message"] for _, raw, _ in delivered]


def test_simulated_call_posts_authenticated_webhooks_and_keeps_the_record() -> None:
    voice, delivered = simulator()
    p = plan()
    started = voice.create_web_call(p)
    voice.wait()
    assert started.call_id in started.web_call_url
    assert voice.created == [started.call_id]
    messages = messages_of(delivered)
    kinds = [m["type"] for m in messages]
    assert kinds == ["status-update", "status-update", "end-of-call-report"]
    assert [m.get("status") for m in messages if m["type"] == "status-update"] == ["in-progress", "ended"]
    for path, raw, headers in delivered:
        assert path == WEBHOOK_PATH
        assert AUTH.verify(Headers(headers=headers), raw, time.time())
        assert not VapiAuth(mode="hmac", secret="other", signature_prefix="sha256=").verify(
            Headers(headers=headers), raw, time.time()
        )
    for m in messages:
        assert m["call"]["id"] == started.call_id
        assert m["call"]["assistantOverrides"]["metadata"]["sessionId"] == p.session_id
    report = messages[-1]
    record = voice.get_call(started.call_id)
    assert record is not None
    assert record == parse_call(started.call_id, report)
    assert record.call_id == started.call_id
    assert record.ended_reason == "assistant-ended-call"
    user_said = [u.text for u in record.messages if u.role == "user"]
    assert len(user_said) == len(QUESTIONS)
    assert [u.text for u in record.messages if u.role == "assistant"][: len(QUESTIONS)] == [
        q.text for q in QUESTIONS
    ]
    assert record.duration_s is not None
    assert record.duration_s > 0
    assert record.recording_url is not None


def test_unknown_call_has_no_record() -> None:
    voice, delivered = simulator()
    assert voice.get_call("sim-unknown") is None
    assert delivered == []


def test_dropped_end_report_is_still_available_from_get_call() -> None:
    voice, delivered = simulator(drop_end_report=True)
    started = voice.create_web_call(plan())
    voice.wait()
    kinds = [m["type"] for m in messages_of(delivered)]
    assert "end-of-call-report" not in kinds
    assert kinds == ["status-update", "status-update"]
    record = voice.get_call(started.call_id)
    assert record is not None
    assert record.call_id == started.call_id
    assert any(u.role == "user" for u in record.messages)


def test_silent_script_has_no_candidate_words() -> None:
    voice, delivered = simulator(script="silent")
    started = voice.create_web_call(plan())
    voice.wait()
    report = messages_of(delivered)[-1]
    assert report["type"] == "end-of-call-report"
    assert report["endedReason"] == "silence-timed-out"
    record = voice.get_call(started.call_id)
    assert record is not None
    assert [u for u in record.messages if u.role == "user"] == []
    assert [u.text for u in record.messages if u.role == "assistant"][: len(QUESTIONS)] == [
        q.text for q in QUESTIONS
    ]


def test_each_call_gets_its_own_id() -> None:
    voice, _ = simulator()
    first = voice.create_web_call(plan())
    second = voice.create_web_call(plan())
    voice.wait()
    assert first.call_id != second.call_id
    assert voice.get_call(first.call_id) is not None
    assert voice.get_call(second.call_id) is not None
