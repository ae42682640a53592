"""VoiceGateway on Vapi's REST API (httpx): the server builds the whole assistant; the browser only
joins the room. The webhook/call parser is in vapi_messages."""

from __future__ import annotations

from typing import Any

import httpx

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

#: how long the interviewer waits after the candidate pauses (Vapi startSpeakingPlan.waitSeconds)
WAIT_SECONDS = {Pace.RELAXED: 1.2, Pace.NORMAL: 0.6, Pace.FAST: 0.3}
STYLE = {
    FollowUpStyle.SUPPORTIVE: "Be warm and encouraging. Offer a small hint when the candidate is stuck.",
    FollowUpStyle.PROBING: "Ask one or two follow-ups per question to probe depth and reasoning. Do not give hints.",
    FollowUpStyle.CHALLENGING: "Push back on weak points and ask about trade-offs and edge cases, as a bar-raiser.",
}
TRANSCRIBER_LANGUAGE = {
    Language.EN_IN: "en-IN",
    Language.EN_US: "en-US",
    Language.EN_GB: "en-GB",
    Language.HI_IN: "hi",
}
VOICES = {
    Voice.FEMALE: {"provider": "azure", "voiceId": "en-IN-NeerjaNeural"},
    Voice.MALE: {"provider": "azure", "voiceId": "en-IN-PrabhatNeural"},
    Voice.NEUTRAL: {"provider": "azure", "voiceId": "en-US-AvaMultilingualNeural"},
}
END_REASONS_SERVER_MESSAGES = ["status-update", "end-of-call-report", "hang"]


def system_prompt(plan: CallPlan) -> str:
    c = plan.config
    lines = [
        f"You are a professional interviewer running a {c.duration}-minute {c.difficulty.value} "
        f"{c.type.value} mock interview by voice. Ask the questions below in order, one at a time, "
        "reading each question exactly as written. " + STYLE[c.follow_up_style],
        "Never reveal the expected key points, never score the candidate aloud, and keep to time: "
        f"about {max(1, c.duration // max(1, len(plan.questions)))} minutes per question.",
        "Questions (with the key points a strong answer covers, for your follow-ups only):",
    ]
    for q in plan.questions:
        lines.append(f"{q.position}. {q.text}")
        lines.append("   key points: " + "; ".join(q.expected_key_points))
        lines.append("   possible follow-ups: " + "; ".join(q.follow_ups))
    lines.append("After the last question, thank the candidate and end the call.")
    return "\n".join(lines)


def build_web_call(
    plan: CallPlan, *, server_url: str, credential_id: str | None, model_provider: str, model: str
) -> dict[str, Any]:
    c = plan.config
    server: dict[str, Any] = {"url": server_url, "timeoutSeconds": 20}
    if credential_id:
        server["credentialId"] = credential_id
    return {
        "assistant": {
            "name": "PrepKit interviewer",
            "firstMessage": (
                f"Hello, and welcome to your {c.type.value.replace('-', ' ')} mock interview. "
                f"We have about {c.duration} minutes. Let's begin. {plan.questions[0].text if plan.questions else ''}"
            ).strip(),
            "model": {
                "provider": model_provider,
                "model": model,
                "temperature": 0.4,
                "messages": [{"role": "system", "content": system_prompt(plan)}],
            },
            "voice": VOICES[c.voice],
            "transcriber": {
                "provider": "deepgram",
                "model": "nova-3",
                "language": TRANSCRIBER_LANGUAGE[c.language],
            },
            "maxDurationSeconds": plan.max_duration_s,
            "startSpeakingPlan": {"waitSeconds": WAIT_SECONDS[c.pace]},
            "server": server,
            "serverMessages": END_REASONS_SERVER_MESSAGES,
            "artifactPlan": {"recordingEnabled": True},
            "endCallPhrases": ["goodbye and good luck"],
        },
        "assistantOverrides": {"metadata": {"sessionId": plan.session_id}},
    }


class VapiGateway:
    def __init__(
        self,
        api_key: str,
        *,
        api_url: str,
        timeout_s: float,
        server_url: str,
        credential_id: str | None,
        model_provider: str = "google",
        model: str = "gemini-2.5-flash",
    ):
        self._client = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=httpx.Timeout(timeout_s)
        )
        self._server_url = server_url
        self._credential_id = credential_id
        self._model_provider = model_provider
        self._model = model

    def create_web_call(self, plan: CallPlan) -> StartedCall:
        body = build_web_call(
            plan,
            server_url=self._server_url,
            credential_id=self._credential_id,
            model_provider=self._model_provider,
            model=self._model,
        )
        try:
            response = self._client.post("/call/web", json=body)
        except httpx.HTTPError as exc:
            raise VoiceUnavailable(f"vapi unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise VoiceUnavailable(f"vapi /call/web answered {response.status_code}")
        call = response.json()
        return StartedCall(call_id=str(call["id"]), web_call_url=str(call["webCallUrl"]))

    def get_call(self, call_id: str) -> CallRecord | None:
        try:
            response = self._client.get(f"/call/{call_id}")
        except httpx.HTTPError as exc:
            raise VoiceUnavailable(f"vapi unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise VoiceUnavailable(f"vapi GET /call answered {response.status_code}")
        data = response.json()
        if data.get("status") != "ended":
            return None
        return parse_call(call_id, data)
