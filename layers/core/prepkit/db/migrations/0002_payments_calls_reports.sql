-- Payments (Razorpay), calls (Vapi), reports, and every provider event we received (deduplicated).

ALTER TABLE interview_sessions
    ADD COLUMN pipeline_token        text,
    ADD COLUMN pipeline_step         text CHECK (pipeline_step IN ('await_candidate', 'await_call_end')),
    ADD COLUMN pipeline_started_at   timestamptz,
    ADD COLUMN retakes_used          integer NOT NULL DEFAULT 0 CHECK (retakes_used >= 0),
    ADD COLUMN paid_at               timestamptz,
    ADD COLUMN started_at            timestamptz,
    ADD COLUMN completed_at          timestamptz;

CREATE TABLE payment_orders (
    order_id     text PRIMARY KEY,
    session_id   uuid    NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
    user_id      text    NOT NULL,
    amount_paise integer NOT NULL CHECK (amount_paise >= 100),
    currency     text    NOT NULL,
    status       text    NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_orders_session_idx ON payment_orders (session_id, created_at DESC);

CREATE TABLE payments (
    payment_id        text PRIMARY KEY,
    order_id          text    NOT NULL REFERENCES payment_orders (order_id),
    session_id        uuid    NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
    user_id           text    NOT NULL,
    amount_paise      integer NOT NULL,
    currency          text    NOT NULL,
    status            text    NOT NULL CHECK (status IN ('authorized', 'failed', 'captured', 'refunded')),
    method            text,
    error_code        text,
    error_description text,
    captured_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_user_status_idx ON payments (user_id, status);
CREATE INDEX payments_session_idx ON payments (session_id);

CREATE TABLE refunds (
    idempotency_key text PRIMARY KEY,
    session_id      uuid    NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
    payment_id      text    NOT NULL REFERENCES payments (payment_id),
    refund_id       text UNIQUE,
    amount_paise    integer NOT NULL,
    status          text    NOT NULL CHECK (status IN ('requested', 'created', 'processed', 'failed')),
    reason          text    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_session_idx ON refunds (session_id);

CREATE TABLE calls (
    call_id       text PRIMARY KEY,
    session_id    uuid    NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
    attempt       integer NOT NULL CHECK (attempt >= 1),
    status        text    NOT NULL CHECK (status IN ('created', 'in_progress', 'ended')),
    web_call_url  text,
    ended_reason  text,
    transcript    text,
    messages      jsonb,
    recording_url text,
    cost_usd      numeric(12, 4),
    duration_s    numeric(10, 2),
    started_at    timestamptz,
    ended_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, attempt)
);

CREATE TABLE reports (
    session_id     uuid PRIMARY KEY REFERENCES interview_sessions (id) ON DELETE CASCADE,
    source         text    NOT NULL CHECK (source IN ('ai', 'fallback')),
    overall_score  integer CHECK (overall_score BETWEEN 0 AND 100),
    content        jsonb   NOT NULL,
    model          text,
    prompt_version text    NOT NULL,
    input_tokens   integer,
    output_tokens  integer,
    cost_usd       numeric(12, 6),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_session_score_idx ON reports (session_id, overall_score);

CREATE TABLE provider_events (
    provider    text NOT NULL CHECK (provider IN ('razorpay', 'vapi')),
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    raw_body    text  NOT NULL,  -- exactly as received and signed: kept for audit and replay
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
