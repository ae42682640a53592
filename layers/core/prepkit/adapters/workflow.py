"""Workflow on Step Functions (moto locally): start an execution by name, ask how it is, resume tasks."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from prepkit.ports import ExecutionStatus

_FINISHED = {"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"}


class StepFunctionsWorkflow:
    def __init__(self, client: Any, state_machine_arn: str):
        self._client = client
        self._arn = state_machine_arn

    def start(self, name: str, payload: dict[str, object]) -> bool:
        try:
            self._client.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True

    def status(self, name: str) -> ExecutionStatus | None:
        """running (RUNNING), ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE), or None when
        no execution of that name exists. An execution's ARN is the state machine's, `execution` for
        `stateMachine`, then `:<name>`."""
        arn = self._arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        try:
            described = self._client.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise
        return "running" if described["status"] == "RUNNING" else "ended"

    def resume(self, task_token: str, output: dict[str, object]) -> bool:
        try:
            self._client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _FINISHED:
                return False
            raise
        return True
