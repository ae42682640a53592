"""InsightsRepository on PostgreSQL: one query for a user's score history, one round of aggregates for
the operators (indexes: sessions by user+status, reports by session+score, payments by user+status).
AI cost comes from ai_usage: every LLM attempt, not only the reports stored."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from prepkit.domain.insights import PlatformCounts, ScorePoint


class PostgresInsightsRepository:
    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def score_history(self, user_id: str) -> list[ScorePoint]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT s.id::text, s.type, s.difficulty, coalesce(s.completed_at, r.created_at), r.overall_score,"
                " coalesce(r.content->'breakdown', '{}'::jsonb)"
                " FROM interview_sessions s JOIN reports r ON r.session_id = s.id"
                " WHERE s.user_id = %s AND s.status = 'completed'"
                " ORDER BY coalesce(s.completed_at, r.created_at), s.id",
                (user_id,),
            ).fetchall()
        return [ScorePoint(r[0], r[1], r[2], r[3], r[4], dict(r[5])) for r in rows]

    def platform_counts(self) -> PlatformCounts:
        with self._pool.connection() as conn:
            status_rows = conn.execute(
                "SELECT status, count(*) FROM interview_sessions GROUP BY status"
            ).fetchall()
            sessions = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE question_source = 'fallback'),"
                " count(*) FILTER (WHERE paid_at IS NOT NULL) FROM interview_sessions"
            ).fetchone()
            money = conn.execute(
                "SELECT coalesce(sum(amount_paise) FILTER (WHERE status IN ('captured', 'refunded')), 0),"
                " coalesce((SELECT sum(amount_paise) FROM refunds WHERE status IN ('created', 'processed')), 0)"
                " FROM payments"
            ).fetchone()
            reports = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE source = 'fallback') FROM reports"
            ).fetchone()
            ai = conn.execute(  # every attempt, not only the reports stored
                "SELECT coalesce(sum(cost_usd), 0), coalesce(sum(cost_usd) FILTER (WHERE purpose = 'report'), 0)"
                " FROM ai_usage"
            ).fetchone()
            calls = conn.execute(
                "SELECT count(*) FILTER (WHERE cost_usd IS NOT NULL), coalesce(sum(cost_usd), 0) FROM calls"
            ).fetchone()
        assert sessions is not None and money is not None and reports is not None and calls is not None
        assert ai is not None
        return PlatformCounts(
            sessions_by_status={str(status): int(n) for status, n in status_rows},
            ever_paid=int(sessions[2]),
            captured_paise=int(money[0]),
            refunded_paise=int(money[1]),
            ai_cost_usd=float(ai[0]),
            report_cost_usd=float(ai[1]),
            reports=int(reports[0]),
            fallback_reports=int(reports[1]),
            voice_cost_usd=float(calls[1]),
            calls_with_cost=int(calls[0]),
            sessions=int(sessions[0]),
            fallback_question_sessions=int(sessions[1]),
        )
