"""The paid interview end to end: the real ASL executed by moto's Step Functions engine, Lambda tasks run
in this process, simulated Razorpay Checkout and Vapi calls posting signed webhooks, real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from google.genai import errors as genai_errors

from prepkit.adapters.gemini import GeminiCallSpec, GeminiReportWriter
from prepkit.domain.errors import PaymentFailed
from prepkit.local import engine
from prepkit.pipeline.tasks import run_task
from tests.fakes import RecordingMetrics
from tests.integration.conftest import Flow

MakeFlow = Callable[..., Flow]


def test_happy_path_paid_call_report(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    calls_before = len(engine.INVOCATIONS)
    flow = make_flow()
    sid = flow.setup()
    order = flow.order(sid)
    assert flow.payments.orders[order["orderId"]]["amount"] == 14900  # the server's price, not the client's
    paid = flow.checkout(order["orderId"])
    r = flow.client.post("/payments/verify", json=paid, headers=flow.headers("alice"))
    assert r.json() == {"sessionId": sid, "status": "paid", "paymentStatus": "captured"}  # fetched: captured
    call = flow.start(sid)
    assert call["status"] == "initiated"
    assert call["callId"].startswith("sim-")
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"

    execution = flow.execution(sid)
    assert execution["status"] == "SUCCEEDED"
    assert flow.states(sid) == [
        "AwaitCandidate",
        "AwaitCallEnd",
        "ReviewCall",
        "Verdict",
        "GenerateReport",
        "Complete",
    ]
    # the in-process Lambda hook ran every task: if moto stops calling it, this fails loudly
    assert len(engine.INVOCATIONS) - calls_before >= 5

    report = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice"))
    assert report.status_code == 200
    body = report.json()
    assert body["source"] == "fallback"
    assert body["promptVersion"] == "fallback-scorer-v1"
    content = body["report"]
    assert content["overallScore"] >= 70
    assert len(content["perQuestion"]) == 4
    for q in content["perQuestion"]:
        assert q["evidenceStatus"] == "assessed"
        assert q["transcriptQuotes"]
    assert set(content["breakdown"]) == {
        "technicalDepth", "communication", "problemSolving", "tradeOffAnalysis", "timeManagement"
    }  # fmt: skip

    row = db.execute(
        "SELECT s.status, s.paid_at IS NOT NULL, s.started_at IS NOT NULL, s.completed_at IS NOT NULL,"
        " p.status, o.status, c.status, c.ended_reason, c.duration_s > 60, jsonb_array_length(c.messages) > 4,"
        " c.recording_url IS NOT NULL, c.cost_usd > 0, r.source"
        " FROM interview_sessions s JOIN payments p ON p.session_id = s.id JOIN payment_orders o ON o.session_id = s.id"
        " JOIN calls c ON c.session_id = s.id JOIN reports r ON r.session_id = s.id WHERE s.id = %s",
        (sid,),
    ).fetchone()
    assert row == (
        "completed", True, True, True, "captured", "paid", "ended", "assistant-ended-call", True, True, True, True,
        "fallback",
    )  # fmt: skip
    events = db.execute(
        "SELECT provider, event_type FROM provider_events ORDER BY provider, event_type"
    ).fetchall()
    assert events == [  # automatic capture: Razorpay sends both
        ("razorpay", "payment.authorized"),
        ("razorpay", "payment.captured"),
        ("vapi", "end-of-call-report"),
    ]
    assert metrics.total("InterviewCompleted") == 1
    assert all(code == 200 for _, code in flow.deliveries)


def test_a_weak_candidate_gets_a_low_score(make_flow: MakeFlow) -> None:
    flow = make_flow(script="weak")
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    content = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()["report"]
    assert content["overallScore"] <= 30


def test_a_broken_call_gets_one_free_retake_then_a_refund(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow(script="broken")
    sid = flow.setup()
    flow.pay(sid)
    first = flow.start(sid)
    assert flow.wait_for(sid, "paid") == "paid"  # back to paid: the retake
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "CALL_FAILED"
    assert session["error"]["recoverable"] is True
    second = flow.start(sid)
    assert second["callId"] != first["callId"]
    assert flow.wait_for(sid, "refunded", "completed", "failed") == "refunded"
    assert flow.execution(sid)["status"] == "SUCCEEDED"
    assert flow.states(sid).count("AwaitCandidate") == 2
    assert flow.states(sid)[-1] == "RefundCall"
    refunds = db.execute(
        "SELECT idempotency_key, status, amount_paise FROM refunds WHERE session_id = %s", (sid,)
    ).fetchall()
    assert refunds == [(f"refund-{sid}", "processed", 14900)]
    assert flow.payments.refund_calls == 1
    assert db.execute(
        "SELECT count(*), max(attempt) FROM calls WHERE session_id = %s", (sid,)
    ).fetchone() == (2, 2)
    report = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice"))
    assert report.status_code == 409


def test_a_silent_candidate_is_retaken_then_refunded(make_flow: MakeFlow) -> None:
    flow = make_flow(script="silent")
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    flow.wait_for(sid, "paid")
    flow.start(sid)
    assert flow.wait_for(sid, "refunded", "completed") == "refunded"


def test_no_start_within_the_window_expires_and_refunds(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(start_window_s=2)
    sid = flow.setup()
    flow.pay(sid)
    assert flow.wait_for(sid, "refunded", timeout_s=20) == "refunded"
    assert flow.states(sid) == ["AwaitCandidate", "Expire"]
    assert flow.execution(sid)["status"] == "SUCCEEDED"
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "EXPIRED"
    assert db.execute("SELECT status FROM refunds WHERE session_id = %s", (sid,)).fetchone() == ("processed",)
    # starting now is refused: the money went back
    assert flow.client.post(f"/interviews/{sid}/start", headers=flow.headers("alice")).status_code == 409


def test_a_lost_end_of_call_report_is_reconciled(make_flow: MakeFlow, metrics: RecordingMetrics) -> None:
    flow = make_flow(drop_end_report=True, call_end_timeout_s=2)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed", timeout_s=30) == "completed"
    assert "Reconcile" in flow.states(sid)
    assert metrics.total("CallReconciled") == 1


def test_the_call_ending_before_await_call_end_stores_its_token(make_flow: MakeFlow) -> None:
    flow = make_flow(call_delay_s=0)  # the simulated call ends at once, racing the pipeline's next task
    for _ in range(3):
        sid = flow.setup()
        flow.pay(sid)
        flow.start(sid)
        assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"


def _writer() -> GeminiReportWriter:
    """The real Gemini adapter, offline: a fake key, and generate_content replaced by each test."""
    return GeminiReportWriter(
        "fake-key",
        GeminiCallSpec(
            model="gemini-3.5-flash",
            input_usd_per_mtok=1.5,
            output_usd_per_mtok=9.0,
            deadline_s=5,
            max_output_tokens=16_384,
        ),
    )


def _gemini_writer(failures: list[BaseException], calls: list[int]) -> GeminiReportWriter:
    writer = _writer()

    def generate_content(**_: Any) -> Any:
        calls.append(1)
        raise failures[min(len(calls), len(failures)) - 1]

    writer._client.get().models.generate_content = generate_content  # type: ignore[method-assign]
    return writer


def test_gemini_failures_are_retried_then_the_fallback_report_is_used(
    make_flow: MakeFlow, metrics: RecordingMetrics
) -> None:
    calls: list[int] = []
    failures: list[BaseException] = [
        genai_errors.ClientError(
            429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}
        ),
        genai_errors.ServerError(500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}),
        TimeoutError("read timed out"),
    ]
    flow = make_flow(report_writer=_gemini_writer(failures, calls))
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "failed", timeout_s=40) == "completed"
    assert len(calls) == 3  # the first try and two retries (ASL Retry on ReportTransient)
    assert flow.states(sid)[-3:] == ["GenerateReport", "FallbackReport", "Complete"]
    report = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()
    assert report["source"] == "fallback"
    assert metrics.total("ReportFallback") == 1


def test_invalid_gemini_json_goes_to_the_fallback_without_a_score_invented(make_flow: MakeFlow) -> None:
    calls: list[int] = []
    writer = _writer()

    class Invalid:
        parsed = None
        text = '{"overallScore": "excellent"'

    def generate_content(**_: Any) -> Any:
        calls.append(1)
        return Invalid()

    writer._client.get().models.generate_content = generate_content  # type: ignore[method-assign]
    flow = make_flow(report_writer=writer)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "failed", timeout_s=40) == "completed"
    assert len(calls) == 3
    assert (
        flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()["source"]
        == "fallback"
    )


def test_a_gemini_report_is_stored_with_model_usage_and_cost(make_flow: MakeFlow) -> None:
    from types import SimpleNamespace

    from prepkit.domain.report import Breakdown, Evidence, QuestionAnalysis, ReportContent

    writer = _writer()
    state: dict[str, Any] = {}

    def generate_content(**kwargs: Any) -> Any:
        prompt: str = kwargs["contents"]
        quote = prompt.split("Candidate: ", 1)[1].split(".", 1)[0]  # a sentence the candidate really said
        state["quote"] = quote
        content = ReportContent(
            overall_score=81,
            evidence_status=Evidence.ASSESSED,
            breakdown=Breakdown(
                technical_depth=80,
                communication=85,
                problem_solving=78,
                trade_off_analysis=70,
                time_management=90,
            ),
            summary="Solid answers.",
            per_question=[
                QuestionAnalysis(
                    position=1,
                    question="q1",
                    evidence_status=Evidence.ASSESSED,
                    score=80,
                    transcript_quotes=[quote],
                ),
                QuestionAnalysis(
                    position=2,
                    question="q2",
                    evidence_status=Evidence.ASSESSED,
                    score=90,
                    transcript_quotes=["I never said this"],
                ),
            ],
        )
        usage = SimpleNamespace(
            prompt_token_count=12000, candidates_token_count=1500, thoughts_token_count=500
        )
        return SimpleNamespace(parsed=content, text=None, usage_metadata=usage)

    writer._client.get().models.generate_content = generate_content  # type: ignore[method-assign]
    flow = make_flow(report_writer=writer)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "failed") == "completed"
    body = flow.client.get(f"/interviews/{sid}/report", headers=flow.headers("alice")).json()
    assert body["source"] == "ai"
    assert body["model"] == "gemini-3.5-flash"
    assert body["usage"] == {
        "inputTokens": 12000,
        "outputTokens": 2000,
        "costUsd": round((12000 * 1.5 + 2000 * 9.0) / 1e6, 6),
    }
    first, second = body["report"]["perQuestion"]
    assert first["transcriptQuotes"] == [state["quote"]]
    # a quote the candidate never said is dropped, and the judgement it carried is not kept
    assert second["transcriptQuotes"] == []
    assert second["evidenceStatus"] == "not_enough_evidence"
    assert second["score"] is None


def test_a_task_retried_by_step_functions_has_no_double_effect(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """The refund task does its work, then fails as if Lambda lost the response: Step Functions retries it."""
    failed_once: set[str] = set()

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def flaky(event: dict[str, Any], context: Any) -> Any:
            result = handler(event, context)
            if event.get("action") in ("expire", "complete") and event["action"] not in failed_once:
                failed_once.add(event["action"])
                raise PaymentFailed("response lost after the work was done")
            return result

        return flaky

    flow = make_flow(start_window_s=1, wrap_tasks=wrap)
    sid = flow.setup()
    flow.pay(sid)
    assert flow.wait_for(sid, "refunded", timeout_s=20) == "refunded"
    assert flow.execution(sid, timeout_s=20)["status"] == "SUCCEEDED"
    assert flow.payments.refund_calls == 1
    assert db.execute("SELECT count(*) FROM refunds WHERE session_id = %s", (sid,)).fetchone() == (1,)
    assert "expire" in failed_once


def test_every_task_is_idempotent_when_run_twice(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    flow.wait_for(sid, "completed")
    flow_service = flow.container.flow
    for action in ("review_call", "generate_report", "fallback_report", "complete", "reconcile"):
        first = run_task(flow_service, {"action": action, "sessionId": sid})
        second = run_task(flow_service, {"action": action, "sessionId": sid})
        assert first == second, action
    assert db.execute(
        "SELECT count(*), min(source) FROM reports WHERE session_id = %s", (sid,)
    ).fetchone() == (1, "fallback")
    assert flow.status(sid) == "completed"


def test_an_unexpected_task_failure_is_caught_marked_failed_and_refunded(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    """The catch-all: no execution may end with the session stuck in a non-final status."""

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def broken(event: dict[str, Any], context: Any) -> Any:
            if event.get("action") == "review_call":
                raise KeyError("a bug in ReviewCall")
            return handler(event, context)

        return broken

    flow = make_flow(wrap_tasks=wrap)
    sid = flow.setup()
    flow.pay(sid)
    flow.start(sid)
    assert flow.wait_for(sid, "refunded", "completed", timeout_s=30) == "refunded"
    execution = flow.execution(sid)
    assert execution["status"] == "FAILED"
    assert flow.states(sid)[-2:] == ["MarkFailed", "Failed"]
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "PIPELINE_FAILED"
    assert db.execute("SELECT status FROM refunds WHERE session_id = %s", (sid,)).fetchone() == ("processed",)
    assert metrics.total("PipelineFailed", error="KeyError") == 1


def test_a_call_report_that_arrives_before_await_call_end_stores_its_token(make_flow: MakeFlow) -> None:
    """Deterministic race: AwaitCallEnd's Lambda is slow; the end-of-call-report comes first."""
    import time

    from prepkit.container import vapi_auth
    from tests.integration.test_calls_and_reports import end_of_call_report

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def slow(event: dict[str, Any], context: Any) -> Any:
            if event.get("action") == "await_call_end":
                time.sleep(1.0)
            return handler(event, context)

        return slow

    flow = make_flow(wrap_tasks=wrap, autoplay=False)
    sid = flow.setup()
    flow.pay(sid)
    call_id = flow.start(sid)["callId"]
    body = end_of_call_report(call_id, sid, flow)
    r = flow.client.post(
        "/webhooks/vapi",
        content=body,
        headers={"content-type": "application/json", **vapi_auth(flow.settings).sign(body, int(time.time()))},
    )
    assert r.json()["result"] == "call end stored"
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert flow.states(sid)[:3] == ["AwaitCandidate", "AwaitCallEnd", "ReviewCall"]
