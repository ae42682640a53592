"""The Vapi adapter offline: the web-call body the server builds, the parser shared by the
end-of-call-report webhook and GET /call, and the call simulator that stands in for Vapi."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pydantic import ValidationError
from requests.adapters import BaseAdapter
from starlette.datastructures import Headers

from prepkit.adapters.vapi import (
    END_CALL_PHRASE,
    END_CALL_TOOL,
    SPEECH,
    STYLE,
    VOICE_SPEED,
    WAIT_SECONDS,
    VapiGateway,
    build_web_call,
)
from prepkit.adapters.vapi_messages import parse_call
from prepkit.container import vapi_auth
from prepkit.domain.end_reasons import EndClass, classify
from prepkit.domain.errors import VoiceUnavailable
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    FollowUpStyle,
    InterviewConfig,
    Language,
    Pace,
    Question,
    StartedCall,
    Utterance,
    Voice,
)
from prepkit.domain.signatures import VapiAuth
from prepkit.local.call_simulator import WEBHOOK_PATH, SimulatedVoice
from prepkit.settings import Settings
from tests.fakes import deployed_settings
from tests.vapi_schema import schemas

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
    p: CallPlan | None = None, *, credential_id: str | None = "cred-123", model: str = "gemini-3.5-flash"
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
def test_pace_sets_the_wait_before_speaking_and_the_speaking_speed(pace: Pace) -> None:
    assistant = body(plan(config(pace=pace.value)))["assistant"]
    assert assistant["startSpeakingPlan"] == {"waitSeconds": WAIT_SECONDS[pace]}
    assert assistant["voice"]["speed"] == VOICE_SPEED[pace]


def test_relaxed_is_slower_than_moderate_slower_than_fast_and_normal_is_moderate() -> None:
    def of(p: Pace) -> tuple[float, float]:
        a = body(plan(config(pace=p.value)))["assistant"]
        return a["startSpeakingPlan"]["waitSeconds"], a["voice"]["speed"]

    (rw, rs), (mw, ms), (fw, fs) = of(Pace.RELAXED), of(Pace.MODERATE), of(Pace.FAST)
    assert rw > mw > fw > 0
    assert rs < ms < fs
    assert of(Pace.NORMAL) == of(Pace.MODERATE)


@pytest.mark.parametrize(
    ("language", "transcriber"),
    [
        (Language.EN, "en"),
        (Language.EN_IN, "en-IN"),
        (Language.EN_US, "en-US"),
        (Language.EN_GB, "en-GB"),
        (Language.HI_IN, "hi"),
    ],
)
def test_language_sets_the_transcriber_language(language: Language, transcriber: str) -> None:
    b = body(plan(config(language=language.value)))
    assert b["assistant"]["transcriber"] == {
        "provider": "deepgram",
        "model": "nova-3",
        "language": transcriber,
    }


@pytest.mark.parametrize("language", list(Language))
def test_each_voice_choice_is_its_own_voice_in_the_language(language: Language) -> None:
    voices = {
        v: body(plan(config(language=language.value, voice=v.value)))["assistant"]["voice"] for v in Voice
    }
    assert {v["provider"] for v in voices.values()} == {"azure"}
    ids = [v["voiceId"] for v in voices.values()]
    assert len(set(ids)) == len(Voice)
    prefix = "hi-IN-" if language is Language.HI_IN else "en-"
    assert all(i.startswith(prefix) for i in ids)
    assert [SPEECH[language].voices[v] for v in Voice] == ids


def test_english_locales_get_their_own_accent() -> None:
    female = {
        lang: SPEECH[lang].voices[Voice.FEMALE] for lang in (Language.EN_IN, Language.EN_US, Language.EN_GB)
    }
    assert female[Language.EN_IN].startswith("en-IN-")
    assert female[Language.EN_US].startswith("en-US-")
    assert female[Language.EN_GB].startswith("en-GB-")


def test_hindi_is_what_the_candidate_hears() -> None:
    assistant = body(plan(config(language="hi-IN", voice="male")))["assistant"]
    assert assistant["voice"]["voiceId"] == "hi-IN-MadhurNeural"
    first = assistant["firstMessage"]
    assert any("\u0900" <= ch <= "\u097f" for ch in first)  # Devanagari
    assert "नमस्ते" in first
    assert QUESTIONS[0].text not in first  # the interviewer asks it in Hindi, after the candidate is ready
    prompt = system_prompt_of({"assistant": assistant})
    assert "Conduct the whole interview in Hindi" in prompt
    assert "masculine" in prompt
    english = system_prompt_of(body(plan(config(language="en-IN"))))
    assert "Hindi" not in english


def test_english_first_message_asks_question_one() -> None:
    first = body(plan(config(language="en")))["assistant"]["firstMessage"]
    assert first.startswith("Hello")
    assert first.endswith(f"Question 1: {QUESTIONS[0].text}")


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


def test_client_messages_never_include_the_conversation() -> None:
    assistant = body()["assistant"]
    assert assistant["clientMessages"] == ["speech-update", "transcript", "hang"]
    assert "conversation-update" not in assistant["clientMessages"]


def test_the_interviewer_can_end_the_call() -> None:
    assistant = body()["assistant"]
    assert assistant["model"]["tools"] == [END_CALL_TOOL]
    assert END_CALL_TOOL["type"] == "endCall"
    assert assistant["endCallPhrases"] == [END_CALL_PHRASE]
    prompt = system_prompt_of(body())
    ending = prompt[prompt.index(f"When the candidate has answered Question {len(QUESTIONS)}") :]
    assert "endCall tool" in ending.split("\n")[0]
    assert END_CALL_PHRASE in ending.split("\n")[0].lower()


def test_gemini_3_keeps_googles_default_temperature() -> None:
    assert body(model="gemini-3.5-flash")["assistant"]["model"]["temperature"] == 1.0
    assert body(model="gemini-3.1-flash-lite")["assistant"]["model"]["temperature"] == 1.0
    assert body(model="some-other-model")["assistant"]["model"]["temperature"] == 0.4


@pytest.mark.parametrize("credential_id", [None, ""])
def test_no_credential_id_unless_given(credential_id: str | None) -> None:
    server = body(credential_id=credential_id)["assistant"]["server"]
    assert server["url"] == SERVER_URL
    assert "credentialId" not in server


@pytest.mark.parametrize("style", list(FollowUpStyle))
def test_system_prompt_has_every_question_and_the_follow_up_style(style: FollowUpStyle) -> None:
    prompt = system_prompt_of(body(plan(config(followUpStyle=style.value))))
    for q in QUESTIONS:
        assert f"Question {q.position}. {q.text}" in prompt
        for point in q.expected_key_points:
            assert point in prompt
    assert STYLE[style] in prompt
    for other in FollowUpStyle:
        if other is not style:
            assert STYLE[other] not in prompt
    assert prompt.index(QUESTIONS[0].text) < prompt.index(QUESTIONS[1].text)


def test_every_style_has_its_own_instruction_and_deep_dive_goes_deeper() -> None:
    assert set(STYLE) == set(FollowUpStyle)
    assert len(set(STYLE.values())) == len(FollowUpStyle)
    assert "several levels deeper" in STYLE[FollowUpStyle.DEEP_DIVE]


def test_prompt_announces_questions_and_keeps_the_rubric_private() -> None:
    prompt = system_prompt_of(body())
    assert 'start it with the words "Question N"' in prompt
    assert "never read them aloud" in prompt
    for line in prompt.splitlines():  # the rubric appears only on its own private lines
        if any(point in line for q in QUESTIONS for point in q.expected_key_points):
            assert line.strip().startswith("key points (private):")


# --- the gateway over HTTP (Vapi's answers scripted at the transport) ----------------------------

CALL_ID = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
CONTROL = f"https://phone-call-websocket.aws-us-west-2-backend-production2.vapi.ai/{CALL_ID}/control"
ROOM = "https://vapi.daily.co/room-1"
Handler = Callable[[requests.PreparedRequest], tuple[int, Any]]


class ScriptedTransport(BaseAdapter):
    """Vapi at the wire: each request goes to `handler`, which returns (status, JSON or raw bytes)."""

    def __init__(self, handler: Handler):
        super().__init__()
        self.handler = handler
        self.sent: list[tuple[requests.PreparedRequest, Any]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **_: Any
    ) -> requests.Response:
        self.sent.append((request, timeout))
        status, payload = self.handler(request)
        if isinstance(payload, Exception):
            raise payload
        response = requests.Response()
        response.status_code = status
        response._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def gateway(handler: Handler) -> tuple[VapiGateway, ScriptedTransport]:
    transport = ScriptedTransport(handler)
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    return (
        VapiGateway(
            "private-key",
            api_url="https://api.vapi.ai",
            server_url=SERVER_URL,
            credential_id="cred-123",
            connect_timeout_s=2,
            read_timeout_s=9,
            end_call_timeout_s=1.5,
            model="gemini-3.5-flash",
            session=session,
        ),
        transport,
    )


def answer(**fields: Any) -> dict[str, Any]:
    return {"id": CALL_ID, "orgId": "org-1", "status": "queued", "monitor": {"controlUrl": CONTROL}, **fields}


def routes(
    create: tuple[int, Any], *, get: tuple[int, Any] = (404, {}), control: tuple[int, Any] = (200, {})
) -> Handler:
    def handle(request: requests.PreparedRequest) -> tuple[int, Any]:
        if request.method == "POST" and request.url == "https://api.vapi.ai/call/web":
            return create
        if request.method == "GET" and request.url == f"https://api.vapi.ai/call/{CALL_ID}":
            return get
        if request.method == "POST" and request.url == CONTROL:
            return control
        return 599, {"unexpected": f"{request.method} {request.url}"}

    return handle


def calls_to(transport: ScriptedTransport) -> list[str]:
    return [f"{r.method} {r.url}" for r, _ in transport.sent]


@pytest.mark.parametrize(
    "fields",
    [{"webCallUrl": ROOM}, {"transport": {"provider": "daily", "callUrl": ROOM}}],
    ids=["top", "transport"],
)
def test_create_web_call_posts_the_body_and_reads_the_room(fields: dict[str, Any]) -> None:
    voice, transport = gateway(routes((201, answer(**fields))))
    p = plan()
    started = voice.create_web_call(p)
    assert started == StartedCall(call_id=CALL_ID, web_call_url=ROOM)
    [(request, timeout)] = transport.sent
    assert request.headers["Authorization"] == "Bearer private-key"
    assert timeout == (2, 9)
    assert json.loads(request.body or b"") == build_web_call(
        p, server_url=SERVER_URL, credential_id="cred-123", model_provider="google", model="gemini-3.5-flash"
    )


def test_a_call_without_a_room_is_ended_then_refused() -> None:
    voice, transport = gateway(routes((201, answer())))
    with pytest.raises(VoiceUnavailable, match="no web call URL"):
        voice.create_web_call(plan())
    assert calls_to(transport) == ["POST https://api.vapi.ai/call/web", f"POST {CONTROL}"]
    control_request, timeout = transport.sent[1]
    assert json.loads(control_request.body or b"") == {"type": "end-call"}
    assert "Authorization" not in control_request.headers  # the private key never leaves for api.vapi.ai
    assert timeout == (1.5, 1.5)


@pytest.mark.parametrize(
    ("status", "payload", "match"),
    [
        (500, {"message": "boom"}, "answered 500"),
        (400, {"message": ["bad"]}, "answered 400"),
        (201, b"<html>gateway</html>", "no JSON"),
        (201, ["not", "a", "call"], "no call id"),
        (201, {"webCallUrl": ROOM}, "no call id"),
        (201, {}, "no call id"),
    ],
)
def test_unusable_answers_are_voice_unavailable(status: int, payload: Any, match: str) -> None:
    voice, transport = gateway(routes((status, payload)))
    with pytest.raises(VoiceUnavailable, match=match):
        voice.create_web_call(plan())
    assert calls_to(transport) == ["POST https://api.vapi.ai/call/web"]  # no id: nothing to end


def test_unreachable_vapi_is_voice_unavailable() -> None:
    voice, _ = gateway(routes((0, requests.ConnectTimeout("slow"))))
    with pytest.raises(VoiceUnavailable, match="unreachable: ConnectTimeout"):
        voice.create_web_call(plan())


def test_end_call_looks_up_the_control_url_when_it_was_not_seen() -> None:
    voice, transport = gateway(routes((500, {}), get=(200, answer(status="in-progress"))))
    assert voice.end_call(CALL_ID) is True
    assert calls_to(transport) == [f"GET https://api.vapi.ai/call/{CALL_ID}", f"POST {CONTROL}"]
    assert transport.sent[0][0].headers["Authorization"] == "Bearer private-key"
    assert all(timeout == (1.5, 1.5) for _, timeout in transport.sent)


@pytest.mark.parametrize(
    ("get", "control"),
    [
        ((500, {}), (200, {})),  # GET /call fails
        ((200, {"id": CALL_ID}), (200, {})),  # no monitor.controlUrl
        ((200, answer(monitor={"controlUrl": "http://plain/control"})), (200, {})),  # not https
        ((200, answer()), (500, {})),  # the control URL refuses
        ((200, answer()), (0, requests.ReadTimeout("slow"))),
        ((0, requests.ConnectionError("down")), (200, {})),
    ],
)
def test_end_call_is_best_effort_and_never_raises(get: tuple[int, Any], control: tuple[int, Any]) -> None:
    voice, _ = gateway(routes((500, {}), get=get, control=control))
    assert voice.end_call(CALL_ID) is False


def test_get_call_reads_an_ended_call_and_waits_for_a_live_one() -> None:
    ended = answer(status="ended", endedReason="customer-ended-call", transcript="AI: hi")
    voice, transport = gateway(routes((500, {}), get=(200, ended)))
    record = voice.get_call(CALL_ID)
    assert record is not None
    assert record.ended_reason == "customer-ended-call"
    assert transport.sent[0][1] == (2, 9)
    live, _ = gateway(routes((500, {}), get=(200, answer(status="in-progress"))))
    assert live.get_call(CALL_ID) is None


@pytest.mark.parametrize(("status", "payload"), [(500, {}), (200, b"nope"), (200, [1, 2])])
def test_get_call_failures_are_voice_unavailable(status: int, payload: Any) -> None:
    voice, _ = gateway(routes((500, {}), get=(status, payload)))
    with pytest.raises(VoiceUnavailable):
        voice.get_call(CALL_ID)


# --- the interviewer's settings ------------------------------------------------------------------


def test_the_default_interviewer_model_is_current() -> None:
    s = Settings(stage="local", aws_endpoint_url="http://127.0.0.1:5000")  # type: ignore[arg-type]
    assert s.vapi_model == "gemini-3.5-flash"
    assert s.vapi_model_provider == "google"


@pytest.mark.parametrize(
    "model", ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "gemini-1.5-pro", "gemini-1.0-pro"]
)
def test_a_deprecated_interviewer_model_is_refused(model: str) -> None:
    with pytest.raises(ValidationError, match="deprecated"):
        Settings(stage="local", aws_endpoint_url="http://127.0.0.1:5000", vapi_model=model)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["gemini-3.5-flash", "gemini-3.1-flash-lite", "gemini-3-flash-preview"])
def test_a_current_interviewer_model_is_accepted(model: str) -> None:
    s = Settings(stage="local", aws_endpoint_url="http://127.0.0.1:5000", vapi_model=model)  # type: ignore[arg-type]
    assert s.vapi_model == model


@pytest.mark.parametrize("mode", ["bearer", "hmac"])
def test_a_deployed_stage_needs_the_vapi_credential_for_bearer_and_hmac(mode: str) -> None:
    with pytest.raises(ValidationError, match="PREPKIT_VAPI_CREDENTIAL_ID"):
        deployed_settings(vapi_webhook_auth=mode, vapi_credential_id=None)
    with pytest.raises(ValidationError, match="PREPKIT_VAPI_CREDENTIAL_ID"):
        deployed_settings(vapi_webhook_auth=mode, vapi_credential_id="")
    assert (
        deployed_settings(vapi_webhook_auth=mode, vapi_credential_id="cred-1").vapi_credential_id == "cred-1"
    )


def test_the_credential_is_not_needed_without_vapi_or_with_a_secret_header() -> None:
    assert (
        deployed_settings(vapi_webhook_auth="secret_header", vapi_credential_id=None).vapi_credential_id
        is None
    )
    s = deployed_settings(vapi_api_key=None, vapi_webhook_secret=None, vapi_credential_id=None)
    assert s.vapi_webhook_auth == "hmac"  # a function without the Vapi secret (e.g. setup) still starts
    webhook_only = deployed_settings(vapi_api_key=None, vapi_credential_id=None)  # verifies, creates nothing
    assert webhook_only.vapi_webhook_secret is not None


def test_hmac_algorithm_and_encoding_reach_the_webhook_check() -> None:
    s = deployed_settings(vapi_hmac_algorithm="sha512", vapi_hmac_encoding="base64", vapi_credential_id="c")
    auth = vapi_auth(s)
    assert (auth.algorithm, auth.encoding) == ("sha512", "base64")


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


def simulator(*, delay_s: float = 0, **options: Any) -> tuple[SimulatedVoice, list[Delivery]]:
    delivered: list[Delivery] = []

    def deliver(path: str, raw: bytes, headers: dict[str, str]) -> None:
        delivered.append((path, raw, headers))

    return SimulatedVoice(AUTH, deliver, delay_s=delay_s, **options), delivered


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


def test_an_ended_simulated_call_posts_nothing_more() -> None:
    voice, delivered = simulator(delay_s=5)
    started = voice.create_web_call(plan())
    assert voice.end_call(started.call_id) is True
    voice.wait()
    assert voice.end_requests == [started.call_id]
    assert delivered == []
    assert voice.get_call(started.call_id) is None


def test_simulated_end_call_can_fail_and_knows_its_calls() -> None:
    voice, _ = simulator(autoplay=False)
    started = voice.create_web_call(plan())
    assert voice.end_call("sim-unknown") is False
    voice.fail_end_call = True
    assert voice.end_call(started.call_id) is False
    assert voice.end_requests == ["sim-unknown", started.call_id]


def test_the_broken_script_ends_with_a_real_technical_reason() -> None:
    voice, delivered = simulator(script="broken")
    started = voice.create_web_call(plan())
    voice.wait()
    report = messages_of(delivered)[-1]
    reason = report["endedReason"]
    assert reason in schemas()["Call"]["properties"]["endedReason"]["enum"]
    assert classify(reason) is EndClass.TECHNICAL
    record = voice.get_call(started.call_id)
    assert record is not None
    assert record.ended_reason == reason
