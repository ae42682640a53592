"""Faults in the suite: the embedded PostgreSQL is killed (as a crash) and started again while paid
interviews are in flight; every paid session must end completed or refunded, never stuck. A short
outage is ridden out by the pipeline's retries, a longer one by the reconciler; neither refunds a
healthy interview. These tests have a PostgreSQL of their own (the rest of the suite shares one per
worker) and the session's moto. `make chaos` runs the same driver with more interviews and longer outages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from benchmarks.chaos import Outcome, run_outage
from prepkit.adapters.postgres import make_pool
from prepkit.local.stack import LocalStack, embedded_postgres_server, prepare
from prepkit.settings import Stage
from tests.fakes import RecordingMetrics
from tests.integration.conftest import Flow

MakeFlow = Callable[..., Flow]


@pytest.fixture(scope="module")
def stack(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """This module's own PostgreSQL (it is killed here), with the session's moto."""
    with embedded_postgres_server(Path(tmp_path_factory.mktemp("faults")) / "pgdata") as postgres:
        own = LocalStack(postgres.uri, stack.aws_endpoint_url, None, postgres)
        prepare(own.settings(stage=Stage.TEST))
        yield own


@pytest.fixture(scope="module")
def pool(stack: LocalStack) -> Iterator[ConnectionPool]:
    # a task waits at most 0.1 s for a connection: each attempt in the outage fails fast, so the retries
    # of a test's outage run out in seconds, as the production ones do in minutes
    p = make_pool(
        stack.database_url, max_size=4, connect_timeout_s=1, acquire_timeout_s=0.1, reconnect_timeout_s=0.5
    )
    yield p
    p.close()


def outage(flow: Flow, stack: LocalStack, **kwargs: float) -> Outcome:
    assert stack.postgres is not None
    return run_outage(
        flow.client,
        flow.container.flow,
        stack.postgres,
        stack.database_url,
        interviews=int(kwargs.pop("interviews")),
        in_call=int(kwargs.pop("in_call")),
        outage_s=kwargs.pop("outage_s"),
        timeout_s=kwargs.pop("timeout_s", 60),
        reconcile_every_s=0.5,
    )


def test_a_database_restart_mid_interview_is_ridden_out_by_the_retries(
    make_flow: MakeFlow, stack: LocalStack, metrics: RecordingMetrics
) -> None:
    """3 s down, within the retries (~7 s at this scale): the pipeline carries on by itself."""
    flow = make_flow(call_delay_s=0.5, call_end_timeout_s=3)
    result = outage(flow, stack, interviews=4, in_call=2, outage_s=3)
    assert result.stuck == 0, result
    assert (result.completed, result.refunded) == (4, 0), result  # an outage refunds no healthy call
    assert metrics.total("PipelineFailed") == 0
    assert stack.postgres is not None and stack.postgres.running


def test_an_outage_longer_than_the_retries_is_finished_by_the_reconciler(
    make_flow: MakeFlow, stack: LocalStack, metrics: RecordingMetrics
) -> None:
    """10 s down, longer than every retry (~3 s at this scale, then ~3 s more of MarkFailed's): the tasks
    that ran in the outage (the reconciliation of the calls whose reports it lost) end their executions
    FAILED, the sessions are left as they were (MarkFailed does not refund a transient failure), and
    the reconciler gives each a new execution."""
    flow = make_flow(call_delay_s=0.5, call_end_timeout_s=2, pipeline_retry_scale=0.005)
    result = outage(flow, stack, interviews=4, in_call=2, outage_s=10, timeout_s=90)
    assert result.stuck == 0, result
    assert (result.completed, result.refunded) == (4, 0), result
    assert result.reconciler_actions.get("restart", 0) >= 1, result
    assert metrics.total("ReconcilerActed", action="restart") == result.reconciler_actions["restart"]
    # the executions the outage ended, each followed by one new execution that completed the session
    failed = [sid for sid in result.ids if flow.execution(sid)["status"] == "FAILED"]
    assert len(failed) == result.reconciler_actions["restart"]
    for sid in failed:
        assert (
            "MarkFailed" in flow.states(sid)[-2:]
        )  # it failed too (the database still down), or ended in Failed
        assert flow.execution(f"{sid}-r1")["status"] == "SUCCEEDED"
