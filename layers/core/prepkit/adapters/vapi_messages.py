"""Vapi's messages as they arrive: the parser shared by the end-of-call-report webhook and GET /call/{id}
(the same artifact, cost and endedReason)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prepkit.domain.models import CallRecord, Utterance


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_call(call_id: str, data: dict[str, Any]) -> CallRecord:
    """An end-of-call-report `message`, or the body of GET /call/{id} (same artifact, cost, endedReason)."""
    raw_artifact = data.get("artifact")
    artifact: dict[str, Any] = raw_artifact if isinstance(raw_artifact, dict) else {}
    messages: list[Utterance] = []
    for m in artifact.get("messages") or data.get("messages") or []:
        if not isinstance(m, dict):
            continue
        role = {"bot": "assistant", "assistant": "assistant", "user": "user"}.get(str(m.get("role")))
        text = m.get("message") if isinstance(m.get("message"), str) else m.get("content")
        if role is None or not isinstance(text, str):
            continue  # system prompts and tool calls are not part of the conversation
        seconds = m.get("secondsFromStart")
        messages.append(Utterance(role, text, float(seconds) if isinstance(seconds, int | float) else None))
    started, ended = _when(data.get("startedAt")), _when(data.get("endedAt"))
    duration = data.get("durationSeconds")
    if not isinstance(duration, int | float):
        duration = (ended - started).total_seconds() if started and ended else None
    cost = data.get("cost")
    transcript = artifact.get("transcript") or data.get("transcript") or ""
    return CallRecord(
        call_id=call_id,
        ended_reason=str(data["endedReason"])[:200] if data.get("endedReason") else None,
        transcript=str(transcript),
        messages=tuple(messages),
        recording_url=str(artifact.get("recordingUrl") or data.get("recordingUrl") or "") or None,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
        duration_s=float(duration) if duration is not None else None,
        started_at=started,
        ended_at=ended,
    )
