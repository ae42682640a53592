"""`make demo`: one complete interview over HTTP, as the web app would drive it: token, setup, order,
simulated Checkout, verify, start, simulated call, report. Uses a running `make dev` on $PORT if there is
one; otherwise starts the local stack itself (and stops it afterwards)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from prepkit.local.stack import free_port, log

FINAL = {"completed", "refunded", "failed", "expired"}


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def api(port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    if _up(base):
        log(f"using the running local stack at {base}")
        yield base
        return
    port = port if _port_free(port) else free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "PREPKIT_MOTO_PORT": str(free_port()),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    log(f"starting the local stack on {base} ...")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prepkit.local.dev"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while not _up(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    "the local stack did not start:\n" + (proc.stderr.read() if proc.stderr else "")
                )
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _port_free(port: int) -> bool:
    from prepkit.local.stack import port_is_free

    return port_is_free(port)


def _ok(response: httpx.Response, expected: int = 200) -> dict[str, Any]:
    if response.status_code != expected:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path} -> {response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def run(base: str, *, interview: dict[str, Any]) -> dict[str, Any]:
    c = httpx.Client(base_url=base, timeout=30)
    token = _ok(c.post("/dev/token", json={"userId": "demo-candidate"}))["token"]
    c.headers["Authorization"] = f"Bearer {token}"
    setup = _ok(c.post("/interviews/setup", json=interview), 200)
    sid = setup["sessionId"]
    print(
        f"\n1. setup      {interview['type']} · {interview['difficulty']} · {interview['duration']} min → "
        f"{len(setup['questions'])} questions ({setup['questionSource']}), price {setup['pricing']['display']}"
    )
    order = _ok(c.post(f"/interviews/{sid}/order"))
    print(f"2. order      {order['orderId']} for {order['amount']} paise (amount decided by the server)")
    paid = _ok(c.post("/dev/checkout", json={"orderId": order["orderId"]}))
    print(f"3. checkout   simulated Razorpay Checkout → {paid['razorpay_payment_id']} (signed)")
    verified = _ok(c.post("/payments/verify", json=paid))
    print(f"4. verify     signature checked against the stored order → {verified['status']}")
    call = _ok(c.post(f"/interviews/{sid}/start"))
    print(f"5. start      voice call {call['callId']} {call['status']} (simulated Vapi candidate)")
    deadline = time.monotonic() + 120
    status = ""
    while time.monotonic() < deadline:
        status = _ok(c.get(f"/interviews/{sid}"))["status"]
        if status in FINAL:
            break
        time.sleep(0.5)
    print(f"6. pipeline   call ended, transcript reviewed → {status}")
    if status != "completed":
        raise SystemExit(f"the interview ended as {status}")
    return _ok(c.get(f"/interviews/{sid}/report"))


def headline(report: dict[str, Any]) -> str:
    r = report["report"]
    lines = [
        f"\nReport ({'Gemini ' + str(report['model']) if report['source'] == 'ai' else 'offline scorer'})"
    ]
    lines.append(f"  Overall score      {r['overallScore']}/100   ({r['evidenceStatus'].replace('_', ' ')})")
    names = {
        "technicalDepth": "Technical depth",
        "communication": "Communication",
        "problemSolving": "Problem solving",
        "tradeOffAnalysis": "Trade-off analysis",
        "timeManagement": "Time management",
    }
    for key, name in names.items():
        value = r["breakdown"].get(key)
        bar = "█" * round((value or 0) / 10)
        lines.append(f"  {name:<18} {'—' if value is None else value:>3}  {bar}")
    for title, items in (("Strengths", r["strengths"]), ("Weaknesses", r["weaknesses"])):
        lines.append(f"  {title}:")
        lines.extend(f"    - {item}" for item in items[:3] or ["(none)"])
    quote = next((q["transcriptQuotes"][0] for q in r["perQuestion"] if q["transcriptQuotes"]), None)
    if quote:
        lines.append(f'  Evidence, question 1: "{quote[:140]}{"..." if len(quote) > 140 else ""}"')
    return "\n".join(lines)


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    interview = {"type": "python", "difficulty": "medium", "duration": 20, "focusAreas": ["async", "testing"]}
    with api(port) as base:
        report = run(base, interview=interview)
    print(headline(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
