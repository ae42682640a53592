"""The paid interview end to end: the real ASL executed by moto's Step Functions engine, Lambda tasks run
in this process, simulated Razorpay Checkout and Vapi calls posting signed webhooks, real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from google.genai import errors as genai_errors

from prepkit.adapters.gemini import GeminiCallSpec, GeminiReportWriter
from prepkit.domain.errors import ReportFailed
from prepkit.local import engine
from prepkit.pipeline.tasks import TaskHandler
from tests.fakes import RecordingMetrics
from tests.integration.conftest import Flow
from tests.integration.test_payments import snapshot

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
    assert flow.execution(sid)["status"] == "SUCCEEDED"
    assert flow.states(sid) == ["AwaitCandidate", "Expire", "AfterExpire", "Expired"]
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


# -- every task, repeated where the pipeline runs it ------------------------------------------------

#: what Lambda reports when it lost a task's answer (its own failure, not the task's): every Task
#: state's Retry names it. A class of that name, so that the engine reports it as Lambda would.
LambdaServiceException = type("Lambda.ServiceException", (Exception,), {})
CALLBACK_TASKS = ("await_candidate", "await_call_end")  # they park a task token: resumed from elsewhere


class _FailingWriter:
    """A report writer that cannot write: GenerateReport goes to FallbackReport."""

    def write(self, *_: Any, **__: Any) -> Any:
        raise ReportFailed("scripted: the model refused")


def _break_review(handler: TaskHandler) -> TaskHandler:
    def broken(event: dict[str, Any], context: Any) -> Any:
        if event.get("action") == "review_call":
            raise KeyError("a bug in ReviewCall")
        return handler(event, context)

    return broken


def _start_again_when_parked(flow: Flow, sid: str, db: psycopg.Connection[Any]) -> None:
    """The candidate starts, the call cannot be assessed, and starts again once the pipeline waits."""
    flow.start(sid)
    deadline = time.monotonic() + 30
    parked = ("paid", "await_candidate")
    while (
        db.execute("SELECT status, pipeline_step FROM interview_sessions WHERE id = %s", (sid,)).fetchone()
        != parked
    ):
        assert time.monotonic() < deadline, "the retake is never awaited"
        time.sleep(0.05)
    flow.start(sid)


@dataclass(frozen=True)
class Scenario:
    options: dict[str, Any]
    drive: Callable[[Flow, str, psycopg.Connection[Any]], Any]  # what the candidate does once paid
    actions: frozenset[str]  # the tasks it runs to the end
    path: tuple[str, ...]  # the states the execution goes through, retried or not
    final: str
    refunded: bool
    reports: int
    inner: Callable[[TaskHandler], TaskHandler] | None = None  # a fault under the repetition


_CALL = ("AwaitCandidate", "AwaitCallEnd", "ReviewCall", "Verdict")

SCENARIOS = {
    "report": Scenario(
        {},
        lambda f, s, _: f.start(s),
        frozenset({"await_candidate", "await_call_end", "review_call", "generate_report", "complete"}),
        (*_CALL, "GenerateReport", "Complete"),
        "completed",
        refunded=False,
        reports=1,
    ),
    "fallback report": Scenario(
        {"report_writer": _FailingWriter()},
        lambda f, s, _: f.start(s),
        frozenset({"review_call", "fallback_report", "complete"}),
        (*_CALL, "GenerateReport", "FallbackReport", "Complete"),
        "completed",
        refunded=False,
        reports=1,
    ),
    "lost call end reconciled": Scenario(
        {"drop_end_report": True, "call_end_timeout_s": 2},
        lambda f, s, _: f.start(s),
        frozenset({"await_call_end", "reconcile", "review_call", "generate_report", "complete"}),
        ("AwaitCandidate", "AwaitCallEnd", "Reconcile", *_CALL[2:], "GenerateReport", "Complete"),
        "completed",
        refunded=False,
        reports=1,
    ),
    "expired": Scenario(
        {"start_window_s": 1},
        lambda *_: None,
        frozenset({"await_candidate", "expire"}),
        ("AwaitCandidate", "Expire", "AfterExpire", "Expired"),
        "refunded",
        refunded=True,
        reports=0,
    ),
    "retake then refund": Scenario(
        {"script": "broken"},
        _start_again_when_parked,
        frozenset({"await_candidate", "await_call_end", "review_call", "refund"}),
        (*_CALL, *_CALL, "RefundCall"),
        "refunded",
        refunded=True,
        reports=0,
    ),
    "task failure": Scenario(
        {},
        lambda f, s, _: f.start(s),
        frozenset({"await_candidate", "await_call_end", "mark_failed"}),
        ("AwaitCandidate", "AwaitCallEnd", "ReviewCall", "MarkFailed", "Failed"),
        "refunded",
        refunded=True,
        reports=0,
        inner=_break_review,
    ),
}

#: what a repeated task must not do a second time (the metrics the money alarms read)
MONEY_METRICS = ("Refunded", "InterviewCompleted", "ReportFallback", "CallReconciled", "ExtraPaymentRefunded")


def _effects(flow: Flow, metrics: RecordingMetrics, database_url: str) -> tuple[Any, ...]:
    """Everything a task may change: the rows, the provider calls, the money metrics."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = snapshot(conn)
    counted = tuple(metrics.total(m) for m in MONEY_METRICS)
    return rows, flow.payments.refund_calls, len(flow.voice.created), counted


def _run_scenario(
    make_flow: MakeFlow,
    db: psycopg.Connection[Any],
    scenario: Scenario,
    repeat: Callable[[TaskHandler], TaskHandler],
    box: dict[str, Flow],
) -> tuple[Flow, str]:
    def wrap(handler: TaskHandler) -> TaskHandler:
        return repeat(scenario.inner(handler) if scenario.inner else handler)

    flow = make_flow(wrap_tasks=wrap, **scenario.options)
    box["flow"] = flow
    sid = flow.setup()
    flow.pay(sid)
    scenario.drive(flow, sid, db)
    assert flow.wait_for(sid, "completed", "refunded", timeout_s=60) == scenario.final
    execution = flow.execution(sid, timeout_s=30)
    assert execution["status"] == ("FAILED" if scenario.inner else "SUCCEEDED")
    # one report at most, one refund at most (one call to Razorpay), nothing counted twice
    reports = db.execute("SELECT count(*) FROM reports WHERE session_id = %s", (sid,)).fetchone()
    assert reports == (scenario.reports,)
    refunds = db.execute("SELECT status FROM refunds WHERE session_id = %s", (sid,)).fetchall()
    assert refunds == ([("processed",)] if scenario.refunded else [])
    assert flow.payments.refund_calls == int(scenario.refunded)
    assert tuple(flow.states(sid)) == scenario.path  # every repeat decided as the first run did
    return flow, sid


def _no_decision(_: Any) -> None:
    return None


#: the tasks whose answer the ASL branches on, and what it branches on
DECISION: dict[str, Callable[[Any], Any]] = {
    "review_call": lambda verdict: verdict,
    "expire": lambda outcome: outcome == "call started",
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_task_is_idempotent_when_run_twice(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, stack: Any, name: str
) -> None:
    """Each task runs twice, back to back, where the pipeline runs it, and the pipeline goes on with the
    second answer (as after a lost response): the second run changes nothing and decides the same."""
    scenario = SCENARIOS[name]
    box: dict[str, Flow] = {}
    ran: list[str] = []
    changed: list[tuple[str, Any, Any]] = []

    def repeat(handler: TaskHandler) -> TaskHandler:
        def twice(event: dict[str, Any], context: Any) -> Any:
            action = str(event.get("action"))
            first = handler(event, context)
            before = _effects(box["flow"], metrics, stack.database_url)
            second = handler(event, context)
            after = _effects(box["flow"], metrics, stack.database_url)
            ran.append(action)  # both runs answered (a task that raises is not repeated here)
            decide: Callable[[Any], Any] = DECISION.get(action, _no_decision)
            # a callback task's token may be taken by /start or a webhook between the runs: that is theirs
            if action not in CALLBACK_TASKS and (before != after or decide(first) != decide(second)):
                changed.append((action, (first, before), (second, after)))
            return second

        return twice

    _run_scenario(make_flow, db, scenario, repeat, box)
    assert scenario.actions <= set(ran), ran
    assert changed == []


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_task_retried_by_step_functions_has_no_double_effect(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, name: str
) -> None:
    """Every task does its work, then fails as if Lambda lost its response: Step Functions' Retry runs
    it again (a callback task with a new token). The interview ends as it would have, effects once."""
    scenario = SCENARIOS[name]
    failed_once: list[str] = []
    runs: list[str] = []

    def repeat(handler: TaskHandler) -> TaskHandler:
        def lossy(event: dict[str, Any], context: Any) -> Any:
            action = str(event.get("action"))
            result = handler(event, context)
            runs.append(action)
            if action not in failed_once:
                failed_once.append(action)
                raise LambdaServiceException("the response was lost after the work was done")
            return result

        return lossy

    _run_scenario(make_flow, db, scenario, repeat, {})
    for action in scenario.actions:  # each did its work, lost its answer, and was run again
        assert runs.count(action) >= 2, (action, runs)
    assert metrics.total("Refunded") == int(scenario.refunded)
    assert metrics.total("InterviewCompleted") == int(scenario.final == "completed")


# --- one call, one attempt -----------------------------------------------------------------------


def _post_report(flow: Flow, call_id: str, sid: str, *, good: bool) -> str:
    import time

    from prepkit.container import vapi_auth
    from tests.integration.test_calls_and_reports import end_of_call_report

    body = end_of_call_report(call_id, sid, flow, good=good)
    r = flow.client.post(
        "/webhooks/vapi",
        content=body,
        headers={"content-type": "application/json", **vapi_auth(flow.settings).sign(body, int(time.time()))},
    )
    assert r.status_code == 200, r.text
    result: str = r.json()["result"]
    return result


def _pipeline_step(db: psycopg.Connection[Any], sid: str) -> tuple[Any, ...] | None:
    return db.execute(
        "SELECT status, pipeline_step, pipeline_token IS NOT NULL FROM interview_sessions WHERE id = %s",
        (sid,),
    ).fetchone()


def _wait_for_step(db: psycopg.Connection[Any], sid: str, step: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while (_pipeline_step(db, sid) or (None, None))[1] != step:
        assert time.monotonic() < deadline, _pipeline_step(db, sid)
        time.sleep(0.05)


def test_a_late_report_of_an_earlier_attempt_does_not_end_the_current_call(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(autoplay=False)
    sid = flow.setup()
    flow.pay(sid)
    first = flow.start(sid)["callId"]
    assert _post_report(flow, first, sid, good=False) == "call end stored"  # too little said: a retake
    assert flow.wait_for(sid, "paid") == "paid"
    _wait_for_step(db, sid, "await_candidate")
    second = flow.start(sid)["callId"]
    _wait_for_step(db, sid, "await_call_end")

    # the first call's report again (Vapi's duplicate, or a late one): stored, and it resumes nothing
    assert _post_report(flow, first, sid, good=True) == "call end duplicate"
    assert _pipeline_step(db, sid) == ("in_call", "await_call_end", True)
    assert db.execute("SELECT status FROM calls WHERE call_id = %s", (second,)).fetchone() == ("created",)

    assert _post_report(flow, second, sid, good=True) == "call end stored"
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert db.execute("SELECT retakes_used FROM interview_sessions WHERE id = %s", (sid,)).fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM refunds WHERE session_id = %s", (sid,)).fetchone() == (0,)
    assert flow.states(sid).count("AwaitCallEnd") == 2


def test_a_start_just_before_the_expiry_goes_on_and_nothing_is_refunded(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """Deterministic race: the candidate's /start lands while AwaitCandidate has already timed out and
    the Expire task is about to run. Both take the session's lock: the call started, so it goes on."""
    holder: dict[str, Any] = {}

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def racing(event: dict[str, Any], context: Any) -> Any:
            if event.get("action") == "expire" and "start" not in holder:
                holder["start"] = holder["flow"].client.post(
                    f"/interviews/{event['sessionId']}/start", headers=holder["flow"].headers("alice")
                )
            return handler(event, context)

        return racing

    flow = make_flow(start_window_s=1, wrap_tasks=wrap)
    holder["flow"] = flow
    sid = flow.setup()
    flow.pay(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed", timeout_s=30) == "completed"
    assert holder["start"].status_code == 200, holder["start"].text
    assert flow.execution(sid)["status"] == "SUCCEEDED"
    states = flow.states(sid)
    assert states[:4] == ["AwaitCandidate", "Expire", "AfterExpire", "AwaitCallEnd"]
    assert states[-1] == "Complete"
    assert db.execute("SELECT count(*) FROM refunds WHERE session_id = %s", (sid,)).fetchone() == (0,)
    assert flow.payments.refund_calls == 0


def test_a_start_just_after_the_expiry_is_refused_and_creates_no_call(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    holder: dict[str, Any] = {}

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def racing(event: dict[str, Any], context: Any) -> Any:
            result = handler(event, context)
            if event.get("action") == "expire" and "start" not in holder:
                holder["start"] = holder["flow"].client.post(
                    f"/interviews/{event['sessionId']}/start", headers=holder["flow"].headers("alice")
                )
            return result

        return racing

    flow = make_flow(start_window_s=1, wrap_tasks=wrap)
    holder["flow"] = flow
    sid = flow.setup()
    flow.pay(sid)
    assert flow.wait_for(sid, "refunded", "completed", "failed", timeout_s=30) == "refunded"
    assert holder["start"].status_code == 409
    assert flow.voice.created == []
    assert db.execute("SELECT count(*) FROM calls WHERE session_id = %s", (sid,)).fetchone() == (0,)
    assert flow.payments.refund_calls == 1
    assert flow.execution(sid)["status"] == "SUCCEEDED"
    assert flow.states(sid) == ["AwaitCandidate", "Expire", "AfterExpire", "Expired"]


def test_a_retried_review_never_judges_the_retake_that_started_meanwhile(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """ReviewCall says "retake" but its answer is lost; before Step Functions retries it, the candidate
    starts the free retake. The retried review must not judge that live call (it would find nothing said
    and refund a candidate who is talking): the verdict stands and the pipeline waits for the new call."""
    holder: dict[str, Any] = {}

    def wrap(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def lossy(event: dict[str, Any], context: Any) -> Any:
            result = handler(event, context)
            if event.get("action") == "review_call" and "second" not in holder:
                flow = holder["flow"]
                holder["second"] = flow.start(event["sessionId"])["callId"]  # the retake starts
                raise LambdaServiceException("the response was lost after the work was done")
            return result

        return lossy

    flow = make_flow(autoplay=False, wrap_tasks=wrap)
    holder["flow"] = flow
    sid = flow.setup()
    flow.pay(sid)
    first = flow.start(sid)["callId"]
    assert _post_report(flow, first, sid, good=False) == "call end stored"  # too little said: a retake
    _wait_for_step(db, sid, "await_call_end")  # the retake's call (the first one's token was cleared)
    second = holder["second"]
    assert _pipeline_step(db, sid) == ("in_call", "await_call_end", True)
    assert db.execute("SELECT count(*) FROM refunds WHERE session_id = %s", (sid,)).fetchone() == (0,)

    assert _post_report(flow, second, sid, good=True) == "call end stored"
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert flow.payments.refund_calls == 0
    assert flow.states(sid).count("ReviewCall") == 2  # the retried review, then the retake's
