"""The pipeline's ASL definition, checked as data: placeholders, transitions, error handling, and that
every task it names is one the pipeline Lambda runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from prepkit.domain import errors as domain_errors
from prepkit.domain.errors import ValidationFailed
from prepkit.domain.flow import InterviewFlow
from prepkit.pipeline import asl_text, placeholders, render
from prepkit.pipeline.tasks import run_task
from prepkit.pipeline.transient import TRANSIENT_ERROR, TaskTransient

ARN = "arn:aws:lambda:ap-south-1:123456789012:function:prepkit-pipeline"
DEFINITION: dict[str, Any] = render({"PipelineFunctionArn": ARN})
STATES: dict[str, dict[str, Any]] = DEFINITION["States"]
TASKS = {name: s for name, s in STATES.items() if s["Type"] == "Task"}
WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"

#: run_task's actions and the InterviewFlow method each one calls (from prepkit/pipeline/tasks.py)
ACTIONS = {
    "await_candidate": "task_await_candidate",
    "await_call_end": "task_await_call_end",
    "reconcile": "task_reconcile",
    "review_call": "task_review_call",
    "generate_report": "task_generate_report",
    "fallback_report": "task_fallback_report",
    "complete": "task_complete",
    "expire": "task_expire",
    "refund": "refund",
    "mark_failed": "task_mark_failed",
}


def transitions(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def catcher_for(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The catcher Step Functions would pick: the first whose ErrorEquals names the error or States.ALL."""
    for catcher in state.get("Catch", []):
        if error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
            return cast("dict[str, Any]", catcher)
    return None


class RecordingFlow:
    """Stands in for InterviewFlow: records which method run_task called, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def method(*args: Any, **kwargs: Any) -> str:
            self.calls.append((name, args, kwargs))
            return f"{name} done"

        return method


# --- placeholders and rendering -----------------------------------------------------------------


def test_the_only_placeholder_is_the_function_arn() -> None:
    assert placeholders() == {"PipelineFunctionArn"}
    assert placeholders(asl_text()) == {"PipelineFunctionArn"}


def test_placeholders_of_a_given_text() -> None:
    assert placeholders("a ${First} b ${Second2} c ${First} $Plain ${9bad} ${with-dash}") == {
        "First",
        "Second2",
    }
    assert placeholders("") == set()


def test_render_replaces_the_placeholder_everywhere() -> None:
    text = asl_text()
    rendered = json.dumps(DEFINITION)
    assert "${" not in rendered
    assert rendered.count(ARN) == text.count("${PipelineFunctionArn}")
    assert len(TASKS) >= 1
    for name, state in TASKS.items():
        assert state["Parameters"]["FunctionName"] == ARN, name


@pytest.mark.parametrize("substitutions", [{}, {"SomethingElse": ARN}, {"pipelineFunctionArn": ARN}])
def test_render_refuses_a_missing_substitution(substitutions: dict[str, str]) -> None:
    with pytest.raises(KeyError, match="PipelineFunctionArn"):
        render(substitutions)


# --- the state graph ----------------------------------------------------------------------------


def test_start_and_every_transition_name_an_existing_state() -> None:
    assert DEFINITION["StartAt"] in STATES
    for name, state in STATES.items():
        for target in transitions(state):
            assert target in STATES, f"{name} -> {target}"


def test_every_state_either_moves_on_or_ends() -> None:
    for name, state in STATES.items():
        if state["Type"] in {"Fail", "Succeed"}:
            assert "Next" not in state, name
        elif state["Type"] == "Choice":
            assert state["Choices"], name
            assert "Default" in state, name
        else:
            assert ("Next" in state) != bool(state.get("End")), name


def test_no_state_is_unreachable() -> None:
    seen = {DEFINITION["StartAt"]}
    todo = [DEFINITION["StartAt"]]
    while todo:
        for target in transitions(STATES[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(STATES)


def test_every_task_catches_all_errors() -> None:
    assert "MarkFailed" in TASKS
    for name, state in TASKS.items():
        if name == "MarkFailed":
            assert "Catch" not in state  # it is the end of the line: it only retries
            assert state["Retry"][-1]["ErrorEquals"] == ["States.ALL"]
            continue
        catcher = catcher_for(state, "SomeUnexpectedError")
        assert catcher is not None, name
        assert "States.ALL" in catcher["ErrorEquals"], name
        expected = "FallbackReport" if name == "GenerateReport" else "MarkFailed"
        assert catcher["Next"] == expected, name
        assert catcher["ResultPath"] == "$.error", name


def test_mark_failed_ends_in_a_fail_state() -> None:
    assert STATES[STATES["MarkFailed"]["Next"]]["Type"] == "Fail"
    assert STATES["MarkFailed"]["Parameters"]["Payload"]["error.$"] == "$.error"


@pytest.mark.parametrize(
    ("name", "on_timeout"), [("AwaitCandidate", "Expire"), ("AwaitCallEnd", "Reconcile")]
)
def test_waiting_states_time_out_from_the_input(name: str, on_timeout: str) -> None:
    state = STATES[name]
    assert state["Resource"] == WAIT_FOR_TOKEN
    assert state["TimeoutSecondsPath"].startswith("$.")
    assert "TimeoutSeconds" not in state
    assert state["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    timeout = catcher_for(state, "States.Timeout")
    assert timeout is not None
    assert timeout["ErrorEquals"] == ["States.Timeout"]  # caught before the catch-all
    assert timeout["Next"] == on_timeout


def test_only_the_two_waiting_states_wait_for_a_token() -> None:
    assert {n for n, s in TASKS.items() if s["Resource"] == WAIT_FOR_TOKEN} == {
        "AwaitCandidate",
        "AwaitCallEnd",
    }


def test_generate_report_retries_transient_report_errors() -> None:
    retriers = STATES["GenerateReport"]["Retry"]
    transient = [r for r in retriers if "ReportTransient" in r["ErrorEquals"]]
    assert len(transient) == 1
    assert transient[0]["MaxAttempts"] >= 1


def test_retried_error_names_are_domain_exception_classes() -> None:
    """Step Functions matches a Lambda error by its exception class name."""
    for name, state in TASKS.items():
        for retrier in state.get("Retry", []):
            for error in retrier["ErrorEquals"]:
                if error.startswith(("States.", "Lambda.")):
                    continue
                cls = TaskTransient if error == TRANSIENT_ERROR else getattr(domain_errors, error, None)
                assert isinstance(cls, type), f"{name} retries unknown error {error}"
                assert issubclass(cls, Exception)


LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def retry_window_s(retrier: dict[str, Any]) -> float:
    """How long Step Functions keeps retrying: the sum of the waits before each retry."""
    interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return float(sum(min(interval * rate**i, cap) for i in range(retrier.get("MaxAttempts", 3))))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_retries_transient_errors_for_minutes(name: str) -> None:
    """Longer than a database failover or restart (a few minutes), with waits that stay short."""
    retriers = TASKS[name]["Retry"]
    transient = [r for r in retriers if TRANSIENT_ERROR in r["ErrorEquals"]]
    assert len(transient) == 1, name
    retrier = transient[0]
    assert set(retrier["ErrorEquals"]) == {TRANSIENT_ERROR} | LAMBDA_ERRORS, name
    assert 300 <= retry_window_s(retrier) <= 900, name
    assert retrier["MaxDelaySeconds"] <= 60, name
    assert retrier["IntervalSeconds"] <= 5, name
    # a retrier before it may only be a narrower one (GenerateReport's short ReportTransient retry)
    before = retriers[: retriers.index(retrier)]
    assert all(r["ErrorEquals"] == ["ReportTransient"] for r in before), name
    assert "States.ALL" not in retrier["ErrorEquals"]


def test_retry_window_of_a_retrier() -> None:
    assert retry_window_s({"IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 3}) == 2 + 4 + 8
    assert (
        retry_window_s({"IntervalSeconds": 2, "BackoffRate": 2, "MaxDelaySeconds": 5, "MaxAttempts": 4})
        == 2 + 4 + 5 + 5
    )


def test_an_expiry_that_finds_the_call_started_waits_for_the_call() -> None:
    assert STATES["Expire"]["Next"] == "AfterExpire"
    after = STATES["AfterExpire"]
    assert after["Type"] == "Choice"
    assert after["Choices"] == [
        {"Variable": "$.refund.outcome", "StringEquals": "call started", "Next": "AwaitCallEnd"}
    ]
    assert STATES[after["Default"]]["Type"] == "Succeed"
    assert STATES["Expire"]["ResultSelector"] == {"outcome.$": "$.Payload"}
    assert STATES["Expire"]["ResultPath"] == "$.refund"


def test_verdict_choices() -> None:
    verdict = STATES["Verdict"]
    assert verdict["Type"] == "Choice"
    assert {c["StringEquals"]: c["Next"] for c in verdict["Choices"]} == {
        "assess": "GenerateReport",
        "retake": "AwaitCandidate",
    }
    assert verdict["Default"] == "RefundCall"


# --- the tasks the ASL names --------------------------------------------------------------------


def test_every_task_action_is_one_run_task_knows_and_every_action_is_used() -> None:
    used = {state["Parameters"]["Payload"]["action"] for state in TASKS.values()}
    assert used == set(ACTIONS)
    for name, state in TASKS.items():
        payload = state["Parameters"]["Payload"]
        assert payload["sessionId.$"] == "$.sessionId", name


@pytest.mark.parametrize(("action", "method"), sorted(ACTIONS.items()))
def test_run_task_dispatches_each_action_to_the_flow(action: str, method: str) -> None:
    assert callable(getattr(InterviewFlow, method, None)), method
    flow = RecordingFlow()
    event = {
        "action": action,
        "sessionId": "session-1",
        "taskToken": "token-1",
        "error": {"Error": "States.TaskFailed", "Cause": "boom"},
    }
    run_task(cast("InterviewFlow", flow), event)
    assert len(flow.calls) == 1
    called, args, _ = flow.calls[0]
    assert called == method
    assert args[0] == "session-1"
    if action in {"await_candidate", "await_call_end"}:
        assert args == ("session-1", "token-1")
    if action == "mark_failed":
        assert args == ("session-1", "States.TaskFailed", "boom")
        assert flow.calls[0][2] == {"transient": False}


@pytest.mark.parametrize("action", ["bake_cake", "", None, "Generate_Report"])
def test_run_task_refuses_an_unknown_action(action: str | None) -> None:
    flow = RecordingFlow()
    with pytest.raises(ValidationFailed, match="unknown pipeline action"):
        run_task(cast("InterviewFlow", flow), {"action": action, "sessionId": "session-1"})
    assert flow.calls == []


def test_run_task_refuses_an_unknown_action_without_touching_the_flow() -> None:
    with pytest.raises(ValidationFailed):
        run_task(cast("InterviewFlow", object()), {"action": "nope", "sessionId": "session-1"})


def test_mark_failed_is_told_when_the_failure_was_transient() -> None:
    flow = RecordingFlow()
    event = {"action": "mark_failed", "sessionId": "s", "error": {"Error": "TaskTransient", "Cause": "db"}}
    run_task(cast("InterviewFlow", flow), event)
    assert flow.calls == [("task_mark_failed", ("s", "TaskTransient", "db"), {"transient": True})]


def test_reconcile_all_is_an_action_of_the_pipeline_function() -> None:
    flow = RecordingFlow()
    assert run_task(cast("InterviewFlow", flow), {"action": "reconcile_all"}) == "reconcile_all done"
    assert [c[0] for c in flow.calls] == ["reconcile_all"]
