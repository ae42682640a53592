"""VoiceGateway on Vapi's REST API (`requests`, a runtime dependency): the server builds the whole
assistant; the browser only joins the room. The webhook/call parser is in vapi_messages.

Every field below is checked against Vapi's OpenAPI (`CreateWebCallDTO`) by tests/unit/test_vapi_openapi.py."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests

from prepkit.adapters.vapi_messages import parse_call
from prepkit.domain.errors import VoiceUnavailable
from prepkit.domain.models import (
    CallPlan,
    CallRecord,
    FollowUpStyle,
    Language,
    Pace,
    StartedCall,
    Voice,
)

log = logging.getLogger(__name__)

#: how long the interviewer waits after the candidate pauses (Vapi startSpeakingPlan.waitSeconds, 0-5)
WAIT_SECONDS = {Pace.RELAXED: 1.2, Pace.MODERATE: 0.6, Pace.NORMAL: 0.6, Pace.FAST: 0.3}
#: how fast the interviewer speaks (Vapi AzureVoice.speed, a multiplier from 0.5 to 2)
VOICE_SPEED = {Pace.RELAXED: 0.9, Pace.MODERATE: 1.0, Pace.NORMAL: 1.0, Pace.FAST: 1.15}
STYLE = {
    FollowUpStyle.SUPPORTIVE: "Be warm and encouraging. Offer a small hint when the candidate is stuck.",
    FollowUpStyle.PROBING: "Ask one or two follow-ups per question to probe depth and reasoning. Do not give hints.",
    FollowUpStyle.DEEP_DIVE: (
        "Stay on each answer and go several levels deeper before moving on: ask follow-up after follow-up "
        "on the candidate's own choices (why this, how exactly, what breaks at ten times the load, what "
        "would you change), at least three levels down, and only move to the next question when that line "
        "is exhausted or its time is up. Do not give hints."
    ),
    FollowUpStyle.CHALLENGING: "Push back on weak points and ask about trade-offs and edge cases, as a bar-raiser.",
}


@dataclass(frozen=True, slots=True)
class Speech:
    """What the candidate hears and what the transcriber listens for, per language."""

    transcriber_language: str  # Deepgram's code (Vapi DeepgramTranscriber.language enum)
    voices: dict[Voice, str]  # Azure neural voice ids (Vapi AzureVoice.voiceId)
    hindi: bool = False


_ENGLISH_NEUTRAL = "en-US-AvaMultilingualNeural"
SPEECH: dict[Language, Speech] = {
    Language.EN: Speech(
        "en",
        {
            Voice.FEMALE: "en-US-EmmaMultilingualNeural",
            Voice.MALE: "en-US-AndrewMultilingualNeural",
            Voice.NEUTRAL: _ENGLISH_NEUTRAL,
        },
    ),
    Language.EN_IN: Speech(
        "en-IN",
        {
            Voice.FEMALE: "en-IN-NeerjaNeural",
            Voice.MALE: "en-IN-PrabhatNeural",
            Voice.NEUTRAL: _ENGLISH_NEUTRAL,
        },
    ),
    Language.EN_US: Speech(
        "en-US",
        {Voice.FEMALE: "en-US-JennyNeural", Voice.MALE: "en-US-GuyNeural", Voice.NEUTRAL: _ENGLISH_NEUTRAL},
    ),
    Language.EN_GB: Speech(
        "en-GB",
        {Voice.FEMALE: "en-GB-SoniaNeural", Voice.MALE: "en-GB-RyanNeural", Voice.NEUTRAL: _ENGLISH_NEUTRAL},
    ),
    # Azure has no gender-neutral hi-IN voice: "neutral" is a third, distinct Hindi voice
    Language.HI_IN: Speech(
        "hi",
        {
            Voice.FEMALE: "hi-IN-SwaraNeural",
            Voice.MALE: "hi-IN-MadhurNeural",
            Voice.NEUTRAL: "hi-IN-AnanyaNeural",
        },
        hindi=True,
    ),
}
TRANSCRIBER = {"provider": "deepgram", "model": "nova-3"}  # nova-3 transcribes hi (Deepgram, 2025-11-04)

#: What Vapi streams to the browser (Vapi's default also sends conversation-update, whose
#: messagesOpenAIFormatted carries the system prompt, rubric included). Only live-status messages whose
#: schema has no conversation or assistant field: who is speaking, what was said aloud, a delay.
#: Not status-update: its schema carries `artifact` (the live call.artifact, messagesOpenAIFormatted
#: included); the Web SDK emits call-start / call-end itself (Daily's "listening" app message and
#: left-meeting, where it also emits a status-update "ended"). Not model-output, voice-input,
#: tool-calls, assistant.started (newAssistant: the whole assistant) or workflow/transfer messages.
CLIENT_MESSAGES = ["speech-update", "transcript", "hang"]
SERVER_MESSAGES = ["status-update", "end-of-call-report", "hang"]
END_CALL_PHRASE = "goodbye and good luck"
END_CALL_TOOL: dict[str, Any] = {
    "type": "endCall",
    # said (blocking) before the hang-up; without it Vapi fills in "Hold on a sec"
    "messages": [{"type": "request-start", "content": "Goodbye and good luck.", "blocking": True}],
}


def temperature(provider: str, model: str) -> float:
    """Gemini 3 models: Google's prompting guide says keep the default 1.0 (lower values can loop or
    degrade reasoning); Vapi's own default would be 0.5. Other models: 0.4, steady for an interviewer."""
    return 1.0 if provider == "google" and model.startswith("gemini-3") else 0.4


def _minutes_per_question(plan: CallPlan) -> int:
    return max(1, plan.config.duration // max(1, len(plan.questions)))


def system_prompt(plan: CallPlan) -> str:
    c = plan.config
    hindi = SPEECH[c.language].hindi
    n = len(plan.questions)
    lines = [
        f"You are a professional interviewer running a {c.duration}-minute {c.difficulty.value} "
        f"{c.type.value} mock interview by voice. There are {n} questions below: ask them in order, one at "
        "a time. " + STYLE[c.follow_up_style],
        'Announce every question by its number: start it with the words "Question N" (the English words, '
        'whatever language you speak), for example "Question 2: ...", then ask it. Say "Question" '
        "followed by a number only when you start a new question.",
    ]
    if hindi:
        gender = "feminine" if c.voice in (Voice.FEMALE, Voice.NEUTRAL) else "masculine"
        lines.append(
            "Conduct the whole interview in Hindi: speak natural spoken Hindi (technical terms may stay in "
            "English). The questions are written in English: ask each one in Hindi, faithfully, without "
            f"changing its meaning. Refer to yourself with {gender} verb forms. Your first message greeted "
            "the candidate and asked whether they are ready: when they answer, begin with Question 1."
        )
    else:
        lines.append(
            "Speak English. Read each question exactly as written. Your first message already asked "
            "Question 1: listen to the answer, then go on."
        )
    lines += [
        "The key points and follow-ups under each question are private notes for you alone: never read "
        "them aloud, never list or hint at them, never reveal them, and never score the candidate aloud. "
        f"Keep to time: about {_minutes_per_question(plan)} minutes per question.",
        f"When the candidate has answered Question {n} (or time is nearly up), thank them in one sentence, "
        f'say "{END_CALL_PHRASE.capitalize()}.", then call the endCall tool at once. Never say those '
        "words before the end.",
        "Questions (with the key points a strong answer covers, for your follow-ups only):",
    ]
    for q in plan.questions:
        lines.append(f"Question {q.position}. {q.text}")
        lines.append("   key points (private): " + "; ".join(q.expected_key_points))
        lines.append("   possible follow-ups: " + "; ".join(q.follow_ups))
    return "\n".join(lines)


def first_message(plan: CallPlan) -> str:
    c = plan.config
    kind = c.type.value.replace("-", " ")
    n = len(plan.questions)
    if SPEECH[c.language].hindi:
        return (
            f"नमस्ते, आपके {kind} मॉक इंटरव्यू में आपका स्वागत है। हमारे पास लगभग {c.duration} मिनट हैं, "
            f"और इस इंटरव्यू में {n} प्रश्न होंगे। क्या आप शुरू करने के लिए तैयार हैं?"
        )
    first = f" Question 1: {plan.questions[0].text}" if plan.questions else ""
    return (
        f"Hello, and welcome to your {kind} mock interview. We have about {c.duration} minutes "
        f"for {n} questions. Let's begin.{first}"
    )


def build_web_call(
    plan: CallPlan, *, server_url: str, credential_id: str | None, model_provider: str, model: str
) -> dict[str, Any]:
    """The body of POST /call/web (Vapi's CreateWebCallDTO): a transient assistant built on the server."""
    c = plan.config
    speech = SPEECH[c.language]
    server: dict[str, Any] = {"url": server_url, "timeoutSeconds": 20}
    if credential_id:
        server["credentialId"] = credential_id
    return {
        "assistant": {
            "name": "PrepKit interviewer",
            "firstMessage": first_message(plan),
            "model": {
                "provider": model_provider,
                "model": model,
                "temperature": temperature(model_provider, model),
                "messages": [{"role": "system", "content": system_prompt(plan)}],
                "tools": [END_CALL_TOOL],
            },
            "voice": {"provider": "azure", "voiceId": speech.voices[c.voice], "speed": VOICE_SPEED[c.pace]},
            "transcriber": {**TRANSCRIBER, "language": speech.transcriber_language},
            "maxDurationSeconds": plan.max_duration_s,
            "startSpeakingPlan": {"waitSeconds": WAIT_SECONDS[c.pace]},
            "endCallPhrases": [END_CALL_PHRASE],
            "voicemailDetection": "off",
            "clientMessages": CLIENT_MESSAGES,
            "server": server,
            "serverMessages": SERVER_MESSAGES,
            # no live listening; live control stays on: end_call posts {"type": "end-call"} to controlUrl
            "monitorPlan": {"listenEnabled": False, "controlEnabled": True},
            "artifactPlan": {"recordingEnabled": True},
        },
        "assistantOverrides": {"metadata": {"sessionId": plan.session_id}},
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def web_call_url(call: dict[str, Any]) -> str | None:
    """The room the browser joins: `webCallUrl`, or `transport.callUrl` (VapiWebCallTransport); the Web
    SDK reads both."""
    transport = call.get("transport")
    url = _text(call.get("webCallUrl")) or (
        _text(transport.get("callUrl")) if isinstance(transport, dict) else None
    )
    return url if url is not None and urlparse(url).scheme == "https" else None


def control_url(call: dict[str, Any]) -> str | None:
    """Where a live call is controlled (Call.monitor.controlUrl)."""
    monitor = call.get("monitor")
    url = _text(monitor.get("controlUrl")) if isinstance(monitor, dict) else None
    return url if url is not None and urlparse(url).scheme == "https" else None


class VapiGateway:
    _KEEP_CONTROL_URLS = 32  # the calls this process created lately (to end one without a GET first)

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str,
        server_url: str,
        credential_id: str | None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        end_call_timeout_s: float = 3.0,
        model_provider: str = "google",
        model: str = "gemini-3.5-flash",
        session: requests.Session | None = None,
    ):
        self._api_url = api_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"}  # per request: never sent to a control URL
        self._session = session or requests.Session()
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._end_timeout = (min(connect_timeout_s, end_call_timeout_s), end_call_timeout_s)
        self._server_url = server_url
        self._credential_id = credential_id
        self._model_provider = model_provider
        self._model = model
        self._control_urls: OrderedDict[str, str] = OrderedDict()

    def create_web_call(self, plan: CallPlan) -> StartedCall:
        body = build_web_call(
            plan,
            server_url=self._server_url,
            credential_id=self._credential_id,
            model_provider=self._model_provider,
            model=self._model,
        )
        try:
            response = self._session.post(
                f"{self._api_url}/call/web", json=body, headers=self._auth, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise VoiceUnavailable(f"vapi unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise VoiceUnavailable(f"vapi /call/web answered {response.status_code}")
        try:
            call = response.json()
        except ValueError:
            raise VoiceUnavailable("vapi /call/web answered with no JSON") from None
        call_id = _text(call.get("id")) if isinstance(call, dict) else None
        if call_id is None:
            raise VoiceUnavailable("vapi /call/web answered with no call id")
        control = control_url(call)
        if control is not None:
            self._remember(call_id, control)
        url = web_call_url(call)
        if url is None:  # a call that runs (and bills) but nobody can join: end it now
            ended = self.end_call(call_id)
            raise VoiceUnavailable(f"vapi call {call_id} has no web call URL (ended: {ended})")
        return StartedCall(call_id=call_id, web_call_url=url)

    def get_call(self, call_id: str) -> CallRecord | None:
        data = self._get_call(call_id, self._timeout)
        if data.get("status") != "ended":
            return None
        return parse_call(call_id, data)

    def end_call(self, call_id: str) -> bool:
        """POST {"type": "end-call"} to the call's monitor.controlUrl (Vapi's live call control)."""
        try:
            control = self._control_urls.get(call_id) or control_url(
                self._get_call(call_id, self._end_timeout)
            )
            if control is None:
                log.warning("vapi call %s has no control URL: cannot end it", call_id)
                return False
            response = self._session.post(control, json={"type": "end-call"}, timeout=self._end_timeout)
        except (VoiceUnavailable, requests.RequestException) as exc:
            log.warning("ending vapi call %s failed: %s", call_id, exc)
            return False
        if response.status_code >= 400:
            log.warning("ending vapi call %s: control URL answered %s", call_id, response.status_code)
            return False
        self._control_urls.pop(call_id, None)
        return True

    def _get_call(self, call_id: str, timeout: tuple[float, float]) -> dict[str, Any]:
        try:
            response = self._session.get(
                f"{self._api_url}/call/{call_id}", headers=self._auth, timeout=timeout
            )
        except requests.RequestException as exc:
            raise VoiceUnavailable(f"vapi unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise VoiceUnavailable(f"vapi GET /call answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise VoiceUnavailable("vapi GET /call answered with no JSON") from None
        if not isinstance(data, dict):
            raise VoiceUnavailable("vapi GET /call answered with no call object")
        return data

    def _remember(self, call_id: str, control: str) -> None:
        self._control_urls[call_id] = control
        while len(self._control_urls) > self._KEEP_CONTROL_URLS:
            self._control_urls.popitem(last=False)
