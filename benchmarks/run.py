"""Latency of the warm in-process app over 100,000+ seeded sessions (reads, setup, the Razorpay and Vapi
webhooks), the time from Vapi's end-of-call-report to the stored report through the real pipeline (the
ASL in moto, its tasks in this process, the fallback scorer), and the cold-start import time of each
Lambda entry point. Offline: embedded PostgreSQL and moto on 127.0.0.1, the offline question bank, the
simulated Razorpay and Vapi.

    .venv/bin/python -m benchmarks.run [--n 300] [--pipeline-n 30]
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import hmac
import json
import os
import platform
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from fastapi.testclient import TestClient

from prepkit.local.stack import OFFLINE_AWS_ENV, LocalStack, free_port, local_stack, prepare
from prepkit.routes import FUNCTIONS
from prepkit.settings import Settings, Stage

if TYPE_CHECKING:
    from prepkit.container import Container

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 20
IMPORT_RUNS = 5
BENCH_USER = "bench-user"
PIPELINE_USER = "bench-pipeline"
WEBHOOK_USER = "bench-webhooks"
SETUP_BODY = {"type": "python", "difficulty": "medium", "duration": 20, "focusAreas": ["async"]}
PIPELINE_WINDOW_S = 600  # start_window_s and call_end_timeout_s: no pipeline timer fires during a run
POLL_S = 0.005  # how often the pipeline measurement polls PostgreSQL
POLL_TIMEOUT_S = 30.0
EVENTS = ROOT / "tests" / "events"
#: the candidate's answer to every question (60 words): enough for the review to assess the call
ANSWER = (
    "I would start by clarifying the requirements and the expected load, then sketch the simplest design "
    "that works. Next I would compare two approaches, weighing latency, cost and operational complexity, "
    "and explain which trade-off I would accept and why. Finally I would describe how I would test it, "
    "roll it out gradually behind a flag and monitor errors in production."
)

Row = tuple[str, str, str, int]  # what, p50 (or median), p95, n

SEED_SQL = """
INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes, config,
                                question_source, price_paise, currency, created_at, updated_at)
SELECT gen_random_uuid(),
       CASE WHEN g <= 500 THEN 'bench-user' ELSE 'user-' || mod(g, 2000) END,
       (ARRAY['pending_payment', 'paid', 'in_call', 'processing', 'completed', 'payment_failed',
              'call_failed', 'expired', 'refunded', 'failed'])[1 + floor(random() * 10)::int],
       (ARRAY['system-design', 'javascript', 'python', 'data-structures', 'behavioral'])
           [1 + floor(random() * 5)::int],
       (ARRAY['easy', 'medium', 'hard'])[1 + floor(random() * 3)::int],
       20, '{}'::jsonb, 'fallback', 14900, 'INR', created_at, created_at
FROM (SELECT g, now() - random() * interval '365 days' AS created_at
      FROM generate_series(1, 100500) AS g) AS s
"""  # rows 1-500 belong to the benchmark user, the other 100,000 to ~2,000 users

IMPORT_CHILD = """import time
t0 = time.perf_counter()
import prepkit.api.lambda_entry
print((time.perf_counter() - t0) * 1000)"""

HANDLER_CHILD = """import runpy, sys, time
t0 = time.perf_counter()
runpy.run_path(sys.argv[1])
print((time.perf_counter() - t0) * 1000)"""


def seed(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SEED_SQL)
        conn.execute("ANALYZE interview_sessions")
        row = conn.execute("SELECT count(*) FROM interview_sessions").fetchone()
    assert row is not None
    return int(row[0])


def summarize(what: str, samples_ms: list[float]) -> Row:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")  # cuts[k-1] is the k-th percentile
    print(
        f"  {what}: p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, mean {statistics.fmean(samples_ms):.2f} ms"
    )
    return what, f"{cuts[49]:.2f}", f"{cuts[94]:.2f}", len(samples_ms)


@contextmanager
def emf_to_devnull() -> Iterator[None]:
    """Powertools' single_metric prints its EMF line to stdout whatever POWERTOOLS_METRICS_DISABLED says:
    keep the cost of writing it, drop the text."""
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        yield


def measure(what: str, n: int, request: Callable[[], Any], expected: int, result: str | None = None) -> Row:
    """`result`: the webhook's own answer, checked too (webhooks say 200 to what they ignore as well)."""

    def once() -> float:
        t0 = time.perf_counter()
        response = request()
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == expected, f"{what}: {response.status_code} {response.text}"
        assert result is None or response.json()["result"] == result, f"{what}: {response.text}"
        return elapsed

    with emf_to_devnull():
        for _ in range(WARMUP):
            once()
        samples = [once() for _ in range(n)]
    return summarize(what, samples)


def latencies(client: TestClient, n: int) -> list[Row]:
    r = client.post("/dev/token", json={"userId": BENCH_USER})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    with emf_to_devnull():
        r = client.post("/interviews/setup", json=SETUP_BODY, headers=headers)
    assert r.status_code == 200, r.text
    session_id = r.json()["sessionId"]
    print(f"latency, warm in-process app ({WARMUP} warm-up requests, then n={n}):")

    def get(path: str) -> Callable[[], Any]:
        return lambda: client.get(path, headers=headers)

    return [
        measure(
            "POST /interviews/setup",
            n,
            lambda: client.post("/interviews/setup", json=SETUP_BODY, headers=headers),
            200,
        ),
        measure("GET /interviews/{id}", n, get(f"/interviews/{session_id}"), 200),
        measure(
            "GET /interviews/history?page=1&limit=10", n, get("/interviews/history?page=1&limit=10"), 200
        ),
        measure(
            "GET /interviews/history?page=20&limit=10", n, get("/interviews/history?page=20&limit=10"), 200
        ),
    ]


class User:
    """One signed-in user calling the app as the web client does; every call checks its status code."""

    def __init__(self, client: TestClient, user_id: str):
        self.client = client
        r = client.post("/dev/token", json={"userId": user_id})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def call(self, method: str, path: str, expected: int = 200, body: Any = None) -> dict[str, Any]:
        r = self.client.request(method, path, json=body, headers=self.headers)
        assert r.status_code == expected, f"{method} {path}: {r.status_code} {r.text}"
        answer: dict[str, Any] = r.json()
        return answer

    def paid_session(self) -> str:
        """setup, order, the simulated Checkout, verify: the session is paid and its pipeline started."""
        sid: str = self.call("POST", "/interviews/setup", 200, SETUP_BODY)["sessionId"]
        order = self.call("POST", f"/interviews/{sid}/order")
        paid = self.call("POST", "/dev/checkout", body={"orderId": order["orderId"]})
        self.call("POST", "/payments/verify", body=paid)
        return sid


class Deliveries:
    """Where the offline providers post their webhooks: into the app, from the simulator's own thread
    (the Checkout simulator sends payment.captured 0.2 s after /dev/checkout). Counts what landed, so a
    measurement can wait until nothing of the kind is still in flight."""

    def __init__(self) -> None:
        self.client: TestClient | None = None
        self.statuses: list[int] = []
        self._landed = threading.Condition()

    def __call__(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        assert self.client is not None
        status = 0  # the app raised
        try:
            status = self.client.post(path, content=body, headers=headers).status_code
        finally:
            with self._landed:
                self.statuses.append(status)
                self._landed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10) -> None:
        with self._landed:
            if not self._landed.wait_for(lambda: len(self.statuses) >= count, timeout_s):
                raise RuntimeError(f"{len(self.statuses)} of {count} simulated webhooks landed")
            assert set(self.statuses) == {200}, f"simulated webhooks answered {self.statuses}"


def signed_vapi(settings: Settings, message: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from prepkit.container import vapi_auth

    raw = json.dumps({"message": message}).encode()
    return raw, {"content-type": "application/json", **vapi_auth(settings).sign(raw, int(time.time()))}


def signed_razorpay(settings: Settings, body: dict[str, Any], event_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    assert settings.razorpay_webhook_secret is not None  # the offline stages fill in the local secret
    secret = settings.razorpay_webhook_secret.get_secret_value().encode()
    return raw, {
        "content-type": "application/json",
        "x-razorpay-signature": hmac.new(secret, raw, hashlib.sha256).hexdigest(),
        "x-razorpay-event-id": event_id,
    }


def replay(
    client: TestClient, path: str, deliveries: list[tuple[bytes, dict[str, str]]]
) -> Callable[[], Any]:
    """Posts the prepared (signed) deliveries one per call: nothing is built or signed while timed."""
    pending = iter(deliveries)

    def post() -> Any:
        raw, headers = next(pending)
        return client.post(path, content=raw, headers=headers)

    return post


def webhooks(client: TestClient, settings: Settings, call_id: str, n: int) -> list[Row]:
    from prepkit.local.checkout import payment_webhook

    payer = User(client, WEBHOOK_USER)
    with emf_to_devnull():
        sid = payer.call("POST", "/interviews/setup", 200, SETUP_BODY)["sessionId"]
        order = payer.call("POST", f"/interviews/{sid}/order")

    def failed_payment(event_id: str) -> tuple[bytes, dict[str, str]]:
        """A declined payment attempt on the order: a webhook that starts no pipeline."""
        body = payment_webhook(
            "payment.failed",
            payment_id=f"pay_{secrets.token_hex(7)}",
            order_id=order["orderId"],
            amount=order["amount"],
            failed=True,
        )
        return signed_razorpay(settings, body, event_id)

    runs = WARMUP + n
    fresh = [failed_payment(f"evt_{secrets.token_hex(7)}") for _ in range(runs)]
    status = {"type": "status-update", "status": "in-progress", "call": {"id": call_id}}
    print(f"webhooks, warm in-process app ({WARMUP} warm-up requests, then n={n}):")
    return [
        measure(
            "POST /webhooks/razorpay payment.failed (new event)",
            n,
            replay(client, "/webhooks/razorpay", fresh),
            200,
            "payment.failed applied",
        ),
        measure(  # every delivery repeats one the first measurement already applied
            "POST /webhooks/razorpay payment.failed (duplicate event)",
            n,
            replay(client, "/webhooks/razorpay", [fresh[0]] * runs),
            200,
            "payment.failed duplicate",
        ),
        measure(
            "POST /webhooks/vapi status-update",
            n,
            replay(client, "/webhooks/vapi", [signed_vapi(settings, status) for _ in range(runs)]),
            200,
            "status in-progress",
        ),
    ]


def end_of_call_report(call_id: str, sid: str, questions: list[str]) -> dict[str, Any]:
    """The vendor-shaped sample (tests/events), with a conversation over the session's questions."""
    text = (EVENTS / "vapi_end_of_call_report.json").read_text()
    message: dict[str, Any] = json.loads(text.replace("CALL_ID", call_id).replace("SESSION_ID", sid))[
        "message"
    ]
    messages = message["artifact"]["messages"]
    t = 5
    for question in questions:
        messages.append({"role": "bot", "message": question, "time": 0, "secondsFromStart": t})
        messages.append(
            {"role": "user", "message": ANSWER, "time": 0, "secondsFromStart": t + 20, "duration": 60}
        )
        t += 200
    message["artifact"]["transcript"] = "\n".join(
        f"{'AI' if m['role'] == 'bot' else 'User'}: {m['message']}" for m in messages[1:]
    )
    return message


def poll(db: psycopg.Connection[Any], sql: str, sid: str, done: Callable[[tuple[Any, ...]], bool]) -> float:
    """Runs `sql` for the session every POLL_S until `done(row)`; returns perf_counter() at that read."""
    deadline = time.perf_counter() + POLL_TIMEOUT_S
    while True:
        row = db.execute(sql, (sid,)).fetchone()
        now = time.perf_counter()
        if row is not None and done(row):
            return now
        if now > deadline:
            raise RuntimeError(f"session {sid}: {sql} gave {row} for {POLL_TIMEOUT_S} s")
        time.sleep(POLL_S)


SESSION_SQL = """
SELECT s.status, s.pipeline_step, r.source
FROM interview_sessions AS s LEFT JOIN reports AS r ON r.session_id = s.id
WHERE s.id = %s
"""


def call_end_to_report(
    user: User, settings: Settings, db: psycopg.Connection[Any], sid: str
) -> tuple[str, float, float, float]:
    """Starts the call of a paid session and waits until its pipeline waits in AwaitCallEnd, then posts
    Vapi's end-of-call-report. Returns the call id and the ms from that post until its response, until
    the reports row exists and until the session is completed."""
    from prepkit.container import vapi_auth

    call_id: str = user.call("POST", f"/interviews/{sid}/start")["callId"]
    poll(db, SESSION_SQL, sid, lambda row: row[1] == "await_call_end")
    questions = [q["text"] for q in user.call("GET", f"/interviews/{sid}")["questions"]]
    raw = json.dumps({"message": end_of_call_report(call_id, sid, questions)}).encode()
    headers = {"content-type": "application/json", **vapi_auth(settings).sign(raw, int(time.time()))}

    def state(row: tuple[Any, ...]) -> tuple[str, bool]:
        """(status, report stored); raises once the session cannot complete any more."""
        status, _, source = row
        if status not in ("in_call", "processing", "completed"):
            raise RuntimeError(f"session {sid} went {status}, not completed")
        assert source in (None, "fallback"), f"session {sid}: a {source} report, not the fallback scorer's"
        return status, source is not None

    t0 = time.perf_counter()
    r = user.client.post("/webhooks/vapi", content=raw, headers=headers)
    answered = time.perf_counter()
    assert r.status_code == 200 and r.json()["result"] == "call end stored", r.text
    reported = poll(db, SESSION_SQL, sid, lambda row: state(row)[1])
    completed = poll(db, SESSION_SQL, sid, lambda row: state(row)[0] == "completed")
    return call_id, (answered - t0) * 1000, (reported - t0) * 1000, (completed - t0) * 1000


def pipeline(client: TestClient, settings: Settings, deliveries: Deliveries, n: int) -> tuple[list[Row], str]:
    """n paid sessions, one after the other, through the real pipeline. Returns the rows and a call id."""
    user = User(client, PIPELINE_USER)
    to_answer: list[float] = []
    to_report: list[float] = []
    to_completed: list[float] = []
    call_id = ""
    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as db, emf_to_devnull():
        for i in range(n):
            sid = user.paid_session()
            deliveries.wait_for(i + 1)  # its payment.captured webhook has landed: nothing else is running
            call_id, answer_ms, report_ms, completed_ms = call_end_to_report(user, settings, db, sid)
            to_answer.append(answer_ms)
            to_report.append(report_ms)
            to_completed.append(completed_ms)
    print(
        f"pipeline, end-of-call-report webhook posted -> (n={n} sessions, fallback scorer, "
        f"PostgreSQL polled every {POLL_S * 1000:.0f} ms):"
    )
    rows = [
        summarize("POST /webhooks/vapi end-of-call-report -> its response", to_answer),
        summarize("POST /webhooks/vapi end-of-call-report -> reports row stored", to_report),
        summarize("POST /webhooks/vapi end-of-call-report -> session completed", to_completed),
    ]
    return rows, call_id


def offline_container(settings: Settings) -> tuple[Container, Deliveries]:
    """The container `make dev` builds, but with a Vapi simulator that never plays the call by itself
    (the benchmark posts the end-of-call-report), and the pipeline deployed into moto, tasks in-process."""
    from prepkit.container import build_container, vapi_auth
    from prepkit.local.call_simulator import SimulatedVoice
    from prepkit.local.engine import deploy_pipeline
    from prepkit.pipeline.entry import make_pipeline_handler

    if settings.llm_configured or settings.voice_configured or settings.payments_configured:
        raise SystemExit("the benchmark runs offline: unset the PREPKIT_ Gemini, Vapi and Razorpay keys")
    deliveries = Deliveries()
    container = build_container(settings, deliver=deliveries)
    container.voice = SimulatedVoice(vapi_auth(settings), deliveries, autoplay=False)  # before .flow is built
    deploy_pipeline(settings, make_pipeline_handler(container))
    return container, deliveries


def child_env(stack: LocalStack) -> dict[str, str]:
    return {
        **os.environ,
        "PREPKIT_STAGE": "test",
        "PREPKIT_AUTH_MODE": "apigw",
        "DATABASE_URL": stack.database_url,
        "PREPKIT_AWS_ENDPOINT_URL": stack.aws_endpoint_url,
    }


def python_child(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (this venv's python) running our own fixed code."""
    done = subprocess.run(  # noqa: S603 (argv built here, no shell, no outside input)
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"python {shlex.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def child_ms(code: str, args: list[str], env: dict[str, str]) -> float:
    return float(python_child(["-c", code, *args], env).stdout.strip().splitlines()[-1])


def cold_starts(stack: LocalStack) -> list[Row]:
    env = child_env(stack)
    rows: list[Row] = []
    print(f"cold start, median of {IMPORT_RUNS} fresh interpreters (timed inside the child):")
    for function in FUNCTIONS:
        handler = str(ROOT / "functions" / function / "handler.py")
        for what, code, args in (
            (f"import prepkit.api.lambda_entry ({function})", IMPORT_CHILD, []),
            (f"run functions/{function}/handler.py (imports + container + app)", HANDLER_CHILD, [handler]),
        ):
            samples = [child_ms(code, args, env) for _ in range(IMPORT_RUNS)]
            median = statistics.median(samples)
            print(f"  {what}: median {median:.1f} ms ({', '.join(f'{s:.0f}' for s in samples)})")
            rows.append((what, f"{median:.1f}", "", IMPORT_RUNS))
    return rows


def import_profile(stack: LocalStack, function: str, top: int = 10) -> None:
    handler = str(ROOT / "functions" / function / "handler.py")
    code = f"import runpy; runpy.run_path({handler!r})"
    done = python_child(["-X", "importtime", "-c", code], child_env(stack))
    entries: list[tuple[int, int, str]] = []  # cumulative us, self us, module
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, module = line.removeprefix("import time:").split("|")
        entries.append((int(cumulative), int(own), module.strip()))
    print(f"python -X importtime, functions/{function}/handler.py, top {top} by cumulative time:")
    for cumulative_us, own_us, name in sorted(entries, reverse=True)[:top]:
        print(f"  {cumulative_us / 1000:8.1f} ms cumulative {own_us / 1000:7.1f} ms self  {name}")


def table(rows: list[Row]) -> str:
    lines = ["| what | p50 ms | p95 ms | n |", "|---|---:|---:|---:|"]
    lines += [f"| {what} | {p50} | {p95} | {n} |" for what, p50, p95, n in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="measured requests per endpoint (default 300)")
    parser.add_argument(
        "--pipeline-n", type=int, default=30, help="sessions through the pipeline (default 30)"
    )
    args = parser.parse_args()
    if min(args.n, args.pipeline_n) < 2:
        parser.error("percentiles need at least 2 samples")
    os.environ.update(OFFLINE_AWS_ENV)
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})

    from prepkit.api.app import create_app

    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--n",
        str(args.n),
        "--pipeline-n",
        str(args.pipeline_n),
    ]
    print(f"command: {shlex.join(command)}")
    print(f"python {platform.python_version()} ({platform.platform()})")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    # not a TemporaryDirectory: pgserver's own atexit hook re-creates its lock file in XDG_RUNTIME_DIR
    # (tmp/run) after the stack has stopped, so the directory goes last, by an earlier-registered hook
    tmp = tempfile.mkdtemp(prefix="prepkit-bench-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with local_stack(data_dir=Path(tmp), moto_port=free_port()) as stack:
        limits = dict.fromkeys(Settings.model_fields["rate_limits"].default, "100000000/3600")
        settings = stack.settings(
            stage=Stage.TEST,
            rate_limits=limits,
            start_window_s=PIPELINE_WINDOW_S,
            call_end_timeout_s=PIPELINE_WINDOW_S,
        )
        prepare(settings)
        print(f"interview_sessions rows after seeding: {seed(stack.database_url):,}")
        container, deliveries = offline_container(settings)
        try:
            client = TestClient(create_app(container))
            deliveries.client = client
            rows = latencies(client, args.n)
            pipeline_rows, call_id = pipeline(client, settings, deliveries, args.pipeline_n)
            rows += webhooks(client, settings, call_id, args.n) + pipeline_rows
        finally:
            container.close()
        rows += cold_starts(stack)
        import_profile(stack, FUNCTIONS[0])
    print(f"total run time: {time.perf_counter() - started:.1f} s\n")
    print(table(rows))


if __name__ == "__main__":
    main()
