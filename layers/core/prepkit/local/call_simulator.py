"""The offline Vapi: a call simulator for the local and test stages. After `start`, it plays a scripted
candidate and posts real, correctly authenticated status-update and end-of-call-report webhooks to the
API, exactly as Vapi would; GET /call (reconciliation) returns the same record."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prepkit.domain.models import CallPlan, CallRecord, Question, StartedCall
from prepkit.domain.signatures import VapiAuth

log = logging.getLogger(__name__)

Script = Literal["good", "weak", "silent", "broken"]
Deliver = Callable[[str, bytes, dict[str, str]], None]
WEBHOOK_PATH = "/webhooks/vapi"


def _good_answer(q: Question) -> str:
    points = ". ".join(p.rstrip(".") for p in q.expected_key_points)
    return (
        f"Let me think about that out loud. {points}. To make it concrete, I would start simple, measure, "
        "and then evolve the design; the trade-off is extra complexity versus better latency and reliability, "
        "and it depends on the load we expect."
    )


_WEAK = (
    "Hmm, I am not really sure about this one. I think it depends on the situation, maybe we could try "
    "something simple first and then see what happens, like, basically just do whatever works."
)


def script_messages(plan: CallPlan, script: Script) -> list[dict[str, Any]]:
    """The conversation as Vapi's artifact.messages: role bot/user, message, secondsFromStart."""
    out: list[dict[str, Any]] = []
    t = 0.0
    for q in plan.questions:
        out.append({"role": "bot", "message": q.text, "secondsFromStart": t})
        t += 20
        if script == "good":
            out.append({"role": "user", "message": _good_answer(q), "secondsFromStart": t})
            t += 150
        elif script == "weak":
            out.append({"role": "user", "message": _WEAK, "secondsFromStart": t})
            t += 60
        if script == "broken":
            break
    if script != "broken":
        out.append(
            {"role": "bot", "message": "Thank you, that is the end of the interview.", "secondsFromStart": t}
        )
    return out


class SimulatedVoice:
    def __init__(
        self,
        auth: VapiAuth,
        deliver: Deliver,
        *,
        script: Script = "good",
        delay_s: float = 0.3,
        drop_end_report: bool = False,
        autoplay: bool = True,
    ):
        self._auth = auth
        self._deliver = deliver
        self.script: Script = script
        self.delay_s = delay_s
        self.drop_end_report = drop_end_report
        self.autoplay = autoplay  # False: calls stay "in progress" until the test posts the webhooks itself
        self.ended: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.end_requests: list[str] = []  # the calls end_call was asked to end, in order
        self.fail_end_call = False  # True: end_call fails, as an unreachable control URL would
        self._cancelled: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []

    def create_web_call(self, plan: CallPlan) -> StartedCall:
        call_id = f"sim-{secrets.token_hex(8)}"
        self.created.append(call_id)
        self._cancelled[call_id] = threading.Event()
        if self.autoplay:
            thread = threading.Thread(
                target=self._run, args=(call_id, plan, self.script), daemon=True, name=call_id
            )
            self._threads.append(thread)
            thread.start()
        return StartedCall(call_id=call_id, web_call_url=f"https://simulated.vapi.local/call/{call_id}")

    def get_call(self, call_id: str) -> CallRecord | None:
        from prepkit.adapters.vapi_messages import parse_call

        message = self.ended.get(call_id)
        return parse_call(call_id, message) if message is not None else None

    def end_call(self, call_id: str) -> bool:
        """Vapi's live call control ({"type": "end-call"}): the scripted call stops where it is and posts
        nothing more. Never raises."""
        self.end_requests.append(call_id)
        cancelled = self._cancelled.get(call_id)
        if self.fail_end_call or cancelled is None:
            return False
        cancelled.set()
        return True

    def wait(self, timeout_s: float = 10) -> None:
        for thread in list(self._threads):
            thread.join(timeout_s)

    def _post(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json", **self._auth.sign(raw, int(time.time()))}
        try:
            self._deliver(WEBHOOK_PATH, raw, headers)
        except Exception:  # Vapi does not retry either
            log.exception("simulated webhook delivery failed")

    def _run(self, call_id: str, plan: CallPlan, script: Script) -> None:
        cancelled = self._cancelled[call_id]
        if cancelled.wait(self.delay_s):
            return
        call = {"id": call_id, "assistantOverrides": {"metadata": {"sessionId": plan.session_id}}}
        self._post({"message": {"type": "status-update", "status": "in-progress", "call": call}})
        messages = script_messages(plan, script)
        duration = 25.0 if script == "broken" else max(90.0, float(messages[-1]["secondsFromStart"]) + 10)
        started = datetime.now(UTC) - timedelta(seconds=duration)
        ended_reason = {
            "good": "assistant-ended-call",
            "weak": "customer-ended-call",
            "silent": "silence-timed-out",
            # a value of Vapi's endedReason enum (OpenAPI Call.endedReason): the LLM failed mid-call
            "broken": "call.in-progress.error-providerfault-google-llm-failed",
        }[script]
        transcript = "\n".join(f"{'AI' if m['role'] == 'bot' else 'User'}: {m['message']}" for m in messages)
        report = {
            "type": "end-of-call-report",
            "call": call,
            "endedReason": ended_reason,
            "startedAt": started.isoformat().replace("+00:00", "Z"),
            "endedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "durationSeconds": duration,
            "cost": round(0.09 * duration / 60, 4),
            "costs": [{"type": "vapi", "cost": round(0.05 * duration / 60, 4)}],
            "artifact": {
                "transcript": transcript,
                "messages": messages,
                "recordingUrl": f"https://simulated.vapi.local/recordings/{call_id}.wav",
            },
            "analysis": {"summary": f"Simulated {script} candidate."},
            "timestamp": int(time.time() * 1000),
        }
        if cancelled.is_set():
            return
        self.ended[call_id] = {**report, "status": "ended"}
        self._post(
            {
                "message": {
                    "type": "status-update",
                    "status": "ended",
                    "endedReason": ended_reason,
                    "call": call,
                }
            }
        )
        if not self.drop_end_report:
            self._post({"message": report})
