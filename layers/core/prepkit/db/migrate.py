"""Applies the versioned SQL files in ./migrations in order, each once, each in its own transaction,
under an advisory lock (so two starters never race). Used by the local stack, the tests and, at deploy,
by the migration trigger function, which runs as the database owner and then gives the application role
(DML only, migration 0005) its login and the password from its own secret."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_LOCK_ID = 0x70726570  # "prep"
#: the application role every function but the migrations logs in as (created by 0005_app_role.sql)
APP_ROLE = "prepkit_app"
#: the migration function's env: the fingerprint of the migrations its deploy ships (set by CDK)
FINGERPRINT_ENV = "PREPKIT_MIGRATIONS_SHA256"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    folder = resources.files("prepkit.db") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(version=f.name.removesuffix(".sql"), sql=f.read_text()) for f in files]


def fingerprint(migrations: Iterable[Migration]) -> str:
    """One hash of every migration's version and text: CDK puts it in the migration function's
    environment (a changed migration set is a changed function, so the deploy trigger runs again)."""
    digest = hashlib.sha256()
    for migration in sorted(migrations, key=lambda m: m.version):
        digest.update(f"{migration.version}\0{migration.checksum}\n".encode())
    return digest.hexdigest()


def set_app_role_password(conninfo: str, role: str, password: str) -> None:
    """Gives the application role its login and the password of its secret (each deploy: a rotated
    secret is picked up too). Runs as the owner, after the migrations created the role."""
    if role != APP_ROLE:
        raise RuntimeError(f"the application secret's user is {role!r}, the migrations grant {APP_ROLE!r}")
    if not password:
        raise RuntimeError("the application role's secret has no password")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )


def migrate(conninfo: str) -> list[str]:
    """Returns the versions applied by this call. Refuses to go on if an applied file was edited."""
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done: dict[str, str] = dict(
                conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            )
            for migration in available():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise RuntimeError(f"migration {migration.version} changed after it was applied")
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                        (migration.version, migration.checksum),
                    )
                log.info("applied migration %s", migration.version)
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
