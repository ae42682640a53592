"""`make chaos`: paid interviews in flight while the embedded PostgreSQL is killed (pg_ctl stop -m
immediate, as a crash) and started again; then every session must end completed or refunded, never stuck.
Offline and loopback only: embedded PostgreSQL, moto on 127.0.0.1 running the real ASL with its tasks in
this process, the simulated Razorpay Checkout and Vapi calls, the reconciler run as its schedule would.

    .venv/bin/python -m benchmarks.chaos [--quick]

The integration tests (tests/integration/test_faults.py) run the same scenario driver, smaller."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from prepkit.domain.flow import InterviewFlow
from prepkit.local.stack import EmbeddedPostgres, free_port, local_stack, prepare
from prepkit.settings import Stage

SETUP_BODY = {"type": "python", "difficulty": "medium", "duration": 20, "focusAreas": ["async"]}
FINAL = ("completed", "refunded")
PRESS_EVERY_S = 3.0  # how often a waiting candidate presses start again (the start route is rate limited)


@dataclass(frozen=True)
class Outcome:
    interviews: int
    in_call: int  # of them in a call when the database went down
    outage_s: float
    completed: int
    refunded: int
    stuck: int  # neither completed nor refunded at the deadline: must be 0
    recover_s: float  # from the database being back to every session ending
    reconciler_actions: dict[str, int]
    statuses: dict[str, int]
    ids: tuple[str, ...] = ()

    ROW = "{:>10} {:>7} {:>8} {:>9} {:>8} {:>5} {:>11}  {}"

    @classmethod
    def header(cls) -> str:
        return cls.ROW.format(
            "interviews", "in call", "outage", "completed", "refunded", "stuck", "recovered", "reconciler"
        )

    def row(self) -> str:
        return self.ROW.format(
            self.interviews, self.in_call, f"{self.outage_s:.0f} s", self.completed, self.refunded,
            self.stuck, f"{self.recover_s:.1f} s", ", ".join(f"{k} {v}" for k, v in sorted(self.reconciler_actions.items())) or "-",
        )  # fmt: skip


class Candidate:
    """One candidate using the web client: tolerant of errors (the API may fail while the database is
    down), as a person pressing the button again would be."""

    def __init__(self, client: TestClient, user_id: str):
        self.client = client
        r = client.post("/dev/token", json={"userId": user_id})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def _ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        r = self.client.request(method, path, json=body, headers=self.headers)
        assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text}"
        answer: dict[str, Any] = r.json()
        return answer

    def paid_session(self) -> str:
        sid: str = self._ok("POST", "/interviews/setup", SETUP_BODY)["sessionId"]
        order = self._ok("POST", f"/interviews/{sid}/order")
        paid = self._ok("POST", "/dev/checkout", {"orderId": order["orderId"]})
        self._ok("POST", "/payments/verify", paid)
        return sid

    def start(self, sid: str) -> int:
        return self.client.post(f"/interviews/{sid}/start", headers=self.headers).status_code


def statuses(database_url: str, ids: list[str]) -> dict[str, str]:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=2) as db:
        rows = db.execute(
            "SELECT id::text, status FROM interview_sessions WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def run_outage(
    client: TestClient,
    flow: InterviewFlow,
    postgres: EmbeddedPostgres,
    database_url: str,
    *,
    interviews: int,
    in_call: int,
    outage_s: float,
    timeout_s: float = 120,
    reconcile_every_s: float = 1.0,
    user: str = "chaos",
    log: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """`interviews` paid sessions, `in_call` of them started; the database is killed for `outage_s`;
    then the candidates press start on whatever is paid (again, after errors), the reconciler runs every
    `reconcile_every_s`, until every session is completed or refunded, or `timeout_s` passes."""
    candidates = [Candidate(client, f"{user}-{i}") for i in range(interviews)]  # one interview each
    ids = [c.paid_session() for c in candidates]
    by_id = dict(zip(ids, candidates, strict=True))
    for sid in ids[:in_call]:
        assert by_id[sid].start(sid) == 200
    log(f"  {interviews} paid, {in_call} in a call: stopping PostgreSQL for {outage_s:.0f} s")
    postgres.stop(mode="immediate")
    try:
        stop_pressing = threading.Event()

        def press_during_outage() -> None:  # candidates keep trying while it is down
            while not stop_pressing.wait(PRESS_EVERY_S):
                for sid in ids[in_call:]:
                    by_id[sid].start(sid)

        presser = threading.Thread(target=press_during_outage, daemon=True)
        presser.start()
        time.sleep(outage_s)
        stop_pressing.set()
        presser.join(30)
    finally:
        postgres.start()
    back = time.monotonic()
    log("  PostgreSQL is back")
    actions: dict[str, int] = {}
    now: dict[str, str] = {}
    pressed: dict[str, float] = {}
    next_reconcile = back
    while time.monotonic() - back < timeout_s:
        try:
            now = statuses(database_url, ids)
        except psycopg.OperationalError:
            time.sleep(0.2)
            continue
        if all(now.get(sid) in FINAL for sid in ids):
            break
        for sid in ids:  # not started yet, or a free retake: the candidate presses start (not too often)
            if now.get(sid) == "paid" and time.monotonic() >= pressed.get(sid, 0.0) + PRESS_EVERY_S:
                pressed[sid] = time.monotonic()
                by_id[sid].start(sid)
        if time.monotonic() >= next_reconcile:
            next_reconcile = time.monotonic() + reconcile_every_s
            try:
                for action, n in flow.reconcile_all().items():
                    actions[action] = actions.get(action, 0) + n
            except Exception as exc:  # the schedule would simply run again
                log(f"  reconciler run failed: {type(exc).__name__}")
        time.sleep(0.2)
    recover_s = time.monotonic() - back
    counts: dict[str, int] = {}
    for sid in ids:
        counts[now.get(sid, "?")] = counts.get(now.get(sid, "?"), 0) + 1
    actions.pop("none", None)
    return Outcome(
        interviews=interviews,
        in_call=in_call,
        outage_s=outage_s,
        completed=counts.get("completed", 0),
        refunded=counts.get("refunded", 0),
        stuck=sum(n for status, n in counts.items() if status not in FINAL),
        recover_s=recover_s,
        reconciler_actions=actions,
        statuses=counts,
        ids=tuple(ids),
    )


SCENARIOS = [  # (interviews, in a call at the outage, outage seconds)
    (20, 10, 5),  # a restart: well within the pipeline's retries
    (20, 10, 30),  # about as long as the retries last here (~30 s: scaled waits plus each attempt's)
    (50, 25, 20),
    (50, 25, 90),  # longer than the retries and MarkFailed's: the reconciler finishes them
]
QUICK = [(10, 5, 5), (10, 5, 25)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="two small scenarios (about a minute)")
    args = parser.parse_args()
    from prepkit.observability import logger

    logging.basicConfig(level=logging.CRITICAL)  # the outage logs thousands of expected errors
    logger.setLevel("CRITICAL")
    from prepkit.api.app import create_app
    from prepkit.container import build_container
    from prepkit.local.engine import deploy_pipeline
    from prepkit.pipeline.entry import make_pipeline_handler

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: list[Outcome] = []
    with (
        tempfile.TemporaryDirectory(prefix="prepkit-chaos-") as tmp,
        local_stack(data_dir=Path(tmp), moto_port=free_port()) as stack,
    ):
        assert stack.postgres is not None
        settings = stack.settings(
            stage=Stage.TEST,
            start_window_s=300,
            call_end_timeout_s=5,  # a report lost in the outage is fetched from the (simulated) Vapi
            pipeline_retry_scale=0.05,  # the ASL's ~6 minutes of retries last ~18 s
            reconcile_idle_s=0,
            simulated_call_delay_s=1.0,  # calls are in flight when the database goes
            db_connect_timeout_s=2,
        )
        prepare(settings)
        holder: dict[str, TestClient] = {}

        def deliver(path: str, body: bytes, headers: dict[str, str]) -> None:
            holder["client"].post(path, content=body, headers=headers)

        container = build_container(settings, deliver=deliver)
        deploy_pipeline(settings, make_pipeline_handler(container))
        client = TestClient(create_app(container), raise_server_exceptions=False)
        holder["client"] = client
        for i, (n, in_call, outage) in enumerate(QUICK if args.quick else SCENARIOS):
            say(f"scenario {i + 1}: {n} interviews, {in_call} in a call, {outage} s outage")
            outcome = run_outage(
                client, container.flow, stack.postgres, stack.database_url,
                interviews=n, in_call=in_call, outage_s=outage, timeout_s=180, user=f"chaos-{i}", log=say,
            )  # fmt: skip
            say(f"  {outcome.statuses}")
            results.append(outcome)
        time.sleep(1)
        container.close()
    print(Outcome.header())
    for outcome in results:
        print(outcome.row())
    return 1 if any(o.stuck for o in results) else 0


if __name__ == "__main__":
    sys.exit(main())
