"""The pipeline Lambda: one entry point, the ASL names the task in `action`. Each task calls one method
of InterviewFlow; exceptions propagate so Step Functions' Retry/Catch see their class names, except that
every transient failure (database, AWS, provider: see transient.py) is raised as TaskTransient, the one
name every Task state retries with backoff. `reconcile_all` is the reconciler's scheduled run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prepkit.domain.errors import ValidationFailed
from prepkit.domain.flow import InterviewFlow
from prepkit.pipeline.transient import TaskTransient, is_transient

TaskHandler = Callable[[dict[str, Any], Any], Any]


def run_task(flow: InterviewFlow, event: dict[str, Any]) -> Any:
    try:
        return _run(flow, event)
    except TaskTransient:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TaskTransient(f"{type(exc).__name__}: {str(exc)[:500]}") from exc
        raise


def _run(flow: InterviewFlow, event: dict[str, Any]) -> Any:
    action = event.get("action")
    session_id = str(event.get("sessionId", ""))
    if action == "await_candidate":
        flow.task_await_candidate(session_id, str(event["taskToken"]))
        return {}
    if action == "await_call_end":
        flow.task_await_call_end(session_id, str(event["taskToken"]))
        return {}
    if action == "reconcile":
        return flow.task_reconcile(session_id)
    if action == "review_call":
        return flow.task_review_call(session_id)
    if action == "generate_report":
        return flow.task_generate_report(session_id)
    if action == "fallback_report":
        return flow.task_fallback_report(session_id)
    if action == "complete":
        return flow.task_complete(session_id)
    if action == "expire":
        return flow.task_expire(session_id)
    if action == "refund":
        return flow.refund(session_id, reason="the call could not be assessed")
    if action == "mark_failed":
        raw_error = event.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        name = str(error.get("Error", "Unknown"))
        return flow.task_mark_failed(
            session_id, name, str(error.get("Cause", ""))[:2000], transient=name == TaskTransient.__name__
        )
    if action == "reconcile_all":  # the schedule (EventBridge), not the state machine
        return flow.reconcile_all()
    raise ValidationFailed(f"unknown pipeline action {json.dumps(action)}")
