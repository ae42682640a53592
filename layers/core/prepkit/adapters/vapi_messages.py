"""Vapi's messages as they arrive: the parser shared by the end-of-call-report webhook and GET /call/{id}
(the same artifact, cost and endedReason).

Vapi's OpenAPI (`ServerMessageEndOfCallReport`, `Artifact`, `Call`) puts `endedReason`, `cost`, `costs`,
`startedAt` and `endedAt` on the message, and the conversation in `artifact` (`messages[]` of
{role: bot|user|system|tool_calls|tool_call_result, message, time, endTime, secondsFromStart, duration},
`messagesOpenAIFormatted`, `transcript`, `recordingUrl` (deprecated) / `recording.mono.combinedUrl`);
GET /call/{id} returns a `Call` with the same fields at its top level. Older reports (Vapi's skills
repository, 2026-02) carry `transcript`, `recordingUrl`, `durationSeconds` and `messages[{role, content}]`
at the top level and `endedReason` only inside `call`. Both are read.

Whatever a field holds, parsing never fails: a value of the wrong type, NaN, an infinite or absurd number,
a NUL character or a lone surrogate is dropped or cleaned, so that what comes out can be stored."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from prepkit.adapters.storable import clean_text
from prepkit.domain.models import CallRecord, Utterance

_ROLES = {"bot": "assistant", "assistant": "assistant", "user": "user"}
MAX_ID_CHARS = 200
MAX_URL_CHARS = 2048
# what the calls table can hold (cost_usd numeric(12, 4), duration_s numeric(10, 2)), with a wide margin
MAX_COST_USD = 1_000_000.0
MAX_DURATION_S = 10_000_000.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int | None = None) -> str | None:
    """A non-empty cleaned string, or None for anything else."""
    if not isinstance(value, str):
        return None
    text = clean_text(value)
    if limit is not None:
        text = text[:limit]
    return text or None


def _number(value: Any, low: float, high: float) -> float | None:
    """A finite number within [low, high] (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # Vapi sends UTC


def _utterances(raw: Any) -> tuple[Utterance, ...]:
    out: list[Utterance] = []
    for m in raw if isinstance(raw, list) else ():
        if not isinstance(m, dict):
            continue
        role = _ROLES.get(m["role"]) if isinstance(m.get("role"), str) else None
        text = m.get("message") if isinstance(m.get("message"), str) else m.get("content")
        if role is None or not isinstance(text, str):
            continue  # system prompts and tool calls are not part of the conversation
        seconds = _number(m.get("secondsFromStart"), 0, MAX_DURATION_S)
        out.append(Utterance(role, clean_text(text), seconds))
    return tuple(out)


def _cost(data: dict[str, Any]) -> float | None:
    cost = _number(data.get("cost"), 0, MAX_COST_USD)
    if cost is None and isinstance(data.get("costs"), list):
        parts = [_number(_dict(c).get("cost"), 0, MAX_COST_USD) for c in data["costs"]]
        known = [p for p in parts if p is not None]
        cost = _number(sum(known), 0, MAX_COST_USD) if known else None
    return cost


def _recording_url(artifact: dict[str, Any], data: dict[str, Any]) -> str | None:
    recording = _dict(artifact.get("recording"))
    for candidate in (
        artifact.get("recordingUrl"),
        _dict(recording.get("mono")).get("combinedUrl"),
        recording.get("stereoUrl"),
        data.get("recordingUrl"),
    ):
        url = _text(candidate)
        if url is not None and len(url) <= MAX_URL_CHARS:
            return url
    return None


def parse_call(call_id: str, data: dict[str, Any]) -> CallRecord:
    """An end-of-call-report `message`, or the body of GET /call/{id} (same artifact, cost, endedReason)."""
    call = _dict(data.get("call"))
    artifact = _dict(data.get("artifact")) or _dict(call.get("artifact"))
    messages = _utterances(artifact.get("messages")) or _utterances(data.get("messages"))
    started = _when(data.get("startedAt")) or _when(call.get("startedAt"))
    ended = _when(data.get("endedAt")) or _when(call.get("endedAt"))
    duration = _number(data.get("durationSeconds"), 0, MAX_DURATION_S)
    if duration is None:
        ms = _number(data.get("durationMs"), 0, MAX_DURATION_S * 1000)
        duration = ms / 1000 if ms is not None else None
    if duration is None and started and ended:
        duration = _number((ended - started).total_seconds(), 0, MAX_DURATION_S)
    transcript = _text(artifact.get("transcript")) or _text(data.get("transcript")) or ""
    return CallRecord(
        call_id=call_id,
        ended_reason=_text(data.get("endedReason"), 200) or _text(call.get("endedReason"), 200),
        transcript=transcript,
        messages=messages,
        recording_url=_recording_url(artifact, data),
        cost_usd=cost if (cost := _cost(data)) is not None else _cost(call),
        duration_s=duration,
        started_at=started,
        ended_at=ended,
    )


def call_id_of(message: dict[str, Any]) -> str | None:
    """`message.call.id` when it is a usable id (a non-empty string of at most 200 storable characters)."""
    call_id = _dict(message.get("call")).get("id")
    if not isinstance(call_id, str) or not call_id or len(call_id) > MAX_ID_CHARS:
        return None
    return call_id if clean_text(call_id) == call_id else None


def session_hint_of(message: dict[str, Any]) -> str | None:
    """Our session id, as it comes back in `message.call.assistantOverrides.metadata.sessionId`, in the
    canonical form of a UUID; None when it is missing or not a UUID."""
    metadata = _dict(_dict(_dict(message.get("call")).get("assistantOverrides")).get("metadata"))
    hint = metadata.get("sessionId")
    if not isinstance(hint, str) or len(hint) > 64:
        return None
    try:
        return str(uuid.UUID(hint))
    except ValueError:
        return None
