"""Versioned migrations: applied once, in order, refusing edited history; the schema has the indexes the
queries rely on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from prepkit.db import migrate as migrations
from prepkit.local.stack import LocalStack


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


def test_indexes_for_the_queries(db: psycopg.Connection[Any]) -> None:
    indexes = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'interview_sessions'"
        )
    }
    assert "(user_id, created_at DESC, id DESC)" in indexes["interview_sessions_user_created_idx"]
    assert "(user_id, status)" in indexes["interview_sessions_user_status_idx"]
    assert "(type, difficulty)" in indexes["interview_sessions_type_difficulty_idx"]
    prices = dict(db.execute("SELECT duration_minutes, amount_paise FROM pricing").fetchall())
    assert prices == {15: 9900, 20: 14900, 30: 19900, 45: 27900}
