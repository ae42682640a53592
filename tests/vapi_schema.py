"""Vapi's OpenAPI (VapiAI/docs @ eabfa530011e : fern/apis/api/openapi.json, copied verbatim to
shared/vendor/vapi/openapi.json) as a test tool: a jsonschema validator for any of its components, and a
small generator that walks a component's schema to build instances of it: the required fields always,
plus what the caller gives. On top of it, end-of-call reports of real size (`end_of_call_report`).

API: `validator(component_name)`, `instance(component_name, **fields)`, `end_of_call_report(...)`.

Two quirks of Vapi's generated schema are handled for validation (shared/vendor/README.md):
- some array properties repeat their items' `enum` at the array level (an array never equals a string:
  every array would fail), so an `enum` beside `"type": "array"` is dropped;
- the `oneOf` variants of messages (and others) are not mutually exclusive (a bot message is also a valid
  system message), so every `oneOf` is checked as `anyOf`.
And OpenAPI 3.0's `nullable: true` becomes a `"null"` in `type`. `$ref`s resolve through a `referencing`
Registry holding the whole document."""

from __future__ import annotations

import copy
import json
import os
import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[1]
VENDOR = Path(os.environ.get("PREPKIT_VENDOR_DIR", ROOT.parent / "shared" / "vendor"))
VAPI = VENDOR / "vapi"
OPENAPI = VAPI / "openapi.json"
_URI = "https://vapi.invalid/openapi.json"  # the registry's name for the document (never fetched)


@cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI.read_bytes())
    return document


def schemas() -> dict[str, Any]:
    found: dict[str, Any] = openapi()["components"]["schemas"]
    return found


def _for_validation(node: Any) -> Any:
    if isinstance(node, list):
        return [_for_validation(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _for_validation(v) for k, v in node.items()}
    if out.get("type") == "array":
        out.pop("enum", None)
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@cache
def _registry() -> Registry[Any]:
    document = {"components": {"schemas": _for_validation(schemas())}}
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(document, default_specification=DRAFT7)
    )
    return registry


@cache
def validator(component: str) -> Draft7Validator:
    """A validator for `#/components/schemas/<component>` (formats such as date-time are checked)."""
    if component not in schemas():
        raise KeyError(f"{component} is not a component of Vapi's OpenAPI")
    return Draft7Validator(
        {"$ref": f"{_URI}#/components/schemas/{component}"},
        registry=_registry(),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def errors(component: str, value: Any) -> list[str]:
    """Every violation of the component's schema, as `path: message` (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
        for e in validator(component).iter_errors(value)
    ]


# --- the generator -----------------------------------------------------------------------------

WHEN = "2026-11-23T13:45:00.000Z"


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schemas()[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _merged(node: dict[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref` and `allOf` parts folded in (properties and required lists unioned)."""
    node = _resolve(node)
    if "allOf" not in node:
        return node
    out: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in node["allOf"]:
        sub = _merged(part)
        out["properties"] = {**sub.get("properties", {}), **out.get("properties", {})}
        out["required"] = sorted({*sub.get("required", []), *out.get("required", [])})
        for key, value in sub.items():
            out.setdefault(key, value)
    return out


def example(node: dict[str, Any]) -> Any:
    """A minimal valid value of a schema node: its required fields only, each the simplest value."""
    node = _merged(node)
    for variants in ("oneOf", "anyOf"):
        if variants in node and "type" not in node:
            return example(node[variants][0])
    kind = node.get("type")
    if kind == "array":
        return [example(node["items"]) for _ in range(node.get("minItems", 0))]
    if "enum" in node:
        return node["enum"][0]
    if "default" in node and node["default"] is not None:
        return node["default"]
    if kind == "object" or "properties" in node:
        properties = node.get("properties", {})
        return {name: example(properties[name]) for name in node.get("required", [])}
    if kind == "string":
        if node.get("format") == "date-time":
            return WHEN
        return "x" * max(1, node.get("minLength", 1))
    if kind in ("number", "integer"):
        return node.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def instance(component: str, **fields: Any) -> dict[str, Any]:
    """An instance of the component: its required fields (built by `example`), then `fields` on top."""
    built = example(schemas()[component])
    assert isinstance(built, dict), component
    built.update(fields)
    return built


# --- end-of-call reports of real size ----------------------------------------------------------

_WORDS = [
    "cache",
    "latency",
    "throughput",
    "partition",
    "replica",
    "queue",
    "consumer",
    "producer",
    "index",
    "shard",
    "token",
    "bucket",
    "window",
    "counter",
    "timeout",
    "retry",
    "backoff",
    "idempotent",
    "transaction",
    "isolation",
    "lock",
    "deadlock",
    "snapshot",
    "write",
    "read",
    "request",
    "response",
    "gateway",
    "service",
    "client",
    "server",
    "database",
    "table",
    "column",
    "query",
    "plan",
    "scan",
    "join",
    "hash",
    "memory",
    "disk",
    "network",
    "bandwidth",
    "failover",
    "leader",
    "follower",
    "quorum",
    "consensus",
    "log",
    "stream",
    "batch",
    "job",
    "worker",
    "thread",
    "process",
    "async",
    "await",
    "generator",
    "iterator",
    "coroutine",
    "event",
    "loop",
    "callback",
    "future",
    "promise",
    "schema",
    "migration",
    "rollback",
    "deploy",
    "canary",
    "metric",
    "alarm",
    "trace",
    "span",
    "sample",
    "budget",
    "error",
    "rate",
    "limit",
    "quota",
    "burst",
]
_OPENERS = (
    "So I would start by",
    "The way I think about it is",
    "Let me walk through",
    "First of all, I would consider",
    "In my last project we handled this by",
    "One trade-off here is",
)


def _sentence(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return f"{rng.choice(_OPENERS)} {body}."


def conversation(minutes: int, questions: list[str], *, seed: int = 7) -> list[tuple[str, str, float]]:
    """(role bot|user, text, seconds spoken) for an interview of `minutes`: the interviewer asks each
    question and follows up; the candidate answers at ~130 words a minute and talks ~70% of the time."""
    rng = random.Random(seed)
    turns: list[tuple[str, str, float]] = []
    budget = minutes * 60.0
    spent = 0.0
    q = 0
    while spent < budget - 30:
        if q < len(questions) and (not turns or rng.random() < 0.3):
            ask = questions[q]
            q += 1
        else:
            ask = f"Interesting. {_sentence(rng, rng.randint(10, 20))} How would that hold up under load?"
        said = len(ask.split()) / 2.5  # the interviewer speaks ~150 words a minute
        turns.append(("bot", ask, said))
        answer = " ".join(_sentence(rng, rng.randint(12, 22)) for _ in range(rng.randint(4, 7)))
        spoken = len(answer.split()) / (130 / 60)
        turns.append(("user", answer, spoken))
        spent += said + spoken + 2  # and a pause at each turn
    turns.append(("bot", "Thank you, that is the end of the interview. Goodbye!", 3.0))
    return turns


def _costs(minutes: float, model: str) -> list[dict[str, Any]]:
    return [
        instance("TransportCost", provider="daily", minutes=minutes, cost=0.0),
        instance("TranscriberCost", transcriber={"provider": "deepgram", "model": "nova-3"}, minutes=minutes,
                 cost=round(0.01 * minutes, 4)),
        instance("ModelCost", model={"provider": "google", "model": model}, promptTokens=21_000 * minutes,
                 completionTokens=900 * minutes, cost=round(0.004 * minutes, 4)),
        instance("VoiceCost", voice={"provider": "azure", "voiceId": "en-IN-NeerjaNeural"},
                 characters=int(700 * minutes), cost=round(0.016 * minutes, 4)),
        instance("VapiCost", subType="normal", minutes=minutes, cost=round(0.05 * minutes, 4)),
        instance("AnalysisCost", analysisType="summary", model={"provider": "openai", "model": "gpt-4o"},
                 promptTokens=9000, completionTokens=300, cost=0.0062),
    ]  # fmt: skip


def end_of_call_report(
    *,
    call_id: str,
    session_id: str,
    assistant: dict[str, Any],
    minutes: int,
    questions: list[str],
    ended_reason: str = "assistant-ended-call",
    org_id: str = "6f1e0c3a-0000-4000-8000-0000000000aa",
) -> dict[str, Any]:
    """The body Vapi posts at the end of a web call of `minutes` that ran `assistant` (a transient
    CreateAssistantDTO, echoed whole in `message.call.assistant` and `message.assistant`): built from
    ServerMessageEndOfCallReport, Call, Artifact, its messages, costs and Analysis, as a real report
    carries them."""
    prompt = next(
        (m["content"] for m in assistant.get("model", {}).get("messages", []) if m.get("role") == "system"),
        "",
    )
    turns = conversation(minutes, questions)
    started = datetime(2026, 11, 23, 13, 45, tzinfo=UTC)
    start_ms = int(started.timestamp() * 1000)
    messages: list[dict[str, Any]] = [instance("SystemMessage", role="system", message=prompt, time=start_ms,
                                               secondsFromStart=0)]  # fmt: skip
    openai_formatted = [instance("OpenAIMessage", role="system", content=prompt)]
    lines: list[str] = []
    t = 0.4
    for role, text, seconds in turns:
        component = "BotMessage" if role == "bot" else "UserMessage"
        fields: dict[str, Any] = {
            "role": role,
            "message": text,
            "time": start_ms + int(t * 1000),
            "endTime": start_ms + int((t + seconds) * 1000),
            "secondsFromStart": round(t, 3),
            "duration": round(seconds, 3),
        }
        if role == "bot":
            fields["source"] = ""
        messages.append(instance(component, **fields))
        openai_formatted.append(
            instance("OpenAIMessage", role="assistant" if role == "bot" else "user", content=text)
        )
        lines.append(f"{'AI' if role == 'bot' else 'User'}: {text}")
        t += seconds + 2
    ended = started + timedelta(seconds=round(t, 3))
    stamp = {"startedAt": _iso(started), "endedAt": _iso(ended)}
    used_minutes = round(t / 60, 4)
    costs = _costs(used_minutes, str(assistant.get("model", {}).get("model", "gemini")))
    cost = round(sum(c["cost"] for c in costs), 4)
    recording = f"https://storage.vapi.ai/{call_id}-{start_ms}-mono.wav"
    artifact = instance(
        "Artifact",
        messages=messages,
        messagesOpenAIFormatted=openai_formatted,
        transcript="\n".join(lines),
        recordingUrl=recording,
        stereoRecordingUrl=f"https://storage.vapi.ai/{call_id}-{start_ms}-stereo.wav",
        recording=instance(
            "Recording",
            stereoUrl=f"https://storage.vapi.ai/{call_id}-{start_ms}-stereo.wav",
            mono=instance("Mono", combinedUrl=recording),
        ),
        logUrl=f"https://calllogs.vapi.ai/{org_id}/{call_id}/{start_ms}.jsonl.gz",
        variableValues={"sessionId": session_id},
    )
    analysis = instance(
        "Analysis",
        summary="The candidate answered every question, compared approaches and discussed trade-offs.",
        successEvaluation="true",
    )
    call = instance(
        "Call",
        id=call_id,
        orgId=org_id,
        createdAt=_iso(started - timedelta(seconds=4)),
        updatedAt=_iso(ended + timedelta(seconds=6)),
        type="webCall",
        status="ended",
        endedReason=ended_reason,
        **stamp,
        cost=cost,
        costs=costs,
        assistant=copy.deepcopy(assistant),
        assistantOverrides=instance("AssistantOverrides", metadata={"sessionId": session_id}),
    )
    message = instance(
        "ServerMessageEndOfCallReport",
        type="end-of-call-report",
        endedReason=ended_reason,
        timestamp=int(ended.timestamp() * 1000) + 6000,
        cost=cost,
        costs=costs,
        artifact=artifact,
        analysis=analysis,
        assistant=copy.deepcopy(assistant),
        call=call,
        **stamp,
    )
    return {"message": message}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- Vapi's published sample messages ----------------------------------------------------------

#: the sample messages that are JSON as published (each is already the whole body: {"message": {...}})
JSON_SAMPLES = (
    "skills_status_update.json",
    "skills_end_of_call_report.json",
    "skills_hang.json",
    "skills_2026-02-09_end_of_call_report.json",
)
#: the samples of Vapi's "Server events" page: JSON with `/* ... */` placeholders for objects
JSONC_SAMPLES = ("docs_events_end_of_call_report.jsonc", "docs_events_status_update.jsonc")
SAMPLE_CALL_ID = "call-uuid"  # the call id of the skills samples
SAMPLE_RECORDING = "https://storage.vapi.ai/call-uuid-1795442700000-mono.wav"


def sample_call(call_id: str = SAMPLE_CALL_ID, session_id: str | None = None) -> dict[str, Any]:
    """What stands for `{ /* Call Object */ }`: a Call with its required fields (id, orgId, createdAt,
    updatedAt), type webCall, status ended and, given a session, our metadata in assistantOverrides."""
    call = instance(
        "Call",
        id=call_id,
        orgId="6f1e0c3a-0000-4000-8000-0000000000aa",
        createdAt="2026-11-23T13:44:56.000Z",
        updatedAt="2026-11-23T14:03:36.000Z",
        type="webCall",
        status="ended",
    )
    if session_id is not None:
        call["assistantOverrides"] = instance("AssistantOverrides", metadata={"sessionId": session_id})
    return call


def sample_recording() -> dict[str, Any]:
    """What stands for `{ /* Recording object with URLs */ }`: a Recording with its mono (combined) and
    stereo URLs."""
    return instance(
        "Recording",
        stereoUrl=SAMPLE_RECORDING.replace("-mono", "-stereo"),
        mono=instance("Mono", combinedUrl=SAMPLE_RECORDING),
    )


def jsonc_sample(name: str, call: dict[str, Any] | None = None) -> bytes:
    """A sample of the docs page as JSON: `{ /* Call Object */ }` becomes `call` (default `sample_call()`),
    `{ /* Recording object with URLs */ }` becomes `sample_recording()`; nothing else is changed."""
    text = (VAPI / name).read_text()
    for placeholder, value in (
        ("{ /* Call Object */ }", call if call is not None else sample_call()),
        ("{ /* Recording object with URLs */ }", sample_recording()),
    ):
        text = text.replace(placeholder, json.dumps(value))
    assert "/*" not in text, f"{name} has a placeholder this helper does not know"
    json.loads(text)
    return text.encode()
