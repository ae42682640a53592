"""Which task failures are worth retrying: one error name, TaskTransient, for all of them.

The domain raises what it knows (PaymentFailed, VoiceUnavailable, PipelineUnavailable) and lets the
adapters' own exceptions through (psycopg, psycopg_pool, botocore). The pipeline entry point turns every
transient one into TaskTransient, so each Task state's Retry names one error and retries it with backoff
over minutes (a database failover or restart, a provider's bad quarter of an hour); anything else keeps
its class name and goes to the state's Catch."""

from __future__ import annotations

from prepkit.domain.errors import (
    PaymentFailed,
    PipelineUnavailable,
    ReportFailed,
    ReportTransient,
    VoiceUnavailable,
)

#: the error name every Task state's Retry matches (Step Functions matches the exception class name)
TRANSIENT_ERROR = "TaskTransient"

#: AWS error codes that mean "try again later" (throttling, a service having a bad moment)
_AWS_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

#: provider failures the domain reports by class: the provider failed or could not be reached
_DOMAIN_TRANSIENT = (PaymentFailed, VoiceUnavailable, PipelineUnavailable)
#: the report writer's verdicts keep their names (whatever they were raised from): ReportTransient has
#: GenerateReport's own short Retry, then the offline report; ReportFailed goes to the offline report
_OWN_VERDICT = (ReportTransient, ReportFailed)


class TaskTransient(Exception):
    """A task failed for a reason that passes: Step Functions retries it (see the ASL's Retry)."""


def is_transient(exc: BaseException) -> bool:
    """The exception, or one it was raised from, is a transient failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OWN_VERDICT):  # the report writer's own verdict: not a task fault
            return False
        if _transient_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, (TaskTransient, *_DOMAIN_TRANSIENT)):
        return True
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    import psycopg

    # OperationalError: the server is gone, restarting or refusing connections; PoolTimeout is one (no
    # connection within the pool's timeout). InterfaceError: the connection broke under us.
    # TransactionRollbackError: a serialization failure or a deadlock, retried as PostgreSQL advises.
    if isinstance(
        exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.TransactionRollback)
    ):
        return True
    try:
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError
    except ImportError:  # pragma: no cover (boto3 is in every Lambda runtime and in the dev environment)
        return False
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):  # endpoint unreachable, read timeout
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _AWS_TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    return False
