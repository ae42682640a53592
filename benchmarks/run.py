"""Latency of the warm in-process app over 100,000+ seeded sessions, and the cold-start import time of
each Lambda entry point. Offline: embedded PostgreSQL and moto on 127.0.0.1, the offline question bank.

    .venv/bin/python -m benchmarks.run [--n 300]
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from prepkit.local.stack import OFFLINE_AWS_ENV, LocalStack, free_port, local_stack, prepare
from prepkit.routes import FUNCTIONS
from prepkit.settings import Settings, Stage

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 20
IMPORT_RUNS = 5
BENCH_USER = "bench-user"
SETUP_BODY = {"type": "python", "difficulty": "medium", "duration": 20, "focusAreas": ["async"]}

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


def measure(what: str, n: int, request: Callable[[], Any], expected: int) -> Row:
    def once() -> float:
        t0 = time.perf_counter()
        response = request()
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == expected, f"{what}: {response.status_code} {response.text}"
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
    assert r.status_code == 201, r.text
    session_id = r.json()["sessionId"]
    print(f"latency, warm in-process app ({WARMUP} warm-up requests, then n={n}):")

    def get(path: str) -> Callable[[], Any]:
        return lambda: client.get(path, headers=headers)

    return [
        measure(
            "POST /interviews/setup",
            n,
            lambda: client.post("/interviews/setup", json=SETUP_BODY, headers=headers),
            201,
        ),
        measure("GET /interviews/{id}", n, get(f"/interviews/{session_id}"), 200),
        measure(
            "GET /interviews/history?page=1&limit=10", n, get("/interviews/history?page=1&limit=10"), 200
        ),
        measure(
            "GET /interviews/history?page=20&limit=10", n, get("/interviews/history?page=20&limit=10"), 200
        ),
    ]


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
    args = parser.parse_args()
    os.environ.update(OFFLINE_AWS_ENV)
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})

    from prepkit.api.app import create_app
    from prepkit.container import build_container

    started = time.perf_counter()
    print(f"command: {shlex.join([sys.executable, '-m', 'benchmarks.run', '--n', str(args.n)])}")
    print(f"python {platform.python_version()} ({platform.platform()})")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    # not a TemporaryDirectory: pgserver's own atexit hook re-creates its lock file in XDG_RUNTIME_DIR
    # (tmp/run) after the stack has stopped, so the directory goes last, by an earlier-registered hook
    tmp = tempfile.mkdtemp(prefix="prepkit-bench-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with local_stack(data_dir=Path(tmp), moto_port=free_port()) as stack:
        limits = dict.fromkeys(Settings.model_fields["rate_limits"].default, "100000000/3600")
        settings = stack.settings(stage=Stage.TEST, rate_limits=limits)
        prepare(settings)
        print(f"interview_sessions rows after seeding: {seed(stack.database_url):,}")
        container = build_container(settings)
        try:
            rows = latencies(TestClient(create_app(container)), args.n)
        finally:
            container.close()
        rows += cold_starts(stack)
        import_profile(stack, FUNCTIONS[0])
    print(f"total run time: {time.perf_counter() - started:.1f} s\n")
    print(table(rows))


if __name__ == "__main__":
    main()
