"""Migration 0003 on a database that already has payments (0001 and 0002 applied, rows in their shape):
the payment that paid each session is marked, full refunds are carried over, one paying payment per
session is enforced by the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from prepkit.db import migrate as migrations
from prepkit.local.stack import LocalStack

SESSION_A = "00000000-0000-4000-8000-00000000000a"
SESSION_B = "00000000-0000-4000-8000-00000000000b"


@pytest.fixture
def old_db(stack: LocalStack) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_razorpay_0003")
        conn.execute("CREATE DATABASE migrate_razorpay_0003")
    url = stack.database_url.replace("/postgres?", "/migrate_razorpay_0003?")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_razorpay_0003 WITH (FORCE)")


def test_0003_marks_the_paying_payment_and_carries_full_refunds(old_db: psycopg.Connection[Any]) -> None:
    by_version = {m.version: m.sql for m in migrations.available()}
    for version in ("0001_sessions", "0002_payments_calls_reports"):
        old_db.execute(by_version[version].encode())
    for sid, status in ((SESSION_A, "refunded"), (SESSION_B, "paid")):
        old_db.execute(
            "INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes, config,"
            " question_source, price_paise, currency) VALUES (%s, 'alice', %s, 'python', 'easy', 20, '{}',"
            " 'fallback', 14900, 'INR')",
            (sid, status),
        )
        old_db.execute(
            "INSERT INTO payment_orders (order_id, session_id, user_id, amount_paise, currency, status)"
            " VALUES (%s, %s, 'alice', 14900, 'INR', 'paid')",
            (f"order_{sid[-1]}", sid),
        )
    rows = [  # (payment, session, status, captured_at)
        ("pay_A_failed", SESSION_A, "failed", None),
        ("pay_A_paid", SESSION_A, "refunded", "2026-01-01T10:00:00Z"),
        ("pay_B_first", SESSION_B, "captured", "2026-01-01T10:00:00Z"),
        ("pay_B_late", SESSION_B, "captured", "2026-01-01T10:05:00Z"),  # an extra, in the old schema
    ]
    for payment_id, sid, status, captured_at in rows:
        old_db.execute(
            "INSERT INTO payments (payment_id, order_id, session_id, user_id, amount_paise, currency, status,"
            " captured_at) VALUES (%s, %s, %s, 'alice', 14900, 'INR', %s, %s)",
            (payment_id, f"order_{sid[-1]}", sid, status, captured_at),
        )

    old_db.execute(by_version["0003_payment_capture_and_refunds"].encode())

    got = old_db.execute(
        "SELECT payment_id, status, amount_refunded, pays_session FROM payments ORDER BY payment_id"
    ).fetchall()
    assert got == [
        ("pay_A_failed", "failed", 0, False),
        ("pay_A_paid", "refunded", 14900, True),
        ("pay_B_first", "captured", 0, True),
        ("pay_B_late", "captured", 0, False),
    ]
    with pytest.raises(psycopg.errors.UniqueViolation):
        old_db.execute("UPDATE payments SET pays_session = true WHERE payment_id = 'pay_B_late'")
