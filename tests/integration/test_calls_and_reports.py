"""POST /start, the Vapi webhook (every authentication scheme, duplicates, reordering, unknown types)
and GET /report, through HTTP against real PostgreSQL and the pipeline in moto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from prepkit.container import vapi_auth
from prepkit.domain.signatures import hmac_hex
from tests.fakes import secret_of
from tests.integration.conftest import Flow
from tests.integration.test_payments import snapshot

MakeFlow = Callable[..., Flow]
EVENTS = Path(__file__).resolve().parents[1] / "events"


def vapi_event(name: str, **values: str) -> bytes:
    text = (EVENTS / name).read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text.encode()


def end_of_call_report(call_id: str, sid: str, flow: Flow, *, good: bool = True) -> bytes:
    """The vendor-shaped sample, with a conversation over this session's questions."""
    body = json.loads(vapi_event("vapi_end_of_call_report.json", CALL_ID=call_id, SESSION_ID=sid))
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    messages = body["message"]["artifact"]["messages"]
    t = 5
    for q in session["questions"]:
        messages.append({"role": "bot", "message": q["text"], "time": 0, "secondsFromStart": t})
        answer = (
            "I would explain the core idea first, compare two approaches with their trade-offs, cost and latency, "
            "then pick one and describe how I would test and monitor it in production."
            if good
            else "No idea."
        )
        messages.append(
            {"role": "user", "message": answer, "time": 0, "secondsFromStart": t + 20, "duration": 60}
        )
        t += 200
    body["message"]["artifact"]["transcript"] = "\n".join(m["message"] for m in messages[1:])
    return json.dumps(body).encode()


def post_vapi(flow: Flow, body: bytes, headers: dict[str, str] | None = None) -> Any:
    signed = headers if headers is not None else vapi_auth(flow.settings).sign(body, int(time.time()))
    return flow.client.post(
        "/webhooks/vapi", content=body, headers={"content-type": "application/json", **signed}
    )


# -- start ----------------------------------------------------------------------------------------


def test_start_twice_returns_the_same_call(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow(autoplay=False)  # the simulated call stays "in progress" for this test
    sid = flow.setup()
    flow.pay(sid)
    first = flow.start(sid)
    again = flow.start(sid)
    assert first == again
    assert flow.voice.created == [first["callId"]]
    assert db.execute("SELECT count(*) FROM calls").fetchone() == (1,)
    assert flow.status(sid) == "in_call"


def test_start_is_for_the_owner_of_a_paid_session(make_flow: MakeFlow) -> None:
    flow = make_flow()
    sid = flow.setup()
    r = flow.client.post(f"/interviews/{sid}/start", headers=flow.headers("alice"))
    assert r.status_code == 409  # not paid yet
    assert r.json()["code"] == "INVALID_STATE"
    flow.pay(sid)
    r = flow.client.post(f"/interviews/{sid}/start", headers=flow.headers("mallory"))
    assert r.status_code == 404
    assert flow.voice.created == []


def test_the_assistant_is_built_on_the_server_from_the_session(make_flow: MakeFlow) -> None:
    from prepkit.adapters.vapi import build_web_call
    from prepkit.domain.models import CallPlan

    flow = make_flow()
    sid = flow.setup(pace="fast", language="hi-IN", duration=30, followUpStyle="challenging")
    assert flow.container.flow_repo is not None
    with flow.container.flow_repo.transaction() as tx:
        config, questions = tx.session_config(sid)
    call = build_web_call(
        CallPlan(sid, config, questions, config.duration * 60),
        server_url="https://api.example/webhooks/vapi",
        credential_id="cred_1",
        model_provider=flow.settings.vapi_model_provider,
        model=flow.settings.vapi_model,
    )
    assistant = call["assistant"]
    assert assistant["maxDurationSeconds"] == 1800
    assert assistant["startSpeakingPlan"]["waitSeconds"] == 0.3
    assert assistant["voice"]["speed"] > 1  # fast
    assert assistant["transcriber"]["language"] == "hi"
    assert assistant["voice"]["voiceId"].startswith("hi-IN-")  # the candidate hears Hindi
    assert assistant["model"]["model"] == "gemini-3.5-flash"
    assert call["assistantOverrides"]["metadata"] == {"sessionId": sid}
    prompt = assistant["model"]["messages"][0]["content"]
    assert all(q.text in prompt and q.expected_key_points[0] in prompt for q in questions)
    assert assistant["server"] == {
        "url": "https://api.example/webhooks/vapi",
        "timeoutSeconds": 20,
        "credentialId": "cred_1",
    }


def _same_call_id_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated Vapi answers every create with one call id: the second insert of that id is a
    real unique violation in PostgreSQL, after Vapi has created (and would bill) the call."""
    from types import SimpleNamespace

    from prepkit.local import call_simulator

    monkeypatch.setattr(call_simulator, "secrets", SimpleNamespace(token_hex=lambda _n: "0" * 16))


@pytest.mark.parametrize("end_fails", [False, True], ids=["ended", "end-failed"])
def test_a_call_created_but_not_stored_is_ended_never_orphaned(
    make_flow: MakeFlow,
    db: psycopg.Connection[Any],
    metrics: Any,
    monkeypatch: pytest.MonkeyPatch,
    end_fails: bool,
) -> None:
    flow = make_flow(autoplay=False)
    _same_call_id_every_time(monkeypatch)
    first = flow.setup()
    flow.pay(first)
    call_id = flow.start(first)["callId"]
    second = flow.setup()
    flow.pay(second)
    flow.voice.fail_end_call = end_fails
    r = flow.client.post(f"/interviews/{second}/start", headers=flow.headers("alice"))
    assert r.status_code >= 500
    assert set(r.json()) >= {"error", "code", "userMessage", "recoverable"}
    assert flow.voice.created == [call_id, call_id]
    assert flow.voice.end_requests == [call_id]  # the second call, created by Vapi, was ended at once
    assert metrics.total("CallAbandoned") == 1
    assert metrics.total("CallEndFailed") == (1 if end_fails else 0)
    assert flow.status(second) == "paid"  # nothing changed: the candidate can start again
    assert db.execute("SELECT session_id::text FROM calls").fetchall() == [(first,)]
    assert flow.status(first) == "in_call"


# -- the Vapi webhook -----------------------------------------------------------------------------


def _in_call(flow: Flow) -> tuple[str, str]:
    sid = flow.setup()
    flow.pay(sid)
    call_id: str = flow.start(sid)["callId"]
    for thread in flow.container.extras.get("threads", []):  # the checkout's webhooks land before a snapshot
        thread.join(5)
    return sid, call_id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-signature": "0" * 64, "x-timestamp": "1"},
        {"x-vapi-secret": "local-vapi-webhook-secret"},  # a secret header is not what this deployment uses
        {"authorization": "Bearer local-vapi-webhook-secret"},
    ],
    ids=["none", "bad-hmac", "wrong-scheme-header", "wrong-scheme-bearer"],
)
def test_bad_vapi_auth_is_401_and_writes_nothing(
    make_flow: MakeFlow, db: psycopg.Connection[Any], headers: dict[str, str]
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = _in_call(flow)
    r = post_vapi(flow, end_of_call_report(call_id, sid, flow), headers)
    assert r.status_code == 401
    assert r.json()["code"] == "INVALID_SIGNATURE"
    assert db.execute("SELECT status FROM calls WHERE call_id = %s", (call_id,)).fetchone() == ("created",)
    assert db.execute("SELECT count(*) FROM provider_events WHERE provider = 'vapi'").fetchone() == (0,)


def test_a_stale_hmac_timestamp_is_refused(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = _in_call(flow)
    body = end_of_call_report(call_id, sid, flow)
    stale = vapi_auth(flow.settings).sign(body, int(time.time()) - 3600)
    before = snapshot(db)
    assert post_vapi(flow, body, stale).status_code == 401
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("overrides", "headers"),
    [
        ({"vapi_webhook_auth": "secret_header"}, lambda s, _b: {"x-vapi-secret": s}),
        ({"vapi_webhook_auth": "bearer"}, lambda s, _b: {"Authorization": f"Bearer {s}"}),
        (
            {"vapi_webhook_auth": "hmac", "vapi_signature_header": "x-vapi-signature", "vapi_signature_prefix": "sha256=",
             "vapi_signed_payload": "body"},
            lambda s, b: {"x-vapi-signature": "sha256=" + hmac_hex(s, b)},
        ),
    ],
    ids=["secret-header", "bearer", "hmac-body-prefixed"],
)  # fmt: skip
def test_every_configured_vapi_scheme_is_accepted(
    make_flow: MakeFlow, overrides: dict[str, str], headers: Callable[[str, bytes], dict[str, str]]
) -> None:
    flow = make_flow(autoplay=False, **overrides)
    sid, call_id = _in_call(flow)
    body = end_of_call_report(call_id, sid, flow)
    secret = secret_of(flow.settings.vapi_webhook_secret)
    r = post_vapi(flow, body, headers(secret, body))
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "call end stored"
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"


def test_duplicate_and_reordered_vapi_messages_end_the_same(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(autoplay=False)
    sid, call_id = _in_call(flow)
    report = end_of_call_report(call_id, sid, flow)
    status = vapi_event("vapi_status_update.json", CALL_ID=call_id, SESSION_ID=sid)
    results = [post_vapi(flow, body).json()["result"] for body in (report, status, report, status, report)]
    assert results[0] == "call end stored"
    assert results[2] == results[4] == "call end duplicate"
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    row = db.execute(
        "SELECT status, ended_reason, cost_usd, duration_s, recording_url FROM calls WHERE call_id = %s",
        (call_id,),
    ).fetchone()
    assert row is not None
    assert row[0:2] == ("ended", "customer-ended-call")
    assert float(row[2]) == 1.6725
    assert float(row[3]) == 1110.0  # endedAt - startedAt
    assert row[4] == f"https://storage.vapi.ai/{call_id}-1795442700000-mono.wav"
    assert db.execute("SELECT count(*) FROM reports WHERE session_id = %s", (sid,)).fetchone() == (1,)


def test_unknown_and_informational_messages_are_acknowledged(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    before = snapshot(db)
    for message in (
        {"type": "transcript", "role": "user", "transcript": "hello", "call": {"id": "c1"}},
        {"type": "hang", "call": {"id": "c1"}},
        {"type": "speech-update", "status": "started", "call": {"id": "c1"}},
        {"type": "brand-new-type"},
        {"type": "end-of-call-report", "call": {"id": "not-our-call"}, "endedReason": "customer-ended-call"},
    ):
        r = post_vapi(flow, json.dumps({"message": message}).encode())
        assert r.status_code == 200, r.text
        assert r.json()["result"].endswith("ignored"), r.json()
    assert snapshot(db) == before  # acknowledged, and nothing about calls that are not ours is kept


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"message": "x"}'])
def test_malformed_vapi_bodies_are_a_400(
    make_flow: MakeFlow, db: psycopg.Connection[Any], body: bytes
) -> None:
    flow = make_flow(autoplay=False)
    _in_call(flow)
    before = snapshot(db)
    r = post_vapi(flow, body)
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert snapshot(db) == before


# -- the report -----------------------------------------------------------------------------------


def test_report_is_202_until_ready_then_200_for_the_owner_only(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(autoplay=False)
    sid = flow.setup()

    def report(user: str = "alice") -> Any:
        return flow.client.get(f"/interviews/{sid}/report", headers=flow.headers(user))

    r = report()
    assert r.status_code == 202
    assert r.json()["code"] == "TRANSCRIPT_MISSING"
    assert r.json()["details"] == {"state": "pending_payment"}
    flow.pay(sid)
    assert (report().status_code, report().json()["details"]) == (202, {"state": "paid"})
    call_id = flow.start(sid)["callId"]
    assert (report().status_code, report().json()["details"]) == (202, {"state": "in_call"})
    post_vapi(flow, end_of_call_report(call_id, sid, flow))
    flow.wait_for(sid, "completed")
    r = report()
    assert r.status_code == 200
    body = r.json()
    # the report as stored for this session, and no other
    row = db.execute(
        "SELECT source, prompt_version, content FROM reports WHERE session_id = %s", (sid,)
    ).fetchone()
    assert row is not None
    assert (body["sessionId"], body["source"], body["promptVersion"]) == (sid, row[0], row[1])
    assert body["report"] == row[2]
    # every rubric point of every question is either covered or listed as missing, never both
    rubric = dict(
        db.execute(
            "SELECT position, expected_key_points FROM interview_questions WHERE session_id = %s", (sid,)
        ).fetchall()
    )
    assert [a["position"] for a in body["report"]["perQuestion"]] == sorted(rubric)
    for analysis in body["report"]["perQuestion"]:
        points = rubric[analysis["position"]]
        missing = analysis["missingKeyPoints"]
        covered = [w.removeprefix("Covered: ") for w in analysis["whatWentWell"] if w.startswith("Covered: ")]
        assert sorted(missing + covered) == sorted(points), analysis
    assert any(a["missingKeyPoints"] for a in body["report"]["perQuestion"])  # a generic answer misses some
    # another user learns nothing: the same 404 as for a session that does not exist
    other = report("mallory")
    assert other.status_code == 404
    assert other.json()["code"] == "SESSION_NOT_FOUND"
    assert "perQuestion" not in other.text
    unknown = flow.client.get(
        "/interviews/00000000-0000-4000-8000-000000000000/report", headers=flow.headers("mallory")
    )
    assert (unknown.status_code, unknown.json()["userMessage"]) == (404, other.json()["userMessage"])


def test_report_reads_are_rate_limited(make_flow: MakeFlow) -> None:
    flow = make_flow()
    sid = flow.setup()
    codes = [
        flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).status_code
        for _ in range(11)
    ]
    assert codes == [202] * 10 + [429]
