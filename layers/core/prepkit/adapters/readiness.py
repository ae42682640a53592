"""Readiness: can this function serve now? One short probe per dependency (the database through the
pool, the rate-limit table, the state machine), run side by side, each bounded by a timeout, the
answer kept for a second so a busy or hostile caller cannot turn /ready into load on the dependencies.
Liveness (/health) checks none of this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prepkit.container import Container

log = logging.getLogger(__name__)

#: each probe's budget (the database's acquisition, the AWS clients' connect and read timeouts)
CHECK_TIMEOUT_S = 1.0
#: how long one answer is reused
CACHE_S = 1.0

Probe = Callable[[], None]


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    ms: float
    error: str | None = None  # "timeout" or "failed" (what failed, class and message, is in the log)


class Readiness:
    def __init__(
        self,
        probes: dict[str, Probe],
        *,
        timeout_s: float = CHECK_TIMEOUT_S,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._probes = probes
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        # a probe that hangs past its timeout keeps its thread: room for a few of those
        self._executor = ThreadPoolExecutor(max_workers=4 * max(len(probes), 1), thread_name_prefix="ready")
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, CheckResult]] | None = None

    def check(self) -> dict[str, CheckResult]:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._cache_s:
                return self._cached[1]
            results = self._run()
            self._cached = (self._clock(), results)
            return results

    def _run(self) -> dict[str, CheckResult]:
        started = time.perf_counter()
        futures = {name: self._executor.submit(_timed, probe) for name, probe in self._probes.items()}
        deadline = started + self._timeout_s
        results: dict[str, CheckResult] = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(deadline - time.perf_counter(), 0))
            except FutureTimeout:
                results[name] = CheckResult(False, round(self._timeout_s * 1000, 1), "timeout")
            if not results[name].ok:
                log.warning("readiness check %s: %s", name, results[name].error)
        return results


def _timed(probe: Probe) -> CheckResult:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:
        log.warning("readiness probe raised %s: %s", type(exc).__name__, str(exc)[:300])
        return CheckResult(False, _ms(started), "failed")
    return CheckResult(True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def database_probe(pool: Any, timeout_s: float = CHECK_TIMEOUT_S) -> Probe:
    def probe() -> None:
        with pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1").fetchone()

    return probe


def dynamodb_table_probe(client: Any, table: str) -> Probe:
    def probe() -> None:
        status = client.describe_table(TableName=table)["Table"]["TableStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise RuntimeError(f"table {table} is {status}")

    return probe


def state_machine_probe(client: Any, arn: str) -> Probe:
    def probe() -> None:
        status = client.describe_state_machine(stateMachineArn=arn).get("status", "ACTIVE")
        if status != "ACTIVE":
            raise RuntimeError(f"state machine is {status}")

    return probe


def _missing(what: str) -> Probe:
    def probe() -> None:
        raise RuntimeError(f"this function has no {what}")

    return probe


def readiness_for(container: Container) -> Readiness:
    """The container's readiness, built once (at the first /ready) and kept with the container."""
    extras = container.extras
    existing = extras.get("readiness")
    if isinstance(existing, Readiness):
        return existing
    from prepkit.adapters import aws

    s = container.settings
    pool = extras.get("pool")
    readiness = Readiness(
        {
            "database": database_probe(pool) if pool is not None else _missing("database pool"),
            "rateLimitTable": dynamodb_table_probe(
                aws.client("dynamodb", s, timeout_s=CHECK_TIMEOUT_S, attempts=1), s.rate_limit_table
            ),
            "stateMachine": state_machine_probe(
                aws.client("stepfunctions", s, timeout_s=CHECK_TIMEOUT_S, attempts=1),
                s.pipeline_state_machine_arn,
            ),
        }
    )
    return extras.setdefault("readiness", readiness)  # type: ignore[no-any-return]
