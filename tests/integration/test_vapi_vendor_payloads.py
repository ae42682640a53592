"""What Vapi really sends, to /webhooks/vapi over HTTP (and through the Lambda entry point), against real
PostgreSQL and the pipeline in moto: end-of-call reports of real size built from Vapi's OpenAPI (20 and
45 minutes), Vapi's own published sample messages byte for byte, and, validly authenticated, anything
at all in the fields the server reads: never a 500."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prepkit.adapters.vapi import build_web_call
from prepkit.container import vapi_auth
from prepkit.domain.models import CallPlan, StartedCall
from prepkit.settings import get_settings
from tests import vapi_schema as vs
from tests.integration.conftest import Flow
from tests.integration.test_calls_and_reports import post_vapi
from tests.integration.test_lambda_entry import FakeLambdaContext, _load, lambda_env  # noqa: F401
from tests.unit.test_vapi_messages import changes_strategy, json_values, mutated

MakeFlow = Callable[..., Flow]
CALL_COLUMNS = "status, ended_reason, transcript, messages, cost_usd, duration_s, recording_url, started_at"


def in_call(flow: Flow, minutes: int = 20) -> tuple[str, str]:
    sid = flow.setup(duration=minutes)
    flow.pay(sid)
    call_id: str = flow.start(sid)["callId"]
    return sid, call_id


def assistant_of(flow: Flow, sid: str) -> dict[str, Any]:
    """The transient assistant the server sent Vapi for this session (which Vapi echoes in the report):
    built as POST /start builds it, from the session's stored config and questions."""
    assert flow.container.flow_repo is not None
    with flow.container.flow_repo.transaction() as tx:
        config, questions = tx.session_config(sid)
    s = flow.settings
    body = build_web_call(
        CallPlan(sid, config, questions, max_duration_s=config.duration * 60),
        server_url=f"{s.public_base_url}/webhooks/vapi",
        credential_id=s.vapi_credential_id,
        model_provider=s.vapi_model_provider,
        model=s.vapi_model,
    )
    assistant: dict[str, Any] = body["assistant"]
    return assistant


def real_report(flow: Flow, sid: str, call_id: str, minutes: int) -> dict[str, Any]:
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    body = vs.end_of_call_report(
        call_id=call_id,
        session_id=sid,
        assistant=assistant_of(flow, sid),
        minutes=minutes,
        questions=[q["text"] for q in session["questions"]],
    )
    assert vs.errors("ServerMessage", body) == []
    assert vs.errors("ServerMessageEndOfCallReport", body["message"]) == []
    return body


def settled(flow: Flow, sid: str) -> str:
    """Once the pipeline is done with the call end (completed, refunded, or paid again for a retake)."""
    return flow.wait_for(sid, "completed", "refunded", "failed", "call_failed", "paid")


def call_row(db: psycopg.Connection[Any], call_id: str) -> tuple[Any, ...]:
    row = db.execute(f"SELECT {CALL_COLUMNS} FROM calls WHERE call_id = %s", (call_id,)).fetchone()  # noqa: S608
    assert row is not None
    return tuple(row)


def assert_stored(db: psycopg.Connection[Any], call_id: str, message: dict[str, Any]) -> None:
    status, ended_reason, transcript, messages, cost, duration, recording, started = call_row(db, call_id)
    artifact = message["artifact"]
    assert (status, ended_reason) == ("ended", message["endedReason"])
    assert transcript == artifact["transcript"]
    said = [m for m in artifact["messages"] if m["role"] in ("bot", "user")]
    assert messages == [
        {
            "role": "assistant" if m["role"] == "bot" else "user",
            "text": m["message"],
            "secondsFromStart": m["secondsFromStart"],
        }
        for m in said
    ]
    assert float(cost) == pytest.approx(message["cost"], abs=1e-4)
    assert float(duration) == pytest.approx(
        (
            datetime.fromisoformat(message["endedAt"]) - datetime.fromisoformat(message["startedAt"])
        ).total_seconds(),
        abs=0.01,
    )
    assert recording == artifact["recordingUrl"]
    assert started == datetime.fromisoformat(message["startedAt"])


# --- reports of real size ----------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "low", "high"), [(20, 40_000, 100_000), (45, 100_000, 250_000)])
def test_a_real_size_end_of_call_report_is_stored(
    make_flow: MakeFlow, db: psycopg.Connection[Any], minutes: int, low: int, high: int
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow, minutes)
    body = real_report(flow, sid, call_id, minutes)
    raw = json.dumps(body).encode()
    assert low < len(raw) < high  # 20 minutes: tens of KB; 45: over 100 KB
    r = post_vapi(flow, raw)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "call end stored"
    assert_stored(db, call_id, body["message"])
    stored = db.execute(
        "SELECT raw_body FROM provider_events WHERE provider = 'vapi' AND event_id = %s",
        (f"{call_id}:end-of-call-report",),
    ).fetchone()
    assert stored == (raw.decode(),)  # kept exactly as received
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"


@pytest.mark.usefixtures("lambda_env")
def test_a_real_size_report_through_the_lambda_entry_point(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow, 45)
    raw = json.dumps(real_report(flow, sid, call_id, 45)).encode()
    assert len(raw) > 100_000
    signed = vapi_auth(get_settings()).sign(raw, int(time.time()))
    event = {
        "version": "2.0",
        "routeKey": "POST /webhooks/vapi",
        "rawPath": "/webhooks/vapi",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "content-length": str(len(raw)),
            "host": "abc123.execute-api.ap-south-1.amazonaws.com",
            "user-agent": "Vapi/1.0",
            **signed,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-south-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/webhooks/vapi",
                "protocol": "HTTP/1.1",
                "sourceIp": "44.229.228.186",
                "userAgent": "Vapi/1.0",
            },
            "requestId": "Vq7wTgKbBcwEMcQ=",
            "routeKey": "POST /webhooks/vapi",
            "stage": "$default",
            "time": "23/Nov/2026:14:30:10 +0000",
            "timeEpoch": 1795444210000,
        },
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }
    response = _load("webhooks")(event, FakeLambdaContext(function_name="prepkit-webhooks"))
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["result"] == "call end stored"
    assert_stored(db, call_id, json.loads(raw)["message"])
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"


# --- Vapi's own sample messages ----------------------------------------------------------------


def _no_vapi_events(db: psycopg.Connection[Any]) -> bool:
    return db.execute("SELECT count(*) FROM provider_events WHERE provider = 'vapi'").fetchone() == (0,)


@pytest.mark.parametrize("name", vs.JSON_SAMPLES)
def test_each_json_sample_byte_for_byte_is_acknowledged(
    make_flow: MakeFlow, db: psycopg.Connection[Any], name: str
) -> None:
    """As published, each sample is a whole body about call "call-uuid", which is not ours."""
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow)
    raw = (vs.VAPI / name).read_bytes()
    r = post_vapi(flow, raw)
    assert r.status_code == 200, r.text
    kind = json.loads(raw)["message"]["type"]
    assert (
        r.json()["result"]
        == {
            "status-update": "status in-progress",
            "end-of-call-report": "unknown call ignored",
            "hang": "hang ignored",
        }[kind]
    )
    assert _no_vapi_events(db)
    assert call_row(db, call_id)[0] == "created"
    assert flow.status(sid) == "in_call"


def _ours(raw: bytes, call_id: str, sid: str) -> bytes:
    """The sample about our call: its parsed copy with our call id (and our session in the metadata)."""
    body = json.loads(raw)
    body["message"]["call"]["id"] = call_id
    body["message"]["call"]["assistantOverrides"] = {"metadata": {"sessionId": sid}}
    return json.dumps(body).encode()


def test_the_status_update_sample_for_our_call_is_applied(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow)
    r = post_vapi(flow, _ours((vs.VAPI / "skills_status_update.json").read_bytes(), call_id, sid))
    assert r.json()["result"] == "status in-progress"
    assert call_row(db, call_id)[0] == "in_progress"


@pytest.mark.parametrize(
    ("name", "recording", "started"),
    [
        ("skills_end_of_call_report.json", None, "2026-07-16T18:00:00+00:00"),
        ("skills_2026-02-09_end_of_call_report.json", "https://storage.vapi.ai/recordings/...", None),
    ],
)
def test_each_report_sample_for_our_call_ends_it(
    make_flow: MakeFlow, db: psycopg.Connection[Any], name: str, recording: str | None, started: str | None
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow)
    r = post_vapi(flow, _ours((vs.VAPI / name).read_bytes(), call_id, sid))
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "call end stored"
    row = call_row(db, call_id)
    assert row[:3] == ("ended", "customer-ended-call", "Full conversation transcript...")
    assert row[3] == [
        {"role": "assistant", "text": "Hello! How can I help?", "secondsFromStart": None},
        {"role": "user", "text": "I need to check my order.", "secondsFromStart": None},
    ]
    assert (float(row[4]), float(row[5]), row[6]) == (0.15, 180.0, recording)
    assert (row[7].isoformat() if row[7] else None) == started
    settled(flow, sid)


def test_the_docs_samples_with_a_call_object_are_stored(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """The "Server events" samples, their `{ /* Call Object */ }` replaced by a Call (vs.sample_call: its
    required fields, type webCall, status ended, our call id and session) and `{ /* Recording object with
    URLs */ }` by a Recording (vs.sample_recording)."""
    flow = make_flow(autoplay=False)
    sid, call_id = in_call(flow)
    unknown = vs.jsonc_sample("docs_events_status_update.jsonc")
    assert post_vapi(flow, unknown).json()["result"] == "status ended"
    ours = vs.sample_call(call_id, sid)
    assert vs.errors("Call", ours) == []
    assert (
        post_vapi(flow, vs.jsonc_sample("docs_events_status_update.jsonc", ours)).json()["result"]
        == "status ended"
    )
    assert post_vapi(flow, vs.jsonc_sample("docs_events_end_of_call_report.jsonc")).json()["result"] == (
        "unknown call ignored"
    )
    r = post_vapi(flow, vs.jsonc_sample("docs_events_end_of_call_report.jsonc", ours))
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "call end stored"
    row = call_row(db, call_id)
    assert row[:3] == ("ended", "hangup", "AI: How can I help? User: What's the weather? ...")
    assert row[3] == [
        {"role": "assistant", "text": "How can I help?", "secondsFromStart": None},
        {"role": "user", "text": "What's the weather?", "secondsFromStart": None},
    ]
    assert row[4:7] == (None, None, vs.SAMPLE_RECORDING)
    settled(flow, sid)


# --- anything in the fields the server reads: never a 500 --------------------------------------


class Calls:
    """A fresh call row of one session for each example (a stored call end happens once per call)."""

    def __init__(self, flow: Flow, sid: str):
        self.flow, self.sid, self.attempt = flow, sid, 100

    def new(self) -> str:
        self.attempt += 1
        call_id = f"prop-{self.attempt}"
        assert self.flow.container.flow_repo is not None
        with self.flow.container.flow_repo.transaction() as tx:
            tx.insert_call(
                self.sid, self.attempt, StartedCall(call_id, f"https://simulated.vapi.local/{call_id}")
            )
        return call_id


@pytest.fixture
def calls(make_flow: MakeFlow) -> Calls:
    flow = make_flow(autoplay=False)
    sid, _ = in_call(flow)
    return Calls(flow, sid)


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
REPORT = json.loads((vs.VAPI / "skills_end_of_call_report.json").read_bytes())["message"]


@PROPERTY
@given(changes=changes_strategy)
def test_any_end_of_call_report_for_our_call_is_stored(
    calls: Calls, db: psycopg.Connection[Any], changes: dict[tuple[str, ...], Any]
) -> None:
    call_id = calls.new()
    message = mutated({**copy.deepcopy(REPORT), "call": {"id": call_id}}, changes)
    raw = json.dumps({"message": message}).encode()
    r = post_vapi(calls.flow, raw)
    assert r.status_code == 200, r.text
    if isinstance(message.get("call"), dict) and message["call"].get("id") == call_id:
        assert r.json()["result"] == "call end stored"
        assert call_row(db, call_id)[0] == "ended"
    else:
        assert r.json()["result"] in ("end-of-call-report without a call ignored", "unknown call ignored")


@PROPERTY
@given(
    message=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    kind=json_values | st.sampled_from(["status-update", "end-of-call-report", "hang", "transcript"]),
    call=json_values,
)
def test_any_message_with_a_type_is_acknowledged(
    calls: Calls, message: dict[str, Any], kind: Any, call: Any
) -> None:
    body = {"message": {**message, "type": kind, "call": call}}
    r = post_vapi(calls.flow, json.dumps(body).encode())
    assert r.status_code == 200, r.text


@PROPERTY
@given(body=json_values)
def test_a_body_without_a_typed_message_is_a_400(calls: Calls, body: Any) -> None:
    raw = json.dumps(body).encode()
    r = post_vapi(calls.flow, raw)
    typed = isinstance(body, dict) and isinstance(body.get("message"), dict) and "type" in body["message"]
    assert r.status_code == (200 if typed else 400), r.text
    if not typed:
        assert r.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": ' * 5000 + b"1" + b"}" * 5000,  # deeper than Python's parser goes
        '{"message": {"type": "x"}}'.encode("utf-16"),
        b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "cost": 1' + b"0" * 5000 + b"}}",
        b"\xff\xfe\x00",
    ],
    ids=["deep", "utf-16", "5000-digit-number", "not-utf-8"],
)
def test_bodies_python_cannot_read_are_a_400(calls: Calls, raw: bytes) -> None:
    r = post_vapi(calls.flow, raw)
    assert r.status_code == 400, r.text
