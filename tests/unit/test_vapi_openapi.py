"""The exact create-call body we send, checked against Vapi's own OpenAPI (shared/vendor/vapi/openapi.json,
VapiAI/docs @ eabfa530011e : fern/apis/api/openapi.json) with jsonschema, for every setup choice.

The schema is loaded by tests/vapi_schema.py, which handles the two generator quirks documented in
shared/vendor/README.md (an array-level `enum` repeating the items' enum is dropped; every `oneOf` is
checked as `anyOf`, as the variants overlap) and resolves `$ref`s through a referencing Registry over
components/schemas. On top of it this module checks strictly: every object schema that lists its
properties refuses any other property (`additionalProperties: false` unless it says otherwise), so a
misspelt field fails here rather than being ignored by Vapi.
"""

from __future__ import annotations

import copy
import itertools
import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from prepkit.adapters.vapi import CLIENT_MESSAGES, SERVER_MESSAGES, build_web_call, control_url, web_call_url
from prepkit.domain.models import (
    CallPlan,
    FollowUpStyle,
    InterviewConfig,
    Language,
    Pace,
    Question,
    Voice,
)
from tests.vapi_schema import _for_validation, schemas

PREFIX = "#/components/schemas/"
_URI = "https://vapi.invalid/strict-openapi.json"  # a registry name, never fetched


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out and out.get("type", "object") == "object":
        out["additionalProperties"] = False
    return out


@cache
def strict_validator(component: str) -> Draft7Validator:
    document = {"components": {"schemas": _strict(_for_validation(schemas()))}}
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(document, default_specification=DRAFT7)
    )
    return Draft7Validator({"$ref": f"{_URI}{PREFIX}{component}"}, registry=registry)


def errors(component: str, instance: Any) -> list[str]:
    """Every violation, strictly (unknown fields too), as `path: message`; empty when valid."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
        for e in strict_validator(component).iter_errors(instance)
    ]


QUESTIONS = tuple(
    Question(
        position=i,
        text=f"Question text {i}: explain how you would design part {i} of a URL shortener.",
        topics=("design",),
        estimated_minutes=5,
        expected_key_points=(f"key point {i}a", f"key point {i}b"),
        follow_ups=(f"follow-up {i}",),
    )
    for i in (1, 2, 3)
)


def body_for(language: Language, voice: Voice, pace: Pace, style: FollowUpStyle) -> dict[str, Any]:
    config = InterviewConfig.model_validate(
        {
            "type": "python",
            "difficulty": "medium",
            "duration": 15,
            "language": language.value,
            "voice": voice.value,
            "pace": pace.value,
            "followUpStyle": style.value,
        }
    )
    plan = CallPlan("4f1c2a9e-0000-4000-8000-000000000001", config, QUESTIONS, config.duration * 60)
    return build_web_call(
        plan,
        server_url="https://api.prepkit.example/webhooks/vapi",
        credential_id="cred-123",
        model_provider="google",
        model="gemini-3.5-flash",
    )


COMBINATIONS = list(itertools.product(Language, Voice, Pace, FollowUpStyle))


def test_every_combination_is_covered() -> None:
    assert len(COMBINATIONS) == len(Language) * len(Voice) * len(Pace) * len(FollowUpStyle) >= 240


@pytest.mark.parametrize(
    ("language", "voice", "pace", "style"), COMBINATIONS, ids=lambda v: str(getattr(v, "value", v))
)
def test_the_create_call_body_is_valid_for_vapi(
    language: Language, voice: Voice, pace: Pace, style: FollowUpStyle
) -> None:
    body = body_for(language, voice, pace, style)
    assert errors("CreateWebCallDTO", json.loads(json.dumps(body))) == []


# the validator itself must refuse what Vapi would refuse, or the test above proves nothing


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("assistant", "transcriber", "language"), "hi-IN"),  # Deepgram's code is "hi"
        (("assistant", "transcriber", "language"), "english"),
        (("assistant", "voice", "speed"), 3),  # AzureVoice.speed is 0.5..2
        (("assistant", "startSpeakingPlan", "waitSeconds"), 6),  # 0..5
        (("assistant", "clientMessages"), ["conversation-updates"]),
        (("assistant", "model", "model"), "gemini-9-ultra"),  # not in GoogleModel.model
        (("assistant", "model", "tools"), [{"type": "endCalls"}]),
        (("assistant", "maxDurationSeconds"), 5),
        (("assistant", "firstMesage"), "typo"),  # an unknown field
    ],
)
def test_a_wrong_field_is_refused(path: tuple[str, ...], value: Any) -> None:
    body = copy.deepcopy(body_for(Language.EN_IN, Voice.FEMALE, Pace.MODERATE, FollowUpStyle.PROBING))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors("CreateWebCallDTO", body) != []


def test_the_interviewer_model_is_a_current_google_model() -> None:
    models = schemas()["GoogleModel"]["properties"]["model"]["enum"]
    body = body_for(Language.EN, Voice.MALE, Pace.FAST, FollowUpStyle.DEEP_DIVE)
    assert body["assistant"]["model"]["model"] in models
    assert not body["assistant"]["model"]["model"].startswith(("gemini-1", "gemini-2.0", "gemini-2.5"))


# --- what reaches the browser -------------------------------------------------------------------

PROMPT_CARRIERS = {"messages", "messagesOpenAIFormatted", "artifact", "newAssistant", "toolWithToolCallList"}
ENVELOPE = {
    "assistant",
    "call",
    "customer",
    "phoneNumber",
    "chat",
    "session",
    "timestamp",
    "assistantVersion",
}


def _message_schema(kind: str) -> dict[str, Any]:
    """The client message of this type, or (when the ClientMessage union has none) the server message."""
    for union in ("ClientMessage", "ServerMessage"):
        for variant in schemas()[union]["properties"]["message"]["oneOf"]:
            schema: dict[str, Any] = schemas()[variant["$ref"].removeprefix(PREFIX)]
            if kind in schema["properties"]["type"].get("enum", []):
                return schema
    raise AssertionError(f"no message schema of type {kind}")


def test_client_messages_are_set_and_valid() -> None:
    body = body_for(Language.EN_IN, Voice.FEMALE, Pace.MODERATE, FollowUpStyle.PROBING)
    sent = body["assistant"]["clientMessages"]
    allowed = schemas()["CreateAssistantDTO"]["properties"]["clientMessages"]["items"]["enum"]
    assert sent == CLIENT_MESSAGES
    assert set(sent) <= set(allowed)
    assert {"speech-update", "transcript", "hang"} <= set(sent)  # what the web app shows live


def test_no_client_message_carries_the_conversation_or_the_assistant() -> None:
    """conversation-update (messagesOpenAIFormatted: the system prompt) and the like are never streamed."""
    assert "conversation-update" in prompt_carriers_in_default()
    for kind in CLIENT_MESSAGES:
        own = set(_message_schema(kind)["properties"]) - ENVELOPE
        assert own & PROMPT_CARRIERS == set(), kind
    for kind in ("conversation-update", "status-update", "assistant.started", "tool-calls", "model-output"):
        assert kind not in CLIENT_MESSAGES


def prompt_carriers_in_default() -> set[str]:
    """The types in Vapi's default clientMessages whose own fields carry conversation or assistant."""
    default = schemas()["CreateAssistantDTO"]["properties"]["clientMessages"]["example"]
    out = set()
    for kind in default:
        try:
            own = set(_message_schema(kind)["properties"]) - ENVELOPE
        except AssertionError:
            continue
        if own & PROMPT_CARRIERS:
            out.add(kind)
    return out


def test_server_messages_are_the_ones_the_webhook_handles() -> None:
    allowed = schemas()["CreateAssistantDTO"]["properties"]["serverMessages"]["items"]["enum"]
    assert set(SERVER_MESSAGES) <= set(allowed)
    assert {"status-update", "end-of-call-report"} <= set(SERVER_MESSAGES)


def test_the_assistant_can_end_the_call() -> None:
    assistant = body_for(Language.HI_IN, Voice.MALE, Pace.RELAXED, FollowUpStyle.SUPPORTIVE)["assistant"]
    tools = assistant["model"]["tools"]
    assert [t["type"] for t in tools] == ["endCall"]
    assert errors("CreateEndCallToolDTO", tools[0]) == []
    assert assistant["endCallPhrases"]
    assert assistant["monitorPlan"]["controlEnabled"] is True  # end_call uses monitor.controlUrl


# --- the answer: a Call ------------------------------------------------------------------------

CALL_ID = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
CONTROL = f"https://phone-call-websocket.aws-us-west-2-backend-production2.vapi.ai/{CALL_ID}/control"


def call_answer(**fields: Any) -> dict[str, Any]:
    """A Call as POST /call/web answers it, valid against the OpenAPI's Call schema."""
    call = {
        "id": CALL_ID,
        "orgId": "org-1",
        "createdAt": "2026-12-03T10:00:00.000Z",
        "updatedAt": "2026-12-03T10:00:00.000Z",
        "type": "webCall",
        "status": "queued",
        "monitor": {"controlUrl": CONTROL},
        **fields,
    }
    assert errors("Call", call) == []
    return call


def test_the_room_url_is_read_from_transport_call_url() -> None:
    url = "https://vapi.daily.co/abc123"
    assert web_call_url(call_answer(transport={"provider": "daily", "callUrl": url})) == url


def test_the_room_url_from_web_call_url_wins() -> None:
    answer = {
        **call_answer(transport={"provider": "daily", "callUrl": "https://b"}),
        "webCallUrl": "https://a",
    }
    assert web_call_url(answer) == "https://a"


def test_no_room_url() -> None:
    assert web_call_url(call_answer()) is None
    assert web_call_url(call_answer(transport={"provider": "daily"})) is None


def test_the_control_url_is_the_calls_monitor_control_url() -> None:
    assert control_url(call_answer()) == CONTROL
    assert schemas()["ClientInboundMessageEndCall"]["properties"]["type"]["enum"] == ["end-call"]
