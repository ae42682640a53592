"""Versioned migrations: applied once, in order, refusing edited history; the schema has the indexes the
queries rely on, and no index that no query uses."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from prepkit.db import migrate as migrations
from prepkit.local.stack import LocalStack
from tests.integration.conftest import token_for
from tests.integration.test_payments import post_webhook


@pytest.fixture
def scratch_db(stack: LocalStack) -> Iterator[str]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_scratch")
        conn.execute("CREATE DATABASE migrate_scratch")
    url = stack.database_url.replace("/postgres?", "/migrate_scratch?")
    yield url
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_scratch WITH (FORCE)")


def test_migrations_apply_once_in_order(scratch_db: str) -> None:
    versions = [m.version for m in migrations.available()]
    assert versions == sorted(versions) and versions[0] == "0001_sessions"
    assert migrations.migrate(scratch_db) == versions
    assert migrations.migrate(scratch_db) == []
    with psycopg.connect(scratch_db) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == versions


def test_an_edited_migration_is_refused(scratch_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    migrations.migrate(scratch_db)
    original = migrations.available()
    edited = [migrations.Migration(m.version, m.sql + "\n-- edited") for m in original]
    monkeypatch.setattr(migrations, "available", lambda: edited)
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrations.migrate(scratch_db)


def test_a_failing_migration_leaves_nothing_half_applied(
    scratch_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        *migrations.available(),
        migrations.Migration("9999_broken", "CREATE TABLE t (id int); SELECT 1/0;"),
    ]
    monkeypatch.setattr(migrations, "available", lambda: broken)
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrations.migrate(scratch_db)
    with psycopg.connect(scratch_db) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM schema_migrations WHERE version = '9999_broken'"
        ).fetchone() == (0,)


def test_the_price_list_is_seeded(db: psycopg.Connection[Any]) -> None:
    prices = dict(db.execute("SELECT duration_minutes, amount_paise FROM pricing").fetchall())
    assert prices == {15: 9900, 20: 14900, 30: 19900, 45: 27900}


_EXECUTE = psycopg.Cursor.execute


def _recording(statements: dict[str, Any]) -> Callable[..., Any]:
    """Cursor.execute, recording every statement the repositories (prepkit.adapters) send, with its
    parameters."""

    def execute(cursor: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("psycopg"):
            frame = frame.f_back
        if frame.f_globals.get("__name__", "").startswith("prepkit.adapters."):
            if isinstance(query, bytes | str):
                text = query.decode() if isinstance(query, bytes) else query
            else:  # psycopg.sql.Composed
                text = query.as_string(cursor)
            if text.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
                statements.setdefault(text, params)
        return _EXECUTE(cursor, query, params, **kw)

    return execute


def _index_uses(plan: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield plan["Node Type"], plan
    for child in plan.get("Plans", []):
        yield from _index_uses(child)


def test_indexes_for_the_queries(
    make_flow: Callable[..., Any], db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement the repositories run in a paid interview (and its refund, the webhooks, the reads,
    the admin view, the reconciler) finds its rows through an index, and every index that is not a
    uniqueness rule serves one of them: an index no query uses only slows every write."""
    statements: dict[str, Any] = {}
    monkeypatch.setattr(psycopg.Cursor, "execute", _recording(statements))
    flow = make_flow()
    done = flow.setup()
    flow.pay(done)
    flow.start(done)
    assert flow.wait_for(done, "completed") == "completed"
    refunded = flow.setup()
    flow.pay(refunded)
    assert flow.container.flow.task_expire(refunded) == "refunded"
    refund = {
        "entity": "event",
        "event": "refund.processed",
        "payload": {"refund": {"entity": {"id": "rfnd_IDX0000001", "payment_id": "pay_NOT_OURS",
                                          "amount": 100, "status": "processed"}}},
    }  # fmt: skip
    assert post_webhook(flow, json.dumps(refund).encode(), event_id="evt_idx").status_code == 200
    for path in (
        "/interviews/history",
        "/interviews/stats",
        f"/interviews/{done}",
        f"/interviews/{done}/report",
    ):
        assert flow.client.get(path, headers=flow.headers("alice")).status_code == 200, path
    admin = {"Authorization": f"Bearer {token_for(flow.client, 'root', ['admin'])}"}
    assert flow.client.get("/admin/metrics", headers=admin).status_code == 200
    flow.container.flow.reconcile_all()
    monkeypatch.undo()
    assert len(statements) > 30

    secondary = {
        name
        for (name,) in db.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT i.indisunique"
        )
    }
    used: set[str] = set()
    unindexed: list[str] = []
    with db.transaction():
        db.execute("SET LOCAL enable_seqscan = off")  # at test sizes every table is one page
        for sql, params in statements.items():
            plan = db.execute(("EXPLAIN (FORMAT JSON) " + sql).encode(), params).fetchone()
            assert plan is not None
            for node, detail in _index_uses(plan[0][0]["Plan"]):
                if "Index Name" in detail and ("Index Cond" in detail or node == "Bitmap Index Scan"):
                    used.add(detail["Index Name"])
                # a scan that filters rows without an index; the admin totals read every row by design
                if node == "Seq Scan" and "Filter" in detail and params:
                    unindexed.append(" ".join(sql.split())[:160])
    assert unindexed == []
    assert secondary - used == set(), "indexes no query uses"
    assert {
        "interview_sessions_user_created_idx",  # history, newest first; the counts per user
        "payment_orders_session_idx",  # the session's open order
        "refunds_payment_idx",  # refund webhooks, the refunded total of a payment
    } <= used
