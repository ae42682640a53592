"""AiUsageLog on PostgreSQL: one row per LLM attempt (table ai_usage, migration 0004)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from prepkit.ports import AiUsage


class PostgresAiUsageLog:
    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def record(self, usage: AiUsage) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO ai_usage (session_id, purpose, model, outcome, input_tokens, output_tokens,"
                " thinking_tokens, cost_usd, duration_ms, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    usage.session_id,
                    usage.purpose,
                    usage.model,
                    usage.outcome,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.thinking_tokens,
                    usage.cost_usd,
                    usage.duration_ms,
                    usage.detail[:200] if usage.detail else None,
                ),
            )
