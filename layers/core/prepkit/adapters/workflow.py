"""Workflow on Step Functions (moto locally): start once per session, resume waiting tasks."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

_FINISHED = {"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"}


class StepFunctionsWorkflow:
    def __init__(self, client: Any, state_machine_arn: str):
        self._client = client
        self._arn = state_machine_arn

    def start(self, session_id: str, payload: dict[str, object]) -> bool:
        try:
            self._client.start_execution(
                stateMachineArn=self._arn, name=session_id, input=json.dumps(payload)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True

    def resume(self, task_token: str, output: dict[str, object]) -> bool:
        try:
            self._client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _FINISHED:
                return False
            raise
        return True
