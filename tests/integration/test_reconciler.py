"""The reconciler, on the real stack: every paid session whose pipeline is not running (never started,
aborted, failed) is driven to a report or a refund, under the session's lock, idempotently."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from prepkit.adapters import aws
from prepkit.local import engine
from prepkit.ports import ExecutionStatus, Workflow
from tests.fakes import RecordingMetrics
from tests.integration.conftest import Flow

MakeFlow = Callable[..., Flow]
FAST = 0.002  # the ASL's ~6 minutes of retries in under a second


class FlakyWorkflow:
    """The real Step Functions adapter, whose StartExecution is throttled while `failing` is set."""

    def __init__(self, inner: Workflow):
        self.inner = inner
        self.failing = False
        self.started: list[str] = []

    def start(self, name: str, payload: dict[str, object]) -> bool:
        if self.failing:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution"
            )
        self.started.append(name)
        return self.inner.start(name, payload)

    def status(self, name: str) -> ExecutionStatus | None:
        return self.inner.status(name)

    def resume(self, task_token: str, output: dict[str, object]) -> bool:
        return self.inner.resume(task_token, output)


def flaky_flow(make_flow: MakeFlow, **kwargs: Any) -> tuple[Flow, FlakyWorkflow]:
    holder: list[FlakyWorkflow] = []

    def wrap(inner: Workflow) -> Workflow:
        holder.append(FlakyWorkflow(inner))
        return holder[0]

    flow = make_flow(wrap_workflow=wrap, **kwargs)
    return flow, holder[0]


def execution_arn(flow: Flow, name: str) -> str:
    return flow.settings.pipeline_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def describe(flow: Flow, name: str) -> dict[str, Any]:
    described: dict[str, Any] = aws.client("stepfunctions", flow.settings).describe_execution(
        executionArn=execution_arn(flow, name)
    )
    return described


def kill(flow: Flow, db: psycopg.Connection[Any], sid: str, name: str | None = None) -> None:
    """The execution ends without a final session state, as when a task's transient failures outlast
    every retry: each wait's token is failed with TaskTransient until Retry gives up and MarkFailed
    leaves the session to the reconciler. (moto's StopExecution does not stop a task waiting for a
    token, so a test cannot simply abort it.)"""
    sfn = aws.client("stepfunctions", flow.settings)
    name = name or sid
    deadline = time.monotonic() + 20
    while describe(flow, name)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still runs"
        row = db.execute("SELECT pipeline_token FROM interview_sessions WHERE id = %s", (sid,)).fetchone()
        if row is not None and row[0]:
            try:
                sfn.send_task_failure(taskToken=row[0], error="TaskTransient", cause="the test's outage")
            except ClientError:
                pass  # that token's task had already failed: the retry has not stored its own yet
        time.sleep(0.01)
    assert describe(flow, name)["status"] == "FAILED"
    assert flow.states(sid if name == sid else name)[-2:] == ["MarkFailed", "Failed"]


def wait_for_token(db: psycopg.Connection[Any], sid: str, step: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = db.execute("SELECT pipeline_step FROM interview_sessions WHERE id = %s", (sid,)).fetchone()
        if row == (step,):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {step} token for {sid}")


def restarts(db: psycopg.Connection[Any], sid: str) -> int:
    row = db.execute("SELECT pipeline_restarts FROM interview_sessions WHERE id = %s", (sid,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_paid_session_whose_pipeline_never_started_is_started(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow, workflow = flaky_flow(make_flow)
    sid = flow.setup()
    workflow.failing = True
    flow.pay(sid)  # verify answers paid; the pipeline start failed (and so did the webhook's)
    assert flow.status(sid) == "paid"
    assert metrics.total("PipelineStartFailed") >= 1
    assert workflow.started == []
    workflow.failing = False

    assert flow.container.flow.reconcile_all() == {"start": 1}
    assert workflow.started == [sid]  # the session's own name: it never had an execution
    assert describe(flow, sid)["status"] == "RUNNING"
    assert metrics.total("ReconcilerActed", action="start") == 1
    wait_for_token(db, sid, "await_candidate")  # the execution's first task holds no lock on the session now
    assert flow.container.flow.reconcile_all() == {"none": 1}  # running: nothing more to do
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert flow.container.flow.reconcile_all() == {}  # final sessions are not looked at


def test_an_ended_execution_is_replaced_by_a_new_one_with_a_derived_name(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow(pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    flow.start(sid)  # the call runs and ends; no pipeline awaits it
    flow.voice.wait()
    assert flow.status(sid) == "in_call"

    assert flow.container.flow.reconcile_all() == {"restart": 1}
    assert restarts(db, sid) == 1
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert describe(flow, f"{sid}-r1")["status"] == "SUCCEEDED"
    assert describe(flow, sid)["status"] == "FAILED"
    assert metrics.total("ReconcilerActed", action="restart") == 1
    assert db.execute("SELECT count(*) FROM refunds WHERE session_id = %s", (sid,)).fetchone() == (0,)


def test_a_refused_start_of_an_ended_execution_is_not_taken_for_a_running_pipeline(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """The execution was started, then died, and the mark that it started was lost (the database failed
    right after StartExecution): /start's ensure_pipeline is refused the name, sees the execution has
    ended, and gives the session a new one at once."""
    flow = make_flow(pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    db.execute("UPDATE interview_sessions SET pipeline_started_at = NULL WHERE id = %s", (sid,))
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"
    assert restarts(db, sid) == 1
    assert describe(flow, f"{sid}-r1")["status"] == "SUCCEEDED"


def test_paid_without_a_pipeline_past_the_start_window_is_refunded(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow, workflow = flaky_flow(make_flow, start_window_s=1)
    sid = flow.setup()
    workflow.failing = True
    flow.pay(sid)
    time.sleep(1.2)
    assert flow.container.flow.reconcile_all() == {"expire": 1}
    assert flow.status(sid) == "refunded"
    assert db.execute("SELECT status FROM refunds WHERE session_id = %s", (sid,)).fetchall() == [
        ("processed",)
    ]
    assert workflow.started == []  # no execution was needed to refund it
    assert metrics.total("ReconcilerActed", action="expire") == 1
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "EXPIRED"
    assert flow.container.flow.reconcile_all() == {}


def test_after_too_many_restarts_the_session_is_failed_and_refunded_its_live_call_ended_first(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow(autoplay=False, pipeline_max_restarts=1, pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    call_id = flow.start(sid)["callId"]
    wait_for_token(db, sid, "await_call_end")
    kill(flow, db, sid)
    assert flow.container.flow.reconcile_all() == {"restart": 1}
    wait_for_token(db, sid, "await_call_end")  # the new execution waits for the same live call
    kill(flow, db, sid, f"{sid}-r1")
    assert flow.voice.end_requests == []
    assert flow.container.flow.reconcile_all() == {"give_up": 1}
    assert flow.voice.end_requests == [call_id]  # no refund while the call runs
    assert flow.status(sid) == "refunded"
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "PIPELINE_FAILED"
    assert flow.payments.refund_calls == 1
    assert metrics.total("ReconcilerActed", action="give_up") == 1


def test_a_session_failed_and_left_unrefunded_is_refunded(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    db.execute(
        "UPDATE interview_sessions SET status = 'failed' WHERE id = %s", (sid,)
    )  # the refund never ran
    assert flow.container.flow.reconcile_all() == {"refund": 1}
    assert flow.status(sid) == "refunded"
    assert flow.container.flow.reconcile_all() == {}
    assert flow.payments.refund_calls == 1


def test_two_reconcilers_at_once_start_one_new_execution(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(flow.container.flow.reconcile_session(sid))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == ["none", "none", "none", "restart"]
    assert restarts(db, sid) == 1
    sfn = aws.client("stepfunctions", flow.settings)
    names = [
        e["name"]
        for e in sfn.list_executions(stateMachineArn=flow.settings.pipeline_state_machine_arn)["executions"]
        if e["name"].startswith(sid)
    ]
    assert sorted(names) == [sid, f"{sid}-r1"]
    flow.start(sid)
    assert flow.wait_for(sid, "completed", "refunded", "failed") == "completed"


def test_the_scheduled_action_runs_the_reconciler(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    from prepkit.pipeline.entry import make_pipeline_handler

    flow = make_flow(pipeline_retry_scale=FAST)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    handler = make_pipeline_handler(flow.container)
    assert handler({"action": "reconcile_all"}, engine.LocalContext()) == {"restart": 1}
    assert describe(flow, f"{sid}-r1")["status"] == "RUNNING"


def test_a_session_changed_within_the_idle_time_is_not_looked_at_yet(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(pipeline_retry_scale=FAST, reconcile_idle_s=3600)
    sid = flow.setup()
    flow.pay(sid)
    wait_for_token(db, sid, "await_candidate")
    kill(flow, db, sid)
    assert flow.container.flow.reconcile_all() == {}  # paid a moment ago: busy, not stuck
    db.execute("UPDATE interview_sessions SET updated_at = now() - interval '2 hours' WHERE id = %s", (sid,))
    assert flow.container.flow.reconcile_all() == {"restart": 1}
    checked = db.execute(
        "SELECT reconcile_checked_at > now() - interval '1 minute' FROM interview_sessions WHERE id = %s",
        (sid,),
    ).fetchone()
    assert checked == (True,)
