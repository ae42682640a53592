-- Sessions, their questions (with the rubric, which never leaves the server before the report),
-- and the price list. Amounts are integer paise.

CREATE TABLE pricing (
    duration_minutes integer PRIMARY KEY CHECK (duration_minutes > 0),
    amount_paise     integer NOT NULL CHECK (amount_paise >= 100),
    currency         text    NOT NULL DEFAULT 'INR' CHECK (currency ~ '^[A-Z]{3}$'),
    active           boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

INSERT INTO pricing (duration_minutes, amount_paise) VALUES
    (15, 9900),
    (20, 14900),
    (30, 19900),
    (45, 27900);

CREATE TABLE interview_sessions (
    id                uuid PRIMARY KEY,
    user_id           text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
    status            text        NOT NULL CHECK (status IN (
                          'pending_payment', 'paid', 'in_call', 'processing', 'completed',
                          'payment_failed', 'call_failed', 'expired', 'refunded', 'failed')),
    type              text        NOT NULL,
    difficulty        text        NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard')),
    duration_minutes  integer     NOT NULL CHECK (duration_minutes > 0),
    config            jsonb       NOT NULL,
    question_source   text        NOT NULL CHECK (question_source IN ('ai', 'fallback')),
    question_model    text,
    price_paise       integer     NOT NULL CHECK (price_paise >= 100),
    currency          text        NOT NULL,
    error_code        text,
    error_message     text,
    error_recoverable boolean,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- history (newest first per user), the user's sessions by status, and reporting by type+difficulty
CREATE INDEX interview_sessions_user_created_idx ON interview_sessions (user_id, created_at DESC, id DESC);
CREATE INDEX interview_sessions_user_status_idx ON interview_sessions (user_id, status);
CREATE INDEX interview_sessions_type_difficulty_idx ON interview_sessions (type, difficulty);
CREATE INDEX interview_sessions_created_idx ON interview_sessions (created_at DESC);

CREATE TABLE interview_questions (
    session_id          uuid    NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
    position            integer NOT NULL CHECK (position >= 1),
    text                text    NOT NULL,
    topics              text[]  NOT NULL DEFAULT '{}',
    estimated_minutes   integer NOT NULL CHECK (estimated_minutes > 0),
    expected_key_points jsonb   NOT NULL,
    follow_ups          jsonb   NOT NULL,
    PRIMARY KEY (session_id, position)
);
