"""FlowRepository on PostgreSQL: one transaction per `with repo.transaction() as tx`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from prepkit.adapters.postgres import question_from_row
from prepkit.adapters.storable import clean_text, jsonb_safe
from prepkit.domain.models import (
    CallRecord,
    InterviewConfig,
    Order,
    PaymentEvent,
    PaymentStatus,
    Price,
    Question,
    RefundEvent,
    SessionError,
    SessionStatus,
    StartedCall,
    Utterance,
)
from prepkit.domain.report import ReportContent, ReportSource, StoredReport
from prepkit.ports import CallRow, RefundRow, SessionState

_REFUND_RANK = {"requested": 0, "created": 1, "processed": 2, "failed": 2}
_STAMPS = {"paid_at", "started_at", "completed_at"}


class PostgresFlowRepository:
    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    @contextmanager
    def transaction(self) -> Iterator[PostgresFlowTransaction]:
        with self._pool.connection() as conn, conn.transaction():
            yield PostgresFlowTransaction(conn)


class PostgresFlowTransaction:
    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql.encode(), params).fetchone()

    def _exec(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._conn.cursor() as cur:
            cur.execute(sql.encode(), params)
            return cur.rowcount

    # -- sessions --------------------------------------------------------------------------------
    def lock_session(self, session_id: str, *, lock: bool = True) -> SessionState | None:
        sql = (
            "SELECT id::text, user_id, status, price_paise, currency, retakes_used, pipeline_step, pipeline_token,"
            " pipeline_started_at IS NOT NULL AS started, pipeline_restarts,"
            " extract(epoch FROM now() - paid_at)::float8 AS paid_age_s FROM interview_sessions WHERE id = %s"
        )
        row = self._one(sql + " FOR UPDATE" if lock else sql, (session_id,))
        if row is None:
            return None
        return SessionState(
            id=row["id"],
            user_id=row["user_id"],
            status=SessionStatus(row["status"]),
            price=Price(row["price_paise"], row["currency"]),
            retakes_used=row["retakes_used"],
            pipeline_step=row["pipeline_step"],
            pipeline_token=row["pipeline_token"],
            pipeline_started=row["started"],
            pipeline_restarts=row["pipeline_restarts"],
            paid_age_s=row["paid_age_s"],
        )

    def session_config(self, session_id: str) -> tuple[InterviewConfig, tuple[Question, ...]]:
        row = self._one("SELECT config FROM interview_sessions WHERE id = %s", (session_id,))
        assert row is not None
        with self._conn.cursor(row_factory=dict_row) as cur:
            questions = cur.execute(
                "SELECT position, text, topics, estimated_minutes, expected_key_points, follow_ups"
                " FROM interview_questions WHERE session_id = %s ORDER BY position",
                (session_id,),
            ).fetchall()
        return InterviewConfig.model_validate(row["config"]), tuple(question_from_row(q) for q in questions)

    def set_status(
        self,
        session_id: str,
        status: SessionStatus,
        *,
        error: SessionError | None = None,
        stamp: str | None = None,
        retakes_used: int | None = None,
    ) -> None:
        sets = ["status = %s", "updated_at = now()"]
        params: list[Any] = [status.value]
        if error is not None:
            sets += ["error_code = %s", "error_message = %s", "error_recoverable = %s"]
            params += [error.code, error.user_message, error.recoverable]
        if stamp is not None:
            assert stamp in _STAMPS
            sets.append(f"{stamp} = coalesce({stamp}, now())")
        if retakes_used is not None:
            sets.append("retakes_used = %s")
            params.append(retakes_used)
        self._exec(f"UPDATE interview_sessions SET {', '.join(sets)} WHERE id = %s", (*params, session_id))  # noqa: S608

    def set_pipeline_token(self, session_id: str, step: str | None, token: str | None) -> None:
        self._exec(
            "UPDATE interview_sessions SET pipeline_step = %s, pipeline_token = %s WHERE id = %s",
            (step, token, session_id),
        )

    def mark_pipeline_started(self, session_id: str) -> None:
        self._exec(
            "UPDATE interview_sessions SET pipeline_started_at = coalesce(pipeline_started_at, now()) WHERE id = %s",
            (session_id,),
        )

    def set_pipeline_restarts(self, session_id: str, restarts: int) -> None:
        self._exec(
            "UPDATE interview_sessions SET pipeline_restarts = %s, pipeline_started_at = NULL,"
            " pipeline_step = NULL, pipeline_token = NULL WHERE id = %s",
            (restarts, session_id),
        )

    def unsent_extra_refunds(self, *, older_than_s: int, limit: int) -> list[tuple[RefundRow, str]]:
        with self._conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT idempotency_key, payment_id, amount_paise, status, session_id::text FROM refunds"
                " WHERE refund_id IS NULL AND created_at <= now() - make_interval(secs => %s)"
                " AND idempotency_key LIKE 'refund-extra-%%' ORDER BY created_at LIMIT %s",
                (older_than_s, limit),
            ).fetchall()
        return [
            (
                RefundRow(r["idempotency_key"], r["payment_id"], None, r["amount_paise"], r["status"]),
                r["session_id"],
            )
            for r in rows
        ]

    def unfinished_sessions(self, *, idle_s: int, limit: int) -> list[str]:
        """SKIP LOCKED: a session another transaction holds is busy, not stuck (the next run sees it)."""
        with self._conn.cursor() as cur:
            rows = cur.execute(
                "UPDATE interview_sessions SET reconcile_checked_at = now() WHERE id IN ("
                " SELECT id FROM interview_sessions"
                " WHERE status IN ('paid', 'in_call', 'call_failed', 'processing', 'expired', 'failed')"
                " AND updated_at <= now() - make_interval(secs => %s)"
                " ORDER BY reconcile_checked_at NULLS FIRST LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id::text",
                (idle_s, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def record_event(self, provider: str, event_id: str, event_type: str, raw_body: str) -> bool:
        """The raw body is kept as received (text cannot hold a NUL byte, and only that is dropped); the
        jsonb copy is cleaned of what jsonb refuses (NUL, lone surrogates, NaN, Infinity)."""
        try:
            payload = json.dumps(jsonb_safe(json.loads(raw_body)), ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to (de)serialise
            payload = '{"unparsed": true}'
        return (
            self._exec(
                "INSERT INTO provider_events (provider, event_id, event_type, payload, raw_body)"
                " VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING",
                (provider, clean_text(event_id), clean_text(event_type)[:100], payload, clean_text(raw_body)),
            )
            == 1
        )

    # -- orders and payments ---------------------------------------------------------------------
    def get_order(self, order_id: str) -> tuple[Order, str] | None:
        row = self._one(
            "SELECT order_id, session_id::text, amount_paise, currency, status, user_id FROM payment_orders"
            " WHERE order_id = %s",
            (order_id,),
        )
        if row is None:
            return None
        return Order(
            row["order_id"], row["session_id"], row["amount_paise"], row["currency"], row["status"]
        ), row["user_id"]

    def open_order(self, session_id: str) -> Order | None:
        row = self._one(
            "SELECT order_id, session_id::text, amount_paise, currency, status FROM payment_orders"
            " WHERE session_id = %s AND status = 'created' ORDER BY created_at DESC LIMIT 1",
            (session_id,),
        )
        return (
            Order(row["order_id"], row["session_id"], row["amount_paise"], row["currency"], row["status"])
            if row
            else None
        )

    def insert_order(self, order: Order, user_id: str) -> None:
        self._exec(
            "INSERT INTO payment_orders (order_id, session_id, user_id, amount_paise, currency, status)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (order.order_id, order.session_id, user_id, order.amount, order.currency, order.status),
        )

    def apply_payment(self, event: PaymentEvent, session_id: str, user_id: str) -> PaymentStatus:
        # insert-or-nothing first, so two deliveries racing on a new payment cannot both insert it
        inserted = self._exec(
            "INSERT INTO payments (payment_id, order_id, session_id, user_id, amount_paise, currency, status,"
            " method, error_code, error_description, captured_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)"
            " ON CONFLICT (payment_id) DO NOTHING",
            (
                event.payment_id,
                event.order_id,
                session_id,
                user_id,
                event.amount,
                event.currency,
                event.status.value,
                event.method,
                event.error_code,
                event.error_description,
                event.status is PaymentStatus.CAPTURED,
            ),
        )
        row = self._one("SELECT status FROM payments WHERE payment_id = %s FOR UPDATE", (event.payment_id,))
        assert row is not None
        now = PaymentStatus(row["status"])
        if not inserted and event.status.rank > now.rank:  # states only move up: never undo a capture
            self._exec(
                "UPDATE payments SET status = %s, method = coalesce(%s, method), updated_at = now(),"
                " captured_at = CASE WHEN %s THEN coalesce(captured_at, now()) ELSE captured_at END"
                " WHERE payment_id = %s",
                (event.status.value, event.method, event.status is PaymentStatus.CAPTURED, event.payment_id),
            )
            now = event.status
        if now in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED):
            self._exec(
                "UPDATE payment_orders SET status = 'paid', updated_at = now() WHERE order_id = %s",
                (event.order_id,),
            )
        return now

    def claim_session(self, payment_id: str, session_id: str, *, payable: bool) -> bool:
        paying = self._one(
            "SELECT payment_id FROM payments WHERE session_id = %s AND pays_session", (session_id,)
        )
        if paying is not None:
            return bool(paying["payment_id"] == payment_id)
        if not payable:
            return False
        # the session row is locked by the caller; the partial unique index backs "one per session"
        return (
            self._exec(
                "UPDATE payments SET pays_session = true, updated_at = now()"
                " WHERE payment_id = %s AND session_id = %s AND status = 'captured'",
                (payment_id, session_id),
            )
            == 1
        )

    def clear_payment_error(self, session_id: str) -> None:
        self._exec(
            "UPDATE interview_sessions SET error_code = NULL, error_message = NULL, error_recoverable = NULL,"
            " updated_at = now() WHERE id = %s AND error_code = 'PAYMENT_FAILED'",
            (session_id,),
        )

    def captured_payment(self, session_id: str) -> tuple[str, int] | None:
        row = self._one(
            "SELECT payment_id, amount_paise - amount_refunded AS left_to_refund FROM payments"
            " WHERE session_id = %s AND pays_session",
            (session_id,),
        )
        return (row["payment_id"], row["left_to_refund"]) if row else None

    def _add_up_refunds(self, payment_id: str) -> None:
        """amount_refunded = the processed refunds of the payment; refunded once they cover it all."""
        self._exec(
            "UPDATE payments p SET amount_refunded = r.total, updated_at = now(),"
            " status = CASE WHEN r.total >= p.amount_paise THEN 'refunded' ELSE p.status END"
            " FROM (SELECT coalesce(sum(amount_paise), 0) AS total FROM refunds"
            "       WHERE payment_id = %s AND status = 'processed') AS r"
            " WHERE p.payment_id = %s AND p.amount_refunded IS DISTINCT FROM r.total",
            (payment_id, payment_id),
        )

    # -- refunds ---------------------------------------------------------------------------------
    def get_refund(self, idempotency_key: str) -> RefundRow | None:
        row = self._one(
            "SELECT idempotency_key, payment_id, refund_id, amount_paise, status FROM refunds WHERE idempotency_key = %s",
            (idempotency_key,),
        )
        if row is None:
            return None
        return RefundRow(
            row["idempotency_key"], row["payment_id"], row["refund_id"], row["amount_paise"], row["status"]
        )

    def insert_refund(self, row: RefundRow, session_id: str, reason: str) -> None:
        self._exec(
            "INSERT INTO refunds (idempotency_key, session_id, payment_id, refund_id, amount_paise, status, reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (row.idempotency_key, session_id, row.payment_id, row.refund_id, row.amount, row.status, reason),
        )
        if row.status == "processed":
            self._add_up_refunds(row.payment_id)

    def update_refund(self, idempotency_key: str, refund_id: str, status: str) -> bool:
        current = self._one(
            "SELECT status, refund_id, payment_id FROM refunds WHERE idempotency_key = %s FOR UPDATE",
            (idempotency_key,),
        )
        if current is None:
            return False
        keep = _REFUND_RANK[current["status"]] >= _REFUND_RANK[status]
        self._exec(
            "UPDATE refunds SET refund_id = coalesce(refund_id, %s), status = %s, updated_at = now()"
            " WHERE idempotency_key = %s",
            (refund_id, current["status"] if keep else status, idempotency_key),
        )
        if not keep and status == "processed":
            self._add_up_refunds(current["payment_id"])
        return current["refund_id"] is None

    def apply_refund_event(self, event: RefundEvent) -> str | None:
        row = self._one(
            "SELECT idempotency_key, status, session_id::text FROM refunds WHERE refund_id = %s"
            " OR (refund_id IS NULL AND payment_id = %s) ORDER BY refund_id NULLS LAST LIMIT 1 FOR UPDATE",
            (event.refund_id, event.payment_id),
        )
        if row is None:
            payment = self._one(
                "SELECT session_id::text FROM payments WHERE payment_id = %s", (event.payment_id,)
            )
            if payment is None:
                return None
            self.insert_refund(
                RefundRow(
                    f"external-{event.refund_id}",
                    event.payment_id,
                    event.refund_id,
                    event.amount,
                    event.status,
                ),
                payment["session_id"],
                "refunded outside the pipeline",
            )
            session_id: str = payment["session_id"]
        else:
            self.update_refund(row["idempotency_key"], event.refund_id, event.status)
            session_id = row["session_id"]
        return session_id

    # -- calls -----------------------------------------------------------------------------------
    def latest_call(self, session_id: str) -> CallRow | None:
        row = self._one(
            "SELECT call_id, session_id::text, attempt, status, web_call_url, ended_reason, duration_s, messages"
            " FROM calls WHERE session_id = %s ORDER BY attempt DESC LIMIT 1",
            (session_id,),
        )
        if row is None:
            return None
        return CallRow(
            call_id=row["call_id"],
            session_id=row["session_id"],
            attempt=row["attempt"],
            status=row["status"],
            web_call_url=row["web_call_url"],
            ended_reason=row["ended_reason"],
            duration_s=float(row["duration_s"]) if row["duration_s"] is not None else None,
            messages=tuple(
                Utterance(m["role"], m["text"], m.get("secondsFromStart")) for m in (row["messages"] or [])
            ),
        )

    def insert_call(self, session_id: str, attempt: int, started: StartedCall) -> None:
        self._exec(
            "INSERT INTO calls (call_id, session_id, attempt, status, web_call_url) VALUES (%s, %s, %s, 'created', %s)",
            (started.call_id, session_id, attempt, started.web_call_url),
        )

    def call_session(self, call_id: str) -> str | None:
        row = self._one("SELECT session_id::text FROM calls WHERE call_id = %s", (call_id,))
        return row["session_id"] if row else None

    def set_call_in_progress(self, call_id: str) -> None:
        self._exec(
            "UPDATE calls SET status = 'in_progress', updated_at = now() WHERE call_id = %s AND status = 'created'",
            (call_id,),
        )

    def store_call_end(self, record: CallRecord) -> bool:
        messages = [
            {"role": m.role, "text": m.text, "secondsFromStart": m.seconds_from_start}
            for m in record.messages
        ]
        return (
            self._exec(
                "UPDATE calls SET status = 'ended', ended_reason = %s, transcript = %s, messages = %s,"
                " recording_url = %s, cost_usd = %s, duration_s = %s, started_at = %s, ended_at = %s,"
                " updated_at = now() WHERE call_id = %s AND status <> 'ended'",
                (
                    record.ended_reason,
                    record.transcript.replace("\x00", ""),
                    Jsonb(messages),
                    record.recording_url,
                    record.cost_usd,
                    record.duration_s,
                    record.started_at,
                    record.ended_at,
                    record.call_id,
                ),
            )
            == 1
        )

    # -- reports ---------------------------------------------------------------------------------
    def insert_report(self, session_id: str, report: StoredReport) -> bool:
        return (
            self._exec(
                "INSERT INTO reports (session_id, source, overall_score, content, model, prompt_version,"
                " input_tokens, output_tokens, cost_usd) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (
                    session_id,
                    report.source.value,
                    report.content.overall_score,
                    Jsonb(report.content.model_dump(mode="json", by_alias=True)),
                    report.model,
                    report.prompt_version,
                    report.input_tokens,
                    report.output_tokens,
                    report.cost_usd,
                ),
            )
            == 1
        )

    def get_report(self, session_id: str) -> StoredReport | None:
        row = self._one(
            "SELECT source, content, model, prompt_version, input_tokens, output_tokens, cost_usd FROM reports"
            " WHERE session_id = %s",
            (session_id,),
        )
        if row is None:
            return None
        return StoredReport(
            content=ReportContent.model_validate(row["content"]),
            source=ReportSource(row["source"]),
            model=row["model"],
            prompt_version=row["prompt_version"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        )
