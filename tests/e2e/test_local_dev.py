"""`make dev` end to end: the real entry point (python -m prepkit.local.dev) in a subprocess, driven over
HTTP on 127.0.0.1; Ctrl-C stops it cleanly, a second start works and finds the data again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from prepkit.local.stack import free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def dev_server(
    data_dir: Path, port: int, moto_port: int
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    env = {
        **os.environ,
        "PORT": str(port),
        "PREPKIT_MOTO_PORT": str(moto_port),
        "PREPKIT_LOCAL_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prepkit.local.dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        else:
            pytest.fail("the local stack did not come up in 60 s")
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        lines.extend(out.splitlines())


def test_dev_serves_the_api_stops_on_ctrl_c_and_keeps_its_data(tmp_path: Path) -> None:
    port, moto_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with dev_server(tmp_path, port, moto_port) as (proc, lines):
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "PrepKit Interviews"
        assert httpx.get(f"{base}/docs").status_code == 200
        token = httpx.post(f"{base}/dev/token", json={"userId": "alice"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/interviews/setup",
            json={"type": "behavioral", "difficulty": "medium", "duration": 20},
            headers=headers,
        )
        assert created.status_code == 200, created.text
        session_id = created.json()["sessionId"]
        assert created.headers["x-ratelimit-limit"] == "5"
    assert proc.returncode == 0, "\n".join(lines)
    banner = "\n".join(lines)
    for expected in (f"API        {base}", f"{base}/docs", "database", "/dev/token", "Ctrl-C", "stopped"):
        assert expected in banner, banner
    assert port_is_free(port)
    assert port_is_free(moto_port)

    # a second start finds the same database (the data directory is kept) and applies no migration again
    with dev_server(tmp_path, port, moto_port) as (proc, lines):
        token = httpx.post(f"{base}/dev/token", json={"userId": "alice"}).json()["token"]
        r = httpx.get(f"{base}/interviews/{session_id}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["status"] == "pending_payment"
    assert proc.returncode == 0
    assert "migrations up to date" in "\n".join(lines)


def test_dev_refuses_a_taken_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "PREPKIT_LOCAL_DIR": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-m", "prepkit.local.dev"],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} (API) is taken" in result.stderr
