"""SessionRepository on PostgreSQL (psycopg 3, one pool per process)."""

from __future__ import annotations

import json
import weakref
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from prepkit.domain.models import (
    Difficulty,
    InterviewConfig,
    InterviewType,
    Price,
    Question,
    QuestionSource,
    Session,
    SessionError,
    SessionStatus,
    SessionSummary,
)

#: TCP keepalives: a connection whose peer vanished (failover, a dropped NAT entry) is noticed in
#: about 10 + 3 x 5 s instead of the kernel's two hours
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def make_pool(
    conninfo: str,
    *,
    max_size: int,
    connect_timeout_s: int = 2,
    acquire_timeout_s: float = 1.5,
    reconnect_timeout_s: float = 2.0,
) -> ConnectionPool:
    """The process's pool, built to recover fast.

    Each connection is checked (an empty query) when it is handed out, so one broken by a database
    restart is replaced instead of failing the request; the first broken one found has the pool check
    all its idle connections at once (one restart breaks them all), so the request gets a fresh one
    after the pool's one backoff pause instead of meeting the other broken ones. A request waits at
    most `acquire_timeout_s` for a connection (then PoolTimeout, answered 503). A failed reconnection
    is retried with the pool's backoff (1 s, 2 s, ... with jitter) for at most `reconnect_timeout_s`,
    then given up, so the next request starts a fresh attempt at once: after the database returns the
    pool serves again within about `reconnect_timeout_s`, not after the backoff of the pool's
    5-minute default (which kept the API failing ~40 s after an outage)."""
    holder: list[weakref.ref[ConnectionPool]] = []

    def check(conn: psycopg.Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            pool = holder[0]() if holder else None
            if pool is not None:
                pool.check()  # outside the pool's lock: discards and replaces the broken idle ones
            raise

    pool: ConnectionPool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={"connect_timeout": connect_timeout_s, "application_name": "prepkit", **_KEEPALIVES},
        check=check,
        timeout=acquire_timeout_s,
        reconnect_timeout=reconnect_timeout_s,
        open=True,
        name="prepkit",
    )
    holder.append(weakref.ref(pool))
    return pool


def is_database_unavailable(exc: BaseException) -> bool:
    """The exception, or one it was raised from, says the database cannot serve now: the server is
    gone, restarting or refusing connections, no pooled connection came in time (PoolTimeout is an
    OperationalError), the connection broke under the query (InterfaceError), or a transaction was
    rolled back by a serialization failure or deadlock (also an OperationalError). A retry may work."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (psycopg.OperationalError, psycopg.InterfaceError)):
            return True
        current = current.__cause__ or current.__context__
    return False


_SESSION_COLUMNS = (
    "id::text AS id, user_id, status, config, question_source, price_paise, currency, "
    "error_code, error_message, error_recoverable, created_at, updated_at"
)


class PostgresSessionRepository:
    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def price_for(self, duration_minutes: int) -> Price | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT amount_paise, currency FROM pricing WHERE duration_minutes = %s AND active",
                (duration_minutes,),
            ).fetchone()
        return Price(amount=row[0], currency=row[1]) if row else None

    def create_session(self, session: Session) -> None:
        config = session.config
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO interview_sessions (id, user_id, status, type, difficulty, duration_minutes,"
                " config, question_source, question_model, price_paise, currency, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    session.id,
                    session.user_id,
                    session.status.value,
                    config.type.value,
                    config.difficulty.value,
                    config.duration,
                    Jsonb(config.model_dump(mode="json", by_alias=True)),
                    session.question_source.value,
                    session.question_model,
                    session.price.amount,
                    session.price.currency,
                    session.created_at,
                    session.updated_at,
                ),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO interview_questions (session_id, position, text, topics, estimated_minutes,"
                    " expected_key_points, follow_ups) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            session.id,
                            q.position,
                            q.text,
                            list(q.topics),
                            q.estimated_minutes,
                            Jsonb(list(q.expected_key_points)),
                            Jsonb(list(q.follow_ups)),
                        )
                        for q in session.questions
                    ],
                )

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_SESSION_COLUMNS} FROM interview_sessions WHERE id = %s AND user_id = %s",  # noqa: S608
                (session_id, user_id),
            ).fetchone()
            if row is None:
                return None
            questions = cur.execute(
                "SELECT position, text, topics, estimated_minutes, expected_key_points, follow_ups"
                " FROM interview_questions WHERE session_id = %s ORDER BY position",
                (session_id,),
            ).fetchall()
        return _session(row, [question_from_row(q) for q in questions])

    def list_sessions(self, user_id: str, *, offset: int, limit: int) -> tuple[list[SessionSummary], int]:
        with self._pool.connection() as conn:
            total_row = conn.execute(
                "SELECT count(*) FROM interview_sessions WHERE user_id = %s", (user_id,)
            ).fetchone()
            total = int(total_row[0]) if total_row else 0
            if total <= offset:
                return [], total
            rows = conn.execute(
                "SELECT id::text, status, type, difficulty, duration_minutes, created_at, updated_at"
                " FROM interview_sessions WHERE user_id = %s"
                " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                (user_id, limit, offset),
            ).fetchall()
        return [
            SessionSummary(
                id=r[0],
                status=SessionStatus(r[1]),
                type=InterviewType(r[2]),
                difficulty=Difficulty(r[3]),
                duration=r[4],
                created_at=r[5],
                updated_at=r[6],
            )
            for r in rows
        ], total


def question_from_row(row: dict[str, Any]) -> Question:
    return Question(
        position=row["position"],
        text=row["text"],
        topics=tuple(row["topics"]),
        estimated_minutes=row["estimated_minutes"],
        expected_key_points=tuple(row["expected_key_points"]),
        follow_ups=tuple(row["follow_ups"]),
    )


def _session(row: dict[str, Any], questions: list[Question]) -> Session:
    config = row["config"]
    if isinstance(config, str):
        config = json.loads(config)
    error = (
        SessionError(
            code=row["error_code"],
            user_message=row["error_message"] or "",
            recoverable=bool(row["error_recoverable"]),
        )
        if row["error_code"]
        else None
    )
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        status=SessionStatus(row["status"]),
        config=InterviewConfig.model_validate(config),
        price=Price(amount=row["price_paise"], currency=row["currency"]),
        question_source=QuestionSource(row["question_source"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        questions=tuple(questions),
        error=error,
    )
