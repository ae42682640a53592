"""Step Functions locally: moto executes the real ASL file; its Lambda tasks run in this process.

moto would run Lambda code in Docker (none here). We register the functions in moto and replace
`LambdaFunction._invoke_lambda` (a private method: moto is pinned, and a test fails loudly if this hook
stops being called) with an in-process call of the handler registered under the function's name. A raised
exception becomes {"errorType", "errorMessage"} with errored=True, exactly as Lambda reports it, so the
ASL's Retry and Catch see the exception's class name.

The ASL's Retry intervals are written for production (seconds to a minute, over about 6 minutes): locally
the engine sleeps them times `pipeline_retry_scale` (moto's retrier calls `time.sleep`; we give its module
a clock whose sleep is scaled), so a test can ride out a database restart in seconds."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.request
import zipfile
from collections.abc import Callable
from typing import Any

from prepkit.adapters import aws
from prepkit.observability import logger
from prepkit.pipeline import render
from prepkit.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
HANDLERS: dict[str, Handler] = {}
INVOCATIONS: list[str] = []  # function names, in order: proof the hook is called
PIPELINE_FUNCTION = "prepkit-pipeline"
_ROLE = "prepkit-local-pipeline"


class LocalContext:
    function_name = PIPELINE_FUNCTION
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:ap-south-1:123456789012:function:{PIPELINE_FUNCTION}"
    memory_limit_in_mb = 512
    aws_request_id = "local"
    log_group_name = f"/aws/lambda/{PIPELINE_FUNCTION}"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
    name = self.function_name
    INVOCATIONS.append(name)
    handler = HANDLERS.get(name)
    if handler is None:
        return json.dumps({"errorType": "HandlerNotRegistered", "errorMessage": name}), True, ""
    payload = event if isinstance(event, dict) else json.loads(event or "{}")
    try:
        result = handler(payload, LocalContext())
    except Exception as exc:
        log.info("task %s raised %s", payload.get("action"), type(exc).__name__)
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:1000]}), True, ""
    finally:
        logger.clear_state()  # a real Lambda has a process of its own: keep its log keys off the API's
    return json.dumps(result), False, ""


class _ScaledClock:
    """What moto's retrier sees as the `time` module: sleeps are `scale` times as long."""

    def __init__(self) -> None:
        self.scale = 1.0
        self.slept: list[float] = []  # the intervals the ASL asked for, unscaled: proof the hook is used

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


RETRY_CLOCK = _ScaledClock()


def install_hook(retry_scale: float = 1.0) -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    LambdaFunction._invoke_lambda = _invoke_in_process  # type: ignore[method-assign]
    RETRY_CLOCK.scale = retry_scale
    retrier_decl.time = RETRY_CLOCK  # type: ignore[attr-defined,assignment]


def deploy_pipeline(settings: Settings, handler: Handler) -> str:
    """Registers the pipeline function and the state machine (from the ASL file) in moto; idempotent.
    Returns the state machine's ARN."""
    assert settings.stage.is_offline and settings.aws_endpoint_url is not None
    install_hook(settings.pipeline_retry_scale)
    HANDLERS[PIPELINE_FUNCTION] = handler
    request = urllib.request.Request(  # noqa: S310 (a loopback URL: settings refuse anything else here)
        settings.aws_endpoint_url + "/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310

    iam = aws.client("iam", settings)
    try:
        role = iam.get_role(RoleName=_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=_ROLE, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = aws.client("lambda", settings)
    try:
        function_arn = lam.get_function(FunctionName=PIPELINE_FUNCTION)["Configuration"]["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("handler.py", "# runs in-process, see prepkit.local.engine\n")
        function_arn = lam.create_function(
            FunctionName=PIPELINE_FUNCTION,
            Runtime="python3.12",
            Role=role,
            Handler="functions/pipeline/handler.handler",
            Code={"ZipFile": archive.getvalue()},
            Timeout=900,
        )["FunctionArn"]
    definition = json.dumps(render({"PipelineFunctionArn": function_arn}))
    sfn = aws.client("stepfunctions", settings)
    arn = settings.pipeline_state_machine_arn
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    except sfn.exceptions.StateMachineDoesNotExist:
        arn = sfn.create_state_machine(
            name=arn.rsplit(":", 1)[1], definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
    return str(arn)
