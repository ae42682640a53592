-- The reconciler (InterviewFlow.reconcile_all): a session whose pipeline ended without a final state gets
-- a new execution named <session id>-r<N>; N is counted here so every start of the same N is the same
-- execution (Step Functions refuses a second one), and the number of restarts is bounded.
-- reconcile_checked_at rotates the reconciler through every candidate, oldest check first.

ALTER TABLE interview_sessions
    ADD COLUMN pipeline_restarts    integer NOT NULL DEFAULT 0 CHECK (pipeline_restarts >= 0),
    ADD COLUMN reconcile_checked_at timestamptz;

-- the reconciler's query: paid-or-later sessions not in a final status
CREATE INDEX interview_sessions_unfinished_idx ON interview_sessions (reconcile_checked_at NULLS FIRST)
    WHERE status IN ('paid', 'in_call', 'call_failed', 'processing', 'expired', 'failed');
