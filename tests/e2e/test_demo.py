"""`make demo` end to end: the real command starts the local stack itself, drives one paid interview over
HTTP (token, setup, order, simulated Checkout, verify, start, simulated call) and prints the report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from prepkit.local.stack import free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_one_complete_interview_and_prints_the_report(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PREPKIT_LOCAL_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "prepkit.local.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for step in ("1. setup", "2. order", "3. checkout", "4. verify", "5. start", "6. pipeline"):
        assert step in out, out
    assert "→ paid" in out
    assert "→ completed" in out
    score = re.search(r"Overall score\s+(\d+)/100", out)
    assert score is not None, out
    assert int(score.group(1)) >= 70  # the simulated candidate is a good one
    for line in (
        "Technical depth",
        "Communication",
        "Problem solving",
        "Trade-off analysis",
        "Time management",
    ):
        assert line in out
    assert "Strengths:" in out
    assert "Weaknesses:" in out
    assert port_is_free(port)  # the stack it started is stopped again
