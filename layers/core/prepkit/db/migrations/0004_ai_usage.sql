-- Every LLM attempt, successful or not: its tokens, cost and outcome (GET /admin/metrics sums them).
-- No foreign key to interview_sessions: questions are generated before the session row exists, and
-- an attempt's cost is real even when the setup that paid for it never stored a session.

CREATE TABLE ai_usage (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id      uuid    NOT NULL,
    purpose         text    NOT NULL CHECK (purpose IN ('questions', 'report')),
    model           text    NOT NULL,
    outcome         text    NOT NULL
                    CHECK (outcome IN ('ok', 'invalid', 'blocked', 'truncated', 'error', 'timeout')),
    input_tokens    integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens   integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),  -- answer + thinking
    thinking_tokens integer NOT NULL DEFAULT 0 CHECK (thinking_tokens >= 0),
    cost_usd        numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    duration_ms     integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_usage_session_idx ON ai_usage (session_id);
CREATE INDEX ai_usage_created_idx ON ai_usage (created_at);
